"""Convolutional models on the enhanced utterance vector: the seed's CNN and its multi-scale
squeeze-excitation BiLSTM ("Optimized")."""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import torch
from torch import nn

from emovox.errors import ConfigError
from emovox.models.recurrent import vector_as_sequence


@dataclass(frozen=True)
class CnnConfig:
    """Seed "Enhanced" CNN: conv blocks 128 -> 256 -> 512 -> 256, global pooling, dense 512-256-128."""

    channels: tuple[int, ...] = (128, 256, 512, 256)
    dense: tuple[int, ...] = (512, 256, 128)
    kernel_size: int = 3
    dropout: float = 0.3


def conv_block(c_in: int, c_out: int, kernel: int, dropout: float, pool: int = 2) -> nn.Sequential:
    """Conv -> batch norm -> ReLU -> max-pool by `pool` (1: none) -> dropout."""
    layers: list[nn.Module] = [
        nn.Conv1d(c_in, c_out, kernel, padding="same"),
        nn.BatchNorm1d(c_out),
        nn.ReLU(),
    ]
    if pool > 1:
        layers.append(nn.MaxPool1d(pool))
    layers.append(nn.Dropout(dropout))
    return nn.Sequential(*layers)


def dense_stack(sizes: tuple[int, ...], dropout: float, num_classes: int) -> nn.Sequential:
    layers: list[nn.Module] = []
    for a, b in itertools.pairwise(sizes):
        layers += [nn.Linear(a, b), nn.ReLU(), nn.Dropout(dropout)]
    return nn.Sequential(*layers, nn.Linear(sizes[-1], num_classes))


class EnhancedCnn(nn.Module):
    takes_sequences = False

    def __init__(self, input_dim: int, num_classes: int, config: CnnConfig | None = None) -> None:
        super().__init__()
        self.config = c = config or CnnConfig()
        widths = (1, *c.channels)
        self.blocks = nn.Sequential(
            *(conv_block(a, b, c.kernel_size, c.dropout) for a, b in itertools.pairwise(widths))
        )
        self.head = dense_stack((c.channels[-1], *c.dense), c.dropout, num_classes)
        self.input_dim = input_dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = vector_as_sequence(x, self.input_dim).transpose(1, 2)  # (batch, 1, dim)
        return self.head(self.blocks(x).mean(dim=-1))


@dataclass(frozen=True)
class MsseBiLstmConfig:
    """Seed "Optimized": parallel convolutions (k 3, 5, 7), squeeze-excitation, BiLSTM 128 -> 64,
    dense 256 -> 128; trained with mixup (see the trainer's `mixup_alpha`)."""

    kernels: tuple[int, ...] = (3, 5, 7)
    channels: int = 64
    se_reduction: int = 8
    lstm_sizes: tuple[int, int] = (128, 64)
    dense: tuple[int, ...] = (256, 128)
    dropout: float = 0.3
    pool: int = 2  # the branches' max-pool: the BiLSTM runs over input_dim / pool steps

    def __post_init__(self) -> None:
        if self.pool < 1 or self.channels < 1 or not self.kernels:
            raise ConfigError(f"msse_bilstm needs pool >= 1, channels >= 1 and kernels, got {self}")


class SqueezeExcitation(nn.Module):
    """Channel attention (Hu et al. 2018): gates each channel by a function of its global mean."""

    def __init__(self, channels: int, reduction: int) -> None:
        super().__init__()
        hidden = max(1, channels // reduction)
        self.gate = nn.Sequential(
            nn.Linear(channels, hidden), nn.ReLU(), nn.Linear(hidden, channels), nn.Sigmoid()
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (batch, channels, length)
        return x * self.gate(x.mean(dim=-1)).unsqueeze(-1)


class MultiScaleSeBiLstm(nn.Module):
    takes_sequences = False

    def __init__(self, input_dim: int, num_classes: int, config: MsseBiLstmConfig | None = None) -> None:
        super().__init__()
        self.config = c = config or MsseBiLstmConfig()
        self.branches = nn.ModuleList(conv_block(1, c.channels, k, c.dropout, c.pool) for k in c.kernels)
        width = c.channels * len(c.kernels)
        self.se = SqueezeExcitation(width, c.se_reduction)
        self.lstm1 = nn.LSTM(width, c.lstm_sizes[0], batch_first=True, bidirectional=True)
        self.lstm2 = nn.LSTM(2 * c.lstm_sizes[0], c.lstm_sizes[1], batch_first=True, bidirectional=True)
        self.dropout = nn.Dropout(c.dropout)
        self.head = dense_stack((2 * c.lstm_sizes[1], *c.dense), c.dropout, num_classes)
        self.input_dim = input_dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = vector_as_sequence(x, self.input_dim).transpose(1, 2)  # (batch, 1, dim)
        x = self.se(torch.cat([branch(x) for branch in self.branches], dim=1))
        x, _ = self.lstm1(x.transpose(1, 2))
        _, (h, _) = self.lstm2(self.dropout(x))
        return self.head(self.dropout(torch.cat([h[-2], h[-1]], dim=-1)))
