"""Utterance-level feature vectors: the seed's 110 dims and the enhanced 392-dim superset.

Both read one `SignalAnalysis` (frames, spectra, contours computed once, lazily), so the
392 set costs only what it adds to the 110. Statistics are over non-silent frames only.
"""

from __future__ import annotations

import itertools
from abc import abstractmethod
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import scipy.fft
import soxr

from emovox.audio.framing import frame_signal, nonsilent_mask
from emovox.errors import ConfigError
from emovox.features.base import FeatureExtractor, Level
from emovox.features.dsp import (
    LOG_FLOOR,
    chroma_filterbank,
    deltas,
    fft_frequencies,
    mean_std,
    power_spectrum,
)
from emovox.features.mfcc import MfccConfig, mfcc_from_power

CHROMA_NAMES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")


@dataclass(frozen=True)
class UtteranceConfig:
    """Settings of the utterance sets. Chroma uses a longer window: pitch classes need
    ~8 Hz resolution, which 25 ms frames cannot give."""

    mfcc: MfccConfig = field(default_factory=MfccConfig)
    chroma_n_fft: int = 2048
    chroma_hop: int = 512
    rolloff_percent: float = 0.85
    contrast_fmin: float = 200.0
    contrast_bands: int = 6
    contrast_quantile: float = 0.02
    pitch_fmin: float = 60.0
    pitch_fmax: float = 500.0
    pitch_frame_length: int = 640
    voicing_threshold: float = 0.5

    def __post_init__(self) -> None:
        if not 0 < self.rolloff_percent < 1:
            raise ConfigError(f"rolloff_percent must be in (0, 1), got {self.rolloff_percent}")
        if not 0 < self.contrast_quantile < 0.5:
            raise ConfigError(f"contrast_quantile must be in (0, 0.5), got {self.contrast_quantile}")
        top = self.contrast_fmin * 2 ** (self.contrast_bands - 1)
        if self.contrast_bands < 1 or top >= self.mfcc.sample_rate / 2:
            raise ConfigError("contrast bands must fit below Nyquist")
        if not 0 < self.pitch_fmin < self.pitch_fmax < self.mfcc.sample_rate / 4:
            raise ConfigError(f"need 0 < pitch_fmin < pitch_fmax, got {self.pitch_fmin}, {self.pitch_fmax}")
        if self.pitch_frame_length < 2 * self.mfcc.sample_rate / self.pitch_fmin:
            raise ConfigError("pitch_frame_length must hold two periods of pitch_fmin")
        if not 0 < self.voicing_threshold < 1:
            raise ConfigError(f"voicing_threshold must be in (0, 1), got {self.voicing_threshold}")


