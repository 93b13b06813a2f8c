"""The service under its worst legal load, on loopback, bounded in time (it stops by itself).

    python benchmarks/service_load.py [--seconds 20] [--out results/benchmarks/service_load.md]

`emovox serve` with its default limits and the bundled model, in its own process; its peak
resident memory (VmHWM) is read from /proc after each phase:

1. uploads: `max_concurrent_requests` clients at once, each posting the largest audio a
   prediction accepts (120 s at 192 kHz stereo: exactly the decoded-samples cap);
2. timelines: eight clients at once, each posting an hour of audio (the timeline's cap);
3. streams: as many real-time live streams as the service admits (its measured capacity),
   100 ms chunks for `--seconds`, with the chunk-to-result latency; then twice as many, on a
   server told to admit them, to show what the measured count protects.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import time
from pathlib import Path

import httpx
import numpy as np
import soundfile as sf
from inference import served
from live_capacity import run_streams
from publish import publish

from emovox.audio import load_audio
from emovox.machine import describe_machine

ROOT = Path(__file__).resolve().parents[1]
CLIP = ROOT / "examples" / "03-01-05-02-01-01-24.flac"


def peak_rss_mb(pid: int) -> float:
    """The process's peak resident memory so far (Linux: VmHWM), in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc: Linux only")


def worst_upload(seconds: float, rate: int, channels: int) -> bytes:
    """A FLAC that decodes to `seconds` x `rate` x `channels` samples yet stays small: a quiet
    tone (the decoded size is what costs memory and time, not the bytes)."""
    t = np.arange(int(seconds * rate)) / rate
    tone = (0.01 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)
    buffer = io.BytesIO()
    sf.write(buffer, np.repeat(tone[:, None], channels, axis=1), rate, format="FLAC", subtype="PCM_16")
    return buffer.getvalue()


def long_speech(seconds: float) -> bytes:
    """`seconds` of a real clip repeated with pauses, quiet enough to stay under the upload cap."""
    clip = load_audio(CLIP)
    unit = np.concatenate([clip, np.zeros(16_000, np.float32)])
    signal = np.tile(unit, int(np.ceil(seconds * 16_000 / len(unit))))[: int(seconds * 16_000)]
    buffer = io.BytesIO()
    sf.write(buffer, (signal * 0.004).astype(np.float32), 16_000, format="FLAC", subtype="PCM_16")
    return buffer.getvalue()


async def post_all(url: str, body: bytes, clients: int) -> tuple[dict[int, int], float]:
    """`clients` posts of `body` at once; the status counts and the slowest answer's seconds."""
    statuses: dict[int, int] = {}
    slowest = 0.0
    async with httpx.AsyncClient(timeout=600) as client:

        async def one() -> None:
            nonlocal slowest
            start = time.perf_counter()
            status = (await client.post(url, content=body)).status_code
            slowest = max(slowest, time.perf_counter() - start)
            statuses[status] = statuses.get(status, 0) + 1

        await asyncio.gather(*(one() for _ in range(clients)))
    return statuses, slowest


def streams_row(port: int, streams: int, seconds: float, label: str) -> tuple[str, float]:
    r = run_streams(port, streams, seconds)
    return (
        f"| {label}: {streams} live streams, 100 ms chunks in real time for {seconds:.0f} s "
        f"| p50 {r['p50_ms']:.0f} ms, p99 {r['p99_ms']:.0f} ms; updates/s of the slowest stream "
        f"{r['updates_per_second_min']:.2f}; streams failed: {r['failed']} |"
    ), r["p99_ms"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0, help="length of the stream phases")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    rows = []
    with served("default", None) as server:
        base = f"http://127.0.0.1:{server.port}"
        limits = httpx.get(f"{base}/v1/models").json()["limits"]
        capacity = limits["max_streams"]
        idle_mb = peak_rss_mb(server.pid)
        rows.append(f"| started, idle (measured stream capacity: {capacity}) | peak RSS {idle_mb:.0f} MiB |")

        clients = limits["max_concurrent_requests"]
        body = worst_upload(limits["max_audio_seconds"], 192_000, 2)
        start = time.perf_counter()
        statuses, slowest = asyncio.run(post_all(f"{base}/v1/predict", body, clients))
        rows.append(
            f"| {clients} x POST /v1/predict at once, each 120 s at 192 kHz stereo "
            f"({len(body) / 2**20:.1f} MiB FLAC, 46 M samples) | statuses {statuses}, all done in "
            f"{time.perf_counter() - start:.0f} s; peak RSS {peak_rss_mb(server.pid):.0f} MiB |"
        )

        body = long_speech(limits["max_timeline_seconds"])
        statuses, slowest = asyncio.run(post_all(f"{base}/v1/timeline", body, 8))
        rows.append(
            f"| 8 x POST /v1/timeline at once, each 1 h at 16 kHz ({len(body) / 2**20:.1f} MiB FLAC) "
            f"| statuses {statuses}, slowest {slowest:.0f} s; peak RSS {peak_rss_mb(server.pid):.0f} MiB |"
        )

        row, p99 = streams_row(server.port, capacity, args.seconds, "admitted")
        rows.append(f"{row[:-2]}; peak RSS {peak_rss_mb(server.pid):.0f} MiB |")
        peak = peak_rss_mb(server.pid)
    with served("default", 2 * capacity) as server:
        over, over_p99 = streams_row(server.port, 2 * capacity, args.seconds, "twice as many, forced")
        rows.append(over)
    lines = [
        f"Machine: {describe_machine()}",
        "`emovox serve` (bundled model, onnxruntime, default limits: 2 worker threads on this machine), "
        "clients in a second process on loopback.",
        "",
        "| load | result |",
        "|---|---|",
        *rows,
        "",
        f"Peak server memory over the default limits' worst legal inputs: **{peak:.0f} MiB** "
        f"(ceiling 2048 MiB). At the measured capacity of {capacity} streams the p99 chunk-to-result "
        f"latency is **{p99:.0f} ms** (target <= 300 ms); at twice that it is {over_p99:.0f} ms.",
    ]
    publish("\n".join(lines), args.out, __file__)
    print(json.dumps({"peak_rss_mib": round(peak), "capacity": capacity, "p99_ms": round(p99),
                      "p99_twice_ms": round(over_p99)}))  # fmt: skip


if __name__ == "__main__":
    main()
