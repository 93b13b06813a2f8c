"""A head on a pretrained encoder's pooled layers (the `whisper` feature set): it learns how much
each layer counts (a softmax over layers, as SUPERB's weighted-sum probes do), then a small
dense head. The layers are normalised one by one first, since their scales differ by orders of
magnitude from the embedding to the last block."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from emovox.errors import ConfigError, FeatureError


@dataclass(frozen=True)
class LayerHeadConfig:
    layers: int = 7  # Whisper-base: the embedding and 6 blocks
    hidden: int = 256
    dropout: float = 0.3


class LayerHead(nn.Module):
    takes_sequences = False

    def __init__(self, input_dim: int, num_classes: int, config: LayerHeadConfig | None = None) -> None:
        super().__init__()
        self.config = c = config or LayerHeadConfig()
        if input_dim % c.layers:
            raise ConfigError(f"layer_head: {input_dim} features do not split into {c.layers} layers")
        self.input_dim, self.group = input_dim, input_dim // c.layers
        self.norm = nn.LayerNorm(self.group)
        self.layer_logits = nn.Parameter(torch.zeros(c.layers))
        self.head = nn.Sequential(
            nn.Dropout(c.dropout), nn.Linear(self.group, c.hidden), nn.GELU(), nn.Dropout(c.dropout),
            nn.Linear(c.hidden, num_classes),
        )  # fmt: skip

    def layer_weights(self) -> torch.Tensor:
        """How much each layer counts (sums to 1): worth reading after training."""
        return torch.softmax(self.layer_logits, dim=0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 2 or x.shape[1] != self.input_dim:
            raise FeatureError(f"expected (batch, {self.input_dim}) feature vectors, got {tuple(x.shape)}")
        layers = self.norm(x.unflatten(1, (self.config.layers, self.group)))  # batch stays dynamic in ONNX
        return self.head(torch.einsum("l,blg->bg", self.layer_weights(), layers))
