"""Running a batch job: worker processes (the local engine) or Ray actors (the ray engine, see
`emovox.engines`) each load the model once (onnxruntime inside) and take batches of files, which
they read and decode themselves; results come back and are written in input order, a part per
batch, with a bounded number of batches in flight, so memory does not grow with the number of
files.

With `adapt_by`, a first pass gathers each group's feature statistics (summed, so a group's
files may be spread over any workers), and the second predicts every file adapted to its group:
every file is read twice (about twice the time), and memory stays flat."""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
import sys
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import soundfile as sf
from tqdm import tqdm

from emovox.audio.io import check_audio_path
from emovox.batch.inputs import AdaptBy, adaptation_groups, expand_inputs
from emovox.batch.table import Row, file_key, modified, open_output
from emovox.engines import ray_map
from emovox.errors import AudioError, ConfigError, EmovoxError, choice
from emovox.inference import EmotionPredictor, Prediction
from emovox.inference.adaptation import Adaptation
from emovox.inference.diarisation import check_speakers_option
from emovox.inference.predictor import MIN_ADAPTATION_CLIPS

Item = tuple[str, Adaptation | None]  # a file and the statistics it is adapted with


@dataclass(frozen=True)
class BatchOptions:
    inputs: Sequence[str]
    out: str | Path
    model: str = "default"
    workers: int = 0  # 0: one per core (ray: one per CPU of the cluster)
    engine: str = "local"  # local | ray
    ray_address: str | None = None  # an existing Ray cluster; None: a local Ray for the job
    timeline: bool = False
    resume: bool = False
    batch_size: int = 0  # files per task and per written part; 0: 32 (local), 256 (ray)
    progress: bool = True
    labels: str | None = None  # "neutral,happy,...": answer among these only (EmotionPredictor.restricted)
    speakers: str | None = None  # with timeline: "auto" or a number; a speaker column
    adapt_by: AdaptBy | None = None  # files normalised with their group's statistics

    def __post_init__(self) -> None:
        if self.workers < 0 or self.batch_size < 0:
            raise ConfigError("workers and batch_size must be >= 0")
        if self.engine == "local" and self.workers > max_workers():
            raise ConfigError(
                f"--workers {self.workers}: at most {max_workers()} on this machine (4 per core; each "
                "worker holds the model, about 0.5 GB)"
            )
        if self.engine not in ("local", "ray"):
            raise ConfigError(f"engine must be local or ray, got {self.engine!r}")
        if self.ray_address and self.engine != "ray":
            raise ConfigError("--ray-address is for --engine ray")
        if not self.inputs:
            raise ConfigError("no inputs: give files, directories, globs or a CSV manifest")
        check_speakers_option(self.speakers, self.timeline)
        if self.adapt_by is not None:
            object.__setattr__(self, "adapt_by", choice(AdaptBy, self.adapt_by, "--adapt-by"))
            if self.timeline:
                raise ConfigError("--adapt-by is for one prediction per file; a timeline adapts within its "
                                  "recording (predict --timeline --adapt)")  # fmt: skip

    def task_size(self) -> int:
        """Files per task: Ray's scheduling costs ~10 ms a task, so its tasks are larger."""
        return self.batch_size or (256 if self.engine == "ray" else 32)


def max_workers() -> int:
    """The most local worker processes a job may start: 4 per core (more only contend)."""
    return 4 * (os.cpu_count() or 1)


def prediction_columns(prediction: Prediction) -> dict[str, Any]:
    probabilities = zip(prediction.labels, prediction.confidence, strict=True)
    return {
        "label": prediction.label,
        "confidence": max(prediction.confidence),
        "uncertain": prediction.uncertain,
        **{f"prob_{label}": p for label, p in probabilities},
    }


