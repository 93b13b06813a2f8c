"""Pretrained speech encoders emovox ships (weights converted once, loaded without pickle) and
runs in plain PyTorch: Whisper-base's audio encoder. See scripts/convert_backbones.py."""

from emovox.backbones.weights import WeightsError, shipped
from emovox.backbones.whisper import WhisperConfig, WhisperEncoder, log_mel

__all__ = ["WeightsError", "WhisperConfig", "WhisperEncoder", "log_mel", "shipped"]
