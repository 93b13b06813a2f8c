"""Batch inference over large collections: one row per file (or per segment) into a Parquet,
CSV or JSON-lines table, written in parts as it goes, resumable, on worker processes that each
load the model once."""

from emovox.batch.inputs import expand_inputs
from emovox.batch.run import BatchOptions, run_batch
from emovox.batch.table import OutputFormat, open_output

__all__ = ["BatchOptions", "OutputFormat", "expand_inputs", "open_output", "run_batch"]
