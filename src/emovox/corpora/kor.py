"""Korean emotional speech read for TTS (emotiontts open database, KAIST / Selvas AI), public
sample: `{plain,emotional}-to-emotional/<spk>/wav/<spk><nnnnn>.wav`. The names carry no label:
`metadata.csv` (path, label, speaker, language, original_label) does, and its speaker column
joins folders that are one person (ema/nea are "A", emb/neb "B"), so splits keep them together."""

from __future__ import annotations

import csv
from pathlib import Path

from emovox.corpora.base import CorpusReader, ParseFailure
from emovox.corpora.manifest import Utterance
from emovox.errors import CorpusError

EMOTIONS = ("neutral", "happy", "sad", "angry")


def metadata(root: Path) -> dict[str, dict[str, str]]:
    """metadata.csv's rows by path without extension, relative to the root."""
    table = root / "metadata.csv"
    if not table.is_file():
        raise CorpusError(f"kor: {table} is missing; the labels are only there")
    with table.open(newline="", encoding="utf-8") as f:
        return {str(Path(row["path"]).with_suffix("")): row for row in csv.DictReader(f)}


class KorReader(CorpusReader):
    name = "kor"
    labels = EMOTIONS
    rows: dict[str, dict[str, str]]

    def prepare(self, root: Path) -> None:
        self.rows = metadata(root)

    def parse(self, path: Path, root: Path) -> Utterance:
        row = self.rows.get(str(path.relative_to(root).with_suffix("")))
        if row is None:
            raise ParseFailure("not listed in metadata.csv")
        if row["label"] not in EMOTIONS:
            raise ParseFailure(f"metadata.csv's label {row['label']!r} is not one of {', '.join(EMOTIONS)}")
        meta = {"language": "ko", "folder": path.parent.parent.name, "original_label": row["original_label"]}
        return Utterance(str(path), self.name, row["speaker"], row["label"], meta)
