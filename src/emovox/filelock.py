"""Advisory file locks (POSIX `flock`) for work that must happen once per machine, whoever asks
first: threads of one process and other processes wait on the same lock file."""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def exclusive(path: Path) -> Iterator[None]:
    """Hold `path` (created if missing) exclusively for the block; others block until it is free.
    Each call opens the file anew, so threads of one process exclude each other too."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def unique_temporary(path: Path) -> Path:
    """A name beside `path` that no other process or thread writes: for a write then `os.replace`."""
    return path.with_name(f".{path.name}.{os.getpid()}.{os.urandom(4).hex()}.tmp")
