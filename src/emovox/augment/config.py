"""Waveform augmentation as an experiment describes it: how many copies, which transforms."""

from __future__ import annotations

from dataclasses import dataclass

from emovox.augment.base import Compose, Transform
from emovox.augment.crop import RandomCrop
from emovox.augment.filter import ChannelFilter
from emovox.augment.gain import Gain
from emovox.augment.noise import AddNoise
from emovox.augment.pitch import PitchShift
from emovox.augment.reverb import Reverb
from emovox.augment.stretch import TimeStretch
from emovox.errors import ConfigError


@dataclass(frozen=True)
class WaveformAugment:
    """`copies` augmented versions of every training clip join the clean ones. Each copy passes
    through gain, noise, pitch shift, time stretch, reverberation and a channel filter, each
    applied with its probability; the last `crop_copies` of them are first cut to a random
    stretch of `min_crop_seconds`..`max_crop_seconds` (short utterances, see RandomCrop)."""

    copies: int = 0
    crop_copies: int = 0
    min_crop_seconds: float = 0.5
    max_crop_seconds: float = 2.0
    gain_p: float = 0.0
    min_gain_db: float = -6.0
    max_gain_db: float = 6.0
    noise_p: float = 0.0
    min_snr_db: float = 10.0
    max_snr_db: float = 30.0
    pitch_p: float = 0.0
    min_semitones: float = -2.0
    max_semitones: float = 2.0
    stretch_p: float = 0.0
    min_rate: float = 0.9
    max_rate: float = 1.1
    filter_p: float = 0.0  # microphone/channel colouring (see ChannelFilter)
    reverb_p: float = 0.0
    min_rt60: float = 0.2
    max_rt60: float = 0.8

    def __post_init__(self) -> None:
        if self.copies < 0:
            raise ConfigError(f"waveform.copies must be >= 0, got {self.copies}")
        if not 0 <= self.crop_copies <= self.copies:
            raise ConfigError(
                f"waveform.crop_copies must be 0..copies ({self.copies}), got {self.crop_copies}"
            )
        RandomCrop(1.0, self.min_crop_seconds, self.max_crop_seconds)  # checks its arguments
        if self.copies and not self.chain(0).transforms:
            raise ConfigError("waveform.copies > 0 but every transform has p = 0")

    def chain(self, copy: int = 0) -> Compose:
        """The transforms of the `copy`-th copy."""
        cropped = self.crop_copies > 0 and copy >= self.copies - self.crop_copies
        candidates: list[Transform] = [
            RandomCrop(1.0 if cropped else 0.0, self.min_crop_seconds, self.max_crop_seconds),
            Gain(self.gain_p, self.min_gain_db, self.max_gain_db),
            AddNoise(self.noise_p, self.min_snr_db, self.max_snr_db),
            PitchShift(self.pitch_p, self.min_semitones, self.max_semitones),
            TimeStretch(self.stretch_p, self.min_rate, self.max_rate),
            Reverb(self.reverb_p, self.min_rt60, self.max_rt60),
            ChannelFilter(self.filter_p),
        ]
        return Compose(tuple(t for t in candidates if t.p > 0))
