"""Converting pretrained encoders into emovox weights folders, reading the published files
directly (no framework of theirs imported, no code of theirs executed):

- Whisper from a CTranslate2 `model.bin` (the format faster-whisper uses): a header, then named
  tensors; only the encoder's are kept, at the file's own precision (float16: lossless).
- Resemblyzer's speaker encoder from its `pretrained.pt`, a torch checkpoint read once here with
  `weights_only=True` (tensors only; any other object in the pickle is refused), never at run
  time; the optimiser's state and the GE2E similarity scale are left out.
"""

from __future__ import annotations

import re
import struct
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import torch

from emovox.backbones.weights import WeightsError

CT2_DTYPES = {0: np.float32, 2: np.int16, 3: np.int32, 4: np.float16}  # 1 int8, 5 bfloat16: refused

WHISPER_NAMES = [
    (r"encoder/conv(\d)/(weight|bias)", r"conv\1.\2"),
    (r"encoder/position_encodings/encodings", "positions"),
    (r"encoder/layer_(\d+)/self_attention/layer_norm/gamma", r"blocks.\1.attn_norm.weight"),
    (r"encoder/layer_(\d+)/self_attention/layer_norm/beta", r"blocks.\1.attn_norm.bias"),
    (r"encoder/layer_(\d+)/self_attention/linear_0/(weight|bias)", r"blocks.\1.attn.qkv.\2"),
    (r"encoder/layer_(\d+)/self_attention/linear_1/(weight|bias)", r"blocks.\1.attn.out.\2"),
    (r"encoder/layer_(\d+)/ffn/layer_norm/gamma", r"blocks.\1.mlp_norm.weight"),
    (r"encoder/layer_(\d+)/ffn/layer_norm/beta", r"blocks.\1.mlp_norm.bias"),
    (r"encoder/layer_(\d+)/ffn/linear_0/(weight|bias)", r"blocks.\1.mlp.0.\2"),
    (r"encoder/layer_(\d+)/ffn/linear_1/(weight|bias)", r"blocks.\1.mlp.2.\2"),
    (r"encoder/layer_norm/gamma", "norm.weight"),
    (r"encoder/layer_norm/beta", "norm.bias"),
]


def read_ct2(path: Path, keep: str = "encoder/") -> dict[str, np.ndarray]:
    """The variables of a CTranslate2 model file whose names start with `keep`."""

    def number(f: BinaryIO, fmt: str) -> int:
        raw = f.read(struct.calcsize(fmt))
        if len(raw) != struct.calcsize(fmt):
            raise WeightsError(f"{path}: ends early (truncated?)")
        return struct.unpack("<" + fmt, raw)[0]

    def text(f: BinaryIO) -> str:
        return f.read(number(f, "H"))[:-1].decode("utf-8")

    variables: dict[str, np.ndarray] = {}
    with path.open("rb") as f:
        version = number(f, "I")
        if version < 5:
            raise WeightsError(f"{path}: CTranslate2 binary version {version}, expected 5 or later")
        spec, _revision, count = text(f), number(f, "I"), number(f, "I")
        if spec != "WhisperSpec":
            raise WeightsError(f"{path}: a {spec!r} model, expected a WhisperSpec")
        for _ in range(count):
            name = text(f)
            shape = [number(f, "I") for _ in range(number(f, "B"))]
            dtype, size = number(f, "B"), number(f, "I")
            data = f.read(size)
            if len(data) != size:
                raise WeightsError(f"{path}: ends inside {name} (truncated?)")
            if not name.startswith(keep):
                continue
            if dtype not in CT2_DTYPES:
                raise WeightsError(
                    f"{path}: {name} is quantised (type {dtype}); convert a float16 or float32 model"
                )
            variables[name] = np.frombuffer(data, CT2_DTYPES[dtype]).reshape(shape)
    return variables


def whisper_from_ct2(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """The encoder's tensors under emovox's names, and its config (dimensions read off the tensors)."""
    variables = read_ct2(path)
    tensors: dict[str, torch.Tensor] = {}
    for name, value in variables.items():
        for pattern, target in WHISPER_NAMES:
            if re.fullmatch(pattern, name):
                tensors[re.sub(pattern, target, name)] = torch.from_numpy(value.copy())
                break
    try:
        conv1, positions = tensors["conv1.weight"], tensors["positions"]
        heads = int(variables["encoder/num_heads"])
    except KeyError as exc:
        raise WeightsError(f"{path}: no encoder variable {exc} (not a Whisper model?)") from None
    layers = len({n.split(".")[1] for n in tensors if n.startswith("blocks.")})
    config = {"n_mels": conv1.shape[1], "width": conv1.shape[0], "heads": heads, "layers": layers,
              "positions": positions.shape[0]}  # fmt: skip
    return tensors, config


def speaker_from_resemblyzer(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """The speaker encoder's tensors under emovox's names (one LSTM module per layer), and its config."""
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
        state = checkpoint["model_state"]
    except Exception as exc:  # torch raises many kinds for a file that is not a safe checkpoint
        raise WeightsError(
            f"{path}: not a tensors-only torch checkpoint with a model_state ({exc})"
        ) from None
    tensors: dict[str, torch.Tensor] = {}
    for name, value in state.items():
        if match := re.fullmatch(r"lstm\.(weight|bias)_(ih|hh)_l(\d+)", name):
            kind, gate, layer = match.groups()
            tensors[f"lstms.{layer}.{kind}_{gate}_l0"] = value
        elif name.startswith("linear."):
            tensors[name.replace("linear.", "projection.")] = value
    if "lstms.0.weight_ih_l0" not in tensors or "projection.weight" not in tensors:
        raise WeightsError(f"{path}: no lstm/linear tensors (not Resemblyzer's encoder?)")
    config = {
        "mel_bands": tensors["lstms.0.weight_ih_l0"].shape[1],
        "hidden": tensors["lstms.0.weight_hh_l0"].shape[1],
        "layers": len({n.split(".")[1] for n in tensors if n.startswith("lstms.")}),
        "embedding": tensors["projection.weight"].shape[0],
    }
    return tensors, config
