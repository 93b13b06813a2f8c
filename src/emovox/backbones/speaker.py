"""Resemblyzer's speaker encoder (a GE2E-trained d-vector model, Wan et al. 2018) in plain PyTorch:
three LSTM layers over 40 mel bands and a projection. Trained to tell voices apart, its lower
layers keep how a voice sounds across rooms and languages, which travels to unseen corpora
better than the from-scratch models (see results/). Each layer is run on its own so every
layer's states can be read. The source of the ONNX graph predictions run on."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

from emovox.backbones.config import SpeakerConfig
from emovox.backbones.frontends import speaker_mel
from emovox.backbones.weights import load_module, shipped
from emovox.errors import FeatureError


class SpeakerEncoder(nn.Module):
    def __init__(self, config: SpeakerConfig) -> None:
        super().__init__()
        self.config = config
        sizes = [config.mel_bands] + [config.hidden] * (config.layers - 1)
        self.lstms = nn.ModuleList(nn.LSTM(size, config.hidden, batch_first=True) for size in sizes)
        self.projection = nn.Linear(config.hidden, config.embedding)

    @classmethod
    def load(cls, folder: str | Path | None = None) -> SpeakerEncoder:
        """The encoder of a weights folder (default: Resemblyzer's, shipped with emovox), in eval mode."""
        return load_module(cls, SpeakerConfig, Path(folder) if folder is not None else shipped("speaker"))

    def hidden_states(self, mels: torch.Tensor) -> list[torch.Tensor]:
        """`mels`: (batch, frames, bands) -> each LSTM layer's outputs, (batch, frames, hidden)."""
        if mels.ndim != 3 or mels.shape[2] != self.config.mel_bands or mels.shape[1] < 1:
            raise FeatureError(
                f"expected (batch, frames, {self.config.mel_bands}) mel frames, got {tuple(mels.shape)}"
            )
        states, x = [], mels
        for lstm in self.lstms:
            x, _ = lstm(x)
            states.append(x)
        return states

    def carried_states(
        self, mels: torch.Tensor, h: torch.Tensor, c: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The LSTMs run on from states (h, c), each (layers, batch, hidden), as they were left at
        the end of the previous stretch: (layers, batch, frames, hidden) outputs and the states
        after the last frame. A signal fed in consecutive stretches gives its whole-pass outputs.
        Apart from `hidden_states`, whose trace is the shipped stateless graph byte for byte."""
        states, hs, cs, x = [], [], [], mels
        for i, lstm in enumerate(self.lstms):
            x, (h_i, c_i) = lstm(x, (h[i : i + 1], c[i : i + 1]))
            states.append(x)
            hs.append(h_i)
            cs.append(c_i)
        return torch.stack(states), torch.cat(hs), torch.cat(cs)

    def forward(self, mels: torch.Tensor) -> torch.Tensor:
        """Resemblyzer's embedding: the last layer's final state projected, ReLU, unit length."""
        raw = torch.relu(self.projection(self.hidden_states(mels)[-1][:, -1]))
        return raw / torch.linalg.vector_norm(raw, dim=1, keepdim=True)

    @torch.inference_mode()
    def signal_states(self, signal: np.ndarray) -> np.ndarray:
        """(layers, frames, hidden) float32 states of a 16 kHz signal, the whole clip in one pass."""
        mels = torch.from_numpy(speaker_mel(signal, self.config.mel_bands))[None]
        return torch.stack(self.hidden_states(mels))[:, 0].numpy()


class SpeakerStates(nn.Module):
    """The encoder as its ONNX graph computes it: `mels` (1, frames, bands) -> `states`
    (layers, 1, frames, hidden), every layer's outputs stacked."""

    def __init__(self, encoder: SpeakerEncoder) -> None:
        super().__init__()
        self.encoder = encoder

    def forward(self, mels: torch.Tensor) -> torch.Tensor:
        return torch.stack(self.encoder.hidden_states(mels))


class SpeakerCarriedStates(nn.Module):
    """The encoder as its `stream` graph computes it: `mels` (1, frames, bands), `h` and `c`
    (layers, 1, hidden) -> `states` (layers, 1, frames, hidden), `h_out`, `c_out`: a live stream's
    stretches of audio run through the LSTMs in order, each from where the last one left them."""

    def __init__(self, encoder: SpeakerEncoder) -> None:
        super().__init__()
        self.encoder = encoder

    def forward(
        self, mels: torch.Tensor, h: torch.Tensor, c: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        return self.encoder.carried_states(mels, h, c)
