"""A random stretch of the clip, a short utterance made from a long one (the corpora hold whole
sentences; users bring single words and short answers)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from emovox.augment.base import Transform, check_range


@dataclass(frozen=True)
class RandomCrop(Transform):
    """A window of `min_seconds`..`max_seconds` at a random place among those that hold at least
    half the clip's mean energy (so it falls on speech, not on a pause inside the clip: some
    corpora's clips hold seconds of digital silence); a clip no longer than the window drawn is
    kept whole."""

    min_seconds: float = 0.5
    max_seconds: float = 2.0

    def __post_init__(self) -> None:
        super().__post_init__()
        check_range("crop_seconds", self.min_seconds, self.max_seconds, 0.1, 60.0)

    def apply(self, signal: np.ndarray, rng: np.random.Generator, sample_rate: int) -> np.ndarray:
        length = round(rng.uniform(self.min_seconds, self.max_seconds) * sample_rate)
        if len(signal) <= length:
            return signal
        energy = np.concatenate([[0.0], np.cumsum(np.square(signal, dtype=np.float64))])
        windows = energy[length:] - energy[:-length]
        spoken = np.flatnonzero(windows >= 0.5 * windows.mean())  # never empty: the loudest is there
        start = int(spoken[rng.integers(len(spoken))])
        return signal[start : start + length]
