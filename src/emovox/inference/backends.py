"""What turns one model's features into probabilities: PyTorch (or numpy for classical models)
or onnxruntime on the exported graph. Both take raw features; both give the same numbers
within 1e-4 (tested). PyTorch is imported only for a network on the torch backend, or to export
a network that has no bound `model.onnx`."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Protocol

import numpy as np

from emovox.artifact.graphs import ExportFormat, GraphKind, bound_onnx, graph_kind
from emovox.artifact.store import ArtifactError, ModelArtifact, needs_torch
from emovox.errors import ConfigError, FeatureError
from emovox.features import FeatureExtractor

State = tuple[np.ndarray, np.ndarray]  # the streaming LSTM's (h, c), each (layers, 1, hidden)


class BackendName(StrEnum):
    TORCH = "torch"
    ONNX = "onnx"


class Backend(Protocol):
    def clip(self, features: np.ndarray) -> np.ndarray:
        """(classes,) probabilities for one clip's raw features."""
        ...


class StepBackend(Backend, Protocol):
    def initial_state(self) -> State: ...

    def frames(self, frames: np.ndarray, state: State) -> tuple[np.ndarray, State]:
        """(T, classes) probabilities after each of T raw MFCC frames, and the state after them."""
        ...


class TorchBackend:
    def __init__(self, artifact: ModelArtifact) -> None:
        self.artifact = artifact
        if artifact.is_network:
            artifact.model.eval()

    def clip(self, features: np.ndarray) -> np.ndarray:
        return self.artifact.predict_proba_features(features)

    def initial_state(self) -> State:
        config = self.artifact.model.config
        zeros = np.zeros((config.num_layers, 1, config.hidden_size), dtype=np.float32)
        return zeros, zeros.copy()

    def frames(self, frames: np.ndarray, state: State) -> tuple[np.ndarray, State]:
        import torch

        scaled = torch.from_numpy(self.artifact.scaler(frames))[None]
        hidden = (torch.from_numpy(state[0]), torch.from_numpy(state[1]))
        with torch.no_grad():
            logits, (h, c) = self.artifact.model.frame_logits(scaled, hidden)
        return torch.softmax(logits[0], dim=-1).numpy(), (h.numpy(), c.numpy())


class OnnxBackend:
    """Runs `model.onnx` from the model directory, or exports it in memory when it is not there."""

    def __init__(self, artifact: ModelArtifact, directory: str | Path | None = None) -> None:
        import onnxruntime

        self.kind = graph_kind(artifact)
        self.extractor = artifact.extractor
        bound = bound_onnx(directory) if directory else None
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = 1  # one stream or clip per call: threads cost more than they give
        options.inter_op_num_threads = 1
        where = f"{Path(directory) / ExportFormat.ONNX.filename}" if bound else "the exported graph"
        if bound is None:
            try:
                from emovox.artifact.export import onnx_bytes
            except ImportError:
                raise needs_torch(
                    str(directory or artifact.model_name), "a network without a bound model.onnx (export it)"
                ) from None
            bound = onnx_bytes(artifact)
        try:
            self.session = onnxruntime.InferenceSession(bound, options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own untyped errors for a broken graph
            raise ArtifactError(f"{where}: not a loadable ONNX graph ({str(exc)[:200]})") from None
        self._check_signature(artifact, where)
        if self.kind is GraphKind.STEP:
            self._state_shape = tuple(self.session.get_inputs()[1].shape)

    def _check_signature(self, artifact: ModelArtifact, where: str) -> None:
        """The graph's input width and output classes are the model's (a graph of another model
        with the right hash still cannot slip through)."""
        expected_input = "features" if self.kind is GraphKind.VECTOR else "frames"
        inputs, outputs = self.session.get_inputs(), self.session.get_outputs()
        width, classes = inputs[0].shape[-1], outputs[0].shape[-1]
        dim, labels = artifact.extractor.dim, len(artifact.labels)
        if inputs[0].name != expected_input or width != dim or classes != labels:
            raise ArtifactError(
                f"{where}: takes {inputs[0].name} of width {width} and gives {classes} classes; the model "
                f"takes {expected_input} of width {dim} and has {labels} labels"
            )

    def clip(self, features: np.ndarray) -> np.ndarray:
        x = self.extractor.check(features).astype(np.float32)
        if self.kind is GraphKind.VECTOR:
            return self.session.run(None, {"features": x[None]})[0][0]
        if self.kind is GraphKind.SEQUENCE:
            return self.session.run(None, {"frames": x[None]})[0][0]
        probabilities, _ = self.frames(x, self.initial_state())
        if len(probabilities) == 0:
            raise FeatureError("no non-silent frames to classify")
        return probabilities[-1]

    def initial_state(self) -> State:
        zeros = np.zeros(self._state_shape, dtype=np.float32)
        return zeros, zeros.copy()

    def frames(self, frames: np.ndarray, state: State) -> tuple[np.ndarray, State]:
        if len(frames) == 0:
            return np.empty((0, self.session.get_outputs()[0].shape[-1]), dtype=np.float32), state
        probabilities, h, c = self.session.run(
            None, {"frames": frames[None].astype(np.float32), "h0": state[0], "c0": state[1]}
        )
        return probabilities[0], (h, c)


@dataclass
class Member:
    """One model as the predictor uses it: its features, its backend, whether it steps frame by frame."""

    artifact: ModelArtifact
    backend: Backend

    @property
    def extractor(self) -> FeatureExtractor:
        return self.artifact.extractor

    @property
    def steps(self) -> bool:
        """True for the streaming LSTM: state carried frame by frame."""
        return self.artifact.is_network and graph_kind(self.artifact) is GraphKind.STEP


def make_member(artifact: ModelArtifact, backend: BackendName | str, directory: str | Path | None) -> Member:
    try:
        name = BackendName(backend)
    except ValueError:
        raise ConfigError(f"unknown backend {backend!r}; choose from {', '.join(BackendName)}") from None
    if name is BackendName.ONNX and artifact.is_network:
        try:
            return Member(artifact, OnnxBackend(artifact, directory))
        except ImportError as exc:
            raise ArtifactError("the onnx backend needs onnxruntime: pip install onnxruntime") from exc
    return Member(artifact, TorchBackend(artifact))  # classical models are numpy arrays already
