"""What a fresh machine pays for the README's command 1: the install's time and size, without
PyTorch (what command 1 installs: predicting needs none of it) and with the `torch` extra (what
training and the tests install), then `emovox predict examples/*.flac` from an empty home
directory and feature cache (cold: nothing built or cached yet) and again (warm), in seconds.

    python benchmarks/install.py [--out results/benchmarks/install.md]

Each install goes into a new virtual environment with pip's cache off, so every package is
fetched as on a new machine (from this machine's package index; PyTorch's CPU wheel lies on its
disk, so its download time is not in the figure). Medians of `--repeats` predict runs.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from publish import publish

from emovox.machine import describe_machine

ROOT = Path(__file__).resolve().parents[1]
MAIN_JOB = ["predict", *sorted(str(p.relative_to(ROOT)) for p in (ROOT / "examples").glob("*.flac"))]


def folder_mib(folder: Path) -> float:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file() and not p.is_symlink()) / 2**20


def timed(command: list[str], env: dict[str, str]) -> tuple[float, str]:
    start = time.perf_counter()
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    if done.returncode:
        raise SystemExit(f"{' '.join(command)} failed:\n{done.stderr[-3000:]}")
    return time.perf_counter() - start, done.stdout


def measure(extra: str, repeats: int) -> dict[str, object]:
    with tempfile.TemporaryDirectory() as tmp:
        venv, home = Path(tmp) / "venv", Path(tmp) / "home"
        home.mkdir()
        env = {**os.environ, "PIP_NO_CACHE_DIR": "1", "HOME": str(home)}
        env["XDG_CACHE_HOME"] = str(home / ".cache")
        env.pop("EMOVOX_CACHE", None)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        install, _ = timed([str(venv / "bin" / "pip"), "install", "-q", "-e", f".{extra}"], env)
        emovox = str(venv / "bin" / "emovox")
        cold, printed = timed([emovox, *MAIN_JOB], env)
        warm = statistics.median(timed([emovox, *MAIN_JOB], env)[0] for _ in range(repeats))
        one_file = statistics.median(timed([emovox, *MAIN_JOB[:2]], env)[0] for _ in range(repeats))
        return {"install_s": install, "size_mib": folder_mib(venv), "cold_s": cold, "warm_s": warm,
                "one_file_s": one_file, "printed": printed}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    rows = {extra or "emovox": measure(extra, args.repeats) for extra in ("", "[torch]")}
    without, with_torch = rows["emovox"], rows["[torch]"]
    lines = [
        f"Machine: {describe_machine()}",
        "",
        "| install | pip install s | environment MiB | command 1 cold s | warm s | one file, warm s |",
        "|---|---:|---:|---:|---:|---:|",
        *(f"| `pip install -e .{'' if name == 'emovox' else name}` | {r['install_s']:.0f} | "
          f"{r['size_mib']:.0f} | {r['cold_s']:.1f} | {r['warm_s']:.1f} | {r['one_file_s']:.1f} |"
          for name, r in rows.items()),
        "",
        f"Without PyTorch the environment is {with_torch['size_mib'] - without['size_mib']:.0f} MiB smaller; "
        f"both print the same predictions: {'yes' if without['printed'] == with_torch['printed'] else 'NO'}.",
    ]  # fmt: skip
    publish("\n".join(lines), args.out, __file__)


if __name__ == "__main__":
    main()
