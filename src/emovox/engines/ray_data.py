"""An ordered map over chunks of work on Ray Data. Actors run a set-up function once (load a
model, build extractors) and then a work function per chunk, in their own processes, near the
data; results come back in chunk order (`preserve_order`), so callers write and resume exactly
as on their local engine. A local Ray is started for the job unless `address` names a running
cluster (then its CPUs are used), and shut down after it."""

from __future__ import annotations

import logging
import pickle
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar

import pyarrow as pa

from emovox.errors import ConfigError

Item = TypeVar("Item")
Result = TypeVar("Result")

RAY_MISSING = 'this engine needs Ray: pip install -e ".[ray]" (or pip install "ray[data]")'


class ChunkActor:
    """One Ray actor: `setup(*setup_args)` once, then `work(chunk)` for each chunk it is given.
    Chunks and results travel pickled inside the job (between its own processes, as a process
    pool's do), one chunk per row, so Ray's columns need not learn their types."""

    def __init__(
        self, setup: Callable[..., None], setup_args: tuple[Any, ...], work: Callable[[Any], Any]
    ) -> None:
        setup(*setup_args)
        self.work = work

    def __call__(self, batch: pa.Table) -> pa.Table:
        results = [pickle.dumps(self.work(pickle.loads(c))) for c in batch.column("chunk").to_pylist()]
        return pa.table({"result": pa.array(results, pa.binary())})


def ray_map(
    setup: Callable[..., None],
    setup_args: tuple[Any, ...],
    work: Callable[[list[Item]], Result],
    chunks: Sequence[list[Item]],
    workers: int = 0,
    address: str | None = None,
) -> Iterator[Result]:
    """`work(chunk)` for every chunk, on `workers` actors (0: one per CPU of the cluster), in
    order. `setup` and `work` must be importable module-level functions (they are sent by name)."""
    try:
        import ray
        import ray.data
    except ImportError:
        raise ConfigError(RAY_MISSING) from None
    if not chunks:
        return
    started_here = not ray.is_initialized()
    if started_here:
        cpus = None if address else (workers or None)  # a local Ray: these CPUs
        ray.init(address=address, num_cpus=cpus, include_dashboard=False, log_to_driver=False,
                 logging_level=logging.WARNING)  # fmt: skip
        logging.getLogger("ray.data").setLevel(logging.WARNING)
    try:
        context = ray.data.DataContext.get_current()
        context.execution_options.preserve_order = True
        context.enable_progress_bars = False
        actors = workers or max(1, int(ray.cluster_resources().get("CPU", 1)))
        # one block per chunk, so each chunk is one task
        items = [{"chunk": pickle.dumps(chunk)} for chunk in chunks]
        dataset = ray.data.from_items(items, override_num_blocks=len(items))
        results = dataset.map_batches(
            ChunkActor,
            fn_constructor_args=(setup, setup_args, work),
            batch_size=1,
            concurrency=max(1, min(actors, len(chunks))),
            num_cpus=1,
            batch_format="pyarrow",
        )
        for row in results.iter_rows():
            yield pickle.loads(row["result"])
    finally:
        if started_here:
            ray.shutdown()
