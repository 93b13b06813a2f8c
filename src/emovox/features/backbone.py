"""Pretrained encoders as feature sets: every hidden layer's states, mean and standard deviation
pooled over the clip, one vector per clip. A model then weighs the layers itself (the middle
ones carry more of how a thing is said, the last ones more of what is said). The encoder runs
once per clip, on its ONNX graph (`emovox.backbones.runtime`): the vector is cached like every
other set, keyed by the weights' hash and the graphs' recipe too.

- `whisper`: Whisper-base's embedding and its 6 blocks (7 x 2 x 512);
- `speaker`: Resemblyzer's 3 LSTM layers (3 x 2 x 256);
- `whisper_frames`: the same 7 layers frame by frame, for models that pool themselves
  (`attentive_head`): pairs of Whisper's 20 ms outputs averaged, so one row per 40 ms.

- `whisper_blocks`, `speaker_blocks`: the same layers over a clip encoded in blocks of 500 ms,
  one starting every 250 ms, each alone, pooled over the blocks with speech: what a live stream
  can compute when it encodes each block of its audio as it completes (`emovox.inference.streaming`),
  so a model trained on them (the bundled model's live twin) sees in training what it will hear
  live. Blocks overlap by half: each sample is encoded twice, and each block hears 250 ms more
  context than side-by-side 250 ms blocks would (benchmarks/live_parity.py measured both).
- `speaker_stream`: as `speaker_blocks`, but the speaker encoder's LSTMs carry their state from
  block to block and read each sample of speech once (a recurrent encoder can; Whisper's
  attention cannot): a block's moments are those of its new 250 ms, heard in context.

Mean and standard deviation add up: `Moments` (frame count, sums, sums of squares) of blocks
combine into the pooled vector of all their frames (`BlockPooling`), so a stream judges a window
of several seconds, or the whole utterance, from its blocks without encoding anything again. A
model trained on whole clips does not transfer to block features: each block restarts Whisper's
positions and hears no context, which moves the standardised features by several deviations
(benchmarks/live_parity.py: the whole-clip head on blocks fell to chance on RAVDESS).
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, ClassVar, Protocol

import numpy as np

from emovox.backbones.config import Precision, SpeakerConfig, WhisperConfig
from emovox.backbones.graphs import RECIPE
from emovox.backbones.runtime import OnnxSpeakerEncoder, OnnxWhisperEncoder, per_process
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
    block_seconds: float = 0.0  # > 0: encoded in blocks of this length, pooled over speech blocks
    hop_seconds: float = 0.0  # blocks: one starts every hop (0: blocks side by side)

    def __post_init__(self) -> None:
        choice(Precision, self.precision, "precision")
        for name in ("block_seconds", "hop_seconds"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise FeatureError(f"{name} must be a number, got {value!r}")
        if self.block_seconds and not MIN_BLOCK_SECONDS <= self.block_seconds <= 30:
            raise FeatureError(
                f"block_seconds must be 0 or in [{MIN_BLOCK_SECONDS}, 30], got {self.block_seconds}"
            )
        hop = self.hop_seconds
        if hop and not (self.block_seconds and MIN_BLOCK_SECONDS <= hop <= self.block_seconds):
            raise FeatureError(
                f"hop_seconds must be 0 or in [{MIN_BLOCK_SECONDS}, block_seconds], got {self.hop_seconds}"
            )

    @property
    def grid(self) -> BlockGrid | None:
        """Where the blocks lie, or None for a whole-clip set."""
        if not self.block_seconds:
            return None
        return BlockGrid(self.block_seconds, self.hop_seconds or self.block_seconds)


class LayerStates(Protocol):
    def signal_states(self, signal: np.ndarray) -> np.ndarray:
        """(layers, frames, width) float32 states of a 16 kHz signal."""
        ...


MIN_BLOCK_SECONDS = 0.1  # a shorter last block of a clip or stream is not encoded
BLOCK_SECONDS = 0.5  # the block sets' blocks
HOP_SECONDS = 0.25  # and their starts: a live stream's update period


@per_process
def whisper_encoder(folder: str, precision: str) -> OnnxWhisperEncoder:
    """One encoder per process and weights folder, loaded on first use."""
    return OnnxWhisperEncoder(Path(folder), default_cache_dir() / "backbones", precision)


@per_process
def speaker_encoder(folder: str) -> OnnxSpeakerEncoder:
    return OnnxSpeakerEncoder(Path(folder), default_cache_dir() / "backbones")


class PooledLayers(FeatureExtractor):
    """layers x [mean, std] x width of a pretrained encoder's states over the clip."""

    level = Level.UTTERANCE
    version = RECIPE  # the numbers change with the graphs' recipe (2: exact on every x86-64 CPU)
    weights_name: ClassVar[str]  # the shipped folder

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
        one (and a model trained on other weights is refused). A whole-clip set's settings are
        written as before blocks existed (and side-by-side blocks' as before hops did), so their
        caches and models stay valid."""
        manifest = read_json(Path(self.folder) / MANIFEST_FILE)
        out = super().config_dict() | {"weights_sha256": manifest.get("sha256")}
        blocks = ("block_seconds", "hop_seconds")  # unset (0): not written
        out["settings"] = {k: v for k, v in out["settings"].items() if k not in blocks or v}
        return out

    def cache_key(self) -> str:
        """Also keyed by the onnxruntime release that runs the graphs: another may sum in another
        order, so its features are computed again rather than mixed with these."""
        from importlib.metadata import version

        return f"{super().cache_key()}-ort{version('onnxruntime')}"

    def __call__(self, signal: np.ndarray) -> np.ndarray:
        grid = self.config.grid
        if grid is None:
            return pool_states(self.encoder().signal_states(signal))
        blocks = grid.cut(signal, self.config.sample_rate)
        speech = [block_has_speech(b) for b in blocks]
        speech = speech if any(speech) else [True] * len(blocks)  # a clip without speech: all of it
        reader = self.block_reader()
        read = [reader.read(block, spoken) for block, spoken in zip(blocks, speech, strict=True)]
        moments = [m for m in read if m is not None]
        return sum(moments[1:], moments[0]).pooled()

    def block_reader(self) -> BlockReader:
        """What reads one clip's or stream's blocks in order: each block with speech encoded alone."""
        return AloneBlocks(self.encoder())


class BlockReader(Protocol):
    def read(self, block: np.ndarray, speech: bool) -> Moments | None:
        """The moments the next block of a clip or stream adds (None: a block without speech)."""
        ...


@dataclass
class AloneBlocks:
    encoder: LayerStates

    def read(self, block: np.ndarray, speech: bool) -> Moments | None:
        return Moments.of(self.encoder.signal_states(block)) if speech else None


class CarriedBlocks:
    """The speaker encoder's LSTMs run through a clip's or a stream's blocks with speech in order,
    their state carried from each to the next, on each block's samples not yet encoded (the part
    after the previous block's end; the whole block after one without speech): every sample of
    speech is encoded once, with everything said before it as context."""

    def __init__(self, encoder: OnnxSpeakerEncoder, grid: BlockGrid, rate: int) -> None:
        self.encoder = encoder
        size, hop = grid.samples(rate)
        self.overlap = size - hop
        self.state = encoder.initial_state()
        self.after_speech = False

    def read(self, block: np.ndarray, speech: bool) -> Moments | None:
        if not speech:
            self.after_speech = False
            return None
        new = block[self.overlap :] if self.after_speech else block
        states, self.state = self.encoder.carried_states(new, self.state)
        self.after_speech = True
        return Moments.of(states)


@dataclass(frozen=True)
class BlockGrid:
    """Where a clip's or a stream's blocks lie: `seconds` long, one starting every `hop` seconds
    (a stream encodes a block when its last sample arrives)."""

    seconds: float
    hop: float

    def samples(self, rate: int) -> tuple[int, int]:
        """(block, hop) in samples."""
        return round(self.seconds * rate), round(self.hop * rate)

    def cut(self, signal: np.ndarray, rate: int) -> list[np.ndarray]:
        """A clip cut as a stream cuts it: every whole block, then, if the clip goes on at least
        `MIN_BLOCK_SECONDS` past the last one's end, the block that would start next, cut short
        (a clip no longer than one block is one block)."""
        size, hop = self.samples(rate)
        if len(signal) <= size:
            return [signal]
        starts = range(0, len(signal) - size + 1, hop)
        blocks = [signal[start : start + size] for start in starts]
        if len(signal) - (starts[-1] + size) >= MIN_BLOCK_SECONDS * rate:
            blocks.append(signal[starts[-1] + hop :])
        return blocks

    def window_blocks(self, window_seconds: float) -> int:
        """How many of the latest blocks cover a window of `window_seconds`."""
        return max(1, round((window_seconds - self.seconds) / self.hop) + 1)


def block_has_speech(block: np.ndarray) -> bool:
    """Whether the voice-activity detector hears speech in a block (its default rule)."""
    from emovox.backbones.vad import SpeechRule, speech_detector

    return speech_detector().has_speech(block, SpeechRule())


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
    """A block set of pooled encoder layers (one, or several side by side like
    `whisper_blocks+speaker_stream`) computed block by block: `readers` give the moments of each
    block of one clip or stream, `features` pools any run of blocks; one grid for every part."""

    def __init__(self, extractor: FeatureExtractor) -> None:
        parts = extractor.parts if isinstance(extractor, CombinedExtractor) else [extractor]
        if not self.pools(extractor):
            raise FeatureError(
                f"{extractor.name}: not a set of encoder layers pooled over blocks of one length"
            )
        self.name = extractor.name
        self.parts: list[PooledLayers] = parts  # type: ignore[assignment]
        self.grid: BlockGrid = self.parts[0].config.grid  # type: ignore[assignment]

    @staticmethod
    def pools(extractor: FeatureExtractor) -> bool:
        """Whether a set is made only of encoder layers pooled over blocks, all on one grid."""
        parts = extractor.parts if isinstance(extractor, CombinedExtractor) else [extractor]
        if not all(isinstance(part, PooledLayers) for part in parts):
            return False
        grids = {part.config.grid for part in parts}  # type: ignore[attr-defined]
        return len(grids) == 1 and grids != {None}

    def readers(self) -> tuple[BlockReader, ...]:
        """Each part's reader for one clip or stream (some carry state from block to block)."""
        return tuple(part.block_reader() for part in self.parts)

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

    @staticmethod
    def shape(folder: Path) -> tuple[int, int]:
        config = read_config(folder, WhisperConfig)
        return config.layers + 1, config.width  # the embedding, then each block

    def encoder(self) -> LayerStates:
        return whisper_encoder(self.folder, self.config.precision)


class SpeakerLayers(PooledLayers):
    name = "speaker"
    weights_name = "speaker"

    @staticmethod
    def shape(folder: Path) -> tuple[int, int]:
        config = read_config(folder, SpeakerConfig)
        return config.layers, config.hidden

    def encoder(self) -> LayerStates:
        return speaker_encoder(self.folder)


class WhisperBlocks(WhisperLayers):
    name = "whisper_blocks"

    def __init__(self, config: BackboneConfig | None = None) -> None:
        super().__init__(config or BackboneConfig(block_seconds=BLOCK_SECONDS, hop_seconds=HOP_SECONDS))


class SpeakerBlocks(SpeakerLayers):
    name = "speaker_blocks"

    def __init__(self, config: BackboneConfig | None = None) -> None:
        super().__init__(config or BackboneConfig(block_seconds=BLOCK_SECONDS, hop_seconds=HOP_SECONDS))


class SpeakerStream(SpeakerBlocks):
    """`speaker_blocks` with the LSTMs carried from block to block (`CarriedBlocks`) instead of
    restarted on each block: half the speaker encoder's work, and context across blocks."""

    name = "speaker_stream"

    def block_reader(self) -> BlockReader:
        return CarriedBlocks(self.encoder(), self.config.grid, self.config.sample_rate)  # type: ignore[arg-type]


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
