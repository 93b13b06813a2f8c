"""The output table of `emovox batch`: its columns, and writers that add rows in parts as they
come, so an interrupted job loses at most the part in flight and `--resume` knows what is done.

- `.jsonl` and `.csv`: rows appended and flushed to disk part by part;
- `.parquet`: each part is its own file in `FILE.parts/`, written atomically; when the job ends
  the parts become `FILE` (one table, in input order) and the folder goes.

One job at a time writes a table (a lock beside it; a second job is refused at once). Resuming
first checks that the file is a table of these columns (nothing is changed in a file that is
not), then keeps the rows of files that are unchanged since (a file's key is its resolved path,
its `modified` time must match) and predicted without error: failed rows and a row torn by a
kill are done again. CSV cells that a spreadsheet would run as a formula are written with a
leading `'`.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import shutil
from collections.abc import Iterable, Sequence
from enum import StrEnum
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from emovox.errors import ConfigError
from emovox.filelock import Busy, FileLock, unique_temporary

Row = dict[str, Any]
FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "'")  # "'" too, so the escape reads back unambiguously


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


def columns(labels: Sequence[str], timeline: bool, speakers: bool = False) -> list[str]:
    """The table's columns, in order (`speaker` after the times when a timeline has speakers)."""
    times = ["start", "end", *(["speaker"] if speakers else [])] if timeline else []
    return [
        "path",
        *times,
        "label",
        "confidence",
        "uncertain",
        *(f"prob_{label}" for label in labels),
        "duration_s",
        "modified",
        "error",
    ]


def arrow_schema(labels: Sequence[str], timeline: bool, speakers: bool = False) -> pa.Schema:
    types = {"path": pa.string(), "label": pa.string(), "uncertain": pa.bool_(), "error": pa.string(),
             "speaker": pa.string()}  # fmt: skip
    return pa.schema([(name, types.get(name, pa.float64())) for name in columns(labels, timeline, speakers)])


def file_key(path: str) -> str:
    """What identifies an input across runs: its resolved path (`a.wav` and `/x/a.wav` are one)."""
    return os.path.realpath(path)


def modified(path: str) -> float | None:
    """The file's modification time, which a row records: a file replaced since is done again."""
    try:
        return os.stat(path).st_mtime
    except OSError:
        return None


def csv_cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


def csv_value(cell: str) -> str:
    return cell[1:] if cell.startswith("'") else cell


