"""What each encoder hears: Whisper's mel filterbank (its log-mel front end is part of the ONNX
graphs, see `emovox.backbones.whisper.LogMel`) and Resemblyzer's mel power frames, in numpy."""

from __future__ import annotations

from functools import lru_cache

import librosa
import numpy as np

from emovox.backbones.config import HOP, N_FFT, SAMPLE_RATE
from emovox.errors import FeatureError


@lru_cache(maxsize=4)
def mel_filters(n_mels: int) -> np.ndarray:
    """Slaney-normalised mel filterbank of Whisper (librosa's, as Whisper's own asset was made)."""
    return librosa.filters.mel(sr=SAMPLE_RATE, n_fft=N_FFT, n_mels=n_mels).astype(np.float32)


def mono(signal: np.ndarray) -> np.ndarray:
    if signal.ndim != 1:
        raise FeatureError(f"expected a mono signal, got shape {signal.shape}")
    return signal.astype(np.float32, copy=False)


def speaker_mel(signal: np.ndarray, bands: int = 40) -> np.ndarray:
    """(frames, bands) mel power frames as Resemblyzer computes them (librosa's melspectrogram:
    25 ms Hann windows every 10 ms, centred with zero padding, power 2, Slaney mel; no log),
    every parameter spelled out so a librosa default that changes cannot change them."""
    mel = librosa.feature.melspectrogram(
        y=mono(signal), sr=SAMPLE_RATE, n_fft=N_FFT, hop_length=HOP, win_length=N_FFT,
        window="hann", center=True, pad_mode="constant", power=2.0, n_mels=bands, htk=False, norm="slaney",
    )  # fmt: skip
    return mel.astype(np.float32).T
