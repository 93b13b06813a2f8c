"""Whether a clip gets the same answer on every x86-64 CPU: the encoders' features and `emovox
predict`'s printed output for the example clips on this CPU, and on other CPUs emulated by QEMU
(`qemu-x86_64 -cpu MODEL` offers only that model's instruction sets, so onnxruntime, numpy and
OpenBLAS pick the kernels they would pick there), compared bit for bit. Alongside the graphs
emovox ships, the alternatives they were chosen over, each with its speed on this CPU (one
thread, a 4 s clip) and its agreement with the float32 encoder:

- `shipped`: Whisper's int8 encoder with 7-bit weights and the softmax spelled out (recipe 2);
- `8-bit weights`: the same graph quantised with 8-bit weights (the AVX2 kernels' u8 x s8 pair
  sums saturate in 16 bits; AVX-512 VNNI sums them exactly);
- `Softmax op`: 7-bit weights, attention through onnxruntime's Softmax kernel (which sums in
  another order with AVX-512 than with AVX2);
- `float32`: no quantisation (the reference for agreement; exact in these kernels too).

    apt-get install qemu-user        # Debian's user-mode emulator, for the other CPUs
    python benchmarks/cpu_agreement.py [--cpus EPYC-Rome Nehalem] \
        [--out results/benchmarks/cpu_agreement.md]

QEMU's TCG emulates up to AVX2 (no AVX-512): the native run is this machine's own CPU. Emulation
is slow (minutes per clip); it changes which kernels run, not what they compute.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
from publish import publish
from timing import median_ms

from emovox.machine import describe_machine, instruction_sets

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = sorted((ROOT / "examples").glob("*.flac"))
VARIANTS = ("shipped", "8-bit weights", "Softmax op", "float32")


@contextmanager
def softmax_op() -> Iterator[None]:
    """Whisper's attention through torch's fused attention, which exports as one Softmax node."""
    from torch.nn import functional as F

    from emovox.backbones import whisper

    def forward(self, x):  # type: ignore[no-untyped-def]
        batch, time, width = x.shape
        q, k, v = self.qkv(x).view(batch, time, 3, self.heads, width // self.heads).permute(2, 0, 3, 1, 4)
        attended = F.scaled_dot_product_attention(q, k, v)
        return self.out(attended.transpose(1, 2).reshape(batch, time, width))

    spelled_out = whisper.Attention.forward
    whisper.Attention.forward = forward
    try:
        yield
    finally:
        whisper.Attention.forward = spelled_out


def make_variants(folder: Path) -> dict[str, Path]:
    """Each variant's encoder graph (the shipped one as it ships); PyTorch, on this machine."""
    from emovox.backbones import export
    from emovox.backbones.weights import shipped

    weights = shipped("whisper-base")
    graphs = {"shipped": weights / "encoder-int8.onnx", "float32": folder / "float32.onnx"}
    export.build("whisper", "float32", weights, graphs["float32"])
    graphs["8-bit weights"] = folder / "int8-8bit.onnx"
    export.quantise(graphs["float32"], graphs["8-bit weights"], weight_bits=8)
    with softmax_op():
        export.build("whisper", "float32", weights, folder / "float32-softmax.onnx")
    graphs["Softmax op"] = folder / "int8-softmax.onnx"
    export.quantise(folder / "float32-softmax.onnx", graphs["Softmax op"])
    return graphs


def worker(graphs: dict[str, str], clips: int, out: Path) -> None:
    """On the CPU this process sees: every variant's pooled Whisper features of the first
    `clips` examples, and the shipped speaker features (no PyTorch: what a deployment runs)."""
    from emovox.audio import load_audio
    from emovox.backbones.runtime import OnnxSpeakerEncoder, OnnxWhisperEncoder, session
    from emovox.backbones.weights import shipped
    from emovox.features.backbone import pool_states

    with tempfile.TemporaryDirectory() as cache:
        encoder = OnnxWhisperEncoder(shipped("whisper-base"), Path(cache))
        speaker = OnnxSpeakerEncoder(shipped("speaker"), Path(cache))
    sessions = {name: session(Path(path)) for name, path in graphs.items()}
    values = {}
    for i, path in enumerate(EXAMPLES[:clips]):
        signal = load_audio(path)
        mel = encoder.log_mel(signal)[None]
        values[f"mel/{i}"] = mel
        values[f"speaker/{i}"] = pool_states(speaker.signal_states(signal))
        for name, run in sessions.items():
            values[f"{name}/{i}"] = pool_states(run.run(None, {"mel": mel})[0][:, 0])
    np.savez(out, **values)


def emulated(cpu: str | None, argv: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """`argv` (a Python command line) run natively, or under QEMU as `cpu`."""
    prefix = ["qemu-x86_64", "-cpu", cpu] if cpu else []
    return subprocess.run(
        [*prefix, sys.executable, *argv], capture_output=True, text=True, env=env, check=False
    )


def run_on(cpu: str | None, graphs: dict[str, Path], clips: int) -> dict[str, object]:
    """One CPU's features and printed predictions, from an empty cache and home."""
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "HOME": tmp, "XDG_CACHE_HOME": f"{tmp}/cache", "EMOVOX_CACHE": f"{tmp}/features"}
        started = time.perf_counter()
        features = Path(tmp) / "features.npz"
        job = [__file__, "--worker", str(features), "--clips", str(clips), "--graphs",
               json.dumps({k: str(v) for k, v in graphs.items()})]  # fmt: skip
        done = emulated(cpu, job, env)
        if done.returncode:
            raise SystemExit(f"{cpu or 'native'}: worker failed\n{done.stderr[-2000:]}")
        predict = emulated(cpu, ["-m", "emovox.cli", "predict", "--quiet", *map(str, EXAMPLES)], env)
        if predict.returncode:
            raise SystemExit(f"{cpu or 'native'}: emovox predict failed\n{predict.stderr[-2000:]}")
        with np.load(features) as data:
            values = dict(data)
        return {"values": values, "printed": predict.stdout, "seconds": time.perf_counter() - started}


