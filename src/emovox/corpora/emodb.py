"""EmoDB (Burkhardt et al. 2005): `wav/SSTTTEV.wav`, 10 German speakers, 7 emotions."""

from __future__ import annotations

import re
from pathlib import Path

from emovox.corpora.base import CorpusReader, ParseFailure
from emovox.corpora.manifest import Utterance

EMOTION_CODES = {
    "N": "neutral",
    "F": "happiness",
    "T": "sadness",
    "W": "anger",
    "A": "fear",
    "E": "disgust",
    "L": "boredom",
}
SPEAKERS = {
    "03": ("male", 31), "08": ("female", 34), "09": ("female", 21), "10": ("male", 32),
    "11": ("male", 26), "12": ("male", 30), "13": ("female", 32), "14": ("female", 35),
    "15": ("male", 25), "16": ("female", 31),
}  # fmt: skip
TEXTS = {"a01", "a02", "a04", "a05", "a07", "b01", "b02", "b03", "b09", "b10"}
NAME = re.compile(r"^(\d\d)([ab]\d\d)([A-Z])([a-z])$")


class EmoDbReader(CorpusReader):
    """Berlin EmoDB; native labels are the English names of the German codes."""

    name = "emodb"
    labels = tuple(EMOTION_CODES.values())

    def parse(self, path: Path, root: Path) -> Utterance:
        match = NAME.match(path.stem)
        if not match:
            raise ParseFailure("name is not SSTTTEV (e.g. 03a01Fa)")
        speaker, text, emotion, version = match.groups()
        if speaker not in SPEAKERS:
            raise ParseFailure(f"speaker {speaker} is not one of EmoDB's ten")
        if emotion not in EMOTION_CODES:
            raise ParseFailure(f"emotion code {emotion} is not one of {''.join(EMOTION_CODES)}")
        if text not in TEXTS:
            raise ParseFailure(f"text code {text} is not one of EmoDB's ten")
        gender, age = SPEAKERS[speaker]
        meta = {"text": text, "version": version, "gender": gender, "age": str(age), "language": "de"}
        return Utterance(str(path), self.name, speaker, EMOTION_CODES[emotion], meta)
