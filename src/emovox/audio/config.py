"""The audio pipeline's settings, checked once when built so bad values never reach the DSP code."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from emovox.errors import ConfigError


@dataclass(frozen=True)
class AudioConfig:
    """How raw audio becomes the signal every extractor sees.

    The defaults are the seed design: 16 kHz, 25 ms frames (400 samples), 10 ms hop (160),
    peak normalisation to [-1, 1]. Trimming is off by default because the seed did not trim.
    """

    sample_rate: int = 16_000
    frame_length: int = 400
    hop_length: int = 160
    peak_normalise: bool = True
    trim_silence: bool = False
    trim_top_db: float = 40.0
    max_seconds: float | None = 600.0

    def __post_init__(self) -> None:
        if self.sample_rate < 8_000 or self.sample_rate > 192_000:
            raise ConfigError(f"sample_rate must be in [8000, 192000] Hz, got {self.sample_rate}")
        if self.frame_length < 16:
            raise ConfigError(f"frame_length must be >= 16 samples, got {self.frame_length}")
        if not 0 < self.hop_length <= self.frame_length:
            raise ConfigError(
                f"hop_length must be in (0, frame_length={self.frame_length}], got {self.hop_length}"
            )
        if self.trim_top_db <= 0:
            raise ConfigError(f"trim_top_db must be > 0 dB, got {self.trim_top_db}")
        if self.max_seconds is not None and self.max_seconds <= 0:
            raise ConfigError(f"max_seconds must be > 0 or None, got {self.max_seconds}")

    @property
    def min_samples(self) -> int:
        """The shortest usable signal: one whole frame."""
        return self.frame_length

    def to_dict(self) -> dict[str, object]:
        return asdict(self)
