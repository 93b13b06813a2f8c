"""The ONNX graphs the encoders run on, found without PyTorch: shipped inside a weights folder
(listed in its weights.json with size, sha256, the recipe that made them and the weights they
were made from, checked before use), or made once per machine from a folder that ships none
(a user's own checkpoint, or a precision emovox does not ship) into the cache, under a file lock
so that threads and processes starting together wait for one build, then load it."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from emovox.backbones.weights import MANIFEST_FILE, WeightsError, read_json, sha256_of
from emovox.filelock import exclusive, unique_temporary

RECIPE = 2  # bump when emovox.backbones.export makes other graphs: older ones are then not used
GRAPHS = "graphs"  # the manifest's field listing shipped graphs by name
STREAM = "stream"  # the speaker encoder's graph that carries its LSTM states from call to call
EMBED = "embed"  # the speaker encoder's graph of d-vectors, many windows per call


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


def graph_path(backbone: str, folder: Path, name: str, cache: Path) -> Path:
    """The checked graph `name` of `backbone` ("whisper" or "speaker") for the weights in `folder`."""
    manifest = read_json(folder / MANIFEST_FILE)
    weights = str(manifest.get("sha256"))
    graphs = manifest.get(GRAPHS)
    entry = graphs.get(name) if isinstance(graphs, dict) else None
    if current(entry, weights):
        path = folder / entry["file"]
        problem = mismatch(path, entry)
        if problem:
            raise WeightsError(f"{path}: {problem} (reinstall emovox, or re-make the folder's graphs)")
        return path
    target = cache / f"{backbone}-{weights[:16]}-{Path(graph_file(name)).stem}-r{RECIPE}.onnx"
    return built(backbone, folder, name, target, weights)


def _cached(target: Path, weights: str) -> bool:
    try:
        entry = json.loads(target.with_suffix(".json").read_text())
    except (OSError, ValueError):
        return False
    return current(entry, weights) and entry["file"] == target.name and mismatch(target, entry) is None


def built(backbone: str, folder: Path, name: str, target: Path, weights: str) -> Path:
    """`target`, made from the weights unless a checked copy is there already (made by another
    thread or process while this one waited for the lock, or by an earlier run)."""
    if _cached(target, weights):
        return target
    with exclusive(target.with_suffix(".lock")):
        if _cached(target, weights):
            return target
        try:
            from emovox.backbones.export import build
        except ImportError:
            raise WeightsError(
                f"{folder}: no {graph_file(name)} ships with these weights, and making one needs "
                "PyTorch: pip install 'emovox[torch]'"
            ) from None
        partial = unique_temporary(target)
        try:
            build(backbone, name, folder, partial)
            entry = graph_entry(partial, weights) | {"file": target.name}
            os.replace(partial, target)
        finally:
            partial.unlink(missing_ok=True)
        sidecar = unique_temporary(target)
        sidecar.write_text(json.dumps(entry, indent=1) + "\n")
        os.replace(sidecar, target.with_suffix(".json"))
    return target
