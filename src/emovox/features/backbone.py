"""Pretrained encoders as feature sets: every hidden layer's states, mean and standard deviation
pooled over the clip, one vector per clip. A model then weighs the layers itself (the middle
ones carry more of how a thing is said, the last ones more of what is said). The encoder runs
once per clip: the vector is cached like every other set, keyed by the weights' hash too."""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from emovox.backbones.weights import MANIFEST_FILE, read_json, shipped
from emovox.backbones.whisper import OnnxWhisperEncoder
from emovox.features.base import FeatureExtractor, Level
from emovox.features.cache import default_cache_dir


@dataclass(frozen=True)
class BackboneConfig:
    weights: str = ""  # a weights folder; "" = the one emovox ships
    sample_rate: int = 16_000


@lru_cache(maxsize=2)
def whisper_encoder(folder: str, process: int) -> OnnxWhisperEncoder:
    """One encoder per process and weights folder, built on first use: a worker process builds its
    own (`process` keys the cache, since an onnxruntime session is not carried over a fork)."""
    return OnnxWhisperEncoder(folder, default_cache_dir() / "backbones")


class WhisperLayers(FeatureExtractor):
    """(layers + 1) x [mean, std] x width: Whisper's embedding and each block's output, pooled."""

    name = "whisper"
    level = Level.UTTERANCE

    def __init__(self, config: BackboneConfig | None = None) -> None:
        self.config = config or BackboneConfig()
        self.folder = str(Path(self.config.weights) if self.config.weights else shipped("whisper-base"))
        settings = read_json(Path(self.folder) / "config.json")
        self.layers, self.width = int(settings["layers"]) + 1, int(settings["width"])

    @property
    def feature_names(self) -> tuple[str, ...]:
        return tuple(f"whisper_l{layer}_{stat}_{i}" for layer in range(self.layers)
                     for stat in ("mean", "std") for i in range(self.width))  # fmt: skip

    def config_dict(self) -> dict[str, Any]:
        """The weights' hash keys the cache: another checkpoint is never read as this one."""
        manifest = read_json(Path(self.folder) / MANIFEST_FILE)
        return super().config_dict() | {"weights_sha256": manifest.get("sha256")}

    def __call__(self, signal: np.ndarray) -> np.ndarray:
        states = whisper_encoder(self.folder, os.getpid()).signal_states(signal)  # (layers, frames, width)
        pooled = np.stack([states.mean(axis=1), states.std(axis=1)], axis=1)  # (layers, 2, width)
        return pooled.reshape(-1).astype(np.float32)
