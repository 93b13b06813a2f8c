"""Byte-identical recordings inside a manifest (RAVDESS ships two in Actor_07).

A duplicate on both sides of a random split is a test clip the model has heard: the random
protocols keep each group together, and the corpus summary reports them.
"""

from __future__ import annotations

import hashlib
import os
from collections import defaultdict

from emovox.corpora.manifest import Manifest


def _digest(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def find_duplicates(manifest: Manifest) -> list[tuple[int, ...]]:
    """Groups (indices, 2 or more) of clips with identical bytes; only same-size files are hashed."""
    by_size: dict[int, list[int]] = defaultdict(list)
    for i, utterance in enumerate(manifest):
        by_size[os.path.getsize(utterance.path)].append(i)
    groups: list[tuple[int, ...]] = []
    for candidates in by_size.values():
        if len(candidates) < 2:
            continue
        by_digest: dict[str, list[int]] = defaultdict(list)
        for i in candidates:
            by_digest[_digest(manifest[i].path)].append(i)
        groups.extend(tuple(g) for g in by_digest.values() if len(g) > 1)
    return sorted(groups)
