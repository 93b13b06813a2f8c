"""The one way the benchmarks time a call: a warm-up run, then the median of repeated runs."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable


def median_ms(
    work: Callable[[], object], repeats: int, clock: Callable[[], float] = time.perf_counter
) -> float:
    """Median milliseconds of `work()` over `repeats` runs after one warm-up run (imports,
    filterbanks, caches); `clock` may be a CPU-time clock (time.thread_time)."""
    work()
    times = []
    for _ in range(repeats):
        start = clock()
        work()
        times.append(clock() - start)
    return 1000 * statistics.median(times)
