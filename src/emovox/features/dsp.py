"""Vectorised DSP shared by the extractors: spectra, filterbanks, deltas, frame statistics.

Everything works on a (frames, ...) matrix at once and row by row the same way, so a batch of
one frame and a batch of a thousand give the same numbers (what makes streaming exact).
Filterbanks are built once per configuration and cached.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import scipy.fft

LOG_FLOOR = 1e-10


@lru_cache(maxsize=16)
def hann(length: int) -> np.ndarray:
    """Periodic Hann window (the STFT convention librosa and torch use)."""
    return (0.5 - 0.5 * np.cos(2.0 * np.pi * np.arange(length) / length)).astype(np.float32)


@lru_cache(maxsize=16)
def mel_filterbank(sample_rate: int, n_fft: int, n_mels: int, fmin: float, fmax: float) -> np.ndarray:
    """(n_fft//2+1, n_mels) Slaney-normalised mel filters, transposed for `power @ filters`."""
    import librosa  # imported here: it is slow to import and only needed to build the filters

    filters = librosa.filters.mel(
        sr=sample_rate, n_fft=n_fft, n_mels=n_mels, fmin=fmin, fmax=fmax, dtype=np.float32
    )
    return np.ascontiguousarray(filters.T)


@lru_cache(maxsize=16)
def chroma_filterbank(sample_rate: int, n_fft: int) -> np.ndarray:
    """(n_fft//2+1, 12) chroma filters (librosa's), transposed for `power @ filters`."""
    import librosa

    filters = librosa.filters.chroma(sr=sample_rate, n_fft=n_fft, dtype=np.float32)
    return np.ascontiguousarray(filters.T)


@lru_cache(maxsize=16)
def dct_matrix(n_in: int, n_out: int) -> np.ndarray:
    """(n_in, n_out) orthonormal DCT-II, so `log_mel @ dct` gives cepstra."""
    n = np.arange(n_in)[:, None]
    k = np.arange(n_out)[None, :]
    basis = np.cos(np.pi * k * (2 * n + 1) / (2 * n_in)) * np.sqrt(2.0 / n_in)
    basis[:, 0] /= np.sqrt(2.0)
    return basis.astype(np.float32)


def power_spectrum(frames: np.ndarray, n_fft: int) -> np.ndarray:
    """|FFT|^2 of Hann-windowed frames, zero-padded to n_fft: (frames, n_fft//2+1) float32.

    float32 throughout: the input is float32 PCM, and halving the temporaries' size is most
    of the speed (fresh large arrays cost page faults, not arithmetic).
    """
    spectrum = scipy.fft.rfft(frames * hann(frames.shape[1]), n=n_fft, axis=1)
    power = np.abs(spectrum)
    return np.square(power, out=power)


def fft_frequencies(sample_rate: int, n_fft: int) -> np.ndarray:
    return np.fft.rfftfreq(n_fft, 1.0 / sample_rate)


def deltas(features: np.ndarray, width: int = 2) -> np.ndarray:
    """Regression deltas over +-width frames (HTK formula), edges padded by repetition."""
    if len(features) == 0:
        return features.copy()
    padded = np.pad(features, ((width, width), (0, 0)), mode="edge")
    n = len(features)
    total = np.zeros_like(features, dtype=np.float64)
    for k in range(1, width + 1):
        total += k * (padded[width + k : width + k + n] - padded[width - k : width - k + n])
    return total / (2.0 * sum(k * k for k in range(1, width + 1)))


def mean_std(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Column means and standard deviations; zeros for an empty matrix, never NaN."""
    if len(values) == 0:
        zeros = np.zeros(values.shape[1:], dtype=np.float64)
        return zeros, zeros.copy()
    return values.mean(axis=0), values.std(axis=0)


def percentiles(values: np.ndarray, qs: tuple[float, ...]) -> np.ndarray:
    """(len(qs), columns) percentiles of each column; zeros for an empty matrix."""
    if len(values) == 0:
        return np.zeros((len(qs), *values.shape[1:]), dtype=np.float64)
    return np.percentile(values, qs, axis=0)


def skew_kurtosis(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Column skewness and excess kurtosis; zero where a column is constant or too short."""
    if len(values) < 2:
        zeros = np.zeros(values.shape[1:], dtype=np.float64)
        return zeros, zeros.copy()
    centred = values - values.mean(axis=0)
    var = (centred**2).mean(axis=0)
    safe = np.where(var > 1e-20, var, 1.0)
    skew = np.where(var > 1e-20, (centred**3).mean(axis=0) / safe**1.5, 0.0)
    kurt = np.where(var > 1e-20, (centred**4).mean(axis=0) / safe**2 - 3.0, 0.0)
    return skew, kurt


def slope_per_second(values: np.ndarray, times: np.ndarray) -> float:
    """Least-squares slope of a contour against time (units per second); 0 if undefined."""
    if len(values) < 2:
        return 0.0
    t = times - times.mean()
    denom = float(t @ t)
    return float(t @ (values - values.mean()) / denom) if denom > 0 else 0.0
