"""What each encoder hears: Whisper's mel filterbank (its log-mel front end is part of the ONNX
graphs, see `emovox.backbones.whisper.LogMel`), Resemblyzer's mel power frames and CAM++'s Kaldi
log filterbank, in numpy.

The first two are librosa's computations step for step, bit for bit (tested against librosa),
without importing librosa: its first import in a new environment compiles numba kernels for about
20 s, which every fresh install's first prediction would pay. The third follows Kaldi's
`compute-fbank-feats` defaults, as CAM++ was trained on them.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache

import numpy as np

from emovox.backbones.config import HOP, N_FFT, SAMPLE_RATE, WhisperConfig
from emovox.errors import FeatureError

HZ_PER_MEL = 200.0 / 3  # Slaney's mel scale: linear below 1 kHz, logarithmic above
LOG_FROM_HZ = 1000.0
LOG_FROM_MEL = LOG_FROM_HZ / HZ_PER_MEL
LOG_STEP = np.log(6.4) / 27.0
MEL_BLOCK = 6000  # frames (a minute) whose spectrum is computed at once


@lru_cache(maxsize=4)
def mel_filters(n_mels: int, n_fft: int = N_FFT, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """(n_mels, n_fft//2+1) Slaney-normalised mel filterbank from 0 Hz to Nyquist (librosa's, as
    Whisper's own asset and Resemblyzer's filters were made; its float32 rounding kept)."""

    def to_mel(hz: float) -> float:
        return LOG_FROM_MEL + np.log(hz / LOG_FROM_HZ) / LOG_STEP if hz >= LOG_FROM_HZ else hz / HZ_PER_MEL

    mels = np.linspace(to_mel(0.0), to_mel(sample_rate / 2), n_mels + 2)
    edges = HZ_PER_MEL * mels
    log = mels >= LOG_FROM_MEL
    edges[log] = LOG_FROM_HZ * np.exp(LOG_STEP * (mels[log] - LOG_FROM_MEL))
    ramps = edges[:, None] - np.fft.rfftfreq(n_fft, 1.0 / sample_rate)[None, :]
    widths = np.diff(edges)[:, None]
    triangles = np.maximum(0, np.minimum(-ramps[:-2] / widths[:-1], ramps[2:] / widths[1:]))
    triangles = triangles.astype(np.float32)  # librosa rounds here, then scales
    return (triangles * (2.0 / (edges[2:] - edges[:-2]))[:, None]).astype(np.float32)


@lru_cache(maxsize=4)
def periodic_hann(length: int) -> np.ndarray:
    """float64 periodic Hann window, summed as scipy's `get_window("hann", length)` sums it."""
    return 0.5 + 0.5 * np.cos(np.linspace(-np.pi, np.pi, length + 1)[:-1])


def mono(signal: np.ndarray) -> np.ndarray:
    if signal.ndim != 1:
        raise FeatureError(f"expected a mono signal, got shape {signal.shape}")
    return signal.astype(np.float32, copy=False)


def blockwise(frames: np.ndarray, compute: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """`compute` on `MEL_BLOCK` frames at a time, joined: an hour's spectrum at once would take
    over 2 GB."""
    return np.concatenate([compute(frames[i : i + MEL_BLOCK]) for i in range(0, len(frames), MEL_BLOCK)])


@lru_cache(maxsize=2)
def kaldi_mel_filters(
    bands: int, n_fft: int = 512, sample_rate: int = SAMPLE_RATE, low: float = 20.0
) -> np.ndarray:
    """(n_fft//2+1, bands) Kaldi's triangular filters: equally spaced on its mel scale
    (1127 ln(1 + f/700)) from `low` to Nyquist, triangles drawn in mel, none on the Nyquist bin."""

    def to_mel(hz: np.ndarray | float) -> np.ndarray:
        return 1127.0 * np.log1p(np.asarray(hz, np.float64) / 700.0)

    edges = np.linspace(to_mel(low), to_mel(sample_rate / 2), bands + 2)
    bins = to_mel(np.arange(n_fft // 2) * sample_rate / n_fft)
    left, centre, right = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    triangles = np.maximum(
        0.0, np.minimum((bins - left) / (centre - left), (right - bins) / (right - centre))
    )
    return np.pad(triangles, ((0, 0), (0, 1))).T.astype(np.float32)


@lru_cache(maxsize=1)
def povey_window(length: int = N_FFT) -> np.ndarray:
    """Kaldi's default window: a symmetric Hann window to the power 0.85."""
    return ((0.5 - 0.5 * np.cos(2 * np.pi * np.arange(length) / (length - 1))) ** 0.85).astype(np.float32)


def kaldi_fbank(signal: np.ndarray, bands: int = 80) -> np.ndarray:
    """(frames, bands) float32 log mel filterbank as Kaldi computes it by default: 25 ms frames every
    10 ms inside the signal (no padding: 1 + (len - 400) // 160 frames), each with its mean taken
    out, pre-emphasised (0.97), Povey-windowed, zero-padded to 512 points; power spectrum, Kaldi's
    mel filters from 20 Hz, log floored at float32's epsilon."""
    samples = mono(signal)
    if len(samples) < N_FFT:
        return np.zeros((0, bands), np.float32)
    frames = np.lib.stride_tricks.sliding_window_view(samples, N_FFT)[::HOP]
    window, filters = povey_window(), kaldi_mel_filters(bands)

    def fbank(block: np.ndarray) -> np.ndarray:
        block = block - block.mean(axis=1, keepdims=True)
        block = np.concatenate([block[:, :1] * (1 - 0.97), block[:, 1:] - 0.97 * block[:, :-1]], axis=1)
        power = np.abs(np.fft.rfft(block * window, n=512, axis=-1)) ** 2
        return np.log(np.maximum(power @ filters, np.finfo(np.float32).eps))

    return blockwise(frames, fbank)


def speaker_mel(signal: np.ndarray, bands: int = 40) -> np.ndarray:
    """(frames, bands) mel power frames as Resemblyzer computes them (librosa's melspectrogram:
    25 ms Hann windows every 10 ms, centred with zero padding, power 2, Slaney mel; no log)."""
    padded = np.pad(mono(signal), N_FFT // 2)
    frames = np.lib.stride_tricks.sliding_window_view(padded, N_FFT)[::HOP]
    window, filters = periodic_hann(N_FFT), mel_filters(bands).T

    def mel(block: np.ndarray) -> np.ndarray:
        return (np.abs(np.fft.rfft(block * window, axis=-1).astype(np.complex64)) ** 2.0) @ filters

    return blockwise(frames, mel)


def windowed_states(
    mel: np.ndarray, config: WhisperConfig, run: Callable[[np.ndarray], np.ndarray]
) -> np.ndarray:
    """`run` on 30 s windows of one log-mel over the whole signal (as Whisper's transcription
    computes it; a (1, n_mels, frames) array in, (layers + 1, 1, frames / 2, width) out), the
    windows' outputs joined in time."""
    if mel.shape[1] < 2:
        raise FeatureError(
            f"a signal of {mel.shape[1]} mel frames is shorter than Whisper's 20 ms output step"
        )
    window = 2 * config.positions
    parts = [
        run(np.ascontiguousarray(mel[None, :, s : s + window]))[:, 0] for s in range(0, mel.shape[1], window)
    ]
    return np.concatenate(parts, axis=1)