def file_rows(
    predictor: EmotionPredictor,
    path: str,
    timeline: bool,
    speakers: str | None = None,
    adaptation: Adaptation | None = None,
) -> list[Row]:
    """One file's rows: one, or one per segment; a file that fails is one row with its error. A
    path that is no regular file (a FIFO, a device, a socket, a directory) fails before anything
    opens it: opening a FIFO would wait for a writer forever."""
    base: Row = {"path": path, "duration_s": None, "modified": modified(path), "error": ""}
    try:
        check_audio_path(Path(path))
    except AudioError as exc:
        return [{**base, "error": str(exc)}]
    with contextlib.suppress(Exception):  # unreadable: the prediction below says why, in plain words
        base["duration_s"] = sf.info(path).duration
    try:
        if timeline:  # a recording with no stretch to judge is one row without a label: done, not failed
            return [{**base, "start": s.start, "end": s.end, **({"speaker": s.speaker} if s.speaker else {}),
                     **prediction_columns(s.prediction)}
                    for s in predictor.timeline(path, speakers=speakers)] or [base]  # fmt: skip
        return [{**base, **prediction_columns(predictor.predict(path, adaptation=adaptation))}]
    except EmovoxError as exc:
        return [{**base, "error": str(exc)}]


_worker: EmotionPredictor | None = None
PR_SET_PDEATHSIG = 1  # linux/prctl.h


def load_worker(model: str, labels: str | None = None) -> None:
    """Each worker: one thread for BLAS (the mel filterbanks' matrix products; onnxruntime runs on
    one thread already), since the workers already fill the cores (two 2-thread workers on 2
    cores ran 2.6x slower than one), then the model, once."""
    from threadpoolctl import threadpool_limits

    global _worker
    threadpool_limits(1)
    _worker = EmotionPredictor.load(model, backend="onnx").restricted(labels)


def local_worker(model: str, labels: str | None, job: int) -> None:
    """A local worker: ended with the job's process whatever ends it (Linux: a parent-death
    signal, so a SIGKILLed job leaves no worker behind), then `load_worker`."""
    if sys.platform == "linux":
        import ctypes

        ctypes.CDLL(None).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
        if os.getppid() != job:  # the job died before the signal was asked for
            os._exit(1)
    load_worker(model, labels)


def predict_paths(items: list[Item], timeline: bool, speakers: str | None = None) -> list[Row]:
    assert _worker is not None, "worker not initialised"
    return [
        row for path, adaptation in items for row in file_rows(_worker, path, timeline, speakers, adaptation)
    ]


def group_statistics(items: list[tuple[str, str]]) -> tuple[Counter[str], dict[str, Adaptation]]:
    """The first pass of `adapt_by`: per group, how many of its files were read and their
    features' statistics. A file that fails is left out here; its row says why in the second."""
    assert _worker is not None, "worker not initialised"
    files: Counter[str] = Counter()
    statistics: dict[str, Adaptation] = {}
    for path, group in items:
        try:
            check_audio_path(Path(path))
            features = _worker.clip_features(path)
        except EmovoxError:
            continue
        files[group] += 1
        statistics.setdefault(group, Adaptation()).add(features)
    return files, statistics


def batches(items: Sequence[Any], size: int) -> Iterator[list[Any]]:
    for start in range(0, len(items), size):
        yield list(items[start : start + size])


def mapped(
    options: BatchOptions, work: Callable[[list[Any]], Any], chunks: list[list[Any]]
) -> Iterator[tuple[int, Any]]:
    """(items, `work(chunk)`) per chunk, in order, on the options' engine."""
    if options.engine == "ray":
        model = (options.model, options.labels)
        done = ray_map(load_worker, model, work, chunks, options.workers, options.ray_address)
        return zip(map(len, chunks), done, strict=True)
    return local_results(options, work, chunks)


def local_results(
    options: BatchOptions, work: Callable[[list[Any]], Any], chunks: list[list[Any]]
) -> Iterator[tuple[int, Any]]:
    """(items, `work(chunk)`) per chunk, in input order, from local worker processes (no more than
    there are chunks). Stopped early (an error, Ctrl-C, SIGTERM), the workers are ended at once."""
    workers = max(1, min(options.workers or os.cpu_count() or 1, len(chunks)))
    pool = ProcessPoolExecutor(workers, initializer=local_worker,
                               initargs=(options.model, options.labels, os.getpid()))  # fmt: skip
    finished = False
    try:
        in_flight: deque[tuple[int, Future[Any]]] = deque()
        for chunk in chunks:
            in_flight.append((len(chunk), pool.submit(work, chunk)))
            if len(in_flight) >= 2 * workers:  # a bounded window: memory stays flat
                count, future = in_flight.popleft()
                yield count, future.result()
        while in_flight:
            count, future = in_flight.popleft()
            yield count, future.result()
        finished = True
    finally:
        pool.shutdown(wait=finished, cancel_futures=not finished)
        if not finished:
            for worker in multiprocessing.active_children():
                worker.terminate()


