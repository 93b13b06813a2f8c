"""Additive white noise at a random signal-to-noise ratio."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from emovox.augment.base import Transform, check_range


@dataclass(frozen=True)
class AddNoise(Transform):
    """Gaussian noise whose power sits `snr_db` below the signal's (measured on non-zero samples)."""

    min_snr_db: float = 10.0
    max_snr_db: float = 30.0

    def __post_init__(self) -> None:
        super().__post_init__()
        check_range("snr_db", self.min_snr_db, self.max_snr_db, -20.0, 80.0)

    def apply(self, signal: np.ndarray, rng: np.random.Generator, sample_rate: int) -> np.ndarray:
        active = signal[signal != 0]
        power = float(np.mean(active.astype(np.float64) ** 2)) if active.size else 0.0
        snr = rng.uniform(self.min_snr_db, self.max_snr_db)
        noise = rng.standard_normal(len(signal)) * np.sqrt(power / 10 ** (snr / 10))
        return signal + noise
