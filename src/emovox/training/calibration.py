"""Honest confidence: temperature scaling fitted on predictions for data the model never trained
on, the expected calibration error that says how far confidence is from accuracy, and the
`Calibration` a model carries in its metadata (its temperature and the top probability below
which a prediction is flagged `uncertain`).

Temperature acts on log-probabilities, p_T ∝ exp(log p / T), which for a softmax model equals
dividing its logits by T: the ranking (and so every decision) is unchanged, only how sure the
model says it is. T > 1 softens an over-confident model.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from emovox.errors import ConfigError

TEMPERATURE_RANGE = (0.05, 20.0)
# With calibrated probabilities, a top probability below one half means the answer is more
# likely wrong than right: that is when a prediction says it is uncertain.
UNCERTAIN_BELOW = 0.5


def with_temperature(probabilities: np.ndarray, temperature: float | np.ndarray) -> np.ndarray:
    """Rows of probabilities softened (T > 1) or sharpened (T < 1); T = 1 returns them as given.
    `temperature`: one for every row, or one per row."""
    p = np.asarray(probabilities, dtype=np.float64)
    t = np.asarray(temperature, dtype=np.float64)
    if np.all(t == 1.0):
        return p
    logits = np.log(np.clip(p, 1e-12, 1.0)) / (t[..., None] if t.ndim else t)
    logits -= logits.max(axis=-1, keepdims=True)
    out = np.exp(logits)
    return out / out.sum(axis=-1, keepdims=True)


def negative_log_likelihood(probabilities: np.ndarray, y: np.ndarray) -> float:
    p = np.asarray(probabilities)[np.arange(len(y)), y]
    return float(-np.log(np.clip(p, 1e-12, 1.0)).mean())


def fit_temperature(probabilities: np.ndarray, y: np.ndarray) -> float:
    """The temperature that minimises the negative log-likelihood of the true labels."""
    from scipy.optimize import minimize_scalar

    p, y = np.asarray(probabilities, dtype=np.float64), np.asarray(y)
    if p.ndim != 2 or len(p) != len(y) or len(y) == 0:
        raise ConfigError(f"calibration needs (n, classes) probabilities and n labels: {p.shape}, {y.shape}")
    low, high = np.log(TEMPERATURE_RANGE)
    found = minimize_scalar(
        lambda log_t: negative_log_likelihood(with_temperature(p, float(np.exp(log_t))), y),
        bounds=(low, high),
        method="bounded",
        options={"xatol": 1e-4},
    )
    return float(np.exp(found.x))


def reliability(probabilities: np.ndarray, y: np.ndarray, bins: int = 10) -> dict[str, list[float]]:
    """Per equal-width bin of top-class probability: mean confidence, accuracy and share of clips."""
    p = np.asarray(probabilities)
    confidence, correct = p.max(axis=1), (p.argmax(axis=1) == np.asarray(y)).astype(float)
    which = np.minimum((confidence * bins).astype(int), bins - 1)
    out: dict[str, list[float]] = {"confidence": [], "accuracy": [], "share": [], "lower": []}
    for b in range(bins):
        inside = which == b
        out["lower"].append(b / bins)
        out["share"].append(float(inside.mean()))
        out["confidence"].append(float(confidence[inside].mean()) if inside.any() else float("nan"))
        out["accuracy"].append(float(correct[inside].mean()) if inside.any() else float("nan"))
    return out


def expected_calibration_error(probabilities: np.ndarray, y: np.ndarray, bins: int = 10) -> float:
    """Σ over bins of (share of clips) x |accuracy - mean confidence| (top class, equal-width bins)."""
    table = reliability(probabilities, y, bins)
    rows = zip(table["share"], table["accuracy"], table["confidence"], strict=True)
    return float(sum(share * abs(a - c) for share, a, c in rows if share > 0))


@dataclass(frozen=True)
class Calibration:
    """How a model's probabilities are read at inference: softened by its temperature, and
    flagged `uncertain` when the top one is below `uncertain_below`."""

    temperature: float = 1.0
    uncertain_below: float = UNCERTAIN_BELOW

    def __post_init__(self) -> None:
        if not (np.isfinite(self.temperature) and self.temperature > 0):
            raise ConfigError(f"calibration temperature must be > 0, got {self.temperature}")
        if not 0.0 <= self.uncertain_below <= 1.0:
            raise ConfigError(f"uncertain_below must be within [0, 1], got {self.uncertain_below}")

    @classmethod
    def from_metadata(cls, metadata: dict[str, Any]) -> Calibration:
        """A model's `calibration` entry; models saved before calibration existed read as T = 1."""
        entry = metadata.get("calibration") or {}
        try:
            temperature = float(entry.get("temperature", 1.0))
            return cls(temperature, float(entry.get("uncertain_below", UNCERTAIN_BELOW)))
        except (AttributeError, TypeError, ValueError) as exc:
            raise ConfigError(f"unreadable calibration entry {entry!r} ({exc})") from exc

    def __call__(self, probabilities: np.ndarray) -> np.ndarray:
        return with_temperature(probabilities, self.temperature)
