"""The HTTP/WebSocket service (FastAPI): predictions for uploaded files and live PCM streams,
and the web page at `/`. Every limit is configurable; bad input gets a 4xx with a JSON body
`{"error": message, "status": code}` and never disturbs other clients."""

from __future__ import annotations

import asyncio
import json
from dataclasses import asdict, dataclass
from importlib import resources
from typing import Any

import numpy as np
from fastapi import FastAPI, Request, WebSocket, WebSocketDisconnect
from fastapi.responses import FileResponse, JSONResponse, PlainTextResponse
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.formparsers import MultiPartException

from emovox import __version__
from emovox.audio import AudioConfig
from emovox.errors import AudioError, AudioTooLongError, ConfigError, EmovoxError, NoSoundError
from emovox.inference import EmotionPredictor, InputLevel, StreamConfig

STATIC = resources.files("emovox") / "service" / "static"

WS_PROTOCOL = """Live streaming over `WS /v1/stream`:

1. The client sends one JSON text message: `{"sample_rate": 16000, "format": "pcm_s16le" | "pcm_f32le"}`
   (optional: `"emit_every_ms"` (default 100), `"decision"`: `"last"` | `"mean"`, `"level"`:
   `"running_peak"` (default, for microphones) | `"as_is"`, `"smoothing_seconds"` (default 1;
   0 for none)).
2. Then binary messages of mono PCM in that format, any size (little-endian).
3. The server answers JSON text messages `{"t": seconds, "class", "label", "confidence": [...],
   "utterance": {...}, "smoothed": {...}, "held": seconds}` as results become available
   (`smoothed`: a moving average of the probabilities; `held`: how long its top emotion has held).
4. The client sends the text message `{"event": "end"}`; the server answers
   `{"final": true, "t", "class", "label", "confidence", "labels"}` and closes (1000).
Over capacity the server closes with 1013; bad messages close with 1003 (unsupported data) or
1009 (too big) after an `{"error": ...}` message; an idle stream is finished and closed.
"""


@dataclass(frozen=True)
class ServiceLimits:
    max_upload_bytes: int = 20 * 1024 * 1024
    max_audio_seconds: float = 120.0  # /v1/predict
    max_timeline_seconds: float = 3600.0  # /v1/timeline
    max_input_rate_channels: int = 384_000  # sample rate x channels decoded per second of audio
    max_concurrent_requests: int = 64  # predictions running or waiting; more get 429
    max_streams: int = 200
    max_stream_seconds: float = 3600.0
    max_chunk_bytes: int = 1024 * 1024
    idle_timeout_seconds: float = 30.0

    def __post_init__(self) -> None:
        for name, value in asdict(self).items():
            if value <= 0:
                raise ConfigError(f"service limit {name} must be > 0, got {value}")


class HttpError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def error_response(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message, "status": status}, status_code=status)


def status_for(exc: EmovoxError) -> int:
    if isinstance(exc, AudioTooLongError):
        return 413
    if isinstance(exc, NoSoundError):  # decodable, but nothing to judge
        return 422
    if isinstance(exc, AudioError):
        return 415
    return 422


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, refused with 413 as soon as it passes `limit` bytes."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise HttpError(413, f"upload of {int(declared)} bytes is over the {limit}-byte limit")
    body = bytearray()
    async for part in request.stream():
        body += part
        if len(body) > limit:
            raise HttpError(413, f"upload is over the {limit}-byte limit")
    return bytes(body)


async def audio_bytes(request: Request, limit: int) -> bytes:
    """The uploaded file: the `file` field of a multipart form, or the raw body."""
    body = await read_body(request, limit)
    if request.headers.get("content-type", "").startswith("multipart/form-data"):

        async def replay() -> dict[str, Any]:
            return {"type": "http.request", "body": body, "more_body": False}

        try:
            form = await Request(request.scope, replay).form(max_files=1, max_fields=10)
        except (HTTPException, MultiPartException) as exc:  # what the parser says of a malformed form
            detail = getattr(exc, "detail", None) or getattr(exc, "message", exc)
            raise HttpError(422, f"malformed multipart form: {detail}") from exc
        upload = form.get("file")
        if upload is None or isinstance(upload, str):
            raise HttpError(422, "multipart form needs a file field named 'file'")
        body = await upload.read()
    if not body:
        raise HttpError(422, "no audio in the request (empty body)")
    return body