def _terminated(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)  # unwinds like Ctrl-C: workers ended, the parts written kept


def pending_paths(options: BatchOptions) -> list[str]:
    """Every input file, in order; a ConfigError when there are none, or when the output is one
    of the inputs (a manifest would be replaced before it was read)."""
    paths = list(expand_inputs(list(options.inputs)))
    if not paths:
        raise ConfigError(f"nothing to predict: no audio files in {', '.join(map(str, options.inputs))}")
    out = file_key(str(options.out))
    if out in {file_key(str(item)) for item in options.inputs} | {file_key(path) for path in paths}:
        raise ConfigError(f"{options.out}: is one of the inputs; write the table somewhere else")
    return paths


def group_adaptations(
    options: BatchOptions, paths: list[str], groups: list[str]
) -> dict[str, Adaptation | None]:
    """Each file's adaptation statistics: those of its group (`groups`, one per path) over every
    input file (already predicted ones of a resumed job too, so a resumed table equals an
    uninterrupted one); None for a group of fewer than MIN_ADAPTATION_CLIPS readable files, said
    on stderr."""
    files: Counter[str] = Counter()
    statistics: dict[str, Adaptation] = {}
    chunks = list(batches(list(zip(paths, groups, strict=True)), options.task_size()))
    with tqdm(total=len(paths), desc="statistics", unit="file", disable=not options.progress) as bar:
        for count, (read, part) in mapped(options, group_statistics, chunks):
            files.update(read)
            for group, adaptation in part.items():
                statistics.setdefault(group, Adaptation()).merge(adaptation)
            bar.update(count)
    small = sorted(group for group in set(groups) if files[group] < MIN_ADAPTATION_CLIPS)
    if small:
        print(f"emovox: {len(small)} group(s) with fewer than {MIN_ADAPTATION_CLIPS} readable files are "
              f"predicted without adaptation, e.g. {small[0]}", file=sys.stderr)  # fmt: skip
    return {
        path: None if group in small else statistics[group] for path, group in zip(paths, groups, strict=True)
    }


def run_batch(options: BatchOptions) -> dict[str, Any]:
    """Predict every input file into `options.out`; the summary says how many and how many failed.
    SIGTERM (in the main thread) stops it as Ctrl-C does."""
    if threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGTERM, _terminated)
        try:
            return _run(options)
        finally:
            signal.signal(signal.SIGTERM, previous)
    return _run(options)


def _run(options: BatchOptions) -> dict[str, Any]:
    started = time.perf_counter()
    paths = pending_paths(options)
    # the torch backend: no export for the labels (and a bad --labels fails here, before any work)
    labels = EmotionPredictor.load(options.model).restricted(options.labels).labels
    by = options.adapt_by
    groups = adaptation_groups(list(options.inputs), paths, by) if by else []
    output = open_output(options.out, labels, options.timeline, options.resume, options.speakers is not None)
    adaptations = group_adaptations(options, paths, groups) if by else {}
    pending = [(path, adaptations.get(path)) for path in paths if file_key(path) not in output.done]
    predict = partial(predict_paths, timeline=options.timeline, speakers=options.speakers)
    results = mapped(options, predict, list(batches(pending, options.task_size())))
    complete = False
    try:
        with tqdm(total=len(pending), desc="batch", unit="file", disable=not options.progress) as bar:
            for count, rows in results:
                output.write(rows)
                bar.update(count)
        complete = True
    finally:
        getattr(results, "close", lambda: None)()  # a generator stopped early ends its workers now
        output.close(complete)
    return {"files": len(output.done), "predicted_now": len(pending), "failed": output.failed,
            "seconds": time.perf_counter() - started, "out": str(options.out)}  # fmt: skip
