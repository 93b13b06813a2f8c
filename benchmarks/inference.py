"""Inference speed: the streaming fast path, one clip through `predict`, and the service under load.

    python benchmarks/inference.py [--model DIR] [--streams 100] [--seconds 10] [--out FILE.md]

1. Streaming: a 3.5 s RAVDESS clip pushed in 100 ms chunks through `StreamingSession`, CPU time
   per 10 ms of audio (median of repeats), for the streaming LSTM with PyTorch and onnxruntime.
2. `predict` on the same clip (decode, features, model), median wall time, for each family's
   configured size. Speed does not depend on the weights: models without a trained directory
   are built with random weights at their config's size.
3. The service (`emovox serve` in its own process) on loopback: `--streams` WebSockets sending
   100 ms chunks in real time to the streaming LSTM (chunk-to-result latency; every chunk must
   come back as a result), `--window-streams` to the bundled model (sliding windows), then
   `POST /v1/predict` to the bundled model from concurrent clients (requests/s, latency).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import tomllib
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch
from publish import publish
from timing import median_ms

from emovox.artifact import ModelArtifact
from emovox.audio import AudioConfig, load_audio
from emovox.features import get_extractor
from emovox.inference import EmotionPredictor
from emovox.inference.predictor import bundled_path
from emovox.machine import describe_machine
from emovox.models.registry import NEURAL_MODELS, build_model
from emovox.training.scaler import Standardizer

ROOT = Path(__file__).resolve().parents[1]
CLIP = "Actor_01/03-01-05-02-01-01-01.flac"  # 4.1 s, angry
LABELS = ("neutral", "calm", "happy", "sad", "angry", "fearful", "disgust", "surprised")
FAMILIES = ["lstm_stream", "crnn", "mlp", "cnn_lstm"]


def random_model(family: str, out: Path) -> Path:
    """A model directory with random weights at the size configs/FAMILY.toml trains."""
    config = tomllib.loads((ROOT / "configs" / f"{family}.toml").read_text())
    params = config.get("model", {}).get("params", {})
    features = config.get("data", {}).get("features") or NEURAL_MODELS[family].feature_set
    torch.manual_seed(0)
    extractor = get_extractor(features)
    scaler = Standardizer.fit(
        np.random.default_rng(0).standard_normal((64, extractor.dim)).astype(np.float32)
    )
    model = build_model(family, extractor.dim, len(LABELS), params).eval()
    artifact = ModelArtifact(
        model, family, params, extractor, AudioConfig(), scaler, LABELS, {"random": True}
    )
    return artifact.save(out / family)


def bench_streaming(model: Path, clip: Path, repeats: int) -> list[str]:
    signal = load_audio(clip)
    chunks = np.array_split(signal, max(1, len(signal) // 1600))
    tens_of_ms = len(signal) / 160
    rows = []
    for backend in ("torch", "onnx"):
        predictor = EmotionPredictor.load(model, backend=backend)

        def run(predictor: EmotionPredictor = predictor) -> None:
            session = predictor.stream(emit_every_ms=100)
            for chunk in chunks:
                session.push(chunk)

        ms = median_ms(run, repeats, time.thread_time)
        per = ms / tens_of_ms
        rows.append(
            f"| streaming LSTM, {backend} | {per:.4f} ms CPU per 10 ms of audio (RTF {per / 10:.4f}) |"
        )
    return rows


def bench_predict(models: dict[str, Path], clip: Path, clip_seconds: float, repeats: int) -> list[str]:
    rows = []
    for family, directory in models.items():
        for backend in ("torch", "onnx"):
            predictor = EmotionPredictor.load(directory, backend=backend)
            ms = median_ms(lambda p=predictor: p.predict(clip), repeats)
            features = predictor.members[0].extractor.name
            rows.append(
                f"| predict, {family} ({features}), {backend} | {ms:.1f} ms per {clip_seconds:.1f} s clip |"
            )
    return rows


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


async def one_stream(
    url: str, pcm: bytes, seconds: float, latencies: list[float], lost: list[int]
) -> tuple[int, float]:
    """One real-time stream of 100 ms chunks of 16-bit PCM; each update's latency is from sending
    the chunk that completed it to receiving it. Appends the chunks that completed no update to
    `lost`; returns (updates received, stream seconds from the first update to the end)."""
    import websockets

    n = int(seconds * 10)
    chunks = [pcm[i * 3200 : (i + 1) * 3200] for i in range(n)]
    sent: dict[int, float] = {}
    received: set[int] = set()
    times: list[float] = []
    async with websockets.connect(url, max_size=None) as ws:
        await ws.send(json.dumps({"sample_rate": 16000, "format": "pcm_s16le", "level": "as_is"}))

        async def reader() -> None:
            async for message in ws:
                data = json.loads(message)
                if data.get("final"):
                    return
                if "error" in data:
                    raise RuntimeError(data["error"])
                times.append(data["t"])
                chunk = int(np.ceil(data["t"] * 10 - 1e-6)) - 1  # the chunk whose samples completed it
                if chunk in sent and chunk not in received:
                    received.add(chunk)
                    latencies.append(time.perf_counter() - sent[chunk])

        task = asyncio.create_task(reader())
        start = time.perf_counter()
        for i in range(n):
            await asyncio.sleep(max(0.0, start + i * 0.1 - time.perf_counter()))
            sent[i] = time.perf_counter()
            await ws.send(chunks[i])
        await ws.send(json.dumps({"event": "end"}))
        await asyncio.wait_for(task, 60)
    lost.append(len([i for i in range(1, n) if i not in received]))  # chunk 0 completes no update
    return len(times), (n * 0.1 - times[0]) if times else 0.0


async def post_load(url: str, body: bytes, seconds: float, clients: int) -> tuple[int, list[float], int]:
    import httpx

    latencies: list[float] = []
    errors = 0
    deadline = time.perf_counter() + seconds
    async with httpx.AsyncClient(timeout=30) as client:

        async def worker() -> None:
            nonlocal errors
            while time.perf_counter() < deadline:
                start = time.perf_counter()
                response = await client.post(url, content=body)
                if response.status_code == 200:
                    latencies.append(time.perf_counter() - start)
                else:
                    errors += 1

        await asyncio.gather(*(worker() for _ in range(clients)))
    return len(latencies), latencies, errors


@contextlib.contextmanager
def served(
    model: Path | str, streams: int | None, backend: str = "onnx", extra: tuple[str, ...] = ()
) -> Iterator[subprocess.Popen]:
    """`emovox serve` in its own process on a free port (`server.port`), until the block ends.
    `streams`: admit at least that many live streams (None: the service's own measured count)."""
    import httpx

    port = free_port()
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    admission = ["--max-streams", str(max(streams, 200))] if streams is not None else []
    server = subprocess.Popen(
        [sys.executable, "-m", "emovox", "serve", "--model", str(model), "--port", str(port),
         "--backend", backend, *admission, *extra],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    server.port = port  # type: ignore[attr-defined]
    try:
        for _ in range(600):
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health").status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        yield server
    finally:
        server.terminate()
        server.wait(10)


def bench_streams(
    model: Path | str, name: str, clip: Path, streams: int, seconds: float, backend: str = "onnx"
) -> str:
    signal = load_audio(clip)
    repeats = int(np.ceil(seconds * 16_000 / len(signal)))
    pcm = (np.tile(signal, repeats) * 32767).astype("<i2").tobytes()  # the clip looped for `seconds`
    latencies: list[float] = []
    lost: list[int] = []
    with served(model, streams, backend) as server:

        async def run() -> None:
            url = f"ws://127.0.0.1:{server.port}/v1/stream"
            await asyncio.gather(*(one_stream(url, pcm, seconds, latencies, lost) for _ in range(streams)))

        asyncio.run(run())
    return (
        f"| service, {name} ({backend}): {streams} live streams, 100 ms chunks in real time "
        f"for {seconds:.0f} s "
        f"| chunk-to-result latency p50 {1000 * percentile(latencies, 50):.0f} ms, "
        f"p99 {1000 * percentile(latencies, 99):.0f} ms; chunks without a result: {sum(lost)} "
        f"of {streams * (int(seconds * 10) - 1)} |"
    )


def bench_posts(
    model: Path | str, name: str, clip: Path, clip_seconds: float, seconds: float, clients: int,
    backend: str = "onnx",
) -> str:  # fmt: skip
    with served(model, 1, backend) as server:
        count, latencies, errors = asyncio.run(
            post_load(f"http://127.0.0.1:{server.port}/v1/predict", clip.read_bytes(), seconds, clients)
        )
    return (
        f"| service, {name} ({backend}): POST /v1/predict, {clip_seconds:.1f} s FLAC, "
        f"{clients} concurrent clients for {seconds:.0f} s | {count / seconds:.1f} requests/s, "
        f"p50 {1000 * percentile(latencies, 50):.0f} ms, p99 {1000 * percentile(latencies, 99):.0f} ms, "
        f"errors {errors} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument(
        "--model", type=Path, default=None, help="the served model (default: bundled, or lstm_stream)"
    )
    parser.add_argument("--streams", type=int, default=100)
    parser.add_argument("--clients", type=int, default=8, help="concurrent POST clients")
    parser.add_argument("--window-streams", type=int, default=10, help="live streams for the bundled model")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--skip-service", action="store_true")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    clip = args.data / "ravdess" / CLIP
    seconds = len(load_audio(clip)) / 16_000
    torch.set_num_threads(1)  # one stream or clip per core, as the service runs them
    served_model = args.model or "default"
    with tempfile.TemporaryDirectory() as tmp:
        models = {family: random_model(family, Path(tmp)) for family in FAMILIES}
        rows = bench_streaming(models["lstm_stream"], clip, args.repeats)
        rows += bench_predict({"bundled default": bundled_path("default") if not args.model else args.model,
                               **models}, clip, seconds, args.repeats)  # fmt: skip
        if not args.skip_service:
            for backend in ("onnx", "torch"):
                rows.append(
                    bench_streams(
                        models["lstm_stream"], "lstm_stream", clip, args.streams, args.seconds, backend
                    )
                )
            rows.append(
                bench_streams(served_model, "bundled default", clip, args.window_streams, args.seconds)
            )
            rows.append(
                bench_posts(served_model, "bundled default", clip, seconds, args.seconds, args.clients)
            )
    lines = [
        f"Machine: {describe_machine()}",
        "Models: the bundled default (trained); the families at their configs' sizes with random weights "
        "(speed does not depend on the weights).",
        "",
        "| what | median / result |",
        "|---|---|",
        *rows,
    ]
    text = "\n".join(lines)
    publish(text, args.out, __file__)


if __name__ == "__main__":
    main()
