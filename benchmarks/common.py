"""Timing helpers shared by the benchmark scripts."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Paired:
    """Seconds of a baseline and a candidate measured in adjacent pairs."""

    baseline: list[float]
    candidate: list[float]

    @property
    def speed_ratio(self) -> float:
        """Median over pairs of baseline time / candidate time (> 1: the candidate is faster)."""
        return statistics.median(b / c for b, c in zip(self.baseline, self.candidate, strict=True))

    @property
    def best_ratio(self) -> float:
        """Fastest baseline over fastest candidate: the estimate least touched by noise."""
        return min(self.baseline) / min(self.candidate)


def seconds(func: Callable[[], object]) -> float:
    """Wall-clock seconds of one call."""
    start = time.perf_counter()
    func()
    return time.perf_counter() - start


def paired(baseline: Callable[[], object], candidate: Callable[[], object],
           repeats: int) -> Paired:
    """Time both ``repeats`` times in adjacent pairs, alternating which runs first.

    A shared 2-core machine drifts by +-25% over a minute; comparing the two runs of each
    pair and taking the median of those ratios cancels most of that drift.
    """
    base, cand = [], []
    for repeat in range(repeats):
        if repeat % 2 == 0:
            base.append(seconds(baseline))
            cand.append(seconds(candidate))
        else:
            cand.append(seconds(candidate))
            base.append(seconds(baseline))
    return Paired(base, cand)
