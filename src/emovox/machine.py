"""One line describing the machine a benchmark ran on, for every results table."""

from __future__ import annotations

import os
import platform

import numpy as np

# /proc/cpuinfo flags that change which kernels onnxruntime, numpy and BLAS run
INSTRUCTION_SETS = {"sse4_2": "SSE4.2", "avx2": "AVX2", "fma": "FMA", "avx512f": "AVX-512",
                    "avx512_vnni": "AVX-512 VNNI", "avx_vnni": "AVX-VNNI", "amx_int8": "AMX"}  # fmt: skip


def instruction_sets() -> list[str]:
    """The kernel-relevant instruction sets this CPU offers, e.g. ["SSE4.2", "AVX2", "FMA"]."""
    try:
        with open("/proc/cpuinfo") as f:
            flags = set(next(line.split(":", 1)[1].split() for line in f if line.startswith("flags")))
    except (OSError, StopIteration):
        return []
    return [name for flag, name in INSTRUCTION_SETS.items() if flag in flags]


def describe_machine() -> str:
    cpu = platform.processor() or "unknown CPU"
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    try:
        with open("/proc/meminfo") as f:
            kib = int(next(line.split()[1] for line in f if line.startswith("MemTotal")))
        memory = f"{kib / 2**20:.0f} GiB RAM"
    except (OSError, StopIteration):
        memory = "unknown RAM"
    sets = instruction_sets()
    cpu += f" ({', '.join(sets[1:])})" if len(sets) > 1 else ""
    return (
        f"{cpu}, {os.cpu_count()} cores, {memory}, {platform.system()} {platform.machine()}, "
        f"Python {platform.python_version()}, numpy {np.__version__}"
    )
