"""Timing and summarising: per-call latencies, percentiles per round, and the
median and range (min–max) of a figure over rounds."""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TypeVar

import numpy as np

T = TypeVar("T")


@dataclass(frozen=True)
class Spread:
    """A figure over rounds: its median and its range."""

    median: float
    low: float
    high: float

    @classmethod
    def of(cls, values: Sequence[float]) -> Spread:
        return cls(statistics.median(values), min(values), max(values))

    def rounded(self, digits: int = 3) -> list[float]:
        """[median, low, high], for results.json's details."""
        return [round(self.median, digits), round(self.low, digits), round(self.high, digits)]

    def text(self, digits: int = 2) -> str:
        """`median (low–high)`, for the report's tables."""
        return f"{self.median:.{digits}f} ({self.low:.{digits}f}–{self.high:.{digits}f})"


def latencies_ms(call: Callable[[T], object], items: Iterable[T]) -> list[float]:
    """How long `call(item)` took for each item, in milliseconds."""
    taken = []
    for item in items:
        start = time.perf_counter_ns()
        call(item)
        taken.append((time.perf_counter_ns() - start) / 1e6)
    return taken


def percentile(samples: Sequence[float], q: float) -> float:
    """The q-th percentile (0-100) of the samples, linearly interpolated."""
    return float(np.percentile(samples, q))


class Progress:
    """Progress lines on stderr, each with the seconds since the benchmark began
    (stdout stays free for whoever runs it)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._start = time.perf_counter()

    def __call__(self, message: str) -> None:
        elapsed = time.perf_counter() - self._start
        print(f"[{self.name} {elapsed:6.1f}s] {message}", file=sys.stderr, flush=True)
