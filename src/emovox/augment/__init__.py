"""Waveform augmentation for training data: one small module per transform, seeded."""

from emovox.augment.base import AugmentedCopy, Compose, Transform
from emovox.augment.config import WaveformAugment
from emovox.augment.crop import RandomCrop
from emovox.augment.filter import ChannelFilter
from emovox.augment.gain import Gain
from emovox.augment.noise import AddNoise
from emovox.augment.pitch import PitchShift
from emovox.augment.reverb import Reverb
from emovox.augment.stretch import TimeStretch

__all__ = [
    "AddNoise",
    "AugmentedCopy",
    "ChannelFilter",
    "Compose",
    "Gain",
    "PitchShift",
    "RandomCrop",
    "Reverb",
    "TimeStretch",
    "Transform",
    "WaveformAugment",
]
