"""Whisper's audio encoder (Radford et al. 2022) in plain PyTorch, for its hidden states: the
log-mel front end Whisper computes, two convolutions, sinusoidal positions and pre-norm
transformer blocks. It runs on the clip's own length (Whisper pads every input to 30 s; the
encoder does not need it) and longer inputs go by 30 s windows. Dimensions come from the
weights folder's config.json, so `tiny`, `base`, `small` or a user's compatible conversion load
the same way (see `emovox.backbones.convert`)."""

from __future__ import annotations

import logging
import os
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache
from pathlib import Path

import librosa
import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from emovox.backbones.weights import MANIFEST_FILE, load_module, read_config, read_json, shipped
from emovox.errors import FeatureError, choice

SAMPLE_RATE = 16_000
N_FFT = 400  # 25 ms
HOP = 160  # 10 ms: a mel frame; the encoder's outputs are 20 ms apart


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


@lru_cache(maxsize=4)
def mel_filters(n_mels: int) -> np.ndarray:
    """Slaney-normalised mel filterbank of Whisper (librosa's, as Whisper's own asset was made)."""
    return librosa.filters.mel(sr=SAMPLE_RATE, n_fft=N_FFT, n_mels=n_mels).astype(np.float32)


def log_mel(signal: np.ndarray, n_mels: int = 80) -> np.ndarray:
    """(n_mels, len(signal) // 160) log-mel frames exactly as Whisper computes them for the
    signal's own length: periodic Hann STFT with reflect-padded centring over the signal
    followed by zeros (Whisper appends 30 s of them; 400 samples give the same frames), power,
    mel, log10 floored at 1e-10 and at 8 below the loudest frame, then (x + 4) / 4."""
    if signal.ndim != 1:
        raise FeatureError(f"expected a mono signal, got shape {signal.shape}")
    frames = len(signal) // HOP
    padded = torch.from_numpy(np.concatenate([signal.astype(np.float32), np.zeros(N_FFT, np.float32)]))
    spectrum = torch.stft(padded, N_FFT, HOP, window=torch.hann_window(N_FFT), return_complex=True)
    power = spectrum[:, :-1].abs() ** 2
    mel = torch.from_numpy(mel_filters(n_mels)) @ power
    log = torch.clamp(mel, min=1e-10).log10()
    log = torch.maximum(log, log.max() - 8.0)
    return ((log + 4.0) / 4.0)[:, :frames].numpy()


class Attention(nn.Module):
    def __init__(self, width: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(width, 3 * width)  # Whisper's key has no bias: its third is zero
        self.out = nn.Linear(width, width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, time, width = x.shape
        q, k, v = self.qkv(x).view(batch, time, 3, self.heads, width // self.heads).permute(2, 0, 3, 1, 4)
        attended = F.scaled_dot_product_attention(q, k, v)
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
        return windowed_states(signal, self.config, lambda mel: self(torch.from_numpy(mel)).numpy())


def windowed_states(
    signal: np.ndarray, config: WhisperConfig, run: Callable[[np.ndarray], np.ndarray]
) -> np.ndarray:
    """One log-mel over the whole signal (as Whisper's transcription computes it), then `run` on
    windows of 30 s (a (1, n_mels, frames) array in, (layers + 1, 1, frames / 2, width) out), the
    windows' outputs joined in time."""
    mel = log_mel(signal, config.n_mels)
    if mel.shape[1] < 2:
        raise FeatureError(f"a signal of {len(signal)} samples is shorter than Whisper's 20 ms output step")
    window = 2 * config.positions
    parts = [
        run(np.ascontiguousarray(mel[None, :, s : s + window]))[:, 0] for s in range(0, mel.shape[1], window)
    ]
    return np.concatenate(parts, axis=1)


class Precision(StrEnum):
    FLOAT32 = "float32"  # the exported graph: equal to PyTorch within 5e-4 relative
    INT8 = "int8"  # its matrix products quantised per channel, weights int8 (2.6x faster on a CPU)


class OnnxWhisperEncoder:
    """The same encoder as an ONNX graph on onnxruntime, in float32 or with its matrix products
    in int8 (see benchmarks/backbone.py for the speed and what it changes). The graph is made
    from the weights on first use and kept in `graph_dir` under the weights' hash, so it is never
    a stale copy of other weights."""

    def __init__(self, folder: str | Path | None, graph_dir: Path, precision: str = Precision.INT8) -> None:
        import onnxruntime

        precision = choice(Precision, precision, "precision")
        folder = Path(folder) if folder is not None else shipped("whisper-base")
        self.config = read_config(folder, WhisperConfig)
        stem = f"whisper-{read_json(folder / MANIFEST_FILE)['sha256'][:16]}"
        graph = graph_dir / f"{stem}-{precision}.onnx"
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = 1  # clips run in parallel processes, one core each
        options.inter_op_num_threads = 1
        options.enable_cpu_mem_arena = False  # inputs vary in length: an arena would keep every peak
        for attempt in range(2):
            if attempt or not graph.is_file():
                export_onnx(WhisperEncoder.load(folder), graph, precision)  # checks the weights first
            try:
                self.session = onnxruntime.InferenceSession(
                    str(graph), options, providers=["CPUExecutionProvider"]
                )
                break
            except Exception:  # a torn or foreign file where the graph should be: make it again, once
                if attempt:
                    raise

    def signal_states(self, signal: np.ndarray) -> np.ndarray:
        return windowed_states(signal, self.config, lambda mel: self.session.run(None, {"mel": mel})[0])


def export_onnx(encoder: WhisperEncoder, path: Path, precision: Precision = Precision.FLOAT32) -> None:
    """`mel` (1, n_mels, frames) -> `states` (layers + 1, 1, frames / 2, width), written atomically;
    int8: dynamic quantisation of the matrix products, per output channel (the convolutions and
    norms stay float32; per-tensor scales lose Whisper's few outlier channels)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    example = torch.zeros(1, encoder.config.n_mels, 400)
    partial = path.with_suffix(f".{os.getpid()}.tmp")
    with warnings.catch_warnings():  # the tracer's notes on shape checks, which it keeps as constants
        warnings.simplefilter("ignore")
        torch.onnx.export(encoder, (example,), str(partial), input_names=["mel"], output_names=["states"],
                          dynamic_axes={"mel": {2: "frames"}, "states": {2: "outputs"}}, opset_version=17,
                          dynamo=False)  # fmt: skip
    if precision is Precision.INT8:
        from onnxruntime.quantization import QuantType, quantize_dynamic

        quantised = path.with_suffix(f".{os.getpid()}.int8.tmp")
        root = logging.getLogger()
        level = root.level
        root.setLevel(logging.ERROR)  # its advice to pre-process (shape inference) is for CNNs
        try:
            quantize_dynamic(partial, quantised, op_types_to_quantize=["MatMul"], per_channel=True,
                             weight_type=QuantType.QInt8)  # fmt: skip
        finally:
            root.setLevel(level)
        partial.unlink()
        partial = quantised
    partial.replace(path)
