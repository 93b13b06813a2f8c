"""A random microphone/channel colouring: a high-pass and a low-pass at random corners, and a
random spectral tilt. Real microphones and rooms differ from the studio mostly like this."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.signal import butter, lfilter, sosfilt

from emovox.augment.base import Transform, check_range


@dataclass(frozen=True)
class ChannelFilter(Transform):
    min_highpass_hz: float = 50.0
    max_highpass_hz: float = 300.0
    min_lowpass_hz: float = 3400.0
    max_lowpass_hz: float = 7800.0
    max_tilt: float = 0.5  # first-order tilt y[n] = x[n] - a x[n-1], a in [-max_tilt, max_tilt]

    def __post_init__(self) -> None:
        super().__post_init__()
        check_range("highpass_hz", self.min_highpass_hz, self.max_highpass_hz, 10.0, 1000.0)
        check_range("lowpass_hz", self.min_lowpass_hz, self.max_lowpass_hz, 1500.0, 7950.0)
        check_range("tilt", 0.0, self.max_tilt, 0.0, 0.95)

    def apply(self, signal: np.ndarray, rng: np.random.Generator, sample_rate: int) -> np.ndarray:
        nyquist = sample_rate / 2
        high = rng.uniform(self.min_highpass_hz, self.max_highpass_hz)
        low = min(rng.uniform(self.min_lowpass_hz, self.max_lowpass_hz), 0.99 * nyquist)
        out = sosfilt(butter(2, high, "highpass", fs=sample_rate, output="sos"), signal)
        out = sosfilt(butter(4, low, "lowpass", fs=sample_rate, output="sos"), out)
        a = rng.uniform(-self.max_tilt, self.max_tilt)  # > 0 brightens, < 0 darkens
        return lfilter([1.0, -a], [1.0], out)
