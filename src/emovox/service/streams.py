"""`WS /v1/stream`: live PCM in, emotion updates out, with the model's work in the service's
bounded worker pool, never on the event loop.

A reader task takes the client's messages as they come, so a client that goes away is noticed
while its audio is still being processed: the rest of its work is dropped and its slot freed at
once. Audio is processed in slices of at most `SLICE_SECONDS`, so one large message cannot hold
a worker for long; a stream may run ahead of real time by `max_burst_seconds` and then at most
`max_realtime_factor` times real time (faster senders are slowed down, not refused); one that
trickles (less than `min_realtime_ratio` of real time past the idle timeout) is closed. Trickling
is judged on the time spent waiting for the client's messages, not on the time the stream has
been open: a busy server that reads late never blames its client for its own slowness.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Any

import numpy as np
from fastapi import WebSocket, WebSocketDisconnect

from emovox.errors import ConfigError, EmovoxError
from emovox.inference import EmotionPredictor, InputLevel, StreamConfig
from emovox.service.limits import ServiceLimits

SLICE_SECONDS = 0.5  # audio processed per step
MAX_START_BYTES = 4096

Run = Callable[..., Awaitable[Any]]  # runs a function in the worker pool


class StreamRefused(Exception):
    """The client broke the protocol: told with an `{"error"}` message and the close code."""

    def __init__(self, message: str, code: int = 1003, reason: str = "bad message") -> None:
        super().__init__(message)
        self.code, self.reason = code, reason


def parse_start(
    text: str, predictor: EmotionPredictor, limits: ServiceLimits
) -> tuple[StreamConfig, str, EmotionPredictor]:
    """The stream's opening message -> its config, PCM format and the predictor that answers it
    (restricted to the message's `labels`, when it names some); `ConfigError` when malformed."""
    if len(text) > MAX_START_BYTES:
        raise ConfigError(f"the start message is over {MAX_START_BYTES} characters")
    try:
        start = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"the first message must be JSON: {exc}") from None
    except RecursionError:
        raise ConfigError("the first message is nested too deeply") from None
    if not isinstance(start, dict):
        raise ConfigError("the first message must be a JSON object")
    fmt = start.get("format", "pcm_s16le")
    if fmt not in ("pcm_s16le", "pcm_f32le"):
        raise ConfigError(f"format must be pcm_s16le or pcm_f32le, got {fmt!r}")
    rate = start.get("sample_rate")
    if not isinstance(rate, int) or isinstance(rate, bool):
        raise ConfigError("sample_rate must be an integer (Hz)")
    named = ("emit_every_ms", "decision", "level", "smoothing_seconds", "adapt")
    options = {k: start[k] for k in named if k in start}
    try:
        config = StreamConfig(sample_rate=rate, **{"level": InputLevel.RUNNING_PEAK, **options})
    except (TypeError, ValueError) as exc:  # ConfigError is a ValueError
        raise ConfigError(str(exc)) from None
    asked = config.emit_every_ms
    if not predictor.streams_frames and asked is not None and asked < limits.min_emit_ms:
        raise ConfigError(
            f"emit_every_ms must be >= {limits.min_emit_ms:g} for this model (each update re-runs it)"
        )
    kept = min(config.max_utterance_seconds, limits.max_stream_kept_seconds)
    config = replace(config, max_utterance_seconds=max(kept, config.window_seconds))
    return config, fmt, predictor.restricted(start.get("labels"))


def is_end(text: str) -> bool:
    """Whether a text message is the client's `{"event": "end"}`."""
    try:
        message = json.loads(text)
    except (json.JSONDecodeError, RecursionError):
        return False
    return isinstance(message, dict) and message.get("event") == "end"


class ClientGone(Exception):
    """A send found the client gone (it may leave between two of our messages)."""


