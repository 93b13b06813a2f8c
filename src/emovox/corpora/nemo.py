"""nEMO (Christop 2024): `samples/<speaker>_<emotion>_<n>.wav`, 9 Polish actors, 6 emotions; the
authors' `data.tsv` beside it adds gender, age and the text (a file it lacks is still read)."""

from __future__ import annotations

import csv
import re
from pathlib import Path

from emovox.corpora.base import CorpusReader, ParseFailure
from emovox.corpora.manifest import Utterance

EMOTIONS = ("neutral", "anger", "fear", "happiness", "sadness", "surprised")
NAME = re.compile(r"^([A-Z]{2}\d)_([a-z]+)_(\d+)$")


def metadata(root: Path) -> dict[str, dict[str, str]]:
    """data.tsv's rows by file stem (its names end in .wav; the audio may be .wav or .flac)."""
    table = root / "data.tsv"
    if not table.is_file():
        return {}
    with table.open(newline="", encoding="utf-8") as f:
        return {Path(row["file_id"]).stem: {k: (v or "").strip() for k, v in row.items()}
                for row in csv.DictReader(f, delimiter="\t")}  # fmt: skip


class NemoReader(CorpusReader):
    name = "nemo"
    labels = EMOTIONS
    rows: dict[str, dict[str, str]]

    def prepare(self, root: Path) -> None:
        self.rows = metadata(root)

    def parse(self, path: Path, root: Path) -> Utterance:
        match = NAME.match(path.stem)
        if not match:
            raise ParseFailure("name is not <speaker>_<emotion>_<n> (e.g. EB0_anger_1)")
        speaker, emotion, _ = match.groups()
        if emotion not in EMOTIONS:
            raise ParseFailure(f"emotion {emotion!r} is not one of {', '.join(EMOTIONS)}")
        row = self.rows.get(path.stem, {})
        if row and (row.get("emotion") != emotion or row.get("speaker_id") != speaker):
            raise ParseFailure(
                f"data.tsv says {row.get('speaker_id')} {row.get('emotion')}, the name {speaker} {emotion}"
            )
        meta = {"language": "pl", **{k: row[k] for k in ("gender", "age", "raw_text") if row.get(k)}}
        return Utterance(str(path), self.name, speaker, emotion, meta)
