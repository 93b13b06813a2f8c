"""What an exported network is, without PyTorch: its file format, the kind of graph it is, and
the binding of a `model.onnx` to the model directory it was exported from (`model.onnx.json`
records the graph's sha256 and that of the weights and config; `bound_onnx` refuses a graph whose
hashes do not match: another model's file, or one exported before re-training). The export
itself is `emovox.artifact.export`."""

from __future__ import annotations

import hashlib
import json
from enum import StrEnum
from pathlib import Path

from emovox.artifact.store import ArtifactError, ModelArtifact


class ExportFormat(StrEnum):
    ONNX = "onnx"
    TORCHSCRIPT = "torchscript"

    @property
    def filename(self) -> str:
        return "model.onnx" if self is ExportFormat.ONNX else "model.torchscript.pt"


class GraphKind(StrEnum):
    VECTOR = "vector"
    SEQUENCE = "sequence"
    STEP = "step"


def graph_kind(artifact: ModelArtifact) -> GraphKind:
    if getattr(artifact.model, "steps_frames", False):  # the streaming LSTM: state carried frame by frame
        return GraphKind.STEP
    if getattr(artifact.model, "takes_sequences", False):  # the CRNN, the attentive head: whole clips
        return GraphKind.SEQUENCE
    return GraphKind.VECTOR


BINDING = "model.onnx.json"
SOURCES = ("weights.safetensors", "config.json")  # what an exported graph is computed from


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _source_hashes(directory: Path) -> dict[str, str]:
    return {
        name: _sha256((directory / name).read_bytes()) for name in SOURCES if (directory / name).is_file()
    }


def bind_onnx(directory: str | Path, graph: Path) -> Path:
    """Record that `graph` (a model.onnx written into `directory`) was exported from its weights."""
    directory = Path(directory)
    binding = {"onnx_sha256": _sha256(graph.read_bytes()), "sources": _source_hashes(directory)}
    path = directory / BINDING
    path.write_text(json.dumps(binding, indent=1) + "\n")
    return path


def bound_onnx(directory: str | Path) -> bytes | None:
    """The directory's `model.onnx` if it is there and bound to this directory's weights; None
    when there is none; `ArtifactError` naming the file when it is not the model's own."""
    directory = Path(directory)
    graph_path = directory / ExportFormat.ONNX.filename
    if not graph_path.is_file():
        return None
    again = f"re-export it with `emovox export {directory}` or delete it"
    try:
        binding = json.loads((directory / BINDING).read_text(encoding="utf-8"))
        recorded, sources = binding["onnx_sha256"], binding["sources"]
    except (OSError, ValueError, KeyError, TypeError):
        raise ArtifactError(
            f"{graph_path}: no valid {BINDING} binds it to this model's weights; {again}"
        ) from None
    graph = graph_path.read_bytes()
    if _sha256(graph) != recorded:
        raise ArtifactError(f"{graph_path}: its sha256 is not the one recorded in {BINDING}; {again}")
    if sources != _source_hashes(directory):
        raise ArtifactError(
            f"{graph_path}: exported from other weights or settings than this directory's; {again}"
        )
    return graph


def logistic_onnx(artifact: ModelArtifact) -> bytes:
    """A logistic-regression model as an ONNX graph without PyTorch, like a network's vector
    graph: `features` (batch, dim) -> `probabilities` (batch, classes), the scaler inside (the
    model's temperature, in metadata.json, is applied after it, as emovox does)."""
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    model, scaler = artifact.model, artifact.scaler
    constants = {"mean": scaler.mean, "std": scaler.std, "coef": model.coef.T, "intercept": model.intercept}
    initializers = [numpy_helper.from_array(np.asarray(v, np.float32), name) for name, v in constants.items()]
    nodes = [
        helper.make_node("Sub", ["features", "mean"], ["centred"]),
        helper.make_node("Div", ["centred", "std"], ["scaled"]),
        helper.make_node("MatMul", ["scaled", "coef"], ["product"]),
        helper.make_node("Add", ["product", "intercept"], ["logits"]),
        helper.make_node("Softmax", ["logits"], ["probabilities"], axis=-1),
    ]
    dim, classes = artifact.extractor.dim, len(artifact.labels)
    graph = helper.make_graph(
        nodes,
        f"emovox-{artifact.model_name}",
        [helper.make_tensor_value_info("features", TensorProto.FLOAT, ["batch", dim])],
        [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["batch", classes])],
        initializers,
    )
    onnx_model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx.checker.check_model(onnx_model)
    return onnx_model.SerializeToString()
