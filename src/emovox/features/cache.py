"""A persistent on-disk feature cache keyed by file identity and extractor configuration.

A file's identity is its resolved path, size and modification time (as `make` judges
freshness): editing or replacing a clip invalidates its entries, reading it again does not.
Entries are plain .npy files, written atomically, loaded without pickle.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

import numpy as np

from emovox.audio import AudioConfig
from emovox.errors import FeatureError
from emovox.features.base import FeatureExtractor


def default_cache_dir() -> Path:
    """`$EMOVOX_CACHE`, else `$XDG_CACHE_HOME/emovox/features`, else `~/.cache/emovox/features`."""
    if os.environ.get("EMOVOX_CACHE"):
        return Path(os.environ["EMOVOX_CACHE"])
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "emovox" / "features"


def file_key(path: str | Path) -> str:
    resolved = Path(path).resolve()
    stat = resolved.stat()
    identity = f"{resolved}|{stat.st_size}|{stat.st_mtime_ns}"
    return hashlib.sha256(identity.encode()).hexdigest()[:32]


class FeatureCache:
    """One folder per (extractor config, audio config); one .npy per clip inside it."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def folder(self, extractor: FeatureExtractor, audio: AudioConfig, variant: str = "") -> Path:
        """`variant` names a change made to each signal before extraction (an augmented copy)."""
        audio_hash = hashlib.sha256(json.dumps(audio.to_dict(), sort_keys=True).encode())
        name = f"{extractor.cache_key()}-{audio_hash.hexdigest()[:8]}"
        return self.root / (f"{name}-{variant}" if variant else name)

    def entry(self, folder: Path, key: str) -> Path:
        return folder / key[:2] / f"{key}.npy"

    def load(self, folder: Path, key: str, extractor: FeatureExtractor) -> np.ndarray | None:
        """The entry, or None (recompute) when it is missing, unreadable (empty, torn, corrupt,
        a directory) or not of the extractor's shape: a cache is never trusted over the audio."""
        path = self.entry(folder, key)
        try:
            values = np.load(path, allow_pickle=False)
        except (OSError, ValueError, EOFError):
            return None
        try:
            return extractor.check(values) if values.dtype.kind == "f" else None
        except FeatureError:
            return None

    def store(self, folder: Path, key: str, values: np.ndarray) -> None:
        path = self.entry(folder, key)
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.is_dir() and not path.is_symlink():  # something else took the entry's place
            shutil.rmtree(path)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        with open(tmp, "wb") as f:
            np.save(f, values, allow_pickle=False)
        os.replace(tmp, path)
