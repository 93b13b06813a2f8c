"""The waveform transform interface: a seeded, checked, probabilistic function of a signal."""

from __future__ import annotations

import hashlib
import json
from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass

import numpy as np

from emovox.errors import ConfigError


def check_range(name: str, low: float, high: float, lowest: float, highest: float) -> None:
    if not lowest <= low <= high <= highest:
        raise ConfigError(f"{name} must satisfy {lowest} <= min <= max <= {highest}, got [{low}, {high}]")


@dataclass(frozen=True)
class Transform(ABC):
    """Applied with probability `p`; all randomness comes from the generator passed in."""

    p: float = 1.0

    def __post_init__(self) -> None:
        if not 0 <= self.p <= 1:
            raise ConfigError(f"{type(self).__name__}: p must be in [0, 1], got {self.p}")

    def __call__(self, signal: np.ndarray, rng: np.random.Generator, sample_rate: int = 16_000) -> np.ndarray:
        if rng.random() >= self.p:
            return signal
        return self.apply(signal, rng, sample_rate).astype(np.float32)

    @abstractmethod
    def apply(self, signal: np.ndarray, rng: np.random.Generator, sample_rate: int) -> np.ndarray:
        """The transformed signal (always applied)."""


@dataclass(frozen=True)
class Compose:
    """Transforms in order; its `key` names the whole chain (for the feature cache)."""

    transforms: tuple[Transform, ...]

    def __call__(self, signal: np.ndarray, rng: np.random.Generator, sample_rate: int = 16_000) -> np.ndarray:
        for transform in self.transforms:
            signal = transform(signal, rng, sample_rate)
        return signal

    @property
    def key(self) -> str:
        described = [{"type": type(t).__name__, **asdict(t)} for t in self.transforms]
        return hashlib.sha256(json.dumps(described, sort_keys=True).encode()).hexdigest()[:12]


@dataclass(frozen=True)
class AugmentedCopy:
    """The `copy`-th augmented version of any clip, reproducible: its randomness is seeded by
    (seed, copy, file name), so it does not depend on where the corpus lives or on job order."""

    chain: Compose
    copy: int
    seed: int = 0

    @property
    def key(self) -> str:
        return f"aug-{self.chain.key}-s{self.seed}-c{self.copy}"

    def __call__(self, signal: np.ndarray, path: str, sample_rate: int) -> np.ndarray:
        name = path.replace("\\", "/").rsplit("/", 1)[-1]
        digest = hashlib.sha256(f"{self.seed}|{self.copy}|{name}".encode()).digest()
        return self.chain(signal, np.random.default_rng(int.from_bytes(digest[:8], "little")), sample_rate)
