"""Features for a whole manifest: cached, in parallel (one core per clip), with progress."""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
from tqdm.auto import tqdm

from emovox.audio import AudioConfig, load_audio, prepare_signal
from emovox.corpora.manifest import Manifest
from emovox.engines import ray_map
from emovox.errors import AudioError, ConfigError, EmovoxError, FeatureError
from emovox.features.base import FeatureExtractor, Level
from emovox.features.cache import FeatureCache, default_cache_dir, file_key
from emovox.features.combined import CombinedExtractor
from emovox.features.registry import FeatureSet, get_extractor
from emovox.features.utterance import AnalysisExtractor, SignalAnalysis


@dataclass
class FeatureTable:
    """One feature set over a manifest. Utterance sets: `values` is (clips, dim). Frame sets:
    `values` is every clip's frames stacked, clip i is `values[offsets[i]:offsets[i+1]]`."""

    name: str
    feature_names: tuple[str, ...]
    manifest: Manifest
    values: np.ndarray
    offsets: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.manifest)

    def __getitem__(self, i: int) -> np.ndarray:
        if self.offsets is None:
            return self.values[i]
        return self.values[self.offsets[i] : self.offsets[i + 1]]

    @property
    def level(self) -> Level:
        return Level.UTTERANCE if self.offsets is None else Level.FRAME

    def save(self, path: str | Path) -> None:
        """An .npz readable with `np.load(..., allow_pickle=False)`: arrays, names, manifest."""
        rows = self.manifest.to_rows()
        columns = {f"manifest_{k}": np.array([r[k] for r in rows], dtype=str) for k in rows[0]}
        np.savez(
            path,
            set_name=np.array(self.name),
            feature_names=np.array(self.feature_names, dtype=str),
            values=self.values,
            offsets=self.offsets if self.offsets is not None else np.array([], dtype=np.int64),
            label_order=np.array(self.manifest.label_order, dtype=str),
            labels=np.array(self.manifest.label_indices(), dtype=np.int64),
            **columns,
        )

    @classmethod
    def load(cls, path: str | Path) -> FeatureTable:
        with np.load(path, allow_pickle=False) as data:
            keys = ("path", "corpus", "speaker", "label", "meta")
            rows = [
                dict(zip(keys, values, strict=True))
                for values in zip(*(data[f"manifest_{k}"].tolist() for k in keys), strict=True)
            ]
            manifest = Manifest.from_rows(rows, data["label_order"].tolist())
            offsets = data["offsets"] if data["offsets"].size else None
            return cls(
                str(data["set_name"]), tuple(data["feature_names"].tolist()), manifest,
                data["values"], offsets,
            )  # fmt: skip


class SignalVariant(Protocol):
    """A deterministic change to each clip's signal before extraction (e.g. an augmented copy);
    `key` names it in the cache."""

    key: str

    def __call__(self, signal: np.ndarray, path: str, sample_rate: int) -> np.ndarray: ...


_WORKER: dict[str, object] = {}


def _init_worker(
    extractors: list[FeatureExtractor], audio: AudioConfig, variant: SignalVariant | None
) -> None:
    """A worker process uses one core (the pool gives parallelism), for good. (The encoders'
    onnxruntime sessions are on one thread each already; no feature set runs PyTorch.)"""
    from threadpoolctl import threadpool_limits

    threadpool_limits(1)
    _use(extractors, audio, variant)


