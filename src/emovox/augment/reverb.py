"""Reverberation with a synthetic room impulse response: exponentially decaying noise with a
random reverberation time (RT60), mixed with the direct sound at a random direct-to-reverberant
ratio. No recorded impulse responses needed (none can be downloaded here)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.signal import fftconvolve

from emovox.augment.base import Transform, check_range


@dataclass(frozen=True)
class Reverb(Transform):
    min_rt60: float = 0.2
    max_rt60: float = 0.8
    min_drr_db: float = 0.0
    max_drr_db: float = 15.0

    def __post_init__(self) -> None:
        super().__post_init__()
        check_range("rt60", self.min_rt60, self.max_rt60, 0.05, 3.0)
        check_range("drr_db", self.min_drr_db, self.max_drr_db, -10.0, 40.0)

    def apply(self, signal: np.ndarray, rng: np.random.Generator, sample_rate: int) -> np.ndarray:
        rt60 = rng.uniform(self.min_rt60, self.max_rt60)
        t = np.arange(int(rt60 * sample_rate)) / sample_rate
        tail = rng.standard_normal(len(t)) * 10 ** (-3 * t / rt60)  # -60 dB at rt60
        tail[: int(0.002 * sample_rate)] = 0  # the first reflections arrive after the direct sound
        wet = fftconvolve(signal, tail)[: len(signal)]
        drr = 10 ** (rng.uniform(self.min_drr_db, self.max_drr_db) / 20)
        wet *= np.sqrt(np.sum(np.square(signal)) / max(np.sum(np.square(wet)), 1e-12)) / drr
        return signal + wet
