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


def read_csv(csv_path: str | Path, name: str | None = None) -> Manifest:
    """A CSV with columns `path`, `label` and optionally `speaker`, `corpus` and any others.

    Relative paths are taken from the CSV's folder; extra columns become metadata. Rows whose
    file is missing are rejected with the reason, and a missing column is an error.
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
        path = Path(row["path"]).expanduser()
        path = path if path.is_absolute() else source.parent / path
        label = (row.get("label") or "").strip()
        if not label:
            rejected.append(Rejected(str(path), f"line {line}: empty label"))
            continue
        if not path.is_file():
            rejected.append(Rejected(str(path), f"line {line}: file not found"))
            continue
        speaker = (row.get("speaker") or "").strip()
        meta = {k: v for k, v in row.items() if k not in RESERVED_COLUMNS and v is not None}
        meta["speaker_known"] = "true" if speaker else "false"
        utterances.append(
            Utterance(str(path), row.get("corpus") or corpus, speaker or path.stem, label, meta)
        )
    if not utterances:
        raise CorpusError(f"csv {source}: no usable rows ({len(rejected)} rejected)")
    return Manifest(tuple(utterances), tuple(rejected))
