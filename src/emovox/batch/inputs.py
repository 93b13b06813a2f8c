"""What `emovox batch` reads: files, directories (searched recursively for audio), globs, and
CSV manifests with a `path` column (relative paths from the CSV's folder)."""

from __future__ import annotations

import csv
import glob
import os
from collections.abc import Iterator
from pathlib import Path

from emovox.audio.io import audio_files_under
from emovox.errors import ConfigError

GLOB_CHARACTERS = frozenset("*?[")


def _manifest(path: Path) -> Iterator[str]:
    with open(path, newline="", encoding="utf-8-sig") as f:
        reader = csv.DictReader(f)
        if "path" not in (reader.fieldnames or ()):
            raise ConfigError(f"{path}: a manifest needs a 'path' column, found {reader.fieldnames}")
        for row in reader:
            written = (row.get("path") or "").strip()
            if written:
                yield os.path.normpath(written if Path(written).is_absolute() else path.parent / written)


def expand_inputs(inputs: list[str]) -> Iterator[str]:
    """Each input's audio paths, in order (a directory's and a glob's sorted), each once.

    A path that does not exist is passed on as it is: its row will carry the error."""
    seen: set[str] = set()
    for item in inputs:
        path = Path(item)
        if path.suffix.lower() == ".csv" and path.is_file():
            found: Iterator[str] = _manifest(path)
        elif path.is_dir():
            found = iter(audio_files_under(path))
        elif GLOB_CHARACTERS & set(item) and not path.exists():
            found = iter(sorted(glob.glob(item, recursive=True)))
        else:
            found = iter([item])
        for name in found:
            if name not in seen:
                seen.add(name)
                yield name
