"""A backbone's weights on disk: a folder with `weights.safetensors`, `config.json` (the
dimensions) and `weights.json` (the file's size and sha256, licence, provenance), plus the
licence text. Every check a user's own folder could fail is made before any number is used:
missing, truncated, of another hash, a tensor of the wrong shape or missing, each a
`WeightsError` naming the file and what was expected. PyTorch is imported only where tensors are
read into a module or written: the runtime reads configs and manifests without it."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import asdict, fields
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from emovox.errors import EmovoxError
from emovox.tensorfile import declared_shapes, mismatched

if TYPE_CHECKING:
    import torch
    from torch import nn

WEIGHTS_FILE = "weights.safetensors"
CONFIG_FILE = "config.json"
MANIFEST_FILE = "weights.json"


class WeightsError(EmovoxError):
    """A backbone's weights folder that is missing, incomplete, corrupt or of another shape."""


Config = TypeVar("Config")
Module = TypeVar("Module", bound="nn.Module")


def shipped(name: str) -> Path:
    """The folder of a backbone shipped inside the package (`whisper-base`, `speaker`)."""
    return Path(str(resources.files("emovox.backbones") / "weights" / name))


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def write_weights(
    folder: Path, tensors: Mapping[str, torch.Tensor], config: dict[str, Any], about: dict[str, Any]
) -> Path:
    """Write a weights folder: the tensors, the config, and a manifest with the weights file's size
    and hash next to `about` (licence, source, how it was made)."""
    from safetensors.torch import save_file

    folder.mkdir(parents=True, exist_ok=True)
    path = folder / WEIGHTS_FILE
    save_file({k: v.contiguous() for k, v in tensors.items()}, str(path))
    (folder / CONFIG_FILE).write_text(json.dumps(config, indent=2) + "\n")
    write_manifest(path, about)
    return path


def write_manifest(path: Path, about: dict[str, Any]) -> None:
    """The folder's weights.json for the model file `path`: its size and hash next to `about`."""
    manifest = {"file": path.name, "bytes": path.stat().st_size, "sha256": sha256_of(path), **about}
    (path.parent / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2) + "\n")


def read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise WeightsError(
            f"{path}: missing (a backbone folder holds {CONFIG_FILE} and {MANIFEST_FILE})"
        ) from None
    except (OSError, ValueError) as exc:
        raise WeightsError(f"{path}: not readable as JSON ({exc})") from None
    if not isinstance(data, dict):
        raise WeightsError(f"{path}: expected a JSON object")
    return data


def checked_file(folder: Path) -> Path:
    """The model file a folder's manifest names, after checking it is there at its size (the
    hash is checked by the caller, after any cheaper check of its own)."""
    manifest = read_json(folder / MANIFEST_FILE)
    name = manifest.get("file")
    if not isinstance(name, str) or Path(name).name != name:
        raise WeightsError(f"{folder / MANIFEST_FILE}: 'file' must name a file of the folder, got {name!r}")
    path = folder / name
    if not path.is_file():
        raise WeightsError(f"{path}: missing (expected {manifest.get('bytes')} bytes)")
    size = path.stat().st_size
    if size != manifest.get("bytes"):
        raise WeightsError(f"{path}: {size} bytes, expected {manifest.get('bytes')} (truncated or replaced?)")
    return path


def checked_hash(path: Path) -> None:
    expected = read_json(path.parent / MANIFEST_FILE).get("sha256")
    digest = sha256_of(path)
    if digest != expected:
        raise WeightsError(f"{path}: sha256 {digest}, expected {expected}")


def load_weights(folder: str | Path, expected: Mapping[str, tuple[int, ...]]) -> dict[str, torch.Tensor]:
    """The folder's tensors as float32, after checking size, names and shapes (from the header,
    before anything is read), then the hash."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    folder = Path(folder)
    path = folder / WEIGHTS_FILE
    if checked_file(folder) != path:
        raise WeightsError(f"{folder / MANIFEST_FILE}: names another file than {WEIGHTS_FILE}")
    try:
        problem = mismatched(declared_shapes(path), expected)
    except (ValueError, OSError) as exc:
        raise WeightsError(f"{path}: not a safetensors file ({exc})") from None
    if problem:  # refused from the header: nothing is read into memory for a wrong file
        raise WeightsError(f"{path}: {problem}")
    checked_hash(path)
    try:
        tensors = load_file(str(path))
    except (SafetensorError, OSError) as exc:
        raise WeightsError(f"{path}: not a safetensors file ({exc})") from None
    return {name: tensors[name].float() for name in expected}


def read_config(folder: Path, kind: type[Config]) -> Config:
    """The folder's config.json as `kind`, a dataclass of positive integer sizes (its own
    `__post_init__` may refuse a combination with a ValueError)."""
    where = folder / CONFIG_FILE
    data = read_json(where)
    names = [f.name for f in fields(kind)]  # type: ignore[arg-type]
    try:
        config = kind(**{k: int(data[k]) for k in names})
    except (KeyError, TypeError, ValueError) as exc:
        raise WeightsError(f"{where}: needs integer {', '.join(names)} ({exc})") from None
    if min(asdict(config).values()) < 1:  # type: ignore[call-overload]
        raise WeightsError(f"{where}: sizes must be positive, got {config}")
    return config


def load_module(build: Callable[[Config], Module], kind: type[Config], folder: Path) -> Module:
    """`build(config)` with the folder's weights, in eval mode: every tensor the module has must be
    in the file with its shape."""
    module = build(read_config(folder, kind))
    expected = {name: tuple(t.shape) for name, t in module.state_dict().items()}
    module.load_state_dict(load_weights(folder, expected))
    return module.eval()
