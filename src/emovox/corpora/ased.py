"""ASED, the Amharic Speech Emotion Dataset (Retta et al. 2023):
`<NN Emotion>/<e><n>-<yy>-<aa>-<gg>-<bb>.wav`, 65 non-professional speakers recording where they
chose, 5 emotions. The folder is the label;
the name's first letter must agree with it (a file in the wrong folder is rejected, not guessed)."""

from __future__ import annotations

import re
from pathlib import Path

from emovox.corpora.base import CorpusReader, ParseFailure, check_named, folder_label
from emovox.corpora.manifest import Utterance

FOLDERS = {
    "01Neutral": "neutral",
    "02Fearful": "fearful",
    "03Happy": "happy",
    "04Sad": "sad",
    "05Angry": "angry",
}
LETTERS = {"n": "neutral", "f": "fearful", "h": "happy", "s": "sad", "a": "angry"}
GENDERS = {"01": "female", "02": "male"}  # disagrees within 5 speakers: the speaker field is trusted
NAME = re.compile(r"^([a-z])(\d+)-(\d\d)-(\d\d)-(\d\d)-(\d\d)$", re.IGNORECASE)  # one file has "S4-..."


class AsedReader(CorpusReader):
    name = "ased"
    labels = tuple(FOLDERS.values())

    def parse(self, path: Path, root: Path) -> Utterance:
        label = folder_label(path, FOLDERS)
        match = NAME.match(path.stem)
        if not match:
            raise ParseFailure("name is not <e><n>-<yy>-<aa>-<gg>-<bb> (e.g. n1-01-01-01-29)")
        letter, _, sentence, repetition, gender, speaker = match.groups()
        check_named(LETTERS.get(letter.lower(), letter), label)
        meta = {"sentence": sentence, "repetition": repetition, "gender": GENDERS.get(gender, "unknown"),
                "language": "am"}  # fmt: skip
        return Utterance(str(path), self.name, speaker, label, meta)
