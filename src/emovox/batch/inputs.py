"""What `emovox batch` reads: files, directories (searched recursively for audio), globs, and
CSV manifests with a `path` column (relative paths from the CSV's folder; UTF-8, a cell at most
`MAX_FIELD` characters)."""

from __future__ import annotations

import csv
import glob
import os
from collections.abc import Iterator
from pathlib import Path

from emovox.audio.io import audio_files_under
from emovox.errors import ConfigError

GLOB_CHARACTERS = frozenset("*?[")
MAX_FIELD = 128 * 1024  # csv's own limit: no path or column of a manifest is longer


def _manifest(path: Path) -> list[str]:
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            reader = csv.DictReader(f)
            if "path" not in (reader.fieldnames or ()):
                raise ConfigError(f"{path}: a manifest needs a 'path' column, found {reader.fieldnames}")
            written = [(row.get("path") or "").strip() for row in reader]
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text (byte {exc.start}); save the manifest as UTF-8") from None
    except csv.Error as exc:
        raise ConfigError(f"{path}: not a readable CSV manifest ({exc})") from None
    return [os.path.normpath(w if Path(w).is_absolute() else path.parent / w) for w in written if w]


def expand_inputs(inputs: list[str]) -> Iterator[str]:
    """Each input's audio paths, in order (a directory's and a glob's sorted), each file once.

    A path that does not exist is passed on as it is: its row will carry the error."""
    seen: set[str] = set()
    for item in inputs:
        path = Path(item)
        if path.suffix.lower() == ".csv" and path.is_file():
            found: Iterator[str] = iter(_manifest(path))
        elif path.is_dir():
            found = iter(audio_files_under(path))
        elif GLOB_CHARACTERS & set(item) and not path.exists():
            found = iter(sorted(glob.glob(item, recursive=True)))
        else:
            found = iter([item])
        for name in found:
            key = os.path.realpath(name)  # `a.wav` and `./x/../a.wav` are one file
            if key not in seen:
                seen.add(key)
                yield name
