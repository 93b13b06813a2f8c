"""A random gain. With peak normalisation on (the default pipeline), gain alone changes nothing
the features see; it matters before AddNoise or with normalisation off."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from emovox.augment.base import Transform, check_range


@dataclass(frozen=True)
class Gain(Transform):
    min_db: float = -6.0
    max_db: float = 6.0

    def __post_init__(self) -> None:
        super().__post_init__()
        check_range("gain_db", self.min_db, self.max_db, -60.0, 30.0)

    def apply(self, signal: np.ndarray, rng: np.random.Generator, sample_rate: int) -> np.ndarray:
        return signal * 10 ** (rng.uniform(self.min_db, self.max_db) / 20)
