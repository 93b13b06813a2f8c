"""Recurrent models of the seed design: the streaming MFCC LSTM and the feature-vector LSTMs."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence

from emovox.errors import ConfigError, FeatureError

Hidden = tuple[torch.Tensor, torch.Tensor]


@dataclass(frozen=True)
class StreamingLstmConfig:
    """Seed "EmotionLSTM": 13 -> 256 hidden, 2 layers, dropout 0.3, linear head."""

    hidden_size: int = 256
    num_layers: int = 2
    dropout: float = 0.3

    def __post_init__(self) -> None:
        if self.hidden_size < 1 or self.num_layers < 1:
            raise ConfigError("hidden_size and num_layers must be >= 1")
        if not 0 <= self.dropout < 1:
            raise ConfigError(f"dropout must be in [0, 1), got {self.dropout}")


class StreamingLstm(nn.Module):
    """LSTM over MFCC frames whose state can be carried frame by frame.

    `forward(x, hidden, lengths)`: x is (batch, T, n_mfcc); the logits come from each
    sequence's last real frame (packed, so padding never reaches them). Streaming calls pass
    (1, 1, n_mfcc) and the hidden state returned by the previous call.
    """

    takes_sequences = True
    steps_frames = True  # exported as a step graph, its state carried from call to call

    def __init__(self, input_dim: int, num_classes: int, config: StreamingLstmConfig | None = None) -> None:
        super().__init__()
        self.config = config or StreamingLstmConfig()
        c = self.config
        self.lstm = nn.LSTM(
            input_dim,
            c.hidden_size,
            c.num_layers,
            batch_first=True,
            dropout=c.dropout if c.num_layers > 1 else 0.0,
        )
        self.dropout = nn.Dropout(c.dropout)
        self.head = nn.Linear(c.hidden_size, num_classes)
        self.input_dim = input_dim

    def forward(
        self, x: torch.Tensor, hidden: Hidden | None = None, lengths: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, Hidden]:
        if x.ndim != 3 or x.shape[-1] != self.input_dim:
            raise FeatureError(f"expected (batch, frames, {self.input_dim}), got {tuple(x.shape)}")
        if lengths is None:
            _, (h, c) = self.lstm(x, hidden)
        else:
            packed = pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)
            _, (h, c) = self.lstm(packed, hidden)
        return self.head(self.dropout(h[-1])), (h, c)

    def frame_logits(self, x: torch.Tensor, hidden: Hidden | None = None) -> tuple[torch.Tensor, Hidden]:
        """Logits after every frame of (1, T, n_mfcc), and the state after the last one.

        Streaming runs each chunk's frames through this with the state carried: row t equals
        what `forward` gives on the clip cut after frame t.
        """
        if x.ndim != 3 or x.shape[-1] != self.input_dim:
            raise FeatureError(f"expected (batch, frames, {self.input_dim}), got {tuple(x.shape)}")
        outputs, hidden = self.lstm(x, hidden)
        return self.head(self.dropout(outputs)), hidden


@dataclass(frozen=True)
class FeatureLstmConfig:
    """Seed LSTM on the 110-dim vector read as a (110, 1) sequence."""

    hidden_sizes: tuple[int, int] = (128, 64)
    dense: int = 64
    dropout: float = 0.3


class FeatureLstm(nn.Module):
    """LSTM 128 (sequences) -> dropout -> LSTM 64 -> dropout -> dense 64 ReLU -> classes."""

    takes_sequences = False

    def __init__(self, input_dim: int, num_classes: int, config: FeatureLstmConfig | None = None) -> None:
        super().__init__()
        self.config = c = config or FeatureLstmConfig()
        self.first = nn.LSTM(1, c.hidden_sizes[0], batch_first=True)
        self.second = nn.LSTM(c.hidden_sizes[0], c.hidden_sizes[1], batch_first=True)
        self.dropout = nn.Dropout(c.dropout)
        self.head = nn.Sequential(
            nn.Linear(c.hidden_sizes[1], c.dense), nn.ReLU(), nn.Linear(c.dense, num_classes)
        )
        self.input_dim = input_dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = vector_as_sequence(x, self.input_dim)
        x, _ = self.first(x)
        _, (h, _) = self.second(self.dropout(x))
        return self.head(self.dropout(h[-1]))


@dataclass(frozen=True)
class CnnLstmConfig:
    """Seed hybrid: Conv1D 64 k3 -> max-pool 2 -> LSTM 64 -> dense 64."""

    channels: int = 64
    kernel_size: int = 3
    hidden_size: int = 64
    dense: int = 64
    dropout: float = 0.3


class CnnLstm(nn.Module):
    """Conv1D (same) ReLU -> max-pool 2 -> dropout -> LSTM -> dropout -> dense ReLU -> classes."""

    takes_sequences = False

    def __init__(self, input_dim: int, num_classes: int, config: CnnLstmConfig | None = None) -> None:
        super().__init__()
        self.config = c = config or CnnLstmConfig()
        self.conv = nn.Sequential(
            nn.Conv1d(1, c.channels, c.kernel_size, padding="same"),
            nn.ReLU(),
            nn.MaxPool1d(2),
            nn.Dropout(c.dropout),
        )
        self.lstm = nn.LSTM(c.channels, c.hidden_size, batch_first=True)
        self.dropout = nn.Dropout(c.dropout)
        self.head = nn.Sequential(
            nn.Linear(c.hidden_size, c.dense), nn.ReLU(), nn.Linear(c.dense, num_classes)
        )
        self.input_dim = input_dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = vector_as_sequence(x, self.input_dim)  # (batch, dim, 1)
        x = self.conv(x.transpose(1, 2)).transpose(1, 2)  # (batch, dim/2, channels)
        _, (h, _) = self.lstm(x)
        return self.head(self.dropout(h[-1]))


def vector_as_sequence(x: torch.Tensor, input_dim: int) -> torch.Tensor:
    """(batch, dim) feature vectors as (batch, dim, 1) sequences, checking the shape."""
    if x.ndim != 2 or x.shape[1] != input_dim:
        raise FeatureError(f"expected (batch, {input_dim}) feature vectors, got {tuple(x.shape)}")
    return x.unsqueeze(-1)
