"""CREMA-D (Cao et al. 2014): `AudioWAV/1001_DFA_ANG_XX.wav`, 91 actors, 6 emotions."""

from __future__ import annotations

import csv
import re
from pathlib import Path

from emovox.corpora.base import CorpusReader, ParseFailure
from emovox.corpora.manifest import Utterance

EMOTIONS = {
    "NEU": "neutral",
    "HAP": "happy",
    "SAD": "sad",
    "ANG": "anger",
    "FEA": "fear",
    "DIS": "disgust",
}
SENTENCES = {
    "IEO": "It's eleven o'clock",
    "TIE": "That is exactly what happened",
    "IOM": "I'm on my way to the meeting",
    "IWW": "I wonder what this is about",
    "TAI": "The airplane is almost full",
    "MTI": "Maybe tomorrow it will be cold",
    "IWL": "I would like a new alarm clock",
    "ITH": "I think I have a doctor's appointment",
    "DFA": "Don't forget a jacket",
    "ITS": "I think I've seen this before",
    "TSI": "The surface is slick",
    "WSI": "We'll stop in a couple of minutes",
}
LEVELS = {"LO": "low", "MD": "medium", "HI": "high", "XX": "unspecified", "X": "unspecified"}
NAME = re.compile(r"^(\d{4})_([A-Z]{3})_([A-Z]{3})_([A-Z]{1,2})$")
DEMOGRAPHICS = "VideoDemographics.csv"


def _demographics(root: Path) -> dict[str, dict[str, str]]:
    """Actor gender/age from the release's VideoDemographics.csv, when it is there."""
    for candidate in (root / DEMOGRAPHICS, root.parent / DEMOGRAPHICS):
        if candidate.is_file():
            with open(candidate, newline="", encoding="utf-8") as f:
                return {
                    row["ActorID"]: {"gender": row["Sex"].lower(), "age": row["Age"]}
                    for row in csv.DictReader(f)
                }
    return {}


class CremaDReader(CorpusReader):
    """CREMA-D audio; actor metadata is added when VideoDemographics.csv sits at or above root."""

    name = "cremad"
    labels = tuple(EMOTIONS.values())

    def __init__(self) -> None:
        self._demographics: dict[Path, dict[str, dict[str, str]]] = {}

    def parse(self, path: Path, root: Path) -> Utterance:
        match = NAME.match(path.stem)
        if not match:
            raise ParseFailure("name is not ACTOR_SENTENCE_EMOTION_LEVEL (e.g. 1001_DFA_ANG_XX)")
        actor, sentence, emotion, level = match.groups()
        if emotion not in EMOTIONS:
            raise ParseFailure(f"emotion {emotion} is not one of {sorted(EMOTIONS)}")
        if sentence not in SENTENCES:
            raise ParseFailure(f"sentence {sentence} is not one of CREMA-D's twelve")
        if level not in LEVELS:
            raise ParseFailure(f"level {level} is not one of {sorted(LEVELS)}")
        if root not in self._demographics:
            self._demographics[root] = _demographics(root)
        meta = {"sentence": SENTENCES[sentence], "level": LEVELS[level], "language": "en"}
        meta.update(self._demographics[root].get(actor, {}))
        return Utterance(str(path), self.name, actor, EMOTIONS[emotion], meta)