def speeds(graphs: dict[str, Path]) -> dict[str, float]:
    """Median ms of each variant's encoder on the 4 s example clip, one thread, this CPU."""
    from emovox.audio import load_audio
    from emovox.backbones.runtime import OnnxWhisperEncoder, session
    from emovox.backbones.weights import shipped

    with tempfile.TemporaryDirectory() as cache:
        mel = OnnxWhisperEncoder(shipped("whisper-base"), Path(cache)).log_mel(load_audio(EXAMPLES[3]))[None]
    out = {}
    for name, path in graphs.items():
        run = session(path)
        out[name] = median_ms(lambda run=run: run.run(None, {"mel": mel}), 21)
    return out


def agreement(values: dict[str, np.ndarray], variant: str, clips: int) -> float:
    """Median over clips and layers of the correlation of a variant's pooled features with float32's."""
    correlations = []
    for i in range(clips):
        ours, exact = values[f"{variant}/{i}"].reshape(7, -1), values[f"float32/{i}"].reshape(7, -1)
        correlations += [np.corrcoef(a, b)[0, 1] for a, b in zip(ours, exact, strict=True)]
    return float(np.median(correlations))


def table(native: dict, others: dict[str, dict], speed: dict[str, float], clips: int) -> str:
    values = native["values"]
    lines = [
        f"Native CPU: {describe_machine()}; instruction sets: {', '.join(instruction_sets())}.",
        f"Emulated (QEMU {qemu_version()}): {', '.join(others) or 'none'}. The first {clips} example clips.",
        "",
        "| variant | encoder ms (4 s clip, native) | correlation with float32 | "
        + " | ".join(f"same bits on {cpu}" for cpu in others)
        + " |",
        "|---|---:|---:|" + "---:|" * len(others),
    ]
    for variant in VARIANTS:
        cells = []
        for run in others.values():
            same = sum(
                np.array_equal(values[f"{variant}/{i}"], run["values"][f"{variant}/{i}"])
                for i in range(clips)
            )
            worst = max(
                np.abs(values[f"{variant}/{i}"] - run["values"][f"{variant}/{i}"]).max() for i in range(clips)
            )
            cells.append(f"{same}/{clips}" + ("" if same == clips else f" (max diff {worst:.3g})"))
        correlation = "1" if variant == "float32" else f"{agreement(values, variant, clips):.4f}"
        lines.append(f"| {variant} | {speed[variant]:.1f} | {correlation} | " + " | ".join(cells) + " |")
    lines += ["", "| also compared | " + " | ".join(others) + " |", "|---|" + "---|" * len(others)]
    for what, key in (
        ("Whisper log-mel (front-end graph)", "mel"),
        ("speaker features (float32 LSTM)", "speaker"),
    ):
        cells = []
        for run in others.values():
            same = sum(
                np.array_equal(values[f"{key}/{i}"], run["values"][f"{key}/{i}"]) for i in range(clips)
            )
            worst = max(
                np.abs(values[f"{key}/{i}"] - run["values"][f"{key}/{i}"]).max() for i in range(clips)
            )
            cells.append(f"{same}/{clips} identical" + ("" if same == clips else f", max diff {worst:.2g}"))
        lines.append(f"| {what} | " + " | ".join(cells) + " |")
    same_print = [
        "identical" if run["printed"] == native["printed"] else "differs" for run in others.values()
    ]
    lines.append("| `emovox predict examples/*.flac` output | " + " | ".join(same_print) + " |")
    lines += ["", "What `emovox predict examples/*.flac` printed natively:", "", "```text",
              native["printed"].rstrip(), "```"]  # fmt: skip
    for cpu, run in others.items():
        if run["printed"] != native["printed"]:
            lines += ["", f"... and on {cpu}:", "", "```text", run["printed"].rstrip(), "```"]
    return "\n".join(lines)


def qemu_version() -> str:
    done = subprocess.run(["qemu-x86_64", "--version"], capture_output=True, text=True, check=False)
    return done.stdout.split("\n")[0].split("version")[-1].strip() if done.returncode == 0 else "missing"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cpus", nargs="*", default=["EPYC-Rome", "Nehalem"], help="QEMU CPU models")
    parser.add_argument("--clips", type=int, default=2, help="clips whose features are compared")
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--worker", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--graphs", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(json.loads(args.graphs), args.clips, args.worker)
        return
    if args.cpus and shutil.which("qemu-x86_64") is None:
        raise SystemExit("qemu-x86_64 not found: apt-get install qemu-user (or pass --cpus with no models)")
    with tempfile.TemporaryDirectory() as tmp:
        graphs = make_variants(Path(tmp))
        speed = speeds(graphs)
        native = run_on(None, graphs, args.clips)
        others = {}
        for cpu in args.cpus:
            others[cpu] = run_on(cpu, graphs, args.clips)
            print(f"{cpu}: {others[cpu]['seconds']:.0f} s", file=sys.stderr)
    publish(table(native, others, speed, args.clips), args.out, __file__)


if __name__ == "__main__":
    main()
