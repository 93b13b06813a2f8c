"""Framing and silence handling on the seed's frame grid (frames start every hop, no padding)."""

from __future__ import annotations

import numpy as np

from emovox.audio.config import AudioConfig


def frame_count(num_samples: int, frame_length: int, hop_length: int) -> int:
    """Number of whole frames in a signal; a partial last frame is not a frame."""
    if num_samples < frame_length:
        return 0
    return 1 + (num_samples - frame_length) // hop_length


def frame_signal(signal: np.ndarray, frame_length: int, hop_length: int) -> np.ndarray:
    """A read-only (num_frames, frame_length) view of the signal; no copy is made."""
    n = frame_count(len(signal), frame_length, hop_length)
    if n == 0:
        return np.empty((0, frame_length), dtype=signal.dtype)
    windows = np.lib.stride_tricks.sliding_window_view(signal, frame_length)
    return windows[: (n - 1) * hop_length + 1 : hop_length]


def nonsilent_mask(frames: np.ndarray) -> np.ndarray:
    """The seed's silent-frame rule: a frame is silent only if every sample is exactly zero."""
    return np.any(frames != 0, axis=-1)


def has_sound_frame(signal: np.ndarray, frame_length: int, hop_length: int) -> bool:
    """Whether some whole frame is not silent (by `nonsilent_mask`'s rule), without framing."""
    n = frame_count(len(signal), frame_length, hop_length)
    if n == 0:
        return False
    nonzero = np.concatenate([[0], np.cumsum(signal != 0, dtype=np.int64)])
    starts = np.arange(n) * hop_length
    return bool(np.any(nonzero[starts + frame_length] > nonzero[starts]))


def trim_silence(signal: np.ndarray, config: AudioConfig) -> np.ndarray:
    """Cut leading and trailing frames quieter than `trim_top_db` below the loudest frame.

    Energy-based, so it handles the low-level room noise real recordings have instead of
    digital zeros. The signal is never cut below one frame.
    """
    frames = frame_signal(signal, config.frame_length, config.hop_length)
    if len(frames) <= 1:
        return signal
    energy = np.einsum("ij,ij->i", frames, frames, dtype=np.float64) / config.frame_length
    peak = energy.max()
    if peak <= 0:
        return signal
    loud = np.flatnonzero(energy >= peak * 10.0 ** (-config.trim_top_db / 10.0))
    start = loud[0] * config.hop_length
    stop = loud[-1] * config.hop_length + config.frame_length
    return signal[start:stop]
