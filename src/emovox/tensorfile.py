"""What a safetensors file declares, read from its header alone (8 bytes of length, then JSON), so
a file that asks for a huge tensor is refused before anything is allocated or mapped."""

from __future__ import annotations

import json
import math
import struct
from collections.abc import Mapping
from pathlib import Path

MAX_HEADER_BYTES = 16 * 1024 * 1024
MAX_TENSOR_BYTES = 512 * 1024 * 1024  # far above any tensor emovox ships or trains (41 MB)
DTYPE_BYTES = {
    "F64": 8,
    "F32": 4,
    "F16": 2,
    "BF16": 2,
    "I64": 8,
    "I32": 4,
    "I16": 2,
    "I8": 1,
    "U8": 1,
    "BOOL": 1,
}


def declared_shapes(path: Path) -> dict[str, tuple[int, ...]]:
    """Each tensor's shape as the header declares it; `ValueError` saying what is wrong when the
    header is malformed, a tensor's bytes do not match its shape and type, lie outside the file,
    or any tensor is over `MAX_TENSOR_BYTES`."""
    size = path.stat().st_size
    with path.open("rb") as f:
        prefix = f.read(8)
        if len(prefix) < 8:
            raise ValueError("shorter than a safetensors header")
        (length,) = struct.unpack("<Q", prefix)
        if length > min(MAX_HEADER_BYTES, size - 8):
            raise ValueError(f"declares a {length}-byte header")
        try:
            header = json.loads(f.read(length))
        except (UnicodeDecodeError, ValueError):
            raise ValueError("its header is not JSON") from None
    if not isinstance(header, dict):
        raise ValueError("its header is not a JSON object")
    shapes = {}
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        try:
            dtype, shape, (begin, end) = entry["dtype"], tuple(entry["shape"]), entry["data_offsets"]
            item = DTYPE_BYTES[dtype]
            count = math.prod(shape)
        except (KeyError, TypeError, ValueError):
            raise ValueError(f"tensor {name!r} is not described as safetensors describes one") from None
        if not all(isinstance(n, int) and n >= 0 for n in (*shape, begin, end)):
            raise ValueError(f"tensor {name!r} has a negative or non-integer size")
        if count * item > MAX_TENSOR_BYTES:
            raise ValueError(f"tensor {name!r} of shape {shape} is {count * item} bytes, over the limit")
        if end - begin != count * item or end > size - 8 - length:
            raise ValueError(f"tensor {name!r}: its bytes do not match shape {shape} or lie outside the file")
        shapes[name] = shape
    return shapes


def mismatched(
    declared: Mapping[str, tuple[int, ...]], expected: Mapping[str, tuple[int, ...]]
) -> str | None:
    """Why `declared` shapes are not `expected` (names and shapes), or None when they are."""
    missing = sorted(set(expected) - set(declared))
    if missing:
        return f"missing tensors {', '.join(missing[:5])}{' ...' if len(missing) > 5 else ''}"
    for name, shape in expected.items():
        if tuple(declared[name]) != tuple(shape):
            return f"{name} has shape {tuple(declared[name])}, expected {tuple(shape)}"
    return None
