"""Whisper's audio encoder (Radford et al. 2022) in plain PyTorch, for its hidden states: the
log-mel front end Whisper computes, two convolutions, sinusoidal positions and pre-norm
transformer blocks. It runs on the clip's own length (Whisper pads every input to 30 s; the
encoder does not need it) and longer inputs go by 30 s windows. Dimensions come from the
weights folder's config.json, so `tiny`, `base`, `small` or a user's compatible conversion load
the same way (see `emovox.backbones.convert`). This is the source of the ONNX graphs that
predictions run on (`emovox.backbones.export`), and the reference they are tested against."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from emovox.backbones.config import HOP, N_FFT, WhisperConfig
from emovox.backbones.frontends import mel_filters, mono, windowed_states
from emovox.backbones.weights import load_module, shipped
from emovox.errors import FeatureError


class LogMel(nn.Module):
    """(1, samples) -> (1, n_mels, samples // 160) log-mel frames exactly as Whisper computes them
    for the signal's own length: periodic Hann STFT with reflect-padded centring over the signal
    followed by zeros (Whisper appends 30 s of them; 400 samples give the same frames), power,
    mel, log10 floored at 1e-10 and at 8 below the loudest frame, then (x + 4) / 4.

    The Fourier transform is a strided convolution with the windowed cosine and sine bases, so
    the front end exports to ONNX as plain convolution and matrix products, which give the same
    bits on every x86-64 CPU (an FFT or a BLAS call is free to sum in another order)."""

    def __init__(self, n_mels: int = 80) -> None:
        super().__init__()
        n = torch.arange(N_FFT, dtype=torch.float64)
        window = 0.5 - 0.5 * torch.cos(2 * torch.pi * n / N_FFT)
        angle = 2 * torch.pi * torch.arange(N_FFT // 2 + 1, dtype=torch.float64)[:, None] * n / N_FFT
        basis = torch.cat([torch.cos(angle), -torch.sin(angle)]) * window
        self.register_buffer("basis", basis.float()[:, None, :])  # (2 x bins, 1, N_FFT)
        self.register_buffer("mel", torch.from_numpy(mel_filters(n_mels)))

    def forward(self, samples: torch.Tensor) -> torch.Tensor:
        padded = torch.cat([samples, torch.zeros(samples.shape[0], N_FFT)], dim=1)[:, None]
        spectrum = F.conv1d(F.pad(padded, (N_FFT // 2, N_FFT // 2), mode="reflect"), self.basis, stride=HOP)
        bins = N_FFT // 2 + 1
        power = (spectrum[:, :bins] ** 2 + spectrum[:, bins:] ** 2)[:, :, :-1]
        log = torch.clamp(self.mel @ power, min=1e-10).log10()
        log = torch.maximum(log, log.amax(dim=(1, 2), keepdim=True) - 8.0)
        return ((log + 4.0) / 4.0)[:, :, : samples.shape[1] // HOP]


@torch.inference_mode()
def log_mel(signal: np.ndarray, n_mels: int = 80) -> np.ndarray:
    """(n_mels, len(signal) // 160) Whisper log-mel frames of a mono signal (see `LogMel`)."""
    return LogMel(n_mels)(torch.from_numpy(mono(signal))[None])[0].numpy()


class Attention(nn.Module):
    def __init__(self, width: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(width, 3 * width)  # Whisper's key has no bias: its third is zero
        self.out = nn.Linear(width, width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Softmax spelled out (max, exp, sum, divide): onnxruntime's Softmax kernel sums in another
        order with AVX-512 than with AVX2, and the int8 rounding downstream turns that last bit
        into differences a printed probability shows; these operations agree bit for bit."""
        batch, time, width = x.shape
        q, k, v = self.qkv(x).view(batch, time, 3, self.heads, width // self.heads).permute(2, 0, 3, 1, 4)
        scores = (q @ k.transpose(-1, -2)) * (q.shape[-1] ** -0.5)
        weights = (scores - scores.amax(dim=-1, keepdim=True)).exp()
        attended = (weights / weights.sum(dim=-1, keepdim=True)) @ v
        return self.out(attended.transpose(1, 2).reshape(batch, time, width))


class Block(nn.Module):
    def __init__(self, width: int, heads: int) -> None:
        super().__init__()
        self.attn_norm = nn.LayerNorm(width)
        self.attn = Attention(width, heads)
        self.mlp_norm = nn.LayerNorm(width)
        self.mlp = nn.Sequential(nn.Linear(width, 4 * width), nn.GELU(), nn.Linear(4 * width, width))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.attn_norm(x))
        return x + self.mlp(self.mlp_norm(x))


class WhisperEncoder(nn.Module):
    """`hidden_states(mel)`: layers + 1 tensors (batch, frames / 2, width): the embedding (after the
    convolutions and positions), then each block's output, the last after the final norm (which
    is the encoder's output, what Whisper's decoder reads)."""

    def __init__(self, config: WhisperConfig) -> None:
        super().__init__()
        self.config = config
        self.conv1 = nn.Conv1d(config.n_mels, config.width, 3, padding=1)
        self.conv2 = nn.Conv1d(config.width, config.width, 3, stride=2, padding=1)
        self.register_buffer("positions", torch.zeros(config.positions, config.width))
        self.blocks = nn.ModuleList(Block(config.width, config.heads) for _ in range(config.layers))
        self.norm = nn.LayerNorm(config.width)

    @classmethod
    def load(cls, folder: str | Path | None = None) -> WhisperEncoder:
        """The encoder of a weights folder (default: Whisper-base, shipped with emovox), in eval mode."""
        return load_module(
            cls, WhisperConfig, Path(folder) if folder is not None else shipped("whisper-base")
        )

    def hidden_states(self, mel: torch.Tensor) -> list[torch.Tensor]:
        """`mel`: (batch, n_mels, frames), at most one 30 s window (3000 frames)."""
        if mel.ndim != 3 or mel.shape[1] != self.config.n_mels:
            raise FeatureError(
                f"expected (batch, {self.config.n_mels}, frames) log-mel, got {tuple(mel.shape)}"
            )
        if not 1 <= mel.shape[2] <= 2 * self.config.positions:
            raise FeatureError(f"expected 1 to {2 * self.config.positions} frames, got {mel.shape[2]}")
        x = F.gelu(self.conv2(F.gelu(self.conv1(mel)))).transpose(1, 2)
        x = x + self.positions[: x.shape[1]]
        states = [x]
        for block in self.blocks:
            x = block(x)
            states.append(x)
        states[-1] = self.norm(x)
        return states

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        """(layers + 1, batch, frames / 2, width): every hidden state, stacked (for ONNX export)."""
        return torch.stack(self.hidden_states(mel))

    @torch.inference_mode()
    def signal_states(self, signal: np.ndarray) -> np.ndarray:
        """(layers + 1, outputs, width) float32 hidden states of a 16 kHz signal of any length."""
        mel = log_mel(signal, self.config.n_mels)
        return windowed_states(mel, self.config, lambda window: self(torch.from_numpy(window)).numpy())
