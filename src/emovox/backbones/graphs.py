"""The ONNX graphs of the encoders, by name, and the entries that describe them in a weights
folder's weights.json (size, sha256, the recipe that made them and the weights they were made
from): what `emovox.backbones.export` writes and `emovox.backbones.graph_cache` checks."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from emovox.backbones.weights import sha256_of

RECIPE = 2  # bump when emovox.backbones.export makes other graphs: older ones are then not used
GRAPHS = "graphs"  # the manifest's field listing shipped graphs by name
STREAM = "stream"  # the speaker encoder's graph that carries its LSTM states from call to call


def graph_file(name: str) -> str:
    """`frontend` -> frontend.onnx; a precision (or `stream`) -> encoder-<name>.onnx."""
    return f"{name}.onnx" if name == "frontend" else f"encoder-{name}.onnx"


def graph_entry(path: Path, weights_sha256: str) -> dict[str, Any]:
    """What a manifest records of a graph file: enough to refuse a torn, replaced or stale one."""
    return {"file": path.name, "bytes": path.stat().st_size, "sha256": sha256_of(path), "recipe": RECIPE,
            "weights_sha256": weights_sha256}  # fmt: skip


def current(entry: object, weights_sha256: str) -> bool:
    """True when `entry` describes a graph of this recipe made from these weights."""
    return (
        isinstance(entry, dict)
        and entry.get("recipe") == RECIPE
        and entry.get("weights_sha256") == weights_sha256
        and isinstance(entry.get("file"), str)
        and Path(entry["file"]).name == entry["file"]  # a file of the folder, never a path out of it
    )


def mismatch(path: Path, entry: Mapping[str, Any]) -> str | None:
    """Why `path` is not the graph `entry` describes, or None when it is."""
    if not path.is_file():
        return "missing"
    size = path.stat().st_size
    if size != entry.get("bytes"):
        return f"{size} bytes, expected {entry.get('bytes')}"
    digest = sha256_of(path)
    return None if digest == entry.get("sha256") else f"sha256 {digest}, expected {entry.get('sha256')}"
