"""Running the service: uvicorn's h11 server with the guards it lacks for clients that never
finish a request, and `serve` for the command line.

A connection must deliver each request's headers within `header_timeout_seconds` (from its
first byte, or from the previous response) or it is closed; at most `max_connections` are open
at once: past that, the oldest connection still waiting for its headers is closed to make room
(so a crowd of half-open connections cannot shut out a real client), and the file-descriptor
limit is raised to fit. Bodies have their own deadline (`read_timeout_seconds`, 408).
"""

from __future__ import annotations

import asyncio
import ipaddress
import resource
import sys
from collections import OrderedDict
from typing import Any

import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from emovox.service.access import ServiceAccess
from emovox.service.limits import ServiceLimits


def guarded_protocol(limits: ServiceLimits) -> type[H11Protocol]:
    """An h11 protocol class enforcing `limits`' header deadline and connection cap; the
    connections waiting for headers are shared by every connection of one server."""
    waiting: OrderedDict[GuardedProtocol, asyncio.TimerHandle] = OrderedDict()

    class GuardedProtocol(H11Protocol):
        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            if len(self.connections) > limits.max_connections:
                if waiting:
                    oldest, _ = waiting.popitem(last=False)
                    oldest.drop()
                else:  # every connection is busy with a request: this one waits for none
                    transport.close()
                    return
            self.await_headers()

        def await_headers(self) -> None:
            waiting[self] = self.loop.call_later(limits.header_timeout_seconds, self.drop)

        def headers_arrived(self) -> None:
            timer = waiting.pop(self, None)
            if timer is not None:
                timer.cancel()

        def drop(self) -> None:
            self.headers_arrived()
            if not self.transport.is_closing():
                self.transport.close()

        def handle_events(self) -> None:
            before = self.scope
            super().handle_events()
            if self.scope is not before:  # a request's headers were parsed (or a WebSocket upgraded)
                self.headers_arrived()

        def on_response_complete(self) -> None:
            super().on_response_complete()
            if not self.transport.is_closing():
                self.await_headers()

        def connection_lost(self, exc: Exception | None) -> None:
            self.headers_arrived()
            super().connection_lost(exc)

    return GuardedProtocol


def raise_open_files(needed: int) -> None:
    """Let this process hold `needed` files (and some for its own), up to the hard limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = needed + 256
    if soft != resource.RLIM_INFINITY and soft < wanted:
        limit = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (limit, hard))


def server_config(app: Any, host: str, port: int, limits: ServiceLimits, **options: Any) -> uvicorn.Config:
    """uvicorn's config for the app with emovox's guards (see the module)."""
    raise_open_files(limits.max_connections)
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        http=guarded_protocol(limits),
        ws_max_size=limits.max_chunk_bytes + 1024,  # a larger message is refused before it is buffered
        **options,
    )


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def serve(
    model: str = "default",
    host: str = "127.0.0.1",
    port: int = 8000,
    backend: str = "onnx",
    limits: ServiceLimits | None = None,
    access: ServiceAccess | None = None,
    torch_threads: int = 1,
) -> None:
    """Load the model and serve until interrupted.

    PyTorch, where the model needs it, gets one thread: the service runs many small requests
    side by side, where intra-op threads only contend."""
    from emovox.inference import EmotionPredictor
    from emovox.service.app import create_app

    limits, access = limits or ServiceLimits(), access or ServiceAccess()
    predictor = EmotionPredictor.load(model, backend=backend)
    torch = sys.modules.get("torch")  # imported by loading a network, never for a classical model
    if torch is not None:
        torch.set_num_threads(torch_threads)
    app = create_app(predictor, limits, access)
    if not is_loopback(host) and access.token is None:
        warning = f"serving on {host}, beyond this machine, with no access token: anyone who reaches "
        print(f"emovox: warning: {warning}the port can use it (set EMOVOX_TOKEN or --token)", file=sys.stderr)
    page = f"http://{host}:{port}/" + ("#token=..." if access.token else "")
    print(f"emovox: serving on {page} ({app.state.max_streams} live streams at most)", flush=True)
    uvicorn.Server(server_config(app, host, port, limits, log_level="info")).run()
