"""Median timing shared by the benchmark scripts (run them as `python benchmarks/<name>.py`)."""
from __future__ import annotations

import statistics
import time


def median_seconds(fn, repeats: int = 5) -> float:
    """Median wall time of `fn` over `repeats` runs, after one warm-up run."""
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def rate(fn, items: int, repeats: int = 5) -> float:
    """Items per second of `fn`, which processes `items` per call."""
    return items / median_seconds(fn, repeats)
