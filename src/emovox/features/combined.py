"""Several utterance sets side by side (e.g. `egemaps+enhanced392`): one vector, every dim named."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from emovox.errors import FeatureError
from emovox.features.base import FeatureExtractor, Level


class CombinedExtractor(FeatureExtractor):
    level = Level.UTTERANCE

    def __init__(self, parts: Sequence[FeatureExtractor]) -> None:
        if len(parts) < 2:
            raise FeatureError("a combination needs at least two feature sets")
        if any(p.level is not Level.UTTERANCE for p in parts):
            raise FeatureError("only utterance-level sets can be combined")
        names = [p.name for p in parts]
        if len(set(names)) != len(names):
            raise FeatureError(f"a set appears twice in {'+'.join(names)}")
        self.parts = list(parts)
        self.name = "+".join(names)  # type: ignore[misc]
        self.sample_rate = parts[0].sample_rate
        self._names = tuple(f"{p.name}:{n}" for p in parts for n in p.feature_names)

    @property
    def feature_names(self) -> tuple[str, ...]:
        return self._names

    def __call__(self, signal: np.ndarray) -> np.ndarray:
        return np.concatenate([p(signal) for p in self.parts])

    def config_dict(self) -> dict[str, Any]:
        return {"name": self.name, "version": self.version, "settings": [p.config_dict() for p in self.parts]}
