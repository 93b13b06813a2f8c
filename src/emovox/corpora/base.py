"""The corpus reader interface: scan a root, parse each audio file's name, report what fails."""

from __future__ import annotations

import logging
import os
from abc import ABC, abstractmethod
from pathlib import Path

from emovox.corpora.manifest import Manifest, Rejected, Utterance
from emovox.errors import CorpusError

log = logging.getLogger(__name__)

AUDIO_EXTENSIONS = frozenset({".wav", ".flac", ".ogg", ".oga", ".mp3", ".aiff", ".aif", ".au"})


class ParseFailure(Exception):
    """Raised by `CorpusReader.parse` for a file whose name does not fit the corpus."""


def folder_label(path: Path, folders: dict[str, str]) -> str:
    """The label of a corpus whose folders are its labels."""
    label = folders.get(path.parent.name)
    if label is None:
        raise ParseFailure(f"folder {path.parent.name!r} is not one of {', '.join(folders)}")
    return label


def check_named(named: str, label: str) -> None:
    """A file whose name says another label than its folder is rejected, not guessed."""
    if named != label:
        raise ParseFailure(f"name says {named!r}, folder says {label!r}")


def audio_files(root: Path) -> list[Path]:
    """Every audio file below `root`, sorted so manifests are reproducible."""
    return sorted(p for p in root.rglob("*") if p.suffix.lower() in AUDIO_EXTENSIONS and p.is_file())


def check_root(root: str | Path, corpus: str) -> Path:
    path = Path(os.path.abspath(Path(root).expanduser()))
    if not path.exists():
        raise CorpusError(f"{corpus}: root {path} does not exist")
    if not path.is_dir():
        raise CorpusError(f"{corpus}: root {path} is not a folder")
    return path


class CorpusReader(ABC):
    """Reads one corpus in its original distribution layout (.wav or .flac alike).

    Subclasses give the corpus name, its native labels in a fixed order (class indices follow
    it) and `parse`, which turns one file path into an `Utterance` or raises `ParseFailure`.
    """

    name: str
    labels: tuple[str, ...] = ()  # empty: the labels found, sorted (generic readers)

    @abstractmethod
    def parse(self, path: Path, root: Path) -> Utterance:
        """Describe one file, or raise `ParseFailure` saying why its name does not fit."""

    def prepare(self, root: Path) -> None:
        """Read what a corpus keeps beside its audio (a metadata table), once per scan, before
        `parse` is called for each file. Most corpora keep nothing."""
        return None

    def read(self, root: str | Path, strict: bool = False) -> Manifest:
        """Scan `root` and return the manifest; unparsable files are kept in `rejected`.

        With `strict`, any rejected file is an error instead of a warning.
        """
        base = check_root(root, self.name)
        self.prepare(base)
        files = audio_files(base)
        if not files:
            raise CorpusError(f"{self.name}: no audio files under {base}")
        utterances: list[Utterance] = []
        rejected: list[Rejected] = []
        for path in files:
            try:
                utterances.append(self.parse(path, base))
            except ParseFailure as exc:
                rejected.append(Rejected(str(path), str(exc)))
        if rejected:
            message = (
                f"{self.name}: {len(rejected)} of {len(files)} files under {base} were not "
                f"parsed, e.g. {rejected[0].path}: {rejected[0].reason}"
            )
            if strict:
                raise CorpusError(message)
            log.warning(message)
        if not utterances:
            raise CorpusError(f"{self.name}: none of the {len(files)} audio files under {base} parsed")
        return Manifest(tuple(utterances), tuple(rejected), self.labels)
