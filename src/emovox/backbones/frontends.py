"""What each encoder hears: Whisper's mel filterbank (its log-mel front end is part of the ONNX
graphs, see `emovox.backbones.whisper.LogMel`) and Resemblyzer's mel power frames, in numpy.

Both are librosa's computations step for step, bit for bit (tested against librosa), without
importing librosa: its first import in a new environment compiles numba kernels for about 20 s,
which every fresh install's first prediction would pay.
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
MEL_BLOCK = 6000  # frames (a minute) of the speaker encoder's mel frames computed at once


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


def speaker_mel(signal: np.ndarray, bands: int = 40) -> np.ndarray:
    """(frames, bands) mel power frames as Resemblyzer computes them (librosa's melspectrogram:
    25 ms Hann windows every 10 ms, centred with zero padding, power 2, Slaney mel; no log)."""
    padded = np.pad(mono(signal), N_FFT // 2)
    frames = np.lib.stride_tricks.sliding_window_view(padded, N_FFT)[::HOP]
    window, filters = periodic_hann(N_FFT), mel_filters(bands).T

    def mel(block: np.ndarray) -> np.ndarray:
        return (np.abs(np.fft.rfft(block * window, axis=-1).astype(np.complex64)) ** 2.0) @ filters

    # a minute of frames at a time: an hour's spectrum at once would take over 2 GB
    return np.concatenate([mel(frames[i : i + MEL_BLOCK]) for i in range(0, len(frames), MEL_BLOCK)])


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
