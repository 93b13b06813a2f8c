"""From audio to emotions with a trained model: clips, long recordings and live streams."""

from emovox.inference.backends import BackendName
from emovox.inference.diarisation import DiarisationConfig, Turn, diarise
from emovox.inference.predictor import EmotionPredictor, resolve_model
from emovox.inference.result import Prediction, Segment, StreamUpdate, speaker_summary
from emovox.inference.segments import Segmentation, SegmentConfig
from emovox.inference.streaming import Decision, InputLevel, StreamConfig, StreamingSession

__all__ = [
    "BackendName",
    "Decision",
    "DiarisationConfig",
    "EmotionPredictor",
    "InputLevel",
    "Prediction",
    "Segment",
    "SegmentConfig",
    "Segmentation",
    "StreamConfig",
    "StreamUpdate",
    "StreamingSession",
    "Turn",
    "diarise",
    "resolve_model",
    "speaker_summary",
]
