"""Which member subsets the ensemble-size curve averages over."""

from __future__ import annotations

import itertools
import math

import numpy as np

MAX_CURVE_SIZES = 100  # ensemble sizes on the curve: every m up to here, then a grid


def curve_sizes(n_members: int) -> list[int]:
    """The ensemble sizes m of the curve: every m = 1..K when K <= ``MAX_CURVE_SIZES``;
    beyond, ``MAX_CURVE_SIZES`` sizes spaced geometrically from 1 to K (both included), so
    that the curve's cost grows linearly with K, not with K squared."""
    if n_members <= MAX_CURVE_SIZES:
        return list(range(1, n_members + 1))
    grid = np.unique(np.rint(np.geomspace(1, n_members, MAX_CURVE_SIZES)).astype(np.int64))
    return sorted({1, n_members, *grid.tolist()})


def curve_subsets(n_members: int, size: int, max_subsets: int,
                  rng: np.random.Generator) -> np.ndarray:
    """Subsets of ``size`` members of ``n_members``: all of them when there are at most
    ``max_subsets``, otherwise ``max_subsets`` distinct ones drawn at random from ``rng``.

    Single members are always all taken, so that the curve starts exactly at the mean
    single-member accuracy even when K > max_subsets.

    Returns int64 [S, size], each row ascending, rows in the order drawn.
    """
    if size == 1 or math.comb(n_members, size) <= max_subsets:
        return np.array(list(itertools.combinations(range(n_members), size)), dtype=np.int64)
    drawn: dict[bytes, np.ndarray] = {}
    while len(drawn) < max_subsets:
        subset = np.sort(rng.choice(n_members, size, replace=False)).astype(np.int64)
        drawn.setdefault(subset.tobytes(), subset)
    return np.stack(list(drawn.values()))
