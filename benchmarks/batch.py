"""`emovox batch` over a large collection: throughput of the engines, memory as files go by,
and an interrupted job resumed. Bounded: it stops by itself.

    python benchmarks/batch.py [--files 2000] [--out results/benchmarks/batch.md]

The collection is the corpora's clips (RAVDESS + EmoDB) repeated under new names (symbolic
links in folders of 500) until it has `--files` files. Each run is `emovox batch` in its own
process with the bundled model, writing JSON lines; its resident memory (the job and its
workers together) is sampled from /proc twice a second with the number of rows written.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from publish import publish

from emovox.corpora import read_corpus
from emovox.machine import describe_machine

ROOT = Path(__file__).resolve().parents[1]


def make_collection(data: Path, files: int, where: Path) -> Path:
    clips = [u.path for name in ("ravdess", "emodb") for u in read_corpus(name, data / name)]
    root = where / "collection"
    for i in range(files):
        folder = root / f"part{i // 500:04d}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"call{i:06d}.flac").symlink_to(clips[i % len(clips)])
    return root


def tree_rss_mb(pid: int) -> float:
    """Resident memory of a process and its children (Linux /proc), in MiB."""
    total = 0
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            fields = dict(line.split(":", 1) for line in status.read_text().splitlines() if ":" in line)
        except OSError:
            continue
        if int(fields["Pid"]) == pid or int(fields["PPid"].strip()) == pid:
            total += int(fields.get("VmRSS", "0 kB").split()[0])
    return total / 1024


def run_job(collection: Path, out: Path, extra: list[str], kill_after_rows: int | None = None) -> dict:
    """`emovox batch` in its own process group; samples of (seconds, rows written, MiB)."""
    command = [sys.executable, "-m", "emovox", "batch", str(collection), "--out", str(out), "--quiet", *extra]
    start = time.perf_counter()
    job = subprocess.Popen(command, start_new_session=True, stderr=subprocess.DEVNULL)
    samples = []
    while job.poll() is None:
        rows = out.read_bytes().count(b"\n") if out.is_file() else 0
        samples.append((time.perf_counter() - start, rows, tree_rss_mb(job.pid)))
        if kill_after_rows is not None and rows >= kill_after_rows:
            os.killpg(job.pid, signal.SIGKILL)
            job.wait()
            break
        time.sleep(0.5)
    return {"seconds": time.perf_counter() - start, "samples": samples, "code": job.returncode}


def first_and_steady(run: dict, files: int) -> tuple[float, float]:
    """Seconds until the first rows were written (start-up: workers, Ray), and files/s after."""
    first = next((t, rows) for t, rows, _ in run["samples"] if rows > 0)
    return first[0], (files - first[1]) / (run["seconds"] - first[0])


def rss_at(samples: list[tuple[float, int, float]], rows: int) -> float:
    """The highest memory sampled up to the moment `rows` rows were written."""
    return max((mb for _, written, mb in samples if written <= rows), default=float("nan"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--files", type=int, default=2_000)  # about 9 minutes with the bundled model
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        where = Path(tmp)
        collection = make_collection(args.data, args.files, where)
        n = args.files
        runs = {}
        for name, extra in (("single process", ["--workers", "1"]), ("local, 2 workers", ["--workers", "2"]),
                            ("ray, 2 workers", ["--engine", "ray", "--workers", "2"])):  # fmt: skip
            out = where / f"{name.split(',')[0].replace(' ', '_')}.jsonl"
            runs[name] = run_job(collection, out, extra) | {"out": out}
            first, steady = first_and_steady(runs[name], n)
            runs[name] |= {"first": first, "steady": steady}
            rows.append(f"| {name} | {n / runs[name]['seconds']:.0f} files/s ({runs[name]['seconds']:.0f} s) "
                        f"| {first:.1f} s | {steady:.0f} files/s |")  # fmt: skip
        single = runs["single process"]["seconds"]
        local = runs["local, 2 workers"]
        ray_run = runs["ray, 2 workers"]
        ray = ray_run["seconds"]
        # job size from which Ray's end-to-end throughput is within 20 % of the local engine's:
        # F_ray + N / r_ray <= (F_local + N / r_local) / 0.8
        fixed_gap = ray_run["first"] - local["first"] / 0.8
        per_file_gap = 1 / (0.8 * local["steady"]) - 1 / ray_run["steady"]
        crossover = f"{fixed_gap / per_file_gap:,.0f} files" if per_file_gap > 0 else "no job size"
        samples = local["samples"]
        early, late = rss_at(samples, 1000), rss_at(samples, n)
        cut = where / "cut.jsonl"
        run_job(collection, cut, ["--workers", "2"], kill_after_rows=n // 3)
        kept = cut.read_bytes().count(b"\n")
        resumed = run_job(collection, cut, ["--workers", "2", "--resume"])
        resumed_text, whole_text = cut.read_text(), local["out"].read_text()
        if resumed_text == whole_text:
            same = "equals the uninterrupted run's, byte for byte"
        elif sorted(resumed_text.splitlines()) == sorted(whole_text.splitlines()):
            same = (
                "holds the uninterrupted run's rows, byte for byte, in another order (the rows "
                "that failed before the kill were retried, and come after the rows kept)"
            )
        else:
            same = "DIFFERS FROM the uninterrupted run's"
        failed = sum(bool(json.loads(line)["error"]) for line in local["out"].read_text().splitlines())
    lines = [
        f"Machine: {describe_machine()}",
        f"{n} files (RAVDESS + EmoDB clips repeated under new names), the bundled model, JSON lines out.",
        "",
        "| engine | throughput, end to end | until the first rows | throughput after that |",
        "|---|---|---|---|",
        *rows,
        "",
        f"- Local engine over a single process: **{single / local['seconds']:.2f}x** (target >= 1.8x); "
        f"Ray over local: {local['seconds'] / ray:.2f}x of its throughput end to end (target: within 20 %, "
        f">= 0.8x), {ray_run['steady'] / local['steady']:.2f}x once running. Ray's start-up (the local Ray, "
        f"actors that import emovox and load the model) is a fixed cost per job: from {crossover} on, "
        "Ray's end-to-end throughput is within 20 % of the local engine's on this machine.",
        f"- Memory of the job and its workers (local engine): {early:.0f} MiB by file 1 000, {late:.0f} MiB "
        f"by file {n} (growth {late - early:.0f} MiB; target <= 300 MiB).",
        f"- Killed with SIGKILL after {kept} rows, then `--resume`d ({resumed['seconds']:.0f} s): the "
        f"table {same}.",
        f"- Failed files: {failed}.",
    ]
    publish("\n".join(lines), args.out, __file__)


if __name__ == "__main__":
    main()
