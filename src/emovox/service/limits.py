"""Every limit of the service in one place, with its default and why; checked when built.

Memory per request is bounded by these: an upload is held as bytes (`max_upload_bytes`), its
audio decodes block by block into 16 kHz mono float32 (64 KB per second of audio: 7.7 MB for
`max_audio_seconds`, 230 MB for `max_timeline_seconds`), and only `workers` requests decode or
predict at once; a stream of a window model keeps at most `max_stream_kept_seconds` of audio.
"""

from __future__ import annotations

import math
import os
from dataclasses import asdict, dataclass, fields

from emovox.errors import ConfigError


@dataclass(frozen=True)
class ServiceLimits:
    max_upload_bytes: int = 20 * 1024 * 1024  # one request body
    max_audio_seconds: float = 120.0  # /v1/predict
    max_timeline_seconds: float = 3600.0  # /v1/timeline
    max_input_rate_channels: int = 384_000  # decoded samples per second of audio (192 kHz stereo)
    max_concurrent_requests: int = 64  # uploads being received, waiting or predicted; more get 429
    read_timeout_seconds: float = 30.0  # to receive a whole request body; slower gets 408
    header_timeout_seconds: float = 10.0  # to receive a request's headers; slower is disconnected
    max_connections: int = 4096  # open at once; past it the oldest still sending headers is dropped
    workers: int = 0  # threads for model work (decoding, features, inference); 0: one per core
    max_streams: int = 0  # live streams at once; 0: estimated at start (`stream_capacity`)
    max_stream_seconds: float = 3600.0  # audio in one stream, then its final message
    max_stream_kept_seconds: float = 60.0  # audio a window-model stream keeps for its decision
    min_emit_ms: float = 100.0  # window models: the most frequent updates a stream may ask for
    max_chunk_bytes: int = 1024 * 1024  # one binary message
    max_burst_seconds: float = 30.0  # audio a stream may send ahead of real time ...
    max_realtime_factor: float = 4.0  # ... and how much faster than real time after that
    idle_timeout_seconds: float = 30.0  # a stream with no message for this long is finished
    min_realtime_ratio: float = 0.25  # past the idle timeout: audio seconds per wall second at least

    def __post_init__(self) -> None:
        for field in fields(self):
            value = getattr(self, field.name)
            if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
                raise ConfigError(f"service limit {field.name} must be a finite number, got {value!r}")
            allowed_zero = field.name in ("workers", "max_streams")
            if value < 0 or (value == 0 and not allowed_zero):
                raise ConfigError(f"service limit {field.name} must be > 0, got {value}")
        if self.min_realtime_ratio >= 1 or self.max_realtime_factor < 1:
            raise ConfigError("min_realtime_ratio must be < 1 and max_realtime_factor >= 1")

    @property
    def worker_threads(self) -> int:
        return self.workers or os.cpu_count() or 1

    def to_dict(self) -> dict[str, float]:
        return asdict(self)