class SignalAnalysis:
    """Per-frame descriptors of one prepared signal, each computed on first use."""

    def __init__(self, signal: np.ndarray, config: UtteranceConfig) -> None:
        self.signal = signal
        self.config = config
        self.sr = config.mfcc.sample_rate

    @cached_property
    def frames(self) -> np.ndarray:
        m = self.config.mfcc
        frames = frame_signal(self.signal, m.frame_length, m.hop_length)
        return frames[nonsilent_mask(frames)]

    @cached_property
    def frame_times(self) -> np.ndarray:
        m = self.config.mfcc
        all_frames = frame_signal(self.signal, m.frame_length, m.hop_length)
        index = np.flatnonzero(nonsilent_mask(all_frames))
        return (index * m.hop_length + m.frame_length / 2) / self.sr

    @cached_property
    def power(self) -> np.ndarray:
        return power_spectrum(self.frames, self.config.mfcc.n_fft)

    @cached_property
    def magnitude(self) -> np.ndarray:
        return np.sqrt(self.power)

    @cached_property
    def freqs(self) -> np.ndarray:
        return fft_frequencies(self.sr, self.config.mfcc.n_fft).astype(np.float32)

    @cached_property
    def mfcc(self) -> np.ndarray:
        return mfcc_from_power(self.power, self.config.mfcc)

    @cached_property
    def mfcc_delta(self) -> np.ndarray:
        return deltas(self.mfcc)

    @cached_property
    def zcr(self) -> np.ndarray:
        signs = np.signbit(self.frames)
        return np.mean(signs[:, 1:] != signs[:, :-1], axis=1)

    @cached_property
    def rms(self) -> np.ndarray:
        return np.sqrt(np.einsum("ij,ij->i", self.frames, self.frames) / self.frames.shape[1])

    @cached_property
    def magnitude_sum(self) -> np.ndarray:
        return np.maximum(self.magnitude.sum(axis=1), LOG_FLOOR)

    @cached_property
    def centroid(self) -> np.ndarray:
        return (self.magnitude @ self.freqs) / self.magnitude_sum

    @cached_property
    def rolloff(self) -> np.ndarray:
        cumulative = np.cumsum(self.magnitude, axis=1)
        threshold = self.config.rolloff_percent * cumulative[:, -1:]
        return self.freqs[np.argmax(cumulative >= threshold, axis=1)]

    @cached_property
    def contrast(self) -> np.ndarray:
        """Spectral contrast (dB) in octave bands from contrast_fmin, plus the top band."""
        c = self.config
        edges = [0.0] + [c.contrast_fmin * 2**k for k in range(c.contrast_bands)] + [self.sr / 2]
        out = np.zeros((len(self.frames), len(edges) - 1), dtype=np.float32)
        for band, (lo, hi) in enumerate(itertools.pairwise(edges)):
            cols = np.flatnonzero((self.freqs >= lo) & (self.freqs <= hi))
            sub = np.sort(self.magnitude[:, cols], axis=1)
            n = max(1, round(c.contrast_quantile * len(cols)))
            valley = np.maximum(sub[:, :n].mean(axis=1), LOG_FLOOR)
            peak = np.maximum(sub[:, -n:].mean(axis=1), LOG_FLOOR)
            out[:, band] = 20.0 * (np.log10(peak) - np.log10(valley))
        return out

    @cached_property
    def chroma(self) -> np.ndarray:
        """12 pitch classes per long frame, each frame scaled to max 1 (silent frames dropped)."""
        c = self.config
        frames = frame_signal(self.signal, min(c.chroma_n_fft, len(self.signal)), c.chroma_hop)
        frames = frames[nonsilent_mask(frames)]
        chroma = power_spectrum(frames, c.chroma_n_fft) @ chroma_filterbank(self.sr, c.chroma_n_fft)
        peak = chroma.max(axis=1, keepdims=True)
        return chroma / np.where(peak > 0, peak, 1.0)

    @cached_property
    def tonnetz(self) -> np.ndarray:
        """Tonal centroids (Harte et al. 2006): chroma projected on fifths, minor and major thirds."""
        k = np.arange(12)
        basis = np.stack(
            [
                np.sin(k * 7 * np.pi / 6),
                np.cos(k * 7 * np.pi / 6),
                np.sin(k * 3 * np.pi / 2),
                np.cos(k * 3 * np.pi / 2),
                0.5 * np.sin(k * 2 * np.pi / 3),
                0.5 * np.cos(k * 2 * np.pi / 3),
            ]
        ).astype(np.float32)
        total = self.chroma.sum(axis=1, keepdims=True)
        return (self.chroma / np.where(total > 0, total, 1.0)) @ basis.T

    @cached_property
    def pitch(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(f0 Hz, voicing strength in [0, 1], voiced mask, frame RMS) per 10 ms frame.

        Normalised cross-correlation (as in RAPT) over the lag range of [fmin, fmax], computed
        with one FFT per frame; the shortest lag within 10% of the best avoids octave drops.
        """
        c = self.config
        # f0 <= 500 Hz needs no more than 8 kHz: decimating halves every array below
        factor = max(1, int(self.sr // 8000))
        signal = soxr.resample(self.signal, self.sr, self.sr // factor) if factor > 1 else self.signal
        sr = self.sr // factor
        hop = c.mfcc.hop_length // factor
        frames = frame_signal(signal, min(c.pitch_frame_length // factor, len(signal)), hop)
        n = frames.shape[1]
        frames = frames - frames.mean(axis=1, keepdims=True)
        lag_min = int(sr / c.pitch_fmax)
        lag_max = min(int(np.ceil(sr / c.pitch_fmin)), n - 1)
        if len(frames) == 0 or lag_max <= lag_min + 2:
            empty = np.zeros(0)
            return empty, empty, empty.astype(bool), empty
        # n + lag_max points are enough for a circular correlation to equal the linear one
        n_fft = scipy.fft.next_fast_len(n + lag_max, real=True)
        spectrum = np.abs(scipy.fft.rfft(frames, n=n_fft, axis=1))
        acf = scipy.fft.irfft(np.square(spectrum, out=spectrum), n=n_fft, axis=1)
        lags = np.arange(lag_min, lag_max + 1)
        energy = np.zeros((len(frames), n + 1), dtype=np.float64)
        np.cumsum(np.square(frames, dtype=np.float64), axis=1, out=energy[:, 1:])
        head = energy[:, n - lags]  # energy of x[0 : n-lag]
        tail = energy[:, n : n + 1] - energy[:, lags]  # energy of x[lag : n]
        nccf = acf[:, lags] / np.sqrt(np.maximum(head * tail, 1e-20))
        best = nccf.max(axis=1)
        first = np.argmax(nccf >= 0.9 * best[:, None], axis=1)
        # climb from the first strong candidate to its local peak
        for _ in range(3):
            right = np.minimum(first + 1, len(lags) - 1)
            first = np.where(nccf[np.arange(len(first)), right] > nccf[np.arange(len(first)), first],
                             right, first)  # fmt: skip
        rows = np.arange(len(first))
        strength = np.clip(nccf[rows, first], 0.0, 1.0)
        # parabolic interpolation of the peak lag
        left = nccf[rows, np.maximum(first - 1, 0)]
        right = nccf[rows, np.minimum(first + 1, len(lags) - 1)]
        denom = left - 2 * nccf[rows, first] + right
        shift = np.where(np.abs(denom) > 1e-12, 0.5 * (left - right) / np.where(denom == 0, 1, denom), 0)
        f0 = sr / (lags[first] + np.clip(shift, -0.5, 0.5))
        frame_energy = energy[:, -1] / n
        loud = frame_energy > frame_energy.max() * 1e-4
        voiced = (strength >= c.voicing_threshold) & loud
        return f0, strength, voiced, np.sqrt(frame_energy)


def _names(prefix: str, stats: tuple[str, ...], items: tuple[str, ...]) -> list[str]:
    return [f"{prefix}_{s}_{i}" for s in stats for i in items]


def _numbered(n: int) -> tuple[str, ...]:
    return tuple(str(i) for i in range(n))


def base110_names(config: UtteranceConfig) -> tuple[str, ...]:
    mfcc = _numbered(config.mfcc.n_mfcc)
    bands = _numbered(config.contrast_bands + 1)
    names = _names("mfcc", ("mean", "std"), mfcc) + _names("mfcc_delta", ("mean", "std"), mfcc)
    names += _names("chroma", ("mean", "std"), CHROMA_NAMES)
    names += _names("contrast", ("mean", "std"), bands)
    names += _names("tonnetz", ("mean", "std"), _numbered(6))
    for descriptor in ("zcr", "rms", "centroid", "rolloff"):
        names += [f"{descriptor}_mean", f"{descriptor}_std"]
    return tuple(names)


def base110_values(a: SignalAnalysis) -> np.ndarray:
    parts: list[np.ndarray] = []
    for matrix in (a.mfcc, a.mfcc_delta, a.chroma, a.contrast, a.tonnetz):
        parts.extend(mean_std(matrix))
    for contour in (a.zcr, a.rms, a.centroid, a.rolloff):
        parts.extend(np.atleast_1d(v) for v in mean_std(contour[:, None]))
    return np.concatenate(parts).astype(np.float32)


class AnalysisExtractor(FeatureExtractor):
    """An utterance set computed from a `SignalAnalysis`; sets with one config can share it."""

    level = Level.UTTERANCE

    def __init__(self, config: UtteranceConfig | None = None) -> None:
        self.config = config or UtteranceConfig()
        self.sample_rate = self.config.mfcc.sample_rate
        self._names = self.names_for(self.config)

    @staticmethod
    @abstractmethod
    def names_for(config: UtteranceConfig) -> tuple[str, ...]:
        """The set's feature names under `config`."""

    @abstractmethod
    def from_analysis(self, analysis: SignalAnalysis) -> np.ndarray:
        """The set's vector, read off an analysis of the signal."""

    @property
    def feature_names(self) -> tuple[str, ...]:
        return self._names

    def __call__(self, signal: np.ndarray) -> np.ndarray:
        return self.from_analysis(SignalAnalysis(signal, self.config))


class Utterance110(AnalysisExtractor):
    """The seed's 110-dim vector: mean and std of MFCC, delta-MFCC, chroma, spectral contrast,
    tonnetz, ZCR, RMS, spectral centroid and roll-off (13+13+12+7+6 and 4 contours, x2)."""

    name = "utterance110"
    names_for = staticmethod(base110_names)

    def from_analysis(self, analysis: SignalAnalysis) -> np.ndarray:
        return base110_values(analysis)