class LiveStream:
    """One client's stream: its session, its reader task and its pacing."""

    def __init__(self, websocket: WebSocket, predictor: EmotionPredictor, limits: ServiceLimits, run: Run):
        self.websocket, self.predictor, self.limits, self.run = websocket, predictor, limits, run
        self.inbox: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue(maxsize=4)
        self.gone = asyncio.Event()
        self.waited = 0.0  # seconds spent waiting for the client's next message

    async def read(self) -> None:
        """Every client message into the inbox (None: the client went away)."""
        try:
            while True:
                message = await self.websocket.receive()
                if message["type"] == "websocket.disconnect":
                    break
                await self.inbox.put(message)
        except Exception:  # a connection broken any other way is the client going away too
            pass
        finally:
            self.gone.set()
            if not self.inbox.full():  # wake a waiting consumer; a full inbox wakes it anyway
                self.inbox.put_nowait(None)

    async def next_message(self) -> dict[str, Any] | None:
        """The next message, or None when the client went away; `TimeoutError` after the idle
        timeout without one."""
        if self.gone.is_set() and self.inbox.empty():
            return None
        start = time.monotonic()
        try:
            async with asyncio.timeout(self.limits.idle_timeout_seconds):
                return await self.inbox.get()
        finally:
            self.waited += time.monotonic() - start

    async def serve(self) -> None:
        reader = asyncio.create_task(self.read())
        try:
            await self._serve()
        except StreamRefused as refused:
            await self._close(refused)
        except ClientGone:
            pass
        finally:
            reader.cancel()

    async def send(self, message: dict[str, Any]) -> None:
        """One message to the client; a client that has not taken its messages for the idle
        timeout (its buffers full: it never reads) is treated as gone, freeing its slot."""
        try:
            async with asyncio.timeout(self.limits.idle_timeout_seconds):
                await self.websocket.send_json(message)
        except (WebSocketDisconnect, RuntimeError, TimeoutError) as exc:  # Starlette's two ways, and ours
            raise ClientGone() from exc

    async def _close(self, refused: StreamRefused) -> None:
        if self.gone.is_set():
            return
        try:
            if refused.code != 1000:
                await self.websocket.send_json({"error": str(refused)})
            await self.websocket.close(code=refused.code, reason=refused.reason)
        except Exception:  # the client left meanwhile: nobody to tell
            pass

    async def _serve(self) -> None:
        try:
            first = await self.next_message()
        except TimeoutError:
            raise StreamRefused("no start message within the idle timeout", 1000, "idle timeout") from None
        if first is None:
            return
        if first.get("text") is None:
            raise StreamRefused('the first message must be a JSON text message: {"sample_rate": ...}')
        try:
            config, fmt, predictor = parse_start(first["text"], self.predictor, self.limits)
        except ConfigError as exc:
            raise StreamRefused(str(exc), reason="bad start message") from None
        session = predictor.stream(config)
        dtype = np.dtype("<i2") if fmt == "pcm_s16le" else np.dtype("<f4")
        leftover = b""
        heard = 0.0
        started = time.monotonic()
        slice_samples = max(1, int(SLICE_SECONDS * config.sample_rate))
        while True:
            try:
                message = await self.next_message()
            except TimeoutError:
                return await self._finish(session, "idle timeout")
            if message is None:
                return  # the client went away: its work stops here
            if message.get("text") is not None:
                if is_end(message["text"]):
                    return await self._finish(session, "end of stream")
                raise StreamRefused('after the start message the only text is {"event": "end"}')
            data = message.get("bytes") or b""
            if len(data) > self.limits.max_chunk_bytes:
                raise StreamRefused(f"chunk over {self.limits.max_chunk_bytes} bytes", 1009, "chunk too big")
            data = leftover + data
            usable = len(data) - len(data) % dtype.itemsize
            leftover = data[usable:]
            samples = np.frombuffer(data[:usable], dtype=dtype)
            for begin in range(0, len(samples), slice_samples):
                if self.gone.is_set():
                    return
                piece = samples[begin : begin + slice_samples]
                heard += len(piece) / config.sample_rate
                await self._pace(heard, started)
                try:
                    updates = await self.push(session, piece)
                except EmovoxError as exc:
                    raise StreamRefused(str(exc), reason="bad audio") from None
                for update in updates:
                    await self.send(update.to_dict())
                if heard >= self.limits.max_stream_seconds:
                    return await self._finish(session, "stream length limit reached")
            if (
                self.waited > self.limits.idle_timeout_seconds
                and heard < self.limits.min_realtime_ratio * self.waited
            ):
                raise StreamRefused(
                    f"audio arrives at {heard / self.waited:.2f}x real time, under the "
                    f"{self.limits.min_realtime_ratio:g}x this service needs",
                    1008,
                    "too slow",
                )

    async def push(self, session: Any, piece: np.ndarray) -> list[Any]:
        """The session's updates for one slice. The streaming LSTM's step over at most a slice
        (0.5 s: 50 frames, a few milliseconds) runs right here: a thread handoff per message
        cost 25 times the work (100 streams: p50 1.7 s against 67 ms); so does a slice a block
        stream only buffers (most 100 ms chunks complete no block: one every 250 ms). Blocks and windows
        to encode, and every final decision, go to the worker pool."""
        if self.predictor.streams_frames or session.only_buffers(len(piece)):
            updates = session.push(piece)
            await asyncio.sleep(0)  # let other clients, and a departure, be seen between slices
            return updates
        return await self.run(session.push, piece)

    async def _pace(self, heard: float, started: float) -> None:
        """Wait while the stream is ahead of what real time allows (burst, then a factor)."""
        elapsed = time.monotonic() - started
        ahead = heard - self.limits.max_burst_seconds - self.limits.max_realtime_factor * elapsed
        if ahead > 0:
            await asyncio.sleep(ahead / self.limits.max_realtime_factor)

    async def _finish(self, session: Any, reason: str) -> None:
        final = await self.run(session.finish)
        message: dict[str, Any] = {"final": True, "t": round(session.samples / session.rate, 3)}
        nothing = {"labels": list(session.predictor.labels), "label": None}
        message.update(final.to_dict() if final else nothing)
        await self.send(message)
        try:
            await self.websocket.close(code=1000, reason=reason)
        except RuntimeError as exc:  # already closed by the client
            raise ClientGone() from exc


