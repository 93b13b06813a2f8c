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


def hz_to_mel(hz: np.ndarray | float) -> np.ndarray:
    """Slaney's mel scale: linear below 1 kHz (200/3 Hz per mel), logarithmic above."""
    hz = np.asarray(hz, dtype=np.float64)
    linear = hz / (200.0 / 3)
    log_part = 15.0 + np.log(np.maximum(hz, 1e-12) / 1000.0) / (np.log(6.4) / 27.0)
    return np.where(hz >= 1000.0, log_part, linear)


def mel_to_hz(mel: np.ndarray) -> np.ndarray:
    mel = np.asarray(mel, dtype=np.float64)
    return np.where(mel >= 15.0, 1000.0 * np.exp((np.log(6.4) / 27.0) * (mel - 15.0)), mel * 200.0 / 3)


@lru_cache(maxsize=16)
def mel_filterbank(sample_rate: int, n_fft: int, n_mels: int, fmin: float, fmax: float) -> np.ndarray:
    """(n_fft//2+1, n_mels) triangular mel filters, area-normalised (Slaney), for `power @ filters`.

    Built here rather than by librosa: the same numbers (tested), without seconds of import
    and JIT start-up in every fresh process.
    """
    edges = mel_to_hz(np.linspace(hz_to_mel(fmin), hz_to_mel(fmax), n_mels + 2))
    freqs = np.fft.rfftfreq(n_fft, 1.0 / sample_rate)
    widths = np.diff(edges)
    rising = (freqs[None, :] - edges[:-2, None]) / widths[:-1, None]
    falling = (edges[2:, None] - freqs[None, :]) / widths[1:, None]
    weights = np.maximum(0.0, np.minimum(rising, falling)) * (2.0 / (edges[2:] - edges[:-2]))[:, None]
    return np.ascontiguousarray(weights.T, dtype=np.float32)


@lru_cache(maxsize=16)
def chroma_filterbank(sample_rate: int, n_fft: int, n_chroma: int = 12) -> np.ndarray:
    """(n_fft//2+1, 12) chroma filters, starting at C, for `power @ filters`.

    Each FFT bin spreads over the pitch classes near its frequency with a Gaussian as wide as
    the bin, columns scaled to unit L2 norm, then weighted by a Gaussian over octaves centred
    on octave 5 (2 octaves wide): the construction of Ellis's chromagram, as librosa's.
    """
    freqs = np.arange(1, n_fft) * sample_rate / n_fft
    bins = n_chroma * np.log2(freqs / (440.0 / 16))  # chroma bins above A0 (27.5 Hz)
    bins = np.concatenate([[bins[0] - 1.5 * n_chroma], bins])
    bin_widths = np.concatenate([np.maximum(np.diff(bins), 1.0), [1.0]])
    half = round(n_chroma / 2)
    distance = np.remainder(bins[None, :] - np.arange(n_chroma)[:, None] + half + 10 * n_chroma, n_chroma)
    weights = np.exp(-0.5 * (2 * (distance - half) / bin_widths[None, :]) ** 2)
    norms = np.linalg.norm(weights, axis=0)
    weights = weights / np.where(norms > np.finfo(np.float64).tiny, norms, 1.0)
    weights *= np.exp(-0.5 * ((bins / n_chroma - 5.0) / 2.0) ** 2)[None, :]
    weights = np.roll(weights, -3 * (n_chroma // 12), axis=0)  # start at C, not A
    return np.ascontiguousarray(weights[:, : n_fft // 2 + 1].T, dtype=np.float32)


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