class Capacity:
    """Counts work in progress; refuses more than `limit` at once."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.active = 0

    def try_enter(self) -> bool:
        if self.active >= self.limit:
            return False
        self.active += 1
        return True

    def leave(self) -> None:
        self.active -= 1


def create_app(predictor: EmotionPredictor, limits: ServiceLimits | None = None) -> FastAPI:
    limits = limits or ServiceLimits()
    app = FastAPI(
        title="emovox",
        version=__version__,
        description="Speech emotion recognition. " + WS_PROTOCOL,
    )
    requests, streams = Capacity(limits.max_concurrent_requests), Capacity(limits.max_streams)
    clip_audio = AudioConfig(**{**predictor.audio.to_dict(), "max_seconds": limits.max_audio_seconds})

    def max_samples(audio: AudioConfig) -> int:
        """Samples an upload may decode to: its seconds cap x the rate x channels limit."""
        return int((audio.max_seconds or 0) * limits.max_input_rate_channels)

    timeline_audio = AudioConfig(
        **{**predictor.audio.to_dict(), "max_seconds": limits.max_timeline_seconds, "peak_normalise": False}
    )

    @app.exception_handler(HttpError)
    async def _http_error(_: Request, exc: HttpError) -> JSONResponse:
        return error_response(exc.status, str(exc))

    @app.exception_handler(EmovoxError)
    async def _emovox_error(_: Request, exc: EmovoxError) -> JSONResponse:
        return error_response(status_for(exc), str(exc))

    async def guarded(work: Any, *args: Any) -> Any:
        if not requests.try_enter():
            raise HttpError(429, "too many requests in progress; retry shortly")
        try:
            return await run_in_threadpool(work, *args)
        finally:
            requests.leave()

    @app.get("/", include_in_schema=False)
    async def index() -> FileResponse:
        return FileResponse(str(STATIC / "index.html"))

    @app.get("/favicon.ico", include_in_schema=False)
    async def favicon() -> FileResponse:
        return FileResponse(str(STATIC / "favicon.svg"), media_type="image/svg+xml")

    app.mount("/static", StaticFiles(directory=str(STATIC)), name="static")

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/v1/models")
    async def models() -> dict[str, Any]:
        return {**predictor.describe(), "limits": asdict(limits)}

    @app.get("/v1/models/card")
    async def model_card() -> PlainTextResponse:
        """The loaded model's card (Markdown, shown as text): data, evaluation, limits."""
        card = predictor.card()
        if card is None:
            raise HttpError(404, "this model directory has no MODEL_CARD.md")
        return PlainTextResponse(card)

    @app.post("/v1/predict")
    async def predict(request: Request) -> dict[str, Any]:
        """An audio file (multipart field `file`, or the raw body) -> `{"class", "label",
        "confidence", "labels"}`."""
        data = await audio_bytes(request, limits.max_upload_bytes)

        def work() -> dict[str, Any]:
            return predictor.predict(data, config=clip_audio, max_samples=max_samples(clip_audio)).to_dict()

        return await guarded(work)

    @app.post("/v1/timeline")
    async def timeline(request: Request) -> dict[str, Any]:
        """The same input -> `{"segments": [{"start", "end", "class", "label", "confidence"}],
        "labels"}`."""
        data = await audio_bytes(request, limits.max_upload_bytes)

        def work() -> dict[str, Any]:
            signal = predictor.signal(data, config=timeline_audio, max_samples=max_samples(timeline_audio))
            duration = len(signal) / timeline_audio.sample_rate
            segments = predictor.timeline(signal, timeline_audio.sample_rate, max_seconds=None)
            return {"labels": list(predictor.labels), "duration": round(duration, 3),
                    "segments": [s.to_dict() for s in segments]}  # fmt: skip

        return await guarded(work)

    @app.websocket("/v1/stream")
    async def stream(websocket: WebSocket) -> None:
        await websocket.accept()
        if not streams.try_enter():
            await websocket.close(code=1013, reason="too many concurrent streams; retry later")
            return
        try:
            await _serve_stream(websocket, predictor, limits)
        except WebSocketDisconnect:
            pass
        finally:
            streams.leave()

    return app