UPDATE_OVERHEAD_SECONDS = 0.0004  # event loop, JSON and WebSocket frames per update (measured:
# benchmarks/service_load.py); the GIL puts the event loop and the models' Python code on one core
EVENT_LOOP_LOAD = 0.4  # of the event loop's core for frame streams (100 LSTM streams: p99 76 ms)
WORKER_LOAD = 0.8  # of the worker cores for block and window streams: the estimate then meets the
# count benchmarks/live_capacity.py serves (0.5 gave 14 where 25 were served within p99 300 ms)


def stream_capacity(predictor: EmotionPredictor, workers: int = 1, target_load: float | None = None) -> int:
    """How many real-time streams (at their default update period) the service can serve at
    `target_load` (default: `EVENT_LOOP_LOAD` or `WORKER_LOAD`) of the cores their work runs on:
    the CPU seconds one stream costs per second of
    audio, the model's measured on a synthetic voice plus the speech check's and the service's
    per-update overhead. The streaming LSTM's steps run on the event loop (one core); other
    models' in the `workers` threads, mostly outside the GIL (onnxruntime), so on that many cores.

    The synthetic voice is no speech to the voice-activity detector, which would skip the
    encoders: the model runs with the speech rule off, and the rule's own cost (its worst case,
    a piece without speech, read to the end) is measured apart and added."""
    rate = predictor.audio.sample_rate
    t = np.arange(4 * rate) / rate
    voice = (0.3 * np.sin(2 * np.pi * 150 * t) * (1 + np.sin(2 * np.pi * 3 * t))).astype(np.float32)
    rule, predictor.speech = predictor.speech, None  # at start-up, before anything is served
    try:
        session = predictor.stream(level="as_is")
        session.push(voice[:rate])  # warm up
        costs = []  # CPU seconds per audio second, three times: the least is the least disturbed
        for second in range(1, 4):
            start = time.thread_time()
            updates = len(session.push(voice[second * rate : (second + 1) * rate]))
            costs.append(time.thread_time() - start + updates * UPDATE_OVERHEAD_SECONDS)
    finally:
        predictor.speech = rule
    cost = min(costs) + speech_check_cost(predictor, session, voice)
    cores = 1 if predictor.streams_frames else max(1, workers)
    load = target_load or (EVENT_LOOP_LOAD if predictor.streams_frames else WORKER_LOAD)
    return int(min(500, max(1, load * cores / max(cost, 1e-4))))


def speech_check_cost(predictor: EmotionPredictor, session: Any, voice: np.ndarray) -> float:
    """CPU seconds per audio second of a stream's speech checks: one per block (block streams) or
    per update on its window (window streams); frame streams have none."""
    if rule := predictor.speech:
        from emovox.backbones.vad import speech_detector

        rate = predictor.audio.sample_rate
        if session.blocks_mode:
            piece, hop = session.grid.samples(rate)
            per_second = rate / hop
        elif not session.frames_mode:
            piece, per_second = round(session.config.window_seconds * rate), 1000 / session.emit_every_ms
        else:
            return 0.0
        start = time.thread_time()
        for _ in range(5):
            speech_detector().has_speech(voice[:piece], rule)
        return (time.thread_time() - start) / 5 * per_second
    return 0.0
