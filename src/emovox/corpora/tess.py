"""TESS (Toronto emotional speech set): `OAF_angry/OAF_back_angry.wav`, 2 speakers, 7 emotions."""

from __future__ import annotations

import re
from pathlib import Path

from emovox.corpora.base import CorpusReader, ParseFailure
from emovox.corpora.manifest import Utterance

EMOTIONS = {
    "neutral": "neutral",
    "happy": "happy",
    "sad": "sad",
    "angry": "angry",
    "fear": "fear",
    "disgust": "disgust",
    "ps": "pleasant_surprise",
}
SPEAKERS = {"OAF": ("older", "64"), "YAF": ("younger", "26")}
# The original release names one file "OA_bite_neutral.wav": "OA" is the older speaker.
NAME = re.compile(r"^(OAF|YAF|OA)_([a-z]+)_([a-z]+)$", re.IGNORECASE)


class TessReader(CorpusReader):
    """Both speakers say "Say the word ___" carriers for 200 target words in each emotion."""

    name = "tess"
    labels = tuple(EMOTIONS.values())

    def parse(self, path: Path, root: Path) -> Utterance:
        match = NAME.match(path.stem)
        if not match:
            raise ParseFailure("name is not SPEAKER_word_emotion (e.g. OAF_back_angry)")
        speaker, word, emotion = match.groups()
        speaker = "OAF" if speaker.upper() == "OA" else speaker.upper()
        label = EMOTIONS.get(emotion.lower())
        if label is None:
            raise ParseFailure(f"emotion {emotion!r} is not one of {sorted(EMOTIONS)}")
        age_group, age = SPEAKERS[speaker]
        meta = {"word": word.lower(), "age_group": age_group, "age": age, "gender": "female",
                "language": "en"}  # fmt: skip
        return Utterance(str(path), self.name, speaker, label, meta)
