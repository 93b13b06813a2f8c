"""What a prediction returns: one clip's, one segment's of a long recording, one stream update."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Prediction:
    """The most likely emotion and every class's probability, in label order.

    `to_dict()` is the JSON contract `{"class", "label", "confidence", "labels", "uncertain"}`
    (the seed's `{"class", "confidence"}` is a subset); `prediction["class"]` reads it too.
    `uncertain`: the top probability is below the model's threshold (see
    `emovox.training.calibration`): treat the label as a guess.
    """

    class_index: int
    confidence: tuple[float, ...]
    labels: tuple[str, ...]
    uncertain: bool = False

    @classmethod
    def from_probabilities(
        cls, probabilities: np.ndarray, labels: tuple[str, ...], uncertain_below: float = 0.0
    ) -> Prediction:
        p = np.asarray(probabilities, dtype=np.float64).reshape(-1)
        uncertain = bool(p.max() < uncertain_below)
        return cls(int(p.argmax()), tuple(float(v) for v in p), tuple(labels), uncertain)

    @property
    def label(self) -> str:
        return self.labels[self.class_index]

    @property
    def probabilities(self) -> np.ndarray:
        return np.asarray(self.confidence)

    def to_dict(self) -> dict[str, Any]:
        return {"class": self.class_index, "label": self.label, "confidence": list(self.confidence),
                "labels": list(self.labels), "uncertain": self.uncertain}  # fmt: skip

    def __getitem__(self, key: str) -> Any:
        return self.to_dict()[key]


@dataclass(frozen=True)
class Segment:
    """One stretch of a long recording and its prediction; times in seconds from the start.
    `speaker`: who spoke it (`S1`, `S2`, ...) when the timeline was asked for speakers."""

    start: float
    end: float
    prediction: Prediction
    speaker: str | None = None

    def to_dict(self) -> dict[str, Any]:
        speaker = {} if self.speaker is None else {"speaker": self.speaker}
        return {
            "start": round(self.start, 3),
            "end": round(self.end, 3),
            **speaker,
            **self.prediction.to_dict(),
        }


def speaker_summary(segments: list[Segment]) -> dict[str, dict[str, Any]]:
    """Per speaker, in order of first appearance: seconds of speech and the share of that time
    spent in each emotion (by each segment's top label), the shares over the model's labels."""
    out: dict[str, dict[str, Any]] = {}
    for segment in segments:
        if segment.speaker is None:
            continue
        entry = out.setdefault(
            segment.speaker, {"seconds": 0.0, "emotions": dict.fromkeys(segment.prediction.labels, 0.0)}
        )
        entry["seconds"] += segment.end - segment.start
        entry["emotions"][segment.prediction.label] += segment.end - segment.start
    for entry in out.values():
        total = entry["seconds"] or 1.0
        entry["emotions"] = {label: round(seconds / total, 3) for label, seconds in entry["emotions"].items()}
        entry["seconds"] = round(entry["seconds"], 3)
    return out


@dataclass(frozen=True)
class StreamUpdate:
    """Emitted while streaming: the latest probabilities (of the last frame, or of the last
    window for clip-level models) at `t` seconds of audio, the running utterance decision, the
    smoothed probabilities (a moving average over `smoothing_seconds`) and for how many seconds
    the smoothed top emotion has held."""

    t: float
    current: Prediction
    utterance: Prediction
    smoothed: Prediction
    held: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "t": round(self.t, 3),
            "class": self.current.class_index,
            "label": self.current.label,
            "confidence": list(self.current.confidence),
            "uncertain": self.current.uncertain,
            "utterance": _short(self.utterance),
            "smoothed": _short(self.smoothed),
            "held": round(self.held, 3),
        }


def _short(prediction: Prediction) -> dict[str, Any]:
    return {
        "class": prediction.class_index,
        "label": prediction.label,
        "confidence": list(prediction.confidence),
        "uncertain": prediction.uncertain,
    }
