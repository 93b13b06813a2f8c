"""Pretrained encoders as feature sets: every hidden layer's states, mean and standard deviation
pooled over the clip, one vector per clip. A model then weighs the layers itself (the middle
ones carry more of how a thing is said, the last ones more of what is said). The encoder runs
once per clip, on its ONNX graph (`emovox.backbones.runtime`): the vector is cached like every
other set, keyed by the weights' hash and the graphs' recipe too.

- `whisper`: Whisper-base's embedding and its 6 blocks (7 x 2 x 512);
- `speaker`: Resemblyzer's 3 LSTM layers (3 x 2 x 256);
- `whisper_frames`: the same 7 layers frame by frame, for models that pool themselves
  (`attentive_head`): pairs of Whisper's 20 ms outputs averaged, so one row per 40 ms.

Mean and standard deviation add up: `Moments` (frame count, sums, sums of squares) of stretches
encoded one after another combine into the pooled vector of all their frames, which is how a live
stream encodes each stretch of audio once and still judges a window of several seconds
(`BlockPooling`, used by `emovox.inference.streaming`).
"""

from __future__ import annotations

import os
import threading
from abc import abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property, lru_cache
from pathlib import Path
from typing import Any, ClassVar, Protocol

import numpy as np

from emovox.backbones.config import HOP, Precision, SpeakerConfig, WhisperConfig
from emovox.backbones.graphs import RECIPE
from emovox.backbones.runtime import OnnxSpeakerEncoder, OnnxWhisperEncoder
from emovox.backbones.weights import MANIFEST_FILE, read_config, read_json, shipped
from emovox.errors import FeatureError, choice
from emovox.features.base import FeatureExtractor, Level
from emovox.features.cache import default_cache_dir
from emovox.features.combined import CombinedExtractor


@dataclass(frozen=True)
class BackboneConfig:
    weights: str = ""  # a weights folder; "" = the one emovox ships
    precision: str = Precision.INT8  # Whisper's matrix products (see OnnxWhisperEncoder)
    sample_rate: int = 16_000

    def __post_init__(self) -> None:
        choice(Precision, self.precision, "precision")


class LayerStates(Protocol):
    def signal_states(self, signal: np.ndarray) -> np.ndarray:
        """(layers, frames, width) float32 states of a 16 kHz signal."""
        ...


_LOADING = threading.Lock()  # threads asking at once share one encoder, loaded once


@lru_cache(maxsize=4)
def _whisper(folder: str, precision: str, process: int) -> OnnxWhisperEncoder:
    return OnnxWhisperEncoder(Path(folder), default_cache_dir() / "backbones", precision)


@lru_cache(maxsize=4)
def _speaker(folder: str, process: int) -> OnnxSpeakerEncoder:
    return OnnxSpeakerEncoder(Path(folder), default_cache_dir() / "backbones")


def whisper_encoder(folder: str, precision: str) -> OnnxWhisperEncoder:
    """One encoder per process and weights folder, loaded on first use: a worker process loads its
    own (the process id keys the cache, since an onnxruntime session is not carried over a fork)."""
    with _LOADING:
        return _whisper(folder, precision, os.getpid())


def speaker_encoder(folder: str) -> OnnxSpeakerEncoder:
    with _LOADING:
        return _speaker(folder, os.getpid())


