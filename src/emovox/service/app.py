"""The HTTP/WebSocket service (FastAPI): predictions for uploaded files and live PCM streams,
and the web page at `/`. Every limit is configurable (`ServiceLimits`); bad input gets a 4xx
with a JSON body `{"error": message, "status": code}` and never disturbs other clients. Model
work (decoding, features, inference) runs in one bounded pool of worker threads, not on the
event loop, so `/health` and other clients are answered while it runs (the streaming LSTM's
few-millisecond step per slice excepted: see `emovox.service.streams`)."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from importlib import resources
from typing import Any, TypeVar

from fastapi import FastAPI, Request, WebSocket
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import FileResponse, JSONResponse, PlainTextResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException
from starlette.formparsers import MultiPartException
from starlette.requests import ClientDisconnect

from emovox import __version__
from emovox.artifact.store import ArtifactError
from emovox.audio import AudioConfig
from emovox.errors import AudioError, AudioTooLongError, AudioTooShortError, EmovoxError, NoSoundError
from emovox.inference import EmotionPredictor
from emovox.inference.diarisation import parse_speakers
from emovox.inference.result import speaker_summary
from emovox.service.access import CLOSE_FORBIDDEN_ORIGIN, CLOSE_UNAUTHORIZED, ServiceAccess
from emovox.service.limits import ServiceLimits
from emovox.service.streams import LiveStream, stream_capacity

STATIC = resources.files("emovox") / "service" / "static"
T = TypeVar("T")

WS_PROTOCOL = """Live streaming over `WS /v1/stream`:

