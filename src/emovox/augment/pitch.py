"""Pitch shift by a random number of semitones, duration kept (librosa's phase vocoder)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from emovox.augment.base import Transform, check_range


@dataclass(frozen=True)
class PitchShift(Transform):
    min_semitones: float = -2.0
    max_semitones: float = 2.0

    def __post_init__(self) -> None:
        super().__post_init__()
        check_range("semitones", self.min_semitones, self.max_semitones, -12.0, 12.0)

    def apply(self, signal: np.ndarray, rng: np.random.Generator, sample_rate: int) -> np.ndarray:
        import librosa

        steps = rng.uniform(self.min_semitones, self.max_semitones)
        return librosa.effects.pitch_shift(signal, sr=sample_rate, n_steps=steps, res_type="soxr_hq")
