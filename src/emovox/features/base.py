"""The one extractor interface every feature set implements (frame- or utterance-level)."""

from __future__ import annotations

import hashlib
import json
from abc import ABC, abstractmethod
from dataclasses import asdict, is_dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from emovox.audio import AudioConfig, AudioSource, load_audio, prepare_signal
from emovox.errors import FeatureError


class Level(StrEnum):
    FRAME = "frame"  # (num_frames, dim): one row per 10 ms frame
    UTTERANCE = "utterance"  # (dim,): one vector per clip


class FeatureExtractor(ABC):
    """A named feature set of fixed dimension with one name per dimension.

    Call it on a prepared signal (mono float32 at `sample_rate`, see `emovox.audio`);
    `process_signal` and `process_file` prepare raw input first.
    """

    name: ClassVar[str]
    level: ClassVar[Level]
    version: ClassVar[int] = 1  # bump when the numbers change, so caches are not reused
    sample_rate: int = 16_000

    @property
    @abstractmethod
    def feature_names(self) -> tuple[str, ...]:
        """One name per output dimension, in output order."""

    @property
    def dim(self) -> int:
        return len(self.feature_names)

    @abstractmethod
    def __call__(self, signal: np.ndarray) -> np.ndarray:
        """Features of a prepared signal: (frames, dim) or (dim,) float32."""

    def config_dict(self) -> dict[str, Any]:
        """Everything that changes the output: it keys the feature cache."""
        config = getattr(self, "config", None)
        settings = asdict(config) if is_dataclass(config) and not isinstance(config, type) else {}
        return {"name": self.name, "version": self.version, "settings": settings}

    def cache_key(self) -> str:
        blob = json.dumps(self.config_dict(), sort_keys=True, default=str).encode()
        return f"{self.name}-{hashlib.sha256(blob).hexdigest()[:16]}"

    def process_signal(
        self, signal: np.ndarray, sample_rate: int, audio: AudioConfig | None = None
    ) -> np.ndarray:
        return self(prepare_signal(signal, sample_rate, audio or AudioConfig()))

    def process_file(self, source: AudioSource | Path, audio: AudioConfig | None = None) -> np.ndarray:
        return self(load_audio(source, audio or AudioConfig()))

    def check(self, features: np.ndarray) -> np.ndarray:
        """Raise `FeatureError` unless `features` has this extractor's shape."""
        expected = 2 if self.level is Level.FRAME else 1
        if features.ndim != expected or features.shape[-1] != self.dim:
            shape = "(frames, dim)" if expected == 2 else "(dim,)"
            raise FeatureError(
                f"{self.name}: expected {shape} with dim={self.dim}, got shape {features.shape}"
            )
        return features
