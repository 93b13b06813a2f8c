"""Training: batching, standardisation, the training loop and metrics."""

from emovox.training.data import Batch, SequenceAugment, SequenceData, VectorData
from emovox.training.metrics import classification_report, uar
from emovox.training.scaler import Standardizer
from emovox.training.trainer import TrainConfig, Trainer, TrainResult, predict_proba

__all__ = [
    "Batch",
    "SequenceAugment",
    "SequenceData",
    "Standardizer",
    "TrainConfig",
    "TrainResult",
    "Trainer",
    "VectorData",
    "classification_report",
    "predict_proba",
    "uar",
]
