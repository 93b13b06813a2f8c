"""Heads on a pretrained encoder's layers. Both learn how much each layer counts (a softmax over
layers, as SUPERB's weighted-sum probes do) after normalising the layers one by one, since their
scales differ by orders of magnitude from the embedding to the last block:

- `LayerHead` on the layers already pooled over the clip (the `whisper` set), then a small
  dense head;
- `AttentiveHead` on the layers frame by frame (`whisper_frames`): the weighted layers are
  projected, then attentive statistics pooling (Okabe et al. 2018: an attention-weighted mean
  and standard deviation over the clip's real frames) feeds the classifier.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from emovox.errors import ConfigError, FeatureError


class LayerMix(nn.Module):
    """(..., layers x width) -> (..., width): each layer normalised, then their learned softmax
    weighting (how much each layer counts, `weights()`: worth reading after training)."""

    def __init__(self, input_dim: int, layers: int, family: str) -> None:
        super().__init__()
        if input_dim % layers:
            raise ConfigError(f"{family}: {input_dim} features do not split into {layers} layers")
        self.layers, self.width = layers, input_dim // layers
        self.norm = nn.LayerNorm(self.width)
        self.logits = nn.Parameter(torch.zeros(layers))

    def weights(self) -> torch.Tensor:
        return torch.softmax(self.logits, dim=0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        layers = self.norm(x.unflatten(-1, (self.layers, self.width)))  # batch and time stay dynamic in ONNX
        return (self.weights()[:, None] * layers).sum(dim=-2)


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
        self.input_dim = input_dim
        self.mix = LayerMix(input_dim, c.layers, "layer_head")
        self.head = nn.Sequential(
            nn.Dropout(c.dropout), nn.Linear(self.mix.width, c.hidden), nn.GELU(), nn.Dropout(c.dropout),
            nn.Linear(c.hidden, num_classes),
        )  # fmt: skip

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 2 or x.shape[1] != self.input_dim:
            raise FeatureError(f"expected (batch, {self.input_dim}) feature vectors, got {tuple(x.shape)}")
        return self.head(self.mix(x))


@dataclass(frozen=True)
class AttentiveHeadConfig:
    layers: int = 7
    hidden: int = 256
    attention: int = 128
    dropout: float = 0.3


class AttentiveHead(nn.Module):
    takes_sequences = True
    min_frames = 1

    def __init__(self, input_dim: int, num_classes: int, config: AttentiveHeadConfig | None = None) -> None:
        super().__init__()
        self.config = c = config or AttentiveHeadConfig()
        self.input_dim = input_dim
        self.mix = LayerMix(input_dim, c.layers, "attentive_head")
        self.project = nn.Sequential(nn.Linear(self.mix.width, c.hidden), nn.GELU())
        self.attention = nn.Sequential(nn.Linear(c.hidden, c.attention), nn.Tanh(), nn.Linear(c.attention, 1))
        self.head = nn.Sequential(nn.Dropout(c.dropout), nn.Linear(2 * c.hidden, num_classes))

    def forward(
        self, x: torch.Tensor, hidden: None = None, lengths: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, None]:
        """`x`: (batch, frames, layers x width), padded; `lengths`: each clip's real frames."""
        if x.ndim != 3 or x.shape[-1] != self.input_dim:
            raise FeatureError(f"expected (batch, frames, {self.input_dim}), got {tuple(x.shape)}")
        z = self.project(self.mix(x))
        scores = self.attention(z).squeeze(-1)
        if lengths is not None:
            real = torch.arange(x.shape[1])[None, :] < lengths.cpu()[:, None]
            scores = scores.masked_fill(~real, float("-inf"))
        weights = torch.softmax(scores, dim=1).unsqueeze(-1)
        mean = (weights * z).sum(dim=1)
        std = ((weights * (z - mean.unsqueeze(1)) ** 2).sum(dim=1)).clamp(min=1e-6).sqrt()
        return self.head(torch.cat([mean, std], dim=1)), None

    def whole_clip(self, x: torch.Tensor) -> torch.Tensor:
        """Logits of unpadded clips: what the ONNX graph runs."""
        return self.forward(x)[0]