1. The client sends one JSON text message: `{"sample_rate": 16000, "format": "pcm_s16le" | "pcm_f32le"}`
   (optional: `"emit_every_ms"` (default 250 for the bundled model, whose streams encode each
   period's audio once as a block; 100 for other models), `"decision"`: `"last"` | `"mean"`, `"level"`:
   `"running_peak"` (default, for microphones) | `"as_is"`, `"smoothing_seconds"` (default 1;
   0 for none)).
2. Then binary messages of mono PCM in that format, any size (little-endian).
3. The server answers JSON text messages `{"t": seconds, "class", "label", "confidence": [...],
   "uncertain", "utterance": {...}, "smoothed": {...}, "held": seconds}` as results become available
   (`smoothed`: a moving average of the probabilities; `held`: how long its top emotion has held).
4. The client sends the text message `{"event": "end"}`; the server answers
   `{"final": true, "t", "class", "label", "confidence", "labels", "uncertain"}` and closes (1000).
Over capacity the server closes with 1013 at once; bad messages close with 1003 (unsupported
data) or 1009 (too big), a stream far slower than real time with 1008, each after an
`{"error": ...}` message; an idle stream gets its final message and is closed. A client may
send ahead of real time (a burst, then a few times real time): faster senders are slowed down.
A service started with an access token closes a stream that does not offer it (as the
subprotocol `emovox.token.TOKEN`, beside `emovox`) with 4401; a page of another origin than
the service's own (unless allowed) is closed with 4403.
"""


class HttpError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def error_response(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message, "status": status}, status_code=status)


def status_for(exc: EmovoxError) -> int:
    if isinstance(exc, AudioTooLongError):
        return 413
    if isinstance(exc, NoSoundError | AudioTooShortError):  # decodable, but nothing to judge
        return 422
    if isinstance(exc, AudioError):
        return 415
    return 422


class ClientGone(Exception):
    """The client closed the connection during its upload: nobody to answer."""


async def read_body(request: Request, limit: int, timeout: float) -> bytes:
    """The request body, refused with 413 as soon as it passes `limit` bytes, and with 408 when
    it has not all arrived within `timeout` seconds (a client that stalls holds nothing long)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise HttpError(413, f"upload of {int(declared)} bytes is over the {limit}-byte limit")
    body = bytearray()
    try:
        async with asyncio.timeout(timeout):
            async for part in request.stream():
                body += part
                if len(body) > limit:
                    raise HttpError(413, f"upload is over the {limit}-byte limit")
    except TimeoutError:
        raise HttpError(408, f"the request body did not arrive within {timeout:g} s") from None
    except ClientDisconnect:
        raise ClientGone() from None
    return bytes(body)


async def audio_bytes(request: Request, limits: ServiceLimits) -> bytes:
    """The uploaded file: the `file` field of a multipart form, or the raw body."""
    body = await read_body(request, limits.max_upload_bytes, limits.read_timeout_seconds)
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

    @contextlib.asynccontextmanager
    async def admitted(self, refusal: str) -> AsyncIterator[None]:
        """Inside: one unit of work counted; over the limit: a 429 with `refusal`."""
        if not self.try_enter():
            raise HttpError(429, refusal)
        try:
            yield
        finally:
            self.leave()


def create_app(
    predictor: EmotionPredictor, limits: ServiceLimits | None = None, access: ServiceAccess | None = None
) -> FastAPI:
    limits = limits or ServiceLimits()
    access = access or ServiceAccess()
    workers = ThreadPoolExecutor(limits.worker_threads, thread_name_prefix="emovox-worker")
    max_streams = limits.max_streams or stream_capacity(predictor, limits.worker_threads)

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        workers.shutdown(wait=False, cancel_futures=True)

    app = FastAPI(  # no /docs or /redoc: their pages load scripts from a CDN; /openapi.json stays
        title="emovox",
        version=__version__,
        description="Speech emotion recognition. " + WS_PROTOCOL,
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
    )
    if access.allowed_origins:  # other pages allowed: answer their preflights and let them read
        headers = ["Authorization", "Content-Type"]
        app.add_middleware(CORSMiddleware, allow_origins=list(access.allowed_origins),
                           allow_methods=["GET", "POST"], allow_headers=headers)  # fmt: skip
    app.state.max_streams = max_streams
    requests, streams = Capacity(limits.max_concurrent_requests), Capacity(max_streams)
    clip_audio = AudioConfig(**{**predictor.audio.to_dict(), "max_seconds": limits.max_audio_seconds})
    timeline_audio = predictor.timeline_audio(limits.max_timeline_seconds)

    # samples an upload may decode to: its seconds cap x the rate x channels limit
    clip_samples = int(limits.max_audio_seconds * limits.max_input_rate_channels)
    timeline_samples = int(limits.max_timeline_seconds * limits.max_input_rate_channels)

    async def run(work: Callable[..., T], *args: Any) -> T:
        """`work(*args)` in the worker pool; the event loop stays free meanwhile."""
        return await asyncio.get_running_loop().run_in_executor(workers, work, *args)

    async def run_for(request: Request, work: Callable[[threading.Event], T]) -> T:
        """`work(stop)` in the pool while the client is watched: if it hangs up, `stop` is set (the
        work ends at its next check and frees its worker and slot) and nobody is answered."""
        stop = threading.Event()
        job = asyncio.ensure_future(run(work, stop))
        while not job.done():
            await asyncio.wait({job}, timeout=0.25)
            if not job.done() and await request.is_disconnected():
                stop.set()
        result = job.result()
        if stop.is_set():
            raise ClientGone()
        return result

    def answering(request: Request) -> EmotionPredictor:
        """The predictor that answers a request: restricted to its `?labels=a,b,c`, if any."""
        return predictor.restricted(request.query_params.get("labels"))

    def allowed(request: Request) -> None:
        """The `/v1/*` guard: another page's request (403) or one without the token (401)."""
        if not access.origin_ok(request.headers, request.url.scheme):
            raise HttpError(403, f"requests from {request.headers.get('origin')} are not allowed")
        if not access.bearer_ok(request.headers):
            raise HttpError(401, "this service needs its access token: Authorization: Bearer TOKEN")

    @app.exception_handler(HttpError)
    async def _http_error(_: Request, exc: HttpError) -> JSONResponse:
        return error_response(exc.status, str(exc))

    @app.exception_handler(EmovoxError)
    async def _emovox_error(_: Request, exc: EmovoxError) -> JSONResponse:
        return error_response(status_for(exc), str(exc))

    @app.exception_handler(HTTPException)
    async def _starlette_error(_: Request, exc: HTTPException) -> JSONResponse:  # 404, 405, ...
        return error_response(exc.status_code, str(exc.detail))

    @app.exception_handler(ClientGone)
    async def _client_gone(_: Request, __: ClientGone) -> Response:
        return Response(status_code=400)  # never read: the client is gone; nothing to log

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
    async def models(request: Request) -> dict[str, Any]:
        allowed(request)
        return {**predictor.describe(), "limits": {**limits.to_dict(), "max_streams": max_streams}}

    @app.get("/v1/models/card")
    async def model_card(request: Request) -> PlainTextResponse:
        """The loaded model's card (Markdown, shown as text): data, evaluation, limits."""
        allowed(request)
        try:
            card = await run(predictor.card)
        except ArtifactError as exc:
            raise HttpError(404, str(exc)) from None
        if card is None:
            raise HttpError(404, "this model directory has no MODEL_CARD.md")
        return PlainTextResponse(card)

    busy = "too many requests in progress; retry shortly"

    @app.post("/v1/predict")
    async def predict(request: Request) -> dict[str, Any]:
        """An audio file (multipart field `file`, or the raw body) -> `{"class", "label",
        "confidence", "labels", "uncertain"}`."""
        allowed(request)
        chosen = answering(request)
        async with requests.admitted(busy):  # the upload counts from its first byte
            data = await audio_bytes(request, limits)

            def work(stop: threading.Event) -> dict[str, Any]:
                if stop.is_set():  # gone while the request waited for a worker
                    return {}
                return chosen.predict(data, config=clip_audio, max_samples=clip_samples).to_dict()

            return await run_for(request, work)

    @app.post("/v1/timeline")
    async def timeline(request: Request) -> dict[str, Any]:
        """The same input -> `{"segments": [{"start", "end", "class", "label", "confidence",
        "uncertain"}], "labels", "duration"}`; with `?speakers=auto` (or a number) each segment
        has its `speaker` and `"speakers"` gives each one's seconds and emotion shares."""
        allowed(request)
        chosen = answering(request)
        speakers = request.query_params.get("speakers")
        if speakers is not None:
            parse_speakers(speakers)  # a bad value is a 400 before the upload is read
        async with requests.admitted(busy):
            data = await audio_bytes(request, limits)

            def work(stop: threading.Event) -> dict[str, Any]:
                if stop.is_set():
                    return {}
                signal = chosen.signal(data, config=timeline_audio, max_samples=timeline_samples)
                duration = len(signal) / timeline_audio.sample_rate
                # read once, not prepared again
                segments = chosen.timeline_of(signal, stop=stop, speakers=speakers)
                whose = {"speakers": speaker_summary(segments)} if speakers is not None else {}
                return {"labels": list(chosen.labels), "duration": round(duration, 3),
                        "segments": [s.to_dict() for s in segments], **whose}  # fmt: skip

            return await run_for(request, work)

    @app.websocket("/v1/stream")
    async def stream(websocket: WebSocket) -> None:
        offered = websocket.scope.get("subprotocols", [])
        await websocket.accept(subprotocol="emovox" if "emovox" in offered else None)
        scheme = "https" if websocket.url.scheme == "wss" else "http"
        refusal = (
            (CLOSE_FORBIDDEN_ORIGIN, f"streams from {websocket.headers.get('origin')} are not allowed")
            if not access.origin_ok(websocket.headers, scheme)
            else (CLOSE_UNAUTHORIZED, "this service needs its access token")
            if not access.token_matches(access.stream_token(offered))
            else None
        )
        if refusal is not None:
            with contextlib.suppress(Exception):  # the client may be gone already
                await websocket.send_json({"error": refusal[1]})
                await websocket.close(code=refusal[0], reason=refusal[1][:120])
            return
        if not streams.try_enter():
            await websocket.close(code=1013, reason="too many concurrent streams; retry later")
            return
        try:
            await LiveStream(websocket, predictor, limits, run).serve()
        finally:
            streams.leave()

    return app
