"""The output table of `emovox batch`: its columns, and writers that add rows in parts as they
come, so an interrupted job loses at most the part in flight and `--resume` knows what is done.

- `.jsonl` and `.csv`: rows appended and flushed to disk part by part; a torn last line (a job
  killed mid-write) is cut off when the file is opened again.
- `.parquet`: each part is its own file in `FILE.parts/`, written atomically; when the job ends
  the parts become `FILE` (one table, in input order) and the folder goes.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import shutil
from collections.abc import Sequence
from enum import StrEnum
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from emovox.errors import ConfigError

Row = dict[str, Any]


class OutputFormat(StrEnum):
    PARQUET = "parquet"
    CSV = "csv"
    JSONL = "jsonl"

    @classmethod
    def of(cls, path: str | Path) -> OutputFormat:
        suffix = Path(path).suffix.lower().lstrip(".")
        try:
            return cls(suffix)
        except ValueError:
            raise ConfigError(f"{path}: the output must end in .parquet, .csv or .jsonl") from None


def columns(labels: Sequence[str], timeline: bool) -> list[str]:
    """The table's columns, in order."""
    times = ["start", "end"] if timeline else []
    return [
        "path",
        *times,
        "label",
        "confidence",
        "uncertain",
        *(f"prob_{label}" for label in labels),
        "duration_s",
        "error",
    ]


def arrow_schema(labels: Sequence[str], timeline: bool) -> pa.Schema:
    types = {"path": pa.string(), "label": pa.string(), "uncertain": pa.bool_(), "error": pa.string()}
    return pa.schema([(name, types.get(name, pa.float64())) for name in columns(labels, timeline)])


class Output:
    """Rows into one table file, part by part; `done` holds the paths already in it."""

    def __init__(self, path: Path, fmt: OutputFormat, labels: Sequence[str], timeline: bool, resume: bool):
        self.path, self.fmt, self.labels, self.timeline = path, fmt, list(labels), timeline
        self.columns = columns(labels, timeline)
        self.parts = path.with_name(path.name + ".parts")
        self.done: set[str] = set()
        self.failed = 0
        if not resume:
            self._clear()
        else:
            self._read_existing()
        self.next_part = len(list(self.parts.glob("part-*.parquet")))  # parts kept by a resumed job
        path.parent.mkdir(parents=True, exist_ok=True)

    def _clear(self) -> None:
        if self.parts.exists():
            shutil.rmtree(self.parts)
        self.path.unlink(missing_ok=True)

    def _note(self, rows: Sequence[Row]) -> None:
        for row in rows:
            self.done.add(row["path"])
            self.failed += bool(row.get("error"))

    # -- reading what a previous run wrote ---------------------------------------------------

    def _read_existing(self) -> None:
        if self.fmt is OutputFormat.PARQUET:
            for file in [self.path] * self.path.is_file() + sorted(self.parts.glob("part-*.parquet")):
                table = pq.read_table(file, columns=["path", "error"])
                self._note(table.to_pylist())
            return
        if not self.path.is_file():
            return
        self._cut_torn_line()
        with open(self.path, newline="", encoding="utf-8") as f:
            if self.fmt is OutputFormat.CSV:
                reader = csv.DictReader(f)
                if reader.fieldnames and reader.fieldnames != self.columns:
                    raise ConfigError(f"{self.path}: its columns are not this model's; cannot resume into it")
                self._note(list(reader))
            else:
                self._note([json.loads(line) for line in f if line.strip()])

    def _cut_torn_line(self) -> None:
        """A job killed mid-write may leave half a line: drop it, its file is done again."""
        data = self.path.read_bytes()
        end = data.rfind(b"\n") + 1
        if end < len(data):
            with open(self.path, "r+b") as f:
                f.truncate(end)

    # -- writing -------------------------------------------------------------------------------

    def write(self, rows: Sequence[Row]) -> None:
        """One part: on disk (flushed) when this returns."""
        if not rows:
            return
        if self.fmt is OutputFormat.PARQUET:
            self._write_parquet_part(rows)
        else:
            new = not self.path.is_file() or self.path.stat().st_size == 0
            with open(self.path, "a", newline="", encoding="utf-8") as f:
                f.write(self._text(rows, header=new))
                f.flush()
                os.fsync(f.fileno())
        self._note(rows)

    def _text(self, rows: Sequence[Row], header: bool) -> str:
        buffer = io.StringIO()
        if self.fmt is OutputFormat.JSONL:
            for row in rows:
                clean = {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in row.items()}
                buffer.write(json.dumps({c: clean.get(c) for c in self.columns}) + "\n")
            return buffer.getvalue()
        writer = csv.DictWriter(buffer, fieldnames=self.columns, lineterminator="\n")
        if header:
            writer.writeheader()
        writer.writerows({c: ("" if row.get(c) is None else row[c]) for c in self.columns} for row in rows)
        return buffer.getvalue()

    def _write_parquet_part(self, rows: Sequence[Row]) -> None:
        self.parts.mkdir(parents=True, exist_ok=True)
        number = self.next_part
        self.next_part += 1
        table = pa.Table.from_pylist([{c: row.get(c) for c in self.columns} for row in rows],
                                     schema=arrow_schema(self.labels, self.timeline))  # fmt: skip
        target = self.parts / f"part-{number:06d}.parquet"
        temporary = target.with_suffix(".tmp")
        pq.write_table(table, temporary)
        os.replace(temporary, target)

    def close(self) -> None:
        """Parquet: the parts (after any earlier table) become one file; text formats are done."""
        if self.fmt is not OutputFormat.PARQUET:
            if not self.path.is_file():
                self.path.write_text(self._text([], header=True))
            return
        schema = arrow_schema(self.labels, self.timeline)
        sources = [self.path] * self.path.is_file() + sorted(self.parts.glob("part-*.parquet"))
        temporary = self.path.with_name(self.path.name + ".tmp")
        with pq.ParquetWriter(temporary, schema) as writer:
            for source in sources:
                writer.write_table(pq.read_table(source, schema=schema))
        os.replace(temporary, self.path)
        if self.parts.exists():
            shutil.rmtree(self.parts)


def open_output(
    path: str | Path, labels: Sequence[str], timeline: bool = False, resume: bool = False
) -> Output:
    return Output(Path(path), OutputFormat.of(path), labels, timeline, resume)
