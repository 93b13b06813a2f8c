"""How many live streams of the bundled model one machine serves, and whether the service's own
estimate says so.

    python benchmarks/live_capacity.py [--streams 20 40 60 80] [--seconds 20] [--out ...]

`emovox serve` (bundled model, default limits) in its own process; first its admission estimate
(`max_streams` at start, `emovox.service.streams.stream_capacity`), then, on a server told to
admit more, N streams at once for each N: each sends a RAVDESS clip of speech over and over in
100 ms chunks of 16-bit PCM in real time (the page's format, without its own level: `as_is`),
from a client process on the same machine (its CPU counts against the server's: a real client
would be elsewhere). A stream is served when it gets at least 4 updates a second once its
speech has begun, its chunk-to-update latency (from sending the chunk that completes an update
to receiving that update) stays at p99 <= 300 ms, and it is neither refused nor dropped. Served
capacity: the largest N whose streams all are.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from pathlib import Path

import httpx
import numpy as np
from inference import one_stream, percentile, served
from publish import publish

from emovox.audio import load_audio
from emovox.machine import describe_machine

ROOT = Path(__file__).resolve().parents[1]
CLIP = ROOT / "examples" / "03-01-05-02-01-01-24.flac"
TARGET_UPDATES = 4.0  # per second
TARGET_P99_MS = 300.0


def run_streams(port: int, streams: int, seconds: float) -> dict:
    signal = load_audio(CLIP)
    pcm = (np.tile(signal, int(np.ceil(seconds * 16_000 / len(signal)))) * 32767).astype("<i2").tobytes()
    latencies: list[float] = []

    async def run() -> list:
        url = f"ws://127.0.0.1:{port}/v1/stream"
        return await asyncio.gather(*(one_stream(url, pcm, seconds, latencies, []) for _ in range(streams)),
                                    return_exceptions=True)  # fmt: skip

    outcomes = asyncio.run(run())
    done = [o for o in outcomes if not isinstance(o, BaseException)]
    rates = [count / max(span, 1e-9) for count, span in done]
    p99 = 1000 * percentile(latencies, 99)
    result = {
        "streams": streams,
        "failed": len(outcomes) - len(done),
        "updates_per_second_min": min(rates) if rates else 0.0,
        "p50_ms": 1000 * percentile(latencies, 50),
        "p99_ms": p99,
    }
    often = result["updates_per_second_min"] >= TARGET_UPDATES - 0.2  # the last update may fall after the end
    result["served"] = result["failed"] == 0 and often and p99 <= TARGET_P99_MS
    print(result, flush=True)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--streams", nargs="+", type=int, default=[20, 30, 40, 50, 60, 80])
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    with served("default", None) as server:
        estimate = httpx.get(f"http://127.0.0.1:{server.port}/v1/models").json()["limits"]["max_streams"]
    results = []
    with served("default", max(args.streams)) as server:
        for streams in sorted(args.streams):
            results.append(run_streams(server.port, streams, args.seconds))
            time.sleep(2)
    capacity = max((r["streams"] for r in results if r["served"]), default=0)
    rows = [
        f"| {r['streams']} | {r['failed']} | {r['updates_per_second_min']:.2f} | {r['p50_ms']:.0f} ms "
        f"| {r['p99_ms']:.0f} ms | {'yes' if r['served'] else 'no'} |"
        for r in results
    ]
    lines = [
        f"Machine: {describe_machine()}",
        f"`emovox serve` (bundled model, onnxruntime, default limits), {args.seconds:.0f} s of real-time "
        "speech per stream in 100 ms chunks, clients in a second process on the same machine.",
        "",
        "| streams at once | failed | updates/s (slowest stream) | latency p50 | p99 | served |",
        "|---|---|---|---|---|---|",
        *rows,
        "",
        f"Served (>= {TARGET_UPDATES:g} updates/s each, p99 <= {TARGET_P99_MS:g} ms, none failed): "
        f"**{capacity} streams**; the service's own estimate at start: **{estimate}**.",
    ]
    publish("\n".join(lines), args.out, __file__)
    print(json.dumps({"served": capacity, "estimate": estimate}))


if __name__ == "__main__":
    main()
