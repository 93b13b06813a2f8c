"""EMOVO (Costantini et al. 2014): `<spk>/<emo>-<spk>-<sentence>.wav`, 6 Italian actors, 7 emotions."""

from __future__ import annotations

import re
from pathlib import Path

from emovox.corpora.base import CorpusReader, ParseFailure
from emovox.corpora.manifest import Utterance

EMOTIONS = {"neu": "neutral", "gio": "joy", "tri": "sadness", "rab": "anger", "pau": "fear",
            "dis": "disgust", "sor": "surprise"}  # fmt: skip
SPEAKERS = {"f1": "female", "f2": "female", "f3": "female", "m1": "male", "m2": "male", "m3": "male"}
NAME = re.compile(r"^([a-z]{3})-([fm]\d)-([a-z]\d)$")


class EmovoReader(CorpusReader):
    name = "emovo"
    labels = tuple(EMOTIONS.values())

    def parse(self, path: Path, root: Path) -> Utterance:
        match = NAME.match(path.stem)
        if not match:
            raise ParseFailure("name is not <emo>-<spk>-<sentence> (e.g. dis-f1-b1)")
        emotion, speaker, sentence = match.groups()
        if emotion not in EMOTIONS:
            raise ParseFailure(f"emotion code {emotion!r} is not one of {', '.join(EMOTIONS)}")
        if speaker not in SPEAKERS:
            raise ParseFailure(f"speaker {speaker!r} is not one of EMOVO's six")
        if path.parent.name != speaker:
            raise ParseFailure(f"in folder {path.parent.name!r}, but the name says speaker {speaker!r}")
        meta = {"sentence": sentence, "gender": SPEAKERS[speaker], "language": "it"}
        return Utterance(str(path), self.name, speaker, EMOTIONS[emotion], meta)
