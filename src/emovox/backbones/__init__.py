"""Pretrained speech encoders emovox ships: Whisper-base's audio encoder and Resemblyzer's speaker
encoder (the emotion features), Silero's voice-activity detector and CAM++'s speaker verification
(speaker turns). Their weights are converted once (loaded without pickle) and their ONNX graphs
made from them ship beside them (scripts/convert_backbones.py); predictions run the graphs on
onnxruntime (`emovox.backbones.runtime`, `.vad`, `.voiceprint`), with no PyTorch. The PyTorch
modules the graphs are made from live in `emovox.backbones.whisper`, `.speaker` and `.campplus`."""

from emovox.backbones.config import Precision, SpeakerConfig, WhisperConfig
from emovox.backbones.frontends import speaker_mel
from emovox.backbones.runtime import OnnxSpeakerEncoder, OnnxWhisperEncoder
from emovox.backbones.weights import WeightsError, shipped

__all__ = [
    "OnnxSpeakerEncoder",
    "OnnxWhisperEncoder",
    "Precision",
    "SpeakerConfig",
    "WeightsError",
    "WhisperConfig",
    "shipped",
    "speaker_mel",
]
