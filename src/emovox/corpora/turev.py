"""TurEV-DB, the Turkish Emotion Voice Database (Canpolat, Ormanoğlu & Zeyrek 2020):
`<Emotion>/<spk>_<code>_<word>.flac`, isolated words (median 0.95 s) acted by 6 speakers in
4 emotions. The folder is the label; the name's emotion code must agree with it (a file in the
wrong folder is rejected, not guessed). Calm stays calm: no other corpus here has it but
RAVDESS, whose calm the bundled model leaves out too, so it is not taken for neutral unseen."""

from __future__ import annotations

import re
from pathlib import Path

from emovox.corpora.base import CorpusReader, ParseFailure, check_named, folder_label
from emovox.corpora.manifest import Utterance

FOLDERS = {"Angry": "angry", "Calm": "calm", "Happy": "happy", "Sad": "sad"}
CODES = {"kz": "angry", "sk": "calm", "mt": "happy", "hl": "sad"}
NAME = re.compile(r"^(\d+)_([a-z]{2})_(\w+)$")


class TurevReader(CorpusReader):
    name = "turev"
    labels = tuple(FOLDERS.values())

    def parse(self, path: Path, root: Path) -> Utterance:
        label = folder_label(path, FOLDERS)
        match = NAME.match(path.stem)
        if not match:
            raise ParseFailure("name is not <speaker>_<code>_<word> (e.g. 1157_kz_acik)")
        speaker, code, word = match.groups()
        check_named(CODES.get(code, code), label)
        return Utterance(str(path), self.name, speaker, label, {"word": word, "language": "tr"})
