"""The recipe for the encoders' ONNX graphs (PyTorch and the ONNX exporter: made once, by
scripts/convert_backbones.py for the shipped folders or on first use for others):

- Whisper's `frontend`: `samples` (1, n) -> `mel` (1, n_mels, n // 160), see `LogMel`;
- Whisper's encoder, `float32` or `int8`: `mel` (1, n_mels, frames) -> `states`
  (layers + 1, 1, frames / 2, width); int8 quantises the matrix products with the weights
  per output channel in 7 bits (`reduce_range`): the AVX2 kernels sum u8 x s8 pairs in 16 bits,
  which saturate with 8-bit weights and gave other numbers than the AVX-512 VNNI kernels; with
  7 bits every x86-64 kernel sums exactly (the convolutions and norms stay float32);
- the speaker encoder, `float32`: `mels` (1, frames, bands) -> `states` (layers, 1, frames, hidden);
  and `stream`, the same carried on from a previous stretch's LSTM states: `mels`, `h`, `c`
  (layers, 1, hidden) -> `states`, `h_out`, `c_out` (see `SpeakerCarriedStates`);
- CAM++'s speaker-verification graph (`voiceprint`, float32), made from its checkpoint rather
  than from shipped weights: `fbank` (windows, frames, 80) -> `embedding` (windows, 192).

Re-running the recipe on the same weights writes the same bytes (tested)."""

from __future__ import annotations

import json
import logging
import warnings
from pathlib import Path
from typing import Any

import torch
from torch import nn

from emovox.backbones.config import N_FFT, Precision
from emovox.backbones.graphs import GRAPHS, STREAM, graph_entry, graph_file
from emovox.backbones.speaker import SpeakerCarriedStates, SpeakerEncoder, SpeakerStates
from emovox.backbones.weights import MANIFEST_FILE, WeightsError, read_json
from emovox.backbones.whisper import LogMel, WhisperEncoder
from emovox.filelock import unique_temporary

OPSET = 17


def _export(
    module: nn.Module,
    example: torch.Tensor | tuple[torch.Tensor, ...],
    path: Path,
    names: tuple[str | tuple[str, ...], str | tuple[str, ...]],
    axes: dict[str, Any],
) -> None:
    """`module` traced on `example` (one input or several) into `path`; `names`: (inputs, outputs)."""
    inputs, outputs = ((n,) if isinstance(n, str) else n for n in names)
    with warnings.catch_warnings(), torch.no_grad():  # the tracer's notes on shapes it keeps as constants
        warnings.simplefilter("ignore")
        torch.onnx.export(
            module.eval(),
            example if isinstance(example, tuple) else (example,),
            str(path),
            input_names=list(inputs),
            output_names=list(outputs),
            dynamic_axes=axes,
            opset_version=OPSET,
            dynamo=False,
        )


def quantise(source: Path, path: Path, weight_bits: int = 7) -> None:
    """The float32 graph `source` with its matrix products in int8, into `path`: weights per
    output channel in `weight_bits` (7: the recipe; 8 saturates on AVX2, see the module)."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    if weight_bits not in (7, 8):
        raise ValueError(f"weights are quantised in 7 or 8 bits, not {weight_bits}")
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)  # its advice to pre-process (shape inference) is for CNNs
    try:
        quantize_dynamic(source, path, op_types_to_quantize=["MatMul"], per_channel=True,
                         reduce_range=weight_bits == 7, weight_type=QuantType.QInt8)  # fmt: skip
    finally:
        root.setLevel(level)


def build(backbone: str, name: str, folder: Path, path: Path) -> None:
    """Write graph `name` ("frontend" or a precision) of `backbone` for the weights in `folder`."""
    if backbone == "whisper" and name == "frontend":
        encoder = WhisperEncoder.load(folder)  # checks the folder's weights and config first
        _export(LogMel(encoder.config.n_mels), torch.zeros(1, 4 * N_FFT), path, ("samples", "mel"),
                {"samples": {1: "samples"}, "mel": {2: "frames"}})  # fmt: skip
    elif backbone == "whisper" and name in tuple(Precision):
        encoder = WhisperEncoder.load(folder)
        axes = {"mel": {2: "frames"}, "states": {2: "outputs"}}
        example = torch.zeros(1, encoder.config.n_mels, 400)
        if name == Precision.FLOAT32:
            _export(encoder, example, path, ("mel", "states"), axes)
        else:
            float32 = unique_temporary(path)
            try:
                _export(encoder, example, float32, ("mel", "states"), axes)
                quantise(float32, path)
            finally:
                float32.unlink(missing_ok=True)
    elif backbone == "speaker" and name == Precision.FLOAT32:
        encoder = SpeakerEncoder.load(folder)
        _export(SpeakerStates(encoder), torch.zeros(1, 100, encoder.config.mel_bands), path,
                ("mels", "states"), {"mels": {1: "frames"}, "states": {2: "frames"}})  # fmt: skip
    elif backbone == "speaker" and name == STREAM:
        encoder = SpeakerEncoder.load(folder)
        state = torch.zeros(encoder.config.layers, 1, encoder.config.hidden)
        _export(SpeakerCarriedStates(encoder), (torch.zeros(1, 100, encoder.config.mel_bands), state, state),
                path, (("mels", "h", "c"), ("states", "h_out", "c_out")),
                {"mels": {1: "frames"}, "states": {2: "frames"}})  # fmt: skip
    else:
        raise WeightsError(f"no {name} graph for the {backbone} encoder")


VOICEPRINT_GRAPH = "campplus.onnx"


def voiceprint_from_campplus(checkpoint: Path, folder: Path) -> Path:
    """CAM++'s checkpoint (a state dict, read with `weights_only`: tensors only) exported to
    `folder`/campplus.onnx; the path."""
    from emovox.backbones.campplus import CamPlusPlus

    model = CamPlusPlus()
    model.load_state_dict(torch.load(checkpoint, map_location="cpu", weights_only=True))
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / VOICEPRINT_GRAPH
    _export(model, torch.zeros(2, 150, 80), path, ("fbank", "embedding"),
            {"fbank": {0: "windows", 1: "frames"}, "embedding": {0: "windows"}})  # fmt: skip
    return path


def ship_graphs(backbone: str, folder: Path, names: tuple[str, ...]) -> None:
    """Make `names` inside `folder` and list them in its manifest (what emovox ships)."""
    manifest_path = folder / MANIFEST_FILE
    manifest = read_json(manifest_path)
    graphs = {}
    for name in names:
        path = folder / graph_file(name)
        build(backbone, name, folder, path)
        graphs[name] = graph_entry(path, manifest["sha256"])
    manifest_path.write_text(json.dumps(manifest | {GRAPHS: graphs}, indent=2) + "\n")
