"""Time stretch by a random rate, pitch kept (librosa's phase vocoder)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from emovox.augment.base import Transform, check_range


@dataclass(frozen=True)
class TimeStretch(Transform):
    """rate > 1 speeds up (shorter), < 1 slows down."""

    min_rate: float = 0.9
    max_rate: float = 1.1

    def __post_init__(self) -> None:
        super().__post_init__()
        check_range("rate", self.min_rate, self.max_rate, 0.5, 2.0)

    def apply(self, signal: np.ndarray, rng: np.random.Generator, sample_rate: int) -> np.ndarray:
        import librosa

        return librosa.effects.time_stretch(signal, rate=rng.uniform(self.min_rate, self.max_rate))
