"""SAVEE (Jackson & Haq 2014): `AudioData/DC/a01.wav` or the flat `DC_a01.wav`, 4 male speakers."""

from __future__ import annotations

import re
from pathlib import Path

from emovox.corpora.base import CorpusReader, ParseFailure
from emovox.corpora.manifest import Utterance

EMOTIONS = {
    "n": "neutral",
    "h": "happiness",
    "sa": "sadness",
    "a": "anger",
    "f": "fear",
    "d": "disgust",
    "su": "surprise",
}
SPEAKERS = ("DC", "JE", "JK", "KL")
NAME = re.compile(r"^(?:([A-Z]{2})_)?(sa|su|[nhafd])(\d\d)$")


class SaveeReader(CorpusReader):
    """Reads both the original per-speaker folders and the flat SPEAKER_code layout."""

    name = "savee"
    labels = tuple(EMOTIONS.values())

    def parse(self, path: Path, root: Path) -> Utterance:
        match = NAME.match(path.stem)
        if not match:
            raise ParseFailure("name is not [SPEAKER_]CODENN (e.g. DC_a01 or a01 in DC/)")
        speaker, code, number = match.groups()
        speaker = speaker or path.parent.name
        if speaker not in SPEAKERS:
            raise ParseFailure(f"speaker {speaker!r} is not one of {SPEAKERS}")
        meta = {"sentence": f"{code}{number}", "gender": "male", "language": "en"}
        return Utterance(str(path), self.name, speaker, EMOTIONS[code], meta)
