"""Pretrained speech encoders emovox ships (weights converted once, loaded without pickle) and
runs in plain PyTorch: Whisper-base's audio encoder and Resemblyzer's speaker encoder. See
scripts/convert_backbones.py."""

from emovox.backbones.speaker import SpeakerConfig, SpeakerEncoder, speaker_mel
from emovox.backbones.weights import WeightsError, shipped
from emovox.backbones.whisper import WhisperConfig, WhisperEncoder, log_mel

__all__ = [
    "SpeakerConfig",
    "SpeakerEncoder",
    "WeightsError",
    "WhisperConfig",
    "WhisperEncoder",
    "log_mel",
    "shipped",
    "speaker_mel",
]
