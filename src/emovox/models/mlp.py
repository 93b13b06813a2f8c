"""A multi-layer perceptron on utterance vectors, beyond the seed design and kept because it beat
it (see results/benchmarks/accuracy.md)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from emovox.errors import FeatureError


@dataclass(frozen=True)
class MlpConfig:
    hidden: tuple[int, ...] = (512, 256)
    dropout: float = 0.4


class Mlp(nn.Module):
    """Dense layers with batch norm on an utterance vector: no false ordering of the features,
    which the seed's convolutions and LSTMs over a feature vector assume."""

    takes_sequences = False

    def __init__(self, input_dim: int, num_classes: int, config: MlpConfig | None = None) -> None:
        super().__init__()
        self.config = c = config or MlpConfig()
        layers: list[nn.Module] = []
        width = input_dim
        for size in c.hidden:
            layers += [nn.Linear(width, size), nn.BatchNorm1d(size), nn.ReLU(), nn.Dropout(c.dropout)]
            width = size
        self.net = nn.Sequential(*layers, nn.Linear(width, num_classes))
        self.input_dim = input_dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 2 or x.shape[1] != self.input_dim:
            raise FeatureError(f"expected (batch, {self.input_dim}) feature vectors, got {tuple(x.shape)}")
        return self.net(x)