@contextmanager
def _one_thread() -> Iterator[None]:
    """For a while, BLAS and FFT on one thread, as in every worker: the same numbers wherever a
    clip is extracted (thread counts change the order of float sums)."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1):
        yield


def _use(extractors: list[FeatureExtractor], audio: AudioConfig, variant: SignalVariant | None) -> None:
    _WORKER.update(extractors=extractors, audio=audio, variant=variant)


def _compute_signal(signal: np.ndarray, extractors: list[FeatureExtractor]) -> list[np.ndarray]:
    analyses: dict[object, SignalAnalysis] = {}
    out = []
    for extractor in extractors:
        if isinstance(extractor, AnalysisExtractor):
            analysis = analyses.setdefault(extractor.config, SignalAnalysis(signal, extractor.config))
            out.append(extractor.from_analysis(analysis))
        else:
            out.append(extractor(signal))
    return out


def _load(path: str, audio: AudioConfig, variant: SignalVariant | None) -> np.ndarray:
    signal = load_audio(path, audio)
    if variant is None:
        return signal
    return prepare_signal(variant(signal, path, audio.sample_rate), audio.sample_rate, audio)


def _warm_up(extractors: list[FeatureExtractor], audio: AudioConfig, variant: SignalVariant | None) -> None:
    """Import libraries, build filterbanks and JIT-compile once here, so forked workers inherit it."""
    noise = np.random.default_rng(0).standard_normal(audio.sample_rate).astype(np.float32)
    noise /= np.abs(noise).max()
    if variant is not None:
        noise = prepare_signal(variant(noise, "warm-up", audio.sample_rate), audio.sample_rate, audio)
    _compute_signal(noise, extractors)


def _work(task: tuple[str, list[int]]) -> list[np.ndarray] | str:
    """The missing sets of one clip; an error comes back as text. The caller caches the values
    (on a cluster only it sees the cache folder)."""
    path, wanted = task
    extractors = [_WORKER["extractors"][i] for i in wanted]  # type: ignore[index]
    audio: AudioConfig = _WORKER["audio"]  # type: ignore[assignment]
    variant: SignalVariant | None = _WORKER["variant"]  # type: ignore[assignment]
    try:
        return _compute_signal(_load(path, audio, variant), extractors)
    except EmovoxError as exc:
        return f"{type(exc).__name__}: {exc}"


def _work_chunk(tasks: list[tuple[str, list[int]]]) -> list[list[np.ndarray] | str]:
    return [_work(task) for task in tasks]


def _outcomes(
    tasks: list[tuple[str, list[int]]], initargs: tuple, workers: int, engine: str, ray_address: str | None
) -> Iterator[list[np.ndarray] | str]:
    """Each task's outcome, in task order: in this process, a process pool or on Ray."""
    chunksize = max(1, min(16, len(tasks) // (8 * workers)))
    if engine == "ray":
        chunks = [tasks[i : i + chunksize] for i in range(0, len(tasks), chunksize)]
        for outcomes in ray_map(_init_worker, initargs, _work_chunk, chunks, workers, ray_address):
            yield from outcomes
    elif workers == 1:  # in this process, its thread settings restored afterwards
        with _one_thread():
            _use(*initargs)
            yield from map(_work, tasks)
    else:
        with ProcessPoolExecutor(workers, initializer=_init_worker, initargs=initargs) as pool:
            try:
                yield from pool.map(_work, tasks, chunksize=chunksize)
            finally:
                pool.shutdown(cancel_futures=True)


def side_by_side(combined: CombinedExtractor, tables: Sequence[FeatureTable]) -> FeatureTable:
    values = np.concatenate([t.values for t in tables], axis=1)
    return FeatureTable(combined.name, combined.feature_names, tables[0].manifest, values)


def extract(
    manifest: Manifest,
    sets: Sequence[str | FeatureSet | FeatureExtractor],
    audio: AudioConfig | None = None,
    jobs: int | None = None,
    cache_dir: str | Path | None = "default",
    progress: bool = True,
    variant: SignalVariant | None = None,
    engine: str = "local",
    ray_address: str | None = None,
) -> dict[str, FeatureTable]:
    """Extract every requested set for every clip, reading the cache first.

    `jobs`: worker processes (default: all cores; 1 runs in this process), or with
    `engine="ray"` Ray actors (default: one per CPU of the cluster at `ray_address`, else of a
    local Ray started for the call); the tables and the cache are the same on both. `cache_dir`:
    a folder, "default" (see `default_cache_dir`) or None for no cache. `variant` changes each
    signal after loading (augmented copies); its results are cached apart from the clean ones.
    A clip that fails raises `FeatureError` naming every failing file; nothing partial is returned.
    A combination (`whisper+speaker`) is its parts side by side: each part is extracted and cached
    on its own, so a part computed once serves every combination it is in.
    """
    audio = audio or AudioConfig()
    if engine not in ("local", "ray"):
        raise ConfigError(f"engine must be local or ray, got {engine!r}")
    if ray_address and engine != "ray":
        raise ConfigError("a Ray address is for the ray engine")
    extractors = [s if isinstance(s, FeatureExtractor) else get_extractor(s) for s in sets]
    if not extractors:
        raise FeatureError("no feature sets requested")
    names = [e.name for e in extractors]
    if len(set(names)) != len(names):
        raise FeatureError(f"feature sets requested twice: {names}")
    if len(manifest) == 0:
        raise FeatureError("the manifest is empty")
    if any(isinstance(e, CombinedExtractor) for e in extractors):
        wanted = [p for e in extractors for p in (e.parts if isinstance(e, CombinedExtractor) else [e])]
        parts = {p.name: p for p in wanted}
        tables = extract(manifest, list(parts.values()), audio, jobs, cache_dir, progress, variant, engine,
                         ray_address)  # fmt: skip
        return {e.name: side_by_side(e, [tables[p.name] for p in e.parts]) if isinstance(e, CombinedExtractor)
                else tables[e.name] for e in extractors}  # fmt: skip
    root = default_cache_dir() if cache_dir == "default" else cache_dir
    cache = FeatureCache(root) if root is not None else None
    folders = [cache.folder(e, audio, variant.key if variant else "") for e in extractors] if cache else []

    results: list[list[np.ndarray | None]] = [[None] * len(manifest) for _ in extractors]
    tasks: list[tuple[str, list[int]]] = []
    keys: dict[str, str] = {}
    positions: dict[str, list[int]] = {}
    for i, utterance in enumerate(manifest):
        try:
            key = file_key(utterance.path)
        except OSError as exc:
            raise AudioError(f"{utterance.path}: {exc.strerror or exc}") from exc
        missing = []
        for j in range(len(extractors)):
            cached = cache.load(folders[j], key, extractors[j]) if cache else None
            if cached is None:
                missing.append(j)
            else:
                results[j][i] = cached
        if missing:
            positions.setdefault(utterance.path, []).append(i)
            if len(positions[utterance.path]) == 1:
                tasks.append((utterance.path, missing))
                keys[utterance.path] = key

    failures: list[str] = []
    if tasks:
        workers = (jobs or 0) if engine == "ray" else max(1, min(jobs or os.cpu_count() or 1, len(tasks)))
        if engine == "local":
            _warm_up(extractors, audio, variant)  # forked workers inherit it
        label = ", ".join(names) + (f", {variant.key}" if variant else "")
        outcomes = _outcomes(tasks, (extractors, audio, variant), workers, engine, ray_address)
        with tqdm(total=len(tasks), desc=f"features ({label})", unit="clip", disable=not progress) as bar:
            for (path, wanted), outcome in zip(tasks, outcomes, strict=True):
                bar.update()
                if isinstance(outcome, str):
                    failures.append(f"{path}: {outcome}")
                    continue
                for j, v in zip(wanted, outcome, strict=True):
                    if cache:
                        cache.store(folders[j], keys[path], v)
                    for i in positions[path]:
                        results[j][i] = v
    if failures:
        shown = "\n  ".join(failures[:10])
        more = f"\n  ... and {len(failures) - 10} more" if len(failures) > 10 else ""
        raise FeatureError(f"{len(failures)} clip(s) failed:\n  {shown}{more}")

    tables = {}
    for extractor, arrays in zip(extractors, results, strict=True):
        values = [extractor.check(v) for v in arrays if v is not None]
        if extractor.level is Level.FRAME:
            offsets = np.concatenate([[0], np.cumsum([len(v) for v in values])]).astype(np.int64)
            table = FeatureTable(extractor.name, extractor.feature_names, manifest,
                                 np.concatenate(values).astype(np.float32), offsets)  # fmt: skip
        else:
            table = FeatureTable(extractor.name, extractor.feature_names, manifest,
                                 np.stack(values).astype(np.float32))  # fmt: skip
        tables[extractor.name] = table
    return tables
