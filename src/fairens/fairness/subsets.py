"""Which member subsets the ensemble-size curve averages over."""

from __future__ import annotations

import itertools
import math

import numpy as np


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
    drawn: dict[tuple[int, ...], None] = {}
    while len(drawn) < max_subsets:
        drawn.setdefault(tuple(sorted(rng.choice(n_members, size, replace=False).tolist())))
    return np.array(list(drawn), dtype=np.int64)
