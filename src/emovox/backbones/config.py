"""A backbone checkpoint's dimensions (its folder's config.json) and the precisions its graphs
run at: plain values, so the runtime reads them without PyTorch."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

SAMPLE_RATE = 16_000
N_FFT = 400  # 25 ms
HOP = 160  # 10 ms: a mel frame; Whisper's encoder outputs are 20 ms apart


@dataclass(frozen=True)
class WhisperConfig:
    n_mels: int = 80
    width: int = 512
    heads: int = 8
    layers: int = 6
    positions: int = 1500  # encoder outputs per 30 s window

    def __post_init__(self) -> None:
        if self.heads > 0 and self.width % self.heads:
            raise ValueError(f"width {self.width} is not a multiple of heads {self.heads}")


@dataclass(frozen=True)
class SpeakerConfig:
    mel_bands: int = 40
    hidden: int = 256
    layers: int = 3
    embedding: int = 256


class Precision(StrEnum):
    """Whisper's matrix products (the speaker encoder always runs in float32)."""

    FLOAT32 = "float32"  # the exported graph: equal to PyTorch within 5e-4 relative
    INT8 = "int8"  # matrix products quantised per channel, weights in 7 bits (see emovox.backbones.export)
