"""Where the heavy per-file work of a job runs: in worker processes on this machine (each caller
keeps its own pool) or on a Ray cluster through Ray Data (`ray_map`, shared by `emovox batch` and
`emovox features`). Ray is an optional extra: importing this package does not import it."""

from emovox.engines.ray_data import RAY_MISSING, ray_map

__all__ = ["RAY_MISSING", "ray_map"]
