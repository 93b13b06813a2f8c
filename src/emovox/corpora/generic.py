"""Your own data: a folder per label, or a CSV of (path, label, speaker)."""

from __future__ import annotations

import csv
import re
from pathlib import Path

from emovox.corpora.base import CorpusReader, ParseFailure, check_root
from emovox.corpora.manifest import Manifest, Rejected, Utterance
from emovox.errors import CorpusError

RESERVED_COLUMNS = ("path", "label", "speaker", "corpus")


class FolderReader(CorpusReader):
    """`root/LABEL/.../clip.wav`: the label is the first folder below root.

    Speakers come from `speaker_pattern`, a regex with a named group `speaker` searched in the
    path relative to root (e.g. `r"^[^/]+/(?P<speaker>[^/]+)/"` for `label/speaker/clip.wav`).
    Without one the speaker is unknown and each clip counts as its own speaker, so
    speaker-independent protocols cannot be honoured: `meta["speaker_known"]` says so.
    """

    def __init__(self, name: str = "folder", speaker_pattern: str | None = None) -> None:
        self.name = name
        try:
            self.speaker_pattern = re.compile(speaker_pattern) if speaker_pattern else None
        except re.error as exc:
            raise CorpusError(f"speaker_pattern {speaker_pattern!r} is not a regex: {exc}") from exc
        if self.speaker_pattern and "speaker" not in self.speaker_pattern.groupindex:
            raise CorpusError("speaker_pattern needs a named group (?P<speaker>...)")

    def parse(self, path: Path, root: Path) -> Utterance:
        relative = path.relative_to(root)
        if len(relative.parts) < 2:
            raise ParseFailure("file sits directly in root, not in a label folder")
        label = relative.parts[0]
        if self.speaker_pattern is None:
            speaker, known = relative.with_suffix("").as_posix(), "false"
        else:
            match = self.speaker_pattern.search(relative.as_posix())
            if not match:
                raise ParseFailure(f"speaker_pattern {self.speaker_pattern.pattern!r} does not match")
            speaker, known = match.group("speaker"), "true"
        return Utterance(str(path), self.name, speaker, label, {"speaker_known": known})


def read_csv(csv_path: str | Path, name: str | None = None, strict: bool = False) -> Manifest:
    """A CSV with columns `path`, `label` and optionally `speaker`, `corpus` and any others.

    Relative paths are resolved from the CSV's own folder (not the working directory), so the
    CSV and its clips move together; extra columns become metadata. The corpus is named after
    the CSV's file name (`my_clips.csv` -> `my_clips`) unless a `corpus` column says otherwise.
    Rows without a path or label, or whose file is missing, are rejected with the line and the
    reason (`strict=True` makes any of them an error); a missing column is an error.
    """
    source = Path(csv_path).expanduser()
    if not source.is_file():
        raise CorpusError(f"csv: {source} does not exist")
    check_root(source.parent, "csv")
    corpus = name or source.stem
    with open(source, newline="", encoding="utf-8-sig") as f:
        reader = csv.DictReader(f)
        missing = {"path", "label"} - set(reader.fieldnames or ())
        if missing:
            raise CorpusError(f"csv {source}: missing column(s) {sorted(missing)}")
        rows = list(reader)
    utterances: list[Utterance] = []
    rejected: list[Rejected] = []
    for line, row in enumerate(rows, start=2):
        written = (row.get("path") or "").strip()
        label = (row.get("label") or "").strip()
        path = Path(written).expanduser()
        path = path if path.is_absolute() else source.parent / path
        reason = (
            "empty path" if not written
            else "empty label" if not label
            else f"file not found ({path})" if not path.is_file()
            else None
        )  # fmt: skip
        if reason:
            rejected.append(Rejected(written or "(no path)", f"line {line}: {reason}"))
            continue
        speaker = (row.get("speaker") or "").strip()
        meta = {k: v for k, v in row.items() if k not in RESERVED_COLUMNS and v is not None}
        meta["speaker_known"] = "true" if speaker else "false"
        utterances.append(
            Utterance(str(path), row.get("corpus") or corpus, speaker or path.stem, label, meta)
        )
    reasons = "; ".join(f"{r.path}: {r.reason}" for r in rejected[:5]) + (
        "; ..." if len(rejected) > 5 else ""
    )
    if not utterances:
        raise CorpusError(f"csv {source}: no usable rows ({len(rejected)} rejected: {reasons})")
    if strict and rejected:
        raise CorpusError(f"csv {source}: {len(rejected)} row(s) rejected: {reasons}")
    return Manifest(tuple(utterances), tuple(rejected))
