"""The encoders as predictions run them: their ONNX graphs on onnxruntime, one thread each (clips
and streams run in parallel processes or threads, one core each), without PyTorch. Graphs are
found by `emovox.backbones.graph_cache`."""

from __future__ import annotations

import functools
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from emovox.backbones.config import Precision, SpeakerConfig, WhisperConfig
from emovox.backbones.frontends import mono, speaker_mel, windowed_states
from emovox.backbones.graph_cache import graph_path
from emovox.backbones.graphs import STREAM
from emovox.backbones.weights import WeightsError, checked_file, checked_hash, read_config
from emovox.errors import choice

LstmState = tuple[np.ndarray, np.ndarray]  # (h, c), each (layers, 1, hidden)
Loaded = TypeVar("Loaded")


def per_process(load: Callable[..., Loaded]) -> Callable[..., Loaded]:
    """`load` memoised by its (positional, hashable) arguments and the process id, behind a lock:
    threads asking at once share one object, loaded once, and a worker process loads its own (an
    onnxruntime session is not carried over a fork)."""
    lock = threading.Lock()

    @functools.lru_cache(maxsize=8)
    def cached(process: int, *args: Any) -> Loaded:
        return load(*args)

    @functools.wraps(load)
    def get(*args: Any) -> Loaded:
        with lock:
            return cached(os.getpid(), *args)

    return get


def session(path: Path) -> Any:
    """An onnxruntime session on one thread, without a memory arena (inputs vary in length: an
    arena would keep every peak)."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.enable_cpu_mem_arena = False
    try:
        return onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own untyped errors for a broken graph
        raise WeightsError(f"{path}: not a loadable ONNX graph ({str(exc)[:200]})") from None


def checked_session(folder: Path) -> Any:
    """A `session` on the one graph a shipped folder's manifest names, after checking its size
    and hash (a graph not the shipped one is refused, never run)."""
    graph = checked_file(folder)
    checked_hash(graph)
    return session(graph)


class OnnxWhisperEncoder:
    """Whisper's front end and encoder graphs, in float32 or with the encoder's matrix products in
    int8 (see `emovox.backbones.export`; benchmarks/backbone.py for speed and what it changes).
    `graph_dir` holds the graphs made for a folder that ships none."""

    def __init__(self, folder: Path, graph_dir: Path, precision: str = Precision.INT8) -> None:
        precision = choice(Precision, precision, "precision")
        self.config = read_config(folder, WhisperConfig)
        self.frontend = session(graph_path("whisper", folder, "frontend", graph_dir))
        self.encoder = session(graph_path("whisper", folder, str(precision), graph_dir))

    def log_mel(self, signal: np.ndarray) -> np.ndarray:
        """(n_mels, len(signal) // 160) Whisper log-mel frames."""
        return self.frontend.run(None, {"samples": mono(signal)[None]})[0][0]

    def signal_states(self, signal: np.ndarray) -> np.ndarray:
        """(layers + 1, outputs, width) float32 hidden states of a 16 kHz signal of any length."""
        return windowed_states(
            self.log_mel(signal), self.config, lambda mel: self.encoder.run(None, {"mel": mel})[0]
        )


class OnnxSpeakerEncoder:
    """The speaker encoder's graph (float32) over Resemblyzer's mel frames; its `stream` graph,
    loaded on first use, carries the LSTM states from one stretch of a stream to the next."""

    def __init__(self, folder: Path, graph_dir: Path) -> None:
        self.config = read_config(folder, SpeakerConfig)
        self.encoder = session(graph_path("speaker", folder, str(Precision.FLOAT32), graph_dir))
        self._folder, self._graph_dir = folder, graph_dir
        self._stream: Any = None

    def signal_states(self, signal: np.ndarray) -> np.ndarray:
        """(layers, frames, hidden) float32 states of a 16 kHz signal, the whole clip in one pass."""
        mels = speaker_mel(signal, self.config.mel_bands)[None]
        return self.encoder.run(None, {"mels": mels})[0][:, 0]

    def initial_state(self) -> LstmState:
        """The LSTMs' state before any audio: zeros."""
        zeros = np.zeros((self.config.layers, 1, self.config.hidden), np.float32)
        return zeros, zeros

    def carried_states(self, signal: np.ndarray, state: LstmState) -> tuple[np.ndarray, LstmState]:
        """(layers, frames, hidden) states of a stretch of signal (its own mel frames) with the
        LSTMs run on from `state`, and their state after it."""
        if self._stream is None:
            self._stream = session(graph_path("speaker", self._folder, STREAM, self._graph_dir))
        mels = speaker_mel(signal, self.config.mel_bands)[None]
        states, h, c = self._stream.run(None, {"mels": mels, "h": state[0], "c": state[1]})
        return states[:, 0], (h, c)
