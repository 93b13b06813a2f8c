"""Frame-level MFCCs (the streaming LSTM's input), offline and from PCM chunks of any size."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from emovox.audio.framing import frame_signal, nonsilent_mask
from emovox.errors import ConfigError
from emovox.features.base import FeatureExtractor, Level
from emovox.features.dsp import LOG_FLOOR, dct_matrix, mel_filterbank, power_spectrum

FRAME_BLOCK = 64  # frames per block: temporaries under ~130 KB


@dataclass(frozen=True)
class MfccConfig:
    """13 MFCCs on 25 ms Hann frames every 10 ms, 40 mel bands up to Nyquist.

    The log floor is absolute (not relative to the loudest frame), so each frame's features
    depend on that frame alone and streaming output equals offline output.
    """

    n_mfcc: int = 13
    n_mels: int = 40
    n_fft: int = 512
    frame_length: int = 400
    hop_length: int = 160
    fmin: float = 0.0
    fmax: float | None = None
    sample_rate: int = 16_000
    skip_silent: bool = True

    def __post_init__(self) -> None:
        if not 1 <= self.n_mfcc <= self.n_mels:
            raise ConfigError(f"n_mfcc must be in [1, n_mels={self.n_mels}], got {self.n_mfcc}")
        if self.n_fft < self.frame_length:
            raise ConfigError(f"n_fft ({self.n_fft}) must be >= frame_length ({self.frame_length})")
        if not 0 < self.hop_length <= self.frame_length:
            raise ConfigError(f"hop_length must be in (0, frame_length], got {self.hop_length}")
        nyquist = self.sample_rate / 2
        if not 0 <= self.fmin < (self.fmax or nyquist) <= nyquist:
            raise ConfigError(f"need 0 <= fmin < fmax <= {nyquist} Hz, got {self.fmin}, {self.fmax}")

    def filters(self) -> tuple[np.ndarray, np.ndarray]:
        """The (bins, mels) filterbank and (mels, n_mfcc) DCT this config implies."""
        fmax = self.fmax or self.sample_rate / 2
        mel = mel_filterbank(self.sample_rate, self.n_fft, self.n_mels, self.fmin, fmax)
        return mel, dct_matrix(self.n_mels, self.n_mfcc)


def log_mel_from_power(power: np.ndarray, config: MfccConfig) -> np.ndarray:
    """Log mel energies in dB (float32) of each row of a power spectrum matrix."""
    mel, _ = config.filters()
    log_mel = np.maximum(power @ mel, np.float32(LOG_FLOOR))
    np.log10(log_mel, out=log_mel)
    return log_mel * np.float32(10.0)


def mfcc_from_power(power: np.ndarray, config: MfccConfig) -> np.ndarray:
    """MFCCs (float32) of each row of a power spectrum matrix."""
    return log_mel_from_power(power, config) @ config.filters()[1]


class FrameMfcc(FeatureExtractor):
    """(num_frames, 13) MFCCs; all-zero frames are skipped (the seed's rule)."""

    name = "mfcc"
    level = Level.FRAME
    default_config = MfccConfig()

    def __init__(self, config: MfccConfig | None = None) -> None:
        self.config = config or self.default_config
        self.sample_rate = self.config.sample_rate

    @property
    def feature_names(self) -> tuple[str, ...]:
        return tuple(f"mfcc_{i}" for i in range(self.config.n_mfcc))

    def from_power(self, power: np.ndarray) -> np.ndarray:
        return mfcc_from_power(power, self.config)

    def from_frames(self, frames: np.ndarray) -> np.ndarray:
        """MFCCs of already-cut frames, applying the silent-frame rule."""
        if self.config.skip_silent:
            frames = frames[nonsilent_mask(frames)]
        out = np.empty((len(frames), self.dim), dtype=np.float32)
        # fixed-size blocks: small temporaries stay in cache and off mmap, memory stays bounded
        for start in range(0, len(frames), FRAME_BLOCK):
            block = frames[start : start + FRAME_BLOCK]
            out[start : start + len(block)] = self.from_power(power_spectrum(block, self.config.n_fft))
        return out

    def __call__(self, signal: np.ndarray) -> np.ndarray:
        return self.from_frames(frame_signal(signal, self.config.frame_length, self.config.hop_length))

    def stream(self) -> StreamingMfcc:
        return StreamingMfcc(self)


class FrameLogMel(FrameMfcc):
    """(num_frames, 64) log mel energies in dB on the same frames: the input of spectrogram
    models (the CRNN). The config's n_mfcc is unused."""

    name = "logmel"
    default_config = MfccConfig(n_mels=64)

    @property
    def feature_names(self) -> tuple[str, ...]:
        return tuple(f"logmel_{i}" for i in range(self.config.n_mels))

    def from_power(self, power: np.ndarray) -> np.ndarray:
        return log_mel_from_power(power, self.config)


class StreamingMfcc:
    """Feeds PCM chunks of any size (down to one sample) and yields each frame once complete.

    Concatenating everything `push` returns gives exactly the offline `FrameMfcc` output for
    the concatenated signal: same frames, same order, same values.
    """

    def __init__(self, extractor: FrameMfcc) -> None:
        self.extractor = extractor
        self._pending = np.empty(0, dtype=np.float32)
        self.samples_seen = 0
        self.frames_seen = 0

    def push(self, chunk: np.ndarray) -> np.ndarray:
        """Add samples; return the (k, n_mfcc) features of the frames they completed."""
        return self.push_indexed(chunk)[0]

    def push_indexed(self, chunk: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """As `push`, plus each returned frame's number in the stream (silent frames skipped
        leave gaps), which places it in time: frame n spans samples [n * hop, n * hop + length)."""
        chunk = np.asarray(chunk, dtype=np.float32).reshape(-1)
        self.samples_seen += len(chunk)
        self._pending = np.concatenate([self._pending, chunk])
        cfg = self.extractor.config
        frames = frame_signal(self._pending, cfg.frame_length, cfg.hop_length)
        keep = nonsilent_mask(frames) if cfg.skip_silent else np.ones(len(frames), dtype=bool)
        numbers = self.frames_seen + np.flatnonzero(keep)
        self.frames_seen += len(frames)
        features = self.extractor.from_frames(frames[keep])
        self._pending = self._pending[len(frames) * cfg.hop_length :].copy()
        return features, numbers

    def reset(self) -> None:
        """Forget buffered samples, to start a new utterance."""
        self._pending = np.empty(0, dtype=np.float32)
        self.samples_seen = 0
        self.frames_seen = 0
