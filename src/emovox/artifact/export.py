"""Export a trained network to ONNX (for onnxruntime and other runtimes) or TorchScript.

Each graph takes raw features (the scaler is inside it) and returns probabilities:

- utterance-vector models: `features` (batch, dim) -> `probabilities` (batch, classes);
- sequence models (crnn, attentive_head): `frames` (1, T, dim) -> `probabilities` (1, classes);
- the streaming LSTM, as a step graph with its state as inputs and outputs: `frames` (1, T, 13),
  `h0`, `c0` (layers, 1, hidden) -> `probabilities` (1, T, classes) after every frame, `hn`, `cn`.
  T = 1 is one 10 ms step; a chunk's frames may go in at once with the same result.

Files go beside the model's own (`model.onnx`, `model.torchscript.pt`), or where asked; a
`model.onnx` inside a model directory is bound to it (see `emovox.artifact.graphs`).
Classical models (svm, logreg) are numpy arrays already and need no export.
"""

from __future__ import annotations

import io
import warnings
from pathlib import Path

import torch
from torch import nn

from emovox.artifact.graphs import ExportFormat, GraphKind, graph_kind
from emovox.artifact.store import ArtifactError, ModelArtifact


class _Standardised(nn.Module):
    """The artifact's scaler as graph constants, in front of the network."""

    def __init__(self, artifact: ModelArtifact) -> None:
        super().__init__()
        if not isinstance(artifact.model, nn.Module):
            raise ArtifactError(f"{artifact.model_name} is a classical model: it needs no export")
        self.model = artifact.model
        self.register_buffer("mean", torch.from_numpy(artifact.scaler.mean.copy()))
        self.register_buffer("std", torch.from_numpy(artifact.scaler.std.copy()))
        self.eval()  # exporters restore this mode afterwards: train mode would leak into the artifact

    def scale(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std


class VectorGraph(_Standardised):
    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.model(self.scale(features)), dim=-1)


class SequenceGraph(_Standardised):
    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.model.whole_clip(self.scale(frames)), dim=-1)


class StepGraph(_Standardised):
    def forward(
        self, frames: torch.Tensor, h0: torch.Tensor, c0: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        logits, (h, c) = self.model.frame_logits(self.scale(frames), (h0, c0))
        return torch.softmax(logits, dim=-1), h, c


def export_graph(artifact: ModelArtifact) -> tuple[nn.Module, tuple[torch.Tensor, ...], dict]:
    """The wrapper module, example inputs and ONNX names/dynamic axes for one artifact."""
    kind = graph_kind(artifact)
    dim = artifact.extractor.dim
    if kind is GraphKind.STEP:
        config = artifact.model.config
        state = torch.zeros(config.num_layers, 1, config.hidden_size)
        return StepGraph(artifact), (torch.zeros(1, 5, dim), state, state.clone()), {
            "input_names": ["frames", "h0", "c0"],
            "output_names": ["probabilities", "hn", "cn"],
            "dynamic_axes": {"frames": {1: "frames"}, "probabilities": {1: "frames"}},
        }  # fmt: skip
    if kind is GraphKind.SEQUENCE:
        frames = max(artifact.model.min_frames, 64)
        return SequenceGraph(artifact), (torch.zeros(1, frames, dim),), {
            "input_names": ["frames"], "output_names": ["probabilities"],
            "dynamic_axes": {"frames": {1: "frames"}},
        }  # fmt: skip
    return VectorGraph(artifact), (torch.zeros(2, dim),), {
        "input_names": ["features"], "output_names": ["probabilities"],
        "dynamic_axes": {"features": {0: "batch"}, "probabilities": {0: "batch"}},
    }  # fmt: skip


def onnx_bytes(artifact: ModelArtifact) -> bytes:
    """The artifact's network as an ONNX model (opset 17), in memory."""
    module, inputs, names = export_graph(artifact)
    buffer = io.BytesIO()
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # the exporter's notes on LSTM batch sizes and deprecations
        torch.onnx.export(module, inputs, buffer, opset_version=17, dynamo=False, **names)
    return buffer.getvalue()


def export_model(artifact: ModelArtifact, fmt: ExportFormat | str, out: str | Path) -> Path:
    """Write one model's graph in `fmt` to `out` (a file path)."""
    fmt = ExportFormat(fmt)
    target = Path(out)
    target.parent.mkdir(parents=True, exist_ok=True)
    if fmt is ExportFormat.ONNX:
        target.write_bytes(onnx_bytes(artifact))
        return target
    module, inputs, _ = export_graph(artifact)
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # TorchScript is deprecated upstream but still what users load
        traced = torch.jit.trace(module, inputs, check_trace=False)
    traced.save(str(target))
    return target
