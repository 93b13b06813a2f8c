"""Advisory file locks (POSIX `flock`): work that must happen once per machine, whoever asks first
(threads of one process and other processes wait on the same lock file), and files that one job
at a time may write (a second job is refused at once)."""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


class Busy(Exception):
    """Another thread or process holds the lock."""


class FileLock:
    """An exclusive lock on `path` (created if missing). Each lock opens the file anew, so threads
    of one process exclude each other too; the lock is released when the holder closes it or
    dies, so a killed job never leaves a stale lock."""

    def __init__(self, path: Path, wait: bool = True) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        while True:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                raise Busy(str(path)) from None
            try:
                same = os.fstat(fd).st_ino == os.stat(path).st_ino
            except FileNotFoundError:
                same = False
            if same:  # not a file its last holder removed after we opened it
                break
            os.close(fd)
        self.path, self.fd = path, fd

    def release(self, remove: bool = False) -> None:
        """Let go; `remove` deletes the lock file first (others then lock a new one)."""
        if self.fd < 0:
            return
        if remove:
            self.path.unlink(missing_ok=True)
        os.close(self.fd)
        self.fd = -1


@contextmanager
def exclusive(path: Path) -> Iterator[None]:
    """Hold `path` exclusively for the block; others block until it is free."""
    lock = FileLock(path)
    try:
        yield
    finally:
        lock.release()


def unique_temporary(path: Path) -> Path:
    """A name beside `path` that no other process or thread writes: for a write then `os.replace`."""
    return path.with_name(f".{path.name}.{os.getpid()}.{os.urandom(4).hex()}.tmp")
