"""Shared fixtures: the real corpora in ../shared/data (a failure in CI if missing) and tone clips."""

from __future__ import annotations

import contextlib
import csv
import json
import os
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
import soundfile as sf

from emovox.corpora import Manifest, read_corpus

DATA = Path(os.environ.get("EMOVOX_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
ROOT_EXAMPLES = Path(__file__).resolve().parents[1] / "examples"  # six RAVDESS clips shipped with emovox


def cold_env(home: Path, **extra: str) -> dict[str, str]:
    """The environment of a fresh machine's user: an empty home directory and feature cache, so
    nothing an earlier run left (graphs, features) can help a command in it."""
    home.mkdir(parents=True, exist_ok=True)
    return {**os.environ, "HOME": str(home), "XDG_CACHE_HOME": str(home / ".cache"),
            "EMOVOX_CACHE": str(home / ".cache" / "emovox" / "features"), **extra}  # fmt: skip


# `python -c` this, then emovox's command line: PyTorch cannot be imported, as in an install of
# emovox without its torch extra
WITHOUT_TORCH = """
import sys
class NoTorch:
    def find_spec(self, name, path=None, target=None):
        if name == "torch" or name.startswith("torch."):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
sys.meta_path.insert(0, NoTorch())
from emovox.cli import main
sys.exit(main(sys.argv[1:]))
"""


def corpus_root(name: str) -> Path:
    root = DATA / name
    if not root.is_dir():
        message = f"corpus {name} not found at {root} (set EMOVOX_DATA)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return root


@pytest.fixture(scope="session")
def ravdess() -> Manifest:
    return read_corpus("ravdess", corpus_root("ravdess"))


@pytest.fixture(scope="session")
def emodb() -> Manifest:
    return read_corpus("emodb", corpus_root("emodb"))


@pytest.fixture(scope="session")
def ravdess_clip(ravdess: Manifest) -> str:
    """A 3.5-4 s angry RAVDESS clip."""
    return next(u.path for u in ravdess if Path(u.path).stem == "03-01-05-02-01-01-01")


def voiced_signal(seconds: float = 1.0, f0: float = 150.0, sr: int = 16_000, seed: int = 0) -> np.ndarray:
    """A synthetic vowel: harmonics of f0 with a little noise, float32 in [-1, 1]."""
    t = np.arange(int(seconds * sr)) / sr
    x = sum(np.sin(2 * np.pi * f0 * k * t) / k for k in range(1, 8))
    x = x + 0.01 * np.random.default_rng(seed).standard_normal(len(t))
    return (x / np.abs(x).max()).astype(np.float32)


def click_in_zeros() -> np.ndarray:
    """3 s of int16 digital zeros at 16 kHz with one non-zero sample at the very end: decodable,
    not silent, and without one whole 25 ms frame of sound."""
    samples = np.zeros(48_000, dtype=np.int16)
    samples[-1] = 1000
    return samples


def write_clip(path: Path, seconds: float = 0.3, sr: int = 16_000, **kwargs: object) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, voiced_signal(seconds, sr=sr), sr, **kwargs)
    return path


SMALL_MODEL = """
name = "small-{model}"
[data]
corpora = ["ravdess"]
data_dir = "{data}"
protocol = "ravdess-emobox"
n_val_speakers = 2
every = 6
features = "{features}"
[model]
name = "{model}"
[model.params]
{params}
[train]
epochs = 3
batch_size = 16
"""

SMALL_MODELS = {  # quick to train; the accuracy of these is not the point, the plumbing is
    "lstm_stream": ("mfcc", "hidden_size = 24"),
    "mlp": ("utterance110", "hidden = [32]"),
    "layer_head": ("whisper", "hidden = 16"),
    "attentive_head": ("whisper_frames", "hidden = 16\nattention = 8"),
}


@pytest.fixture(scope="session")
def trained_models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Small models trained on a sixth of RAVDESS, saved as model directories, plus their ensemble."""
    from emovox.artifact import combine
    from emovox.evaluation import load_experiment
    from emovox.recipes.train import train_and_save

    corpus_root("ravdess")
    base = tmp_path_factory.mktemp("models")
    out = {}
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("EMOVOX_CACHE", str(base / "cache"))
        for model, (features, params) in SMALL_MODELS.items():
            config = base / f"{model}.toml"
            config.write_text(SMALL_MODEL.format(model=model, data=DATA, features=features, params=params))
            train_and_save(load_experiment(config), base / model, progress=False, jobs=1)
            out[model] = base / model
    combine([out["lstm_stream"], out["mlp"]], base / "ensemble")
    out["ensemble"] = base / "ensemble"
    return out


@contextlib.contextmanager
def running_server(app, limits=None) -> Iterator[str]:
    """The app on a free loopback port, in a thread, served as `emovox serve` serves it (its
    guards against slow clients included); yields its base URL."""
    import uvicorn

    from emovox.service import ServiceLimits
    from emovox.service.server import server_config

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    config = server_config(app, "127.0.0.1", port, limits or ServiceLimits(), log_level="warning")
    instance = uvicorn.Server(config)
    thread = threading.Thread(target=instance.run, daemon=True)
    thread.start()
    deadline = time.time() + 30
    while not instance.started:
        if time.time() > deadline:
            raise RuntimeError("the service did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        instance.should_exit = True
        thread.join(timeout=10)


def read_rows(path: Path) -> list[dict]:
    """A batch table's rows, whatever its format (a CSV's empty cells as None, as the others)."""
    if path.suffix == ".parquet":
        return pq.read_table(path).to_pylist()
    if path.suffix == ".jsonl":
        return [json.loads(line) for line in path.read_text().splitlines()]
    with open(path, newline="") as f:
        return [{k: (None if v == "" else v) for k, v in row.items()} for row in csv.DictReader(f)]