class PooledLayers(FeatureExtractor):
    """layers x [mean, std] x width of a pretrained encoder's states over the clip."""

    level = Level.UTTERANCE
    version = RECIPE  # the numbers change with the graphs' recipe (2: exact on every x86-64 CPU)
    weights_name: ClassVar[str]  # the shipped folder
    state_hop: ClassVar[int]  # samples per row of states

    def __init__(self, config: BackboneConfig | None = None) -> None:
        self.config = config or BackboneConfig()
        self.folder = str(Path(self.config.weights) if self.config.weights else shipped(self.weights_name))
        self.layers, self.width = self.shape(Path(self.folder))

    @staticmethod
    @abstractmethod
    def shape(folder: Path) -> tuple[int, int]:
        """(layers, width) of the states, from the weights folder's config."""

    @abstractmethod
    def encoder(self) -> LayerStates: ...

    @property
    def dim(self) -> int:  # checked for every clip read from the cache: not from 7168 names
        return self.layers * 2 * self.width

    @cached_property
    def feature_names(self) -> tuple[str, ...]:
        return tuple(f"{self.name}_l{layer}_{stat}_{i}" for layer in range(self.layers)
                     for stat in ("mean", "std") for i in range(self.width))  # fmt: skip

    def config_dict(self) -> dict[str, Any]:
        """The weights' hash is part of the set's identity: another checkpoint is never read as this
        one (and a model trained on other weights is refused)."""
        manifest = read_json(Path(self.folder) / MANIFEST_FILE)
        return super().config_dict() | {"weights_sha256": manifest.get("sha256")}

    def cache_key(self) -> str:
        """Also keyed by the onnxruntime release that runs the graphs: another may sum in another
        order, so its features are computed again rather than mixed with these."""
        from importlib.metadata import version

        return f"{super().cache_key()}-ort{version('onnxruntime')}"

    def __call__(self, signal: np.ndarray) -> np.ndarray:
        return pool_states(self.encoder().signal_states(signal))

    def moments(self, signal: np.ndarray, context: int = 0) -> Moments:
        """The sums a stretch of signal, encoded alone, adds to a pooled vector; its first
        `context` samples (a multiple of `state_hop`) are only heard, their states not counted."""
        if context % self.state_hop:
            raise FeatureError(f"context must be a multiple of {self.state_hop} samples, got {context}")
        return Moments.of(self.encoder().signal_states(signal)[:, context // self.state_hop :])


def pool_states(states: np.ndarray) -> np.ndarray:
    """(layers, frames, width) states -> each layer's mean then std over time, layer after layer."""
    pooled = np.stack([states.mean(axis=1), states.std(axis=1)], axis=1)  # (layers, 2, width)
    return pooled.reshape(-1).astype(np.float32)


@dataclass(frozen=True)
class Moments:
    """Frame count, sum and sum of squares over time of (layers, frames, width) states, in float64:
    the moments of consecutive stretches add, and `pooled()` of the sum is `pool_states` of all
    their frames (to float32 rounding)."""

    frames: int
    total: np.ndarray  # (layers, width)
    squares: np.ndarray  # (layers, width)

    @classmethod
    def of(cls, states: np.ndarray) -> Moments:
        states = states.astype(np.float64)
        return cls(states.shape[1], states.sum(axis=1), np.square(states).sum(axis=1))

    def __add__(self, other: Moments) -> Moments:
        return Moments(self.frames + other.frames, self.total + other.total, self.squares + other.squares)

    def pooled(self) -> np.ndarray:
        mean = self.total / self.frames
        std = np.sqrt(np.maximum(self.squares / self.frames - np.square(mean), 0.0))
        return np.stack([mean, std], axis=1).reshape(-1).astype(np.float32)


class BlockPooling:
    """An utterance set of pooled encoder layers (one, or several side by side like
    `whisper+speaker`) computed from stretches encoded one at a time: `moments` of each block,
    `features` of any run of blocks. Each encoder sees only its block (no context across
    blocks), so the vector differs from the clip's own; what that costs in accuracy is measured
    in benchmarks/live_parity.py."""

    def __init__(self, extractor: FeatureExtractor) -> None:
        parts = self.pooled_parts(extractor)
        if parts is None:
            raise FeatureError(f"{extractor.name}: only pooled encoder layers add up block by block")
        self.name = extractor.name
        self.parts = parts

    @staticmethod
    def pooled_parts(extractor: FeatureExtractor) -> list[PooledLayers] | None:
        """The encoders of a set made only of pooled encoder layers, else None."""
        parts = extractor.parts if isinstance(extractor, CombinedExtractor) else [extractor]
        return parts if all(isinstance(part, PooledLayers) for part in parts) else None  # type: ignore[return-value]

    @property
    def context_step(self) -> int:
        """Samples a block's context must be a multiple of (every part's row step)."""
        return int(np.lcm.reduce([part.state_hop for part in self.parts]))

    def moments(self, block: np.ndarray, context: np.ndarray | None = None) -> tuple[Moments, ...]:
        """Each part's moments of one block of prepared signal (at least Whisper's 20 ms step),
        heard after `context` (audio before it, a multiple of `context_step` samples long)."""
        if context is None or len(context) == 0:
            return tuple(part.moments(block) for part in self.parts)
        heard = np.concatenate([context, block])
        return tuple(part.moments(heard, len(context)) for part in self.parts)

    @staticmethod
    def features(blocks: Sequence[tuple[Moments, ...]]) -> np.ndarray:
        """The set's vector over `blocks` (each part's moments summed, then pooled, side by side)."""
        if not blocks:
            raise FeatureError("no blocks to pool")
        summed = [sum(parts[1:], parts[0]) for parts in zip(*blocks, strict=True)]
        return np.concatenate([moments.pooled() for moments in summed])


class WhisperLayers(PooledLayers):
    name = "whisper"
    weights_name = "whisper-base"
    state_hop = 2 * HOP  # samples per output (20 ms)

    @staticmethod
    def shape(folder: Path) -> tuple[int, int]:
        config = read_config(folder, WhisperConfig)
        return config.layers + 1, config.width  # the embedding, then each block

    def encoder(self) -> LayerStates:
        return whisper_encoder(self.folder, self.config.precision)


class SpeakerLayers(PooledLayers):
    name = "speaker"
    weights_name = "speaker"
    state_hop = HOP  # samples per mel frame (10 ms)

    @staticmethod
    def shape(folder: Path) -> tuple[int, int]:
        config = read_config(folder, SpeakerConfig)
        return config.layers, config.hidden

    def encoder(self) -> LayerStates:
        return speaker_encoder(self.folder)


class WhisperFrames(WhisperLayers):
    """(frames every 40 ms, layers x width): every layer's states side by side, in time."""

    name = "whisper_frames"
    level = Level.FRAME
    pool = 2  # Whisper's outputs per row: halves the cache and the training memory

    @property
    def dim(self) -> int:
        return self.layers * self.width

    @cached_property
    def feature_names(self) -> tuple[str, ...]:
        return tuple(f"{self.name}_l{layer}_{i}" for layer in range(self.layers) for i in range(self.width))

    def __call__(self, signal: np.ndarray) -> np.ndarray:
        states = self.encoder().signal_states(signal)  # (layers, outputs, width)
        rows = -(-states.shape[1] // self.pool)
        padded = np.pad(states, ((0, 0), (0, rows * self.pool - states.shape[1]), (0, 0)), mode="edge")
        pooled = padded.reshape(self.layers, rows, self.pool, self.width).mean(axis=2)
        return pooled.transpose(1, 0, 2).reshape(rows, -1).astype(np.float32)