def parse_start(text: str) -> tuple[StreamConfig, str]:
    """The stream's opening message -> its config and PCM format; ConfigError when malformed."""
    try:
        start = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"the first message must be JSON: {exc}") from None
    if not isinstance(start, dict):
        raise ConfigError("the first message must be a JSON object")
    fmt = start.get("format", "pcm_s16le")
    if fmt not in ("pcm_s16le", "pcm_f32le"):
        raise ConfigError(f"format must be pcm_s16le or pcm_f32le, got {fmt!r}")
    rate = start.get("sample_rate")
    if not isinstance(rate, int) or isinstance(rate, bool):
        raise ConfigError("sample_rate must be an integer (Hz)")
    options = {k: start[k] for k in ("emit_every_ms", "decision", "level", "smoothing_seconds") if k in start}
    return StreamConfig(sample_rate=rate, **{"level": InputLevel.RUNNING_PEAK, **options}), fmt


def is_end(text: str) -> bool:
    """Whether a text message is the client's `{"event": "end"}`."""
    try:
        message = json.loads(text)
    except json.JSONDecodeError:
        return False
    return isinstance(message, dict) and message.get("event") == "end"


async def _serve_stream(websocket: WebSocket, predictor: EmotionPredictor, limits: ServiceLimits) -> None:
    idle = limits.idle_timeout_seconds
    try:
        config, fmt = parse_start(await asyncio.wait_for(websocket.receive_text(), idle))
    except (ConfigError, KeyError, TypeError) as exc:
        await websocket.send_json({"error": str(exc)})
        await websocket.close(code=1003, reason="bad start message")
        return
    except TimeoutError:
        await websocket.close(code=1000, reason="idle timeout")
        return
    session = predictor.stream(config)
    dtype, width = (np.dtype("<i2"), 2) if fmt == "pcm_s16le" else (np.dtype("<f4"), 4)
    leftover = b""
    heard = 0.0
    inline = predictor.streams_frames  # the LSTM step is sub-millisecond; windows go to a thread

    async def finish(reason: str) -> None:
        final = session.finish()
        message = {"final": True, "t": round(session.samples / session.rate, 3)}
        message.update(final.to_dict() if final else {"labels": list(predictor.labels), "label": None})
        await websocket.send_json(message)
        await websocket.close(code=1000, reason=reason)

    while True:
        try:
            message = await asyncio.wait_for(websocket.receive(), idle)
        except TimeoutError:
            await finish("idle timeout")
            return
        if message["type"] == "websocket.disconnect":
            return
        if message.get("text") is not None:
            if is_end(message["text"]):
                await finish("end of stream")
                return
            await websocket.send_json({"error": 'after the start message the only text is {"event": "end"}'})
            continue
        data = message.get("bytes") or b""
        if len(data) > limits.max_chunk_bytes:
            await websocket.send_json({"error": f"chunk over {limits.max_chunk_bytes} bytes"})
            await websocket.close(code=1009, reason="chunk too big")
            return
        data = leftover + data
        usable = len(data) - len(data) % width
        leftover = data[usable:]
        chunk = np.frombuffer(data[:usable], dtype=dtype)
        heard += len(chunk) / config.sample_rate
        try:
            updates = session.push(chunk) if inline else await run_in_threadpool(session.push, chunk)
        except AudioError as exc:
            await websocket.send_json({"error": str(exc)})
            await websocket.close(code=1003, reason="bad audio")
            return
        for update in updates:
            await websocket.send_json(update.to_dict())
        if heard > limits.max_stream_seconds:
            await finish("stream length limit reached")
            return
