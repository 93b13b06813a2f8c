"""The `ray` engine: the same job through Ray Data. Actors each hold the model (loaded once);
batches of paths go to them, and the files are read and decoded in the workers; results come
back in input order (`preserve_order`), batch by batch, so the writer and `--resume` work as on
the local engine and the rows are the same. A local Ray is started for the job unless
`ray_address` names a running cluster."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from emovox.errors import ConfigError

if TYPE_CHECKING:
    from emovox.batch.run import BatchOptions
    from emovox.batch.table import Row


class ModelActor:
    """One Ray actor: the model, loaded once; a batch of paths in, its rows out."""

    def __init__(self, model: str, timeline: bool) -> None:
        from emovox.batch.run import load_worker

        load_worker(model)
        self.timeline = timeline

    def __call__(self, batch: dict[str, Any]) -> dict[str, Any]:
        from emovox.batch.run import predict_paths

        rows = predict_paths([str(p) for p in batch["path"]], self.timeline)
        # one item per batch, its rows as JSON: Ray's columns need not learn their types
        return {"rows": [json.dumps(rows)], "files": [len(batch["path"])]}


def ray_results(options: BatchOptions, pending: list[str]) -> Iterator[tuple[int, list[Row]]]:
    try:
        import ray
        import ray.data
    except ImportError:
        raise ConfigError(
            'the ray engine needs Ray: pip install -e ".[ray]" (or pip install "ray[data]")'
        ) from None
    if not pending:
        return
    started_here = not ray.is_initialized()
    if started_here:
        cpus = None if options.ray_address else (options.workers or None)  # a local Ray: these CPUs
        ray.init(address=options.ray_address, num_cpus=cpus, include_dashboard=False, log_to_driver=False,
                 logging_level=logging.WARNING)  # fmt: skip
        logging.getLogger("ray.data").setLevel(logging.WARNING)
    try:
        context = ray.data.DataContext.get_current()
        context.execution_options.preserve_order = True
        context.enable_progress_bars = False
        workers = options.workers or max(1, int(ray.cluster_resources().get("CPU", 1)))
        blocks = -(-len(pending) // options.batch_size)  # one block per batch
        dataset = ray.data.from_items([{"path": p} for p in pending], override_num_blocks=blocks)
        predicted = dataset.map_batches(
            ModelActor,
            fn_constructor_args=(options.model, options.timeline),
            batch_size=options.batch_size,
            concurrency=max(1, min(workers, blocks)),
            num_cpus=1,
            batch_format="numpy",
        )
        for item in predicted.iter_rows():
            yield int(item["files"]), json.loads(item["rows"])
    finally:
        if started_here:
            ray.shutdown()
