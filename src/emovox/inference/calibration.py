"""How a model's probabilities are read: its temperature (fitted at training time on predictions
for corpora or speakers it did not train on, see `emovox.training.calibration`) and the top
probability below which a prediction is flagged `uncertain`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from emovox.errors import ConfigError
from emovox.training.calibration import with_temperature

# With calibrated probabilities, a top probability below one half means the answer is more
# likely wrong than right: that is when a prediction says it is uncertain.
UNCERTAIN_BELOW = 0.5


@dataclass(frozen=True)
class Calibration:
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
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"unreadable calibration entry {entry!r} ({exc})") from exc

    def __call__(self, probabilities: np.ndarray) -> np.ndarray:
        return with_temperature(probabilities, self.temperature)
