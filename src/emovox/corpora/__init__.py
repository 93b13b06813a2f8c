"""Corpus readers: each turns a corpus folder in its original layout into a `Manifest`."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from emovox.corpora.ased import AsedReader
from emovox.corpora.base import CorpusReader
from emovox.corpora.cremad import CremaDReader
from emovox.corpora.duplicates import find_duplicates
from emovox.corpora.emodb import EmoDbReader
from emovox.corpora.emovo import EmovoReader
from emovox.corpora.generic import FolderReader, read_csv
from emovox.corpora.kor import KorReader
from emovox.corpora.labels import SHARED_LABELS, SHARED_MAPPING, common_labels, to_shared
from emovox.corpora.manifest import Manifest, Rejected, Utterance
from emovox.corpora.nemo import NemoReader
from emovox.corpora.ravdess import RavdessReader
from emovox.corpora.savee import SaveeReader
from emovox.corpora.tess import TessReader
from emovox.corpora.turev import TurevReader
from emovox.errors import CorpusError

READERS: dict[str, Callable[[], CorpusReader]] = {
    "ravdess": RavdessReader,
    "emodb": EmoDbReader,
    "tess": TessReader,
    "cremad": CremaDReader,
    "savee": SaveeReader,
    "ased": AsedReader,
    "nemo": NemoReader,
    "emovo": EmovoReader,
    "kor": KorReader,
    "turev": TurevReader,
    "folder": FolderReader,
}
CORPUS_NAMES = (*READERS, "csv")
LANGUAGES = {"ravdess": "English (North American)", "emodb": "German", "tess": "English (Canadian)",
             "cremad": "English (American)", "savee": "English (British)", "ased": "Amharic",
             "nemo": "Polish", "emovo": "Italian", "kor": "Korean",
             "turev": "Turkish"}  # fmt: skip
# Terms of use, from each corpus's source (../shared/data/README.md): all are for non-commercial
# research only, and so is any model trained on them.
LICENCES = {"ravdess": "CC BY-NC-SA 4.0", "emodb": "free for research (no explicit licence)",
            "ased": "research use only (no licence stated)", "nemo": "CC BY-NC-SA 4.0",
            "emovo": "free for research (no explicit licence)", "kor": "research use only, no commercial use",
            "tess": "CC BY-NC-ND 4.0", "cremad": "Open Database License (ODbL)",
            "savee": "free for research (no explicit licence)", "turev": "CC BY-NC-ND 4.0"}  # fmt: skip


def read_corpus(name: str, root: str | Path, strict: bool = False) -> Manifest:
    """Read a corpus by name: a built-in one, `folder` (a folder per label) or `csv` (root = file)."""
    key = name.lower().replace("-", "").replace("_", "")
    if key == "csv":
        return read_csv(root, strict=strict)
    if key not in READERS:
        raise CorpusError(f"unknown corpus {name!r}; choose from {', '.join(CORPUS_NAMES)}")
    return READERS[key]().read(root, strict=strict)


__all__ = [
    "CORPUS_NAMES",
    "LANGUAGES",
    "LICENCES",
    "READERS",
    "SHARED_LABELS",
    "SHARED_MAPPING",
    "CorpusReader",
    "CremaDReader",
    "EmoDbReader",
    "FolderReader",
    "Manifest",
    "RavdessReader",
    "Rejected",
    "SaveeReader",
    "TessReader",
    "Utterance",
    "common_labels",
    "find_duplicates",
    "read_corpus",
    "read_csv",
    "to_shared",
]
