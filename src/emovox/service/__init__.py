"""The HTTP/WebSocket service and the web page it serves."""

import sys

from emovox.service.app import WS_PROTOCOL, create_app
from emovox.service.limits import ServiceLimits

__all__ = ["WS_PROTOCOL", "ServiceLimits", "create_app", "serve"]


def serve(
    model: str = "default",
    host: str = "127.0.0.1",
    port: int = 8000,
    backend: str = "onnx",
    limits: ServiceLimits | None = None,
    torch_threads: int = 1,
) -> None:
    """Load the model and serve until interrupted (uvicorn).

    PyTorch, where the model needs it, gets one thread: the service runs many small requests
    side by side, where intra-op threads only contend."""
    import uvicorn

    from emovox.inference import EmotionPredictor

    limits = limits or ServiceLimits()
    predictor = EmotionPredictor.load(model, backend=backend)
    torch = sys.modules.get("torch")  # imported by loading a network, never for a classical model
    if torch is not None:
        torch.set_num_threads(torch_threads)
    app = create_app(predictor, limits)
    print(
        f"emovox: serving on http://{host}:{port} ({app.state.max_streams} live streams at most)", flush=True
    )
    # a WebSocket message larger than a chunk is refused by the server before it is buffered
    uvicorn.run(app, host=host, port=port, log_level="info", ws_max_size=limits.max_chunk_bytes + 1024)
