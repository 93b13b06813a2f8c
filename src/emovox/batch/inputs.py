"""What `emovox batch` reads: files, directories (searched recursively for audio), globs, and
CSV manifests with a `path` column (relative paths from the CSV's folder; UTF-8, a cell at most
`MAX_FIELD` characters) and, for `--adapt-by speaker`, a `speaker` column."""

from __future__ import annotations

import csv
import glob
import os
from collections.abc import Iterator, Sequence
from enum import StrEnum
from pathlib import Path

from emovox.audio.io import audio_files_under
from emovox.errors import ConfigError

GLOB_CHARACTERS = frozenset("*?[")
MAX_FIELD = 128 * 1024  # csv's own limit: no path or column of a manifest is longer


class AdaptBy(StrEnum):
    """Which files share adaptation statistics (see `emovox.inference.adaptation`)."""

    SPEAKER = "speaker"  # a manifest's speaker column
    FOLDER = "folder"  # the folder a file lies in: one speaker or set-up per folder
    ALL = "all"  # every file: one set-up


def _manifest_rows(path: Path, column: str | None = None) -> list[tuple[str, str]]:
    """(path, the `column` cell or "") per row with a path; relative paths from the CSV's folder."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            reader = csv.DictReader(f)
            for needed in ("path", column):
                if needed is not None and needed not in (reader.fieldnames or ()):
                    raise ConfigError(
                        f"{path}: a manifest needs a {needed!r} column, found {reader.fieldnames}"
                    )
            written = [
                ((row.get("path") or "").strip(), (row.get(column or "") or "").strip()) for row in reader
            ]
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text (byte {exc.start}); save the manifest as UTF-8") from None
    except csv.Error as exc:
        raise ConfigError(f"{path}: not a readable CSV manifest ({exc})") from None
    return [
        (os.path.normpath(w if Path(w).is_absolute() else path.parent / w), cell) for w, cell in written if w
    ]


def _is_manifest(path: Path) -> bool:
    return path.suffix.lower() == ".csv" and path.is_file()


def expand_inputs(inputs: list[str]) -> Iterator[str]:
    """Each input's audio paths, in order (a directory's and a glob's sorted), each file once.

    A path that does not exist is passed on as it is: its row will carry the error."""
    seen: set[str] = set()
    for item in inputs:
        path = Path(item)
        if _is_manifest(path):
            found: Iterator[str] = (name for name, _ in _manifest_rows(path))
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


def adaptation_groups(inputs: Sequence[str], paths: Sequence[str], by: AdaptBy) -> list[str]:
    """Each path's group: its speaker in the manifests among `inputs` (the first manifest that
    names the file), its folder, or one group for all. A ConfigError when a file has no speaker."""
    if by is AdaptBy.ALL:
        return ["all"] * len(paths)
    if by is AdaptBy.FOLDER:
        return [os.path.dirname(os.path.abspath(path)) for path in paths]  # as listed: links stay put
    speakers: dict[str, str] = {}
    for item in inputs:
        if _is_manifest(Path(item)):
            for name, speaker in _manifest_rows(Path(item), "speaker"):
                speakers.setdefault(os.path.realpath(name), speaker)
    groups = [speakers.get(os.path.realpath(path), "") for path in paths]
    missing = [path for path, group in zip(paths, groups, strict=True) if not group]
    if missing:
        raise ConfigError(
            f"--adapt-by speaker: {len(missing)} file(s) have no speaker, e.g. {missing[0]}; list them in a "
            "CSV manifest with a 'speaker' column (or adapt by folder)"
        )
    return groups
