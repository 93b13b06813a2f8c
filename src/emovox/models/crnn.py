"""A CRNN on log-mel spectrograms with attention pooling over real frames, beyond the seed design
and kept because it beat it (see results/benchmarks/accuracy.md)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from emovox.errors import FeatureError


@dataclass(frozen=True)
class CrnnConfig:
    """Sized for CPU training: time averaged by `input_pool` first (10 ms -> 20 ms frames)."""

    channels: tuple[int, ...] = (16, 32, 64)
    rnn_size: int = 64
    dropout: float = 0.3
    input_pool: int = 2


class Crnn(nn.Module):
    """Conv2d blocks over (time, mel) -> BiGRU over time -> attention pooling over real frames.

    Time is averaged by `input_pool`, then pooled by 4 in the first two blocks; frequency by 2
    in each block. `forward(x, hidden,
    lengths)` matches the sequence models' interface; padding never enters the pooling.
    """

    takes_sequences = True

    def __init__(self, input_dim: int, num_classes: int, config: CrnnConfig | None = None) -> None:
        super().__init__()
        self.config = c = config or CrnnConfig()
        blocks: list[nn.Module] = []
        self.pools: list[int] = []
        width, freq = 1, input_dim
        for i, channels in enumerate(c.channels):
            pool = (2, 2) if i < 2 else (1, 2)
            blocks.append(nn.Sequential(
                nn.Conv2d(width, channels, 3, padding=1), nn.BatchNorm2d(channels), nn.ReLU(),
                nn.MaxPool2d(pool), nn.Dropout(c.dropout / 2),
            ))  # fmt: skip
            self.pools.append(pool[0])
            width, freq = channels, freq // 2
        self.blocks = nn.ModuleList(blocks)
        self.rnn = nn.GRU(width * freq, c.rnn_size, batch_first=True, bidirectional=True)
        self.attention = nn.Linear(2 * c.rnn_size, 1)
        self.head = nn.Sequential(nn.Dropout(c.dropout), nn.Linear(2 * c.rnn_size, num_classes))
        self.input_dim = input_dim

    def forward(
        self, x: torch.Tensor, hidden: None = None, lengths: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, None]:
        if x.ndim != 3 or x.shape[-1] != self.input_dim:
            raise FeatureError(f"expected (batch, frames, {self.input_dim}), got {tuple(x.shape)}")
        if x.shape[1] < self.min_frames:  # too short to pool: zero frames, still masked out below
            x = nn.functional.pad(x, (0, 0, 0, self.min_frames - x.shape[1]))
        elif lengths is None:
            return self.whole_clip(x), None
        steps = torch.full((x.shape[0],), x.shape[1]) if lengths is None else lengths.cpu().clone()
        pool = self.config.input_pool
        x = nn.functional.avg_pool1d(x.transpose(1, 2), pool).transpose(1, 2)
        steps = torch.clamp(steps // pool, min=1)
        z = _zero_after(x.unsqueeze(1), steps)  # (batch, 1, time, freq)
        for block, time_pool in zip(self.blocks, self.pools, strict=True):
            steps = torch.clamp(steps // time_pool, min=1)
            z = _zero_after(block(z), steps)  # nothing past a clip's end reaches the next block
        z = z.permute(0, 2, 1, 3).flatten(2)  # (batch, time, channels * freq)
        packed = pack_padded_sequence(z, steps, batch_first=True, enforce_sorted=False)
        z, _ = pad_packed_sequence(self.rnn(packed)[0], batch_first=True, total_length=z.shape[1])
        scores = self.attention(z).squeeze(-1)
        mask = torch.arange(z.shape[1])[None, :] < steps[:, None]
        scores = scores.masked_fill(~mask, float("-inf"))
        weights = torch.softmax(scores, dim=1).unsqueeze(-1)
        return self.head((weights * z).sum(dim=1)), None

    @property
    def min_frames(self) -> int:
        """The shortest input that survives every time pooling."""
        return self.config.input_pool * math.prod(self.pools)

    def whole_clip(self, x: torch.Tensor) -> torch.Tensor:
        """Logits of (batch, T >= min_frames, mels) clips with no padding: no packing or masking,
        so the graph exports to ONNX; equals `forward` with every length = T."""
        x = nn.functional.avg_pool1d(x.transpose(1, 2), self.config.input_pool).transpose(1, 2)
        z = x.unsqueeze(1)
        for block in self.blocks:
            z = block(z)
        z, _ = self.rnn(z.permute(0, 2, 1, 3).flatten(2))
        weights = torch.softmax(self.attention(z).squeeze(-1), dim=1).unsqueeze(-1)
        return self.head((weights * z).sum(dim=1))


def _zero_after(z: torch.Tensor, steps: torch.Tensor) -> torch.Tensor:
    """Zero each (batch, channels, time, freq) map from its sequence's `steps` on."""
    keep = torch.arange(z.shape[2])[None, :] < steps[:, None]
    return z * keep[:, None, :, None].to(z.dtype)