class Output:
    """Rows into one table file, part by part; `done` holds the keys of the files already in it."""

    def __init__(self, path: Path, fmt: OutputFormat, labels: Sequence[str], timeline: bool, resume: bool,
                 speakers: bool = False):  # fmt: skip
        self.path, self.fmt, self.labels, self.timeline = path, fmt, list(labels), timeline
        self.speakers = speakers
        self.columns = columns(labels, timeline, speakers)
        self.parts = path.with_name(path.name + ".parts")
        self.done: set[str] = set()
        self.failed = 0
        self._check_writable()
        try:
            self.lock = FileLock(path.with_name(f".{path.name}.lock"), wait=False)
        except Busy:
            raise ConfigError(f"{path}: another emovox batch job is writing it; wait for it to end") from None
        except OSError as exc:
            raise ConfigError(f"{path}: cannot lock it for writing ({exc.strerror or exc})") from None
        try:
            if resume:
                kept = self._existing_rows()
            else:
                self._check_replaceable()
                kept = []
            self._start_over(kept)
        except BaseException:
            self.lock.release()
            raise
        self.next_part = len(list(self.parts.glob("part-*.parquet")))

    def _check_writable(self) -> None:
        """Refuse a path no table can be written to before any work is done."""
        if self.path.is_dir():
            raise ConfigError(f"{self.path}: is a directory; --out names the table file to write")
        parent = self.path.parent
        try:
            parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError(f"{self.path}: cannot create its folder ({exc.strerror or exc})") from None
        if not os.access(parent, os.W_OK) or (self.path.exists() and not os.access(self.path, os.W_OK)):
            raise ConfigError(f"{self.path}: not writable (permission denied)")

    def _check_replaceable(self) -> None:
        """A new job replaces an earlier table, never another file (a manifest, a user's notes)."""
        if not self.path.is_file() or self.path.stat().st_size == 0:
            return
        try:
            if self.fmt is OutputFormat.PARQUET:
                names = pq.read_schema(self.path).names
            else:
                with open(self.path, encoding="utf-8", newline="") as f:
                    first = f.readline()
                names = next(csv.reader([first])) if self.fmt is OutputFormat.CSV else list(json.loads(first))
        except (pa.ArrowException, OSError, ValueError, TypeError, StopIteration, csv.Error):
            names = []
        if (
            names[:1] != ["path"]
            or names[-1:] != ["error"]
            or not {"label", "confidence", "uncertain"} <= set(names)
        ):
            raise ConfigError(f"{self.path}: exists and is not an emovox batch table; not replacing it")

    def _note(self, rows: Iterable[Row]) -> None:
        for row in rows:
            self.done.add(file_key(row["path"]))
            self.failed += bool(row.get("error"))

    # -- what a previous run wrote ------------------------------------------------------------

    def _refuse(self, why: str) -> ConfigError:
        return ConfigError(f"{self.path}: {why}; not resuming into it (nothing in it was changed)")

    def _existing_rows(self) -> list[Row]:
        """The rows to keep: every row read (after checking the file is this table), the last one
        for each file, minus failed rows, rows of files changed since, and a torn last line."""
        files = [self.path] * self.path.is_file()
        if self.fmt is OutputFormat.PARQUET:
            files += sorted(self.parts.glob("part-*.parquet"))
        rows: dict[str, Row] = {}
        for file in files:
            for row in self._read(file):
                rows[file_key(row["path"])] = row
        return [row for row in rows.values() if not row["error"] and modified(row["path"]) == row["modified"]]

    def _read(self, file: Path) -> list[Row]:
        if self.fmt is OutputFormat.PARQUET:
            try:
                table = pq.read_table(file)
            except (pa.ArrowException, OSError) as exc:
                raise self._refuse(f"{file.name} is not a readable Parquet table ({str(exc)[:99]})") from None
            if table.schema.names != self.columns:
                raise self._refuse(f"{file.name} has other columns than this model's table")
            return table.to_pylist()
        try:
            text = file.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            raise self._refuse("not UTF-8 text") from None
        complete = text[: text.rfind("\n") + 1]  # a job killed mid-write may leave part of a line
        if self.fmt is OutputFormat.CSV:
            return self._read_csv(complete)
        rows = []
        for number, line in enumerate(complete.splitlines(), start=1):
            try:
                row = json.loads(line)
            except ValueError:
                raise self._refuse(f"line {number} is not JSON") from None
            if not isinstance(row, dict) or list(row) != self.columns:
                raise self._refuse(f"line {number} is not a row of this model's table")
            rows.append(row)
        return rows

    def _read_csv(self, text: str) -> list[Row]:
        if not text:
            return []
        try:
            records = list(csv.reader(io.StringIO(text, newline="")))
        except csv.Error as exc:
            raise self._refuse(f"not CSV ({exc})") from None
        if records[0] != self.columns:
            raise self._refuse("its header is not this model's table's")
        numbers = {"confidence", "duration_s", "modified", *(f"prob_{x}" for x in self.labels)}
        numbers |= {"start", "end"} & set(self.columns)
        rows = []
        for number, record in enumerate(records[1:], start=2):
            if len(record) != len(self.columns):
                raise self._refuse(f"row {number} has {len(record)} cells, not {len(self.columns)}")
            row: Row = {c: csv_value(v) for c, v in zip(self.columns, record, strict=True)}
            try:
                for name in numbers:
                    row[name] = float(row[name]) if row[name] != "" else None
            except ValueError:
                raise self._refuse(f"row {number} holds a non-number where a number goes") from None
            row["uncertain"] = {"True": True, "False": False}.get(row["uncertain"])
            rows.append(row)
        return rows

    def _start_over(self, kept: list[Row]) -> None:
        """The table holding only `kept` (empty unless resuming), each file replaced atomically."""
        if self.fmt is OutputFormat.PARQUET:
            old = sorted(self.parts.glob("part-*.parquet"))
            if kept:  # the rows kept become the first part; reading takes the last row of a file
                self.parts.mkdir(exist_ok=True)
                self._write_parquet(kept, self.parts / f"part-{len(old):06d}.parquet")
            for part in old:
                part.unlink()
            self.path.unlink(missing_ok=True)
            if kept:
                os.replace(self.parts / f"part-{len(old):06d}.parquet", self.parts / "part-000000.parquet")
            elif self.parts.exists():
                shutil.rmtree(self.parts)
        else:
            temporary = unique_temporary(self.path)
            temporary.write_text(self._text(kept, header=self.fmt is OutputFormat.CSV), encoding="utf-8")
            os.replace(temporary, self.path)
        self.done = {file_key(row["path"]) for row in kept}

    # -- writing -------------------------------------------------------------------------------

    def write(self, rows: Sequence[Row]) -> None:
        """One part: on disk (flushed) when this returns."""
        if not rows:
            return
        if self.fmt is OutputFormat.PARQUET:
            self.parts.mkdir(parents=True, exist_ok=True)
            self._write_parquet(rows, self.parts / f"part-{self.next_part:06d}.parquet")
            self.next_part += 1
        else:
            with open(self.path, "a", newline="", encoding="utf-8") as f:
                f.write(self._text(rows, header=False))
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
        writer.writerows({c: csv_cell(row.get(c)) for c in self.columns} for row in rows)
        return buffer.getvalue()

    def _write_parquet(self, rows: Sequence[Row], target: Path) -> None:
        schema = arrow_schema(self.labels, self.timeline, self.speakers)
        table = pa.Table.from_pylist([{c: row.get(c) for c in self.columns} for row in rows], schema=schema)
        temporary = unique_temporary(target)
        pq.write_table(table, temporary)
        os.replace(temporary, target)

    def close(self, complete: bool = True) -> None:
        """Parquet: the parts become one file (`complete`; an interrupted job keeps them for
        `--resume`); then the lock goes."""
        try:
            if complete and self.fmt is OutputFormat.PARQUET:
                self._join_parts()
        finally:
            self.lock.release(remove=True)

    def _join_parts(self) -> None:
        schema = arrow_schema(self.labels, self.timeline, self.speakers)
        temporary = unique_temporary(self.path)
        try:
            with pq.ParquetWriter(temporary, schema) as writer:
                for source in sorted(self.parts.glob("part-*.parquet")):
                    writer.write_table(pq.read_table(source, schema=schema))
            os.replace(temporary, self.path)
        finally:
            temporary.unlink(missing_ok=True)
        if self.parts.exists():
            shutil.rmtree(self.parts)


def open_output(
    path: str | Path,
    labels: Sequence[str],
    timeline: bool = False,
    resume: bool = False,
    speakers: bool = False,
) -> Output:
    return Output(Path(path), OutputFormat.of(path), labels, timeline, resume, speakers)
