"""Timing helpers the benchmarks share: run a call for a while, then its median and 95th percentile."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def summary(times: list[float]) -> str:
    return f"{statistics.median(times) * 1000:.1f} / {percentile(times, 0.95) * 1000:.1f} ms"


def timed(call: Callable[[], object], seconds: float, minimum: int = 20) -> list[float]:
    """Seconds per call, after one warm-up call, for `seconds` and at least `minimum` calls."""
    call()
    times: list[float] = []
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline or len(times) < minimum:
        started = time.perf_counter()
        call()
        times.append(time.perf_counter() - started)
    return times


def median_ms(call: Callable[[], object], runs: int) -> float:
    """The median of `runs` calls in milliseconds, after one call that allocates and warms up."""
    call()
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        call()
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000
