"""The ONNX graphs the encoders run on, found without PyTorch: shipped inside a weights folder
(checked against their weights.json entries before use), or made once per machine from a folder
that ships none (a user's own checkpoint, or a precision emovox does not ship) into the cache,
under a file lock so that threads and processes starting together wait for one build, then load
it."""

from __future__ import annotations

import json
import os
from pathlib import Path

from emovox.backbones.graphs import GRAPHS, RECIPE, current, graph_entry, graph_file, mismatch
from emovox.backbones.weights import MANIFEST_FILE, WeightsError, read_json
from emovox.filelock import exclusive, unique_temporary


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
