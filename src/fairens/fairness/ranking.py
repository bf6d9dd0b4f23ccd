"""Choosing the bottom-k, top-k and worst groups on data they are not measured on.

Choosing the groups with the lowest accuracy on the test predictions and then measuring
them on the same predictions is biased: a group that looks worst partly because of its
sampling noise is chosen because of that noise, and it regresses towards the mean (or, for
gains, away from it) on any other data. Each *fold* here pairs the data that rank the
groups with the test samples that measure them:

* ``validation``: the members' validation predictions rank, the whole test set measures;
* ``crossfit``: the test set is split into two seeded halves, stratified by group (and
  keeping counterfactual pairs together); each half ranks for the other, and the two
  measurements are averaged;
* ``same_data``: the test set ranks and measures (the earlier, biased practice).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .estimates import Design


@dataclass(frozen=True)
class RankView:
    """What the ranking data say about each group of a grouping (NaN where a group has no
    ranking sample): mean member accuracy, ensemble accuracy and every curve subset's
    ensemble accuracy."""

    single: np.ndarray  # float64 [G]
    ensemble: np.ndarray  # float64 [G]
    subsets: np.ndarray  # float64 [S, G]


@dataclass(frozen=True)
class Fold:
    """One ranking and the test samples it is measured on (a half, or all of them)."""

    rank: RankView
    half: int | None


def split_parts(design: Design, seed: list[int], parts: int = 2) -> np.ndarray:
    """int [clusters]: 0 .. parts - 1, each stratum's clusters (shuffled, seeded) cut into
    ``parts`` parts as equal as can be."""
    rng = np.random.default_rng(seed)
    out = np.zeros(len(design.stratum), dtype=np.int64)
    order = np.lexsort((rng.random(len(design.stratum)), design.stratum))
    starts = np.r_[0, np.cumsum(design.stratum_size)]
    for stratum, start in enumerate(starts[:-1]):
        size = design.stratum_size[stratum]
        out[order[start:start + size]] = np.arange(size) * parts // size
    return out


def _ranked(values: np.ndarray, candidates: list[int], names: tuple[str, ...],
            descending: bool = False) -> list[int]:
    sign = -1 if descending else 1
    return sorted(candidates, key=lambda g: (sign * values[g], names[g]))


@dataclass(frozen=True)
class Selection:
    """The groups one fold chooses: bottom-k and top-k by mean member accuracy (ties by
    name, ascending, for both), the worst group by ensemble accuracy, and each curve
    subset's worst group."""

    bottom: list[int]
    top: list[int]
    worst: int | None
    subset_worst: np.ndarray  # int64 [S], -1 where no group is eligible


def select(view: RankView, eligible: list[int], k: int, names: tuple[str, ...]) -> Selection:
    """The fold's choice among ``eligible`` groups (those with ranking samples)."""
    candidates = [g for g in eligible if np.isfinite(view.single[g])]
    bottom = _ranked(view.single, candidates, names)[:k]
    top = _ranked(view.single, candidates, names, descending=True)[:k]
    worst = _ranked(view.ensemble, candidates, names)[0] if candidates else None
    subset_worst = np.full(len(view.subsets), -1, dtype=np.int64)
    if candidates:
        accuracy = view.subsets[:, candidates]
        rank_names = np.broadcast_to(np.asarray([names[g] for g in candidates], dtype=object),
                                     accuracy.shape)
        first = np.lexsort((rank_names, accuracy), axis=1)[:, 0]
        subset_worst = np.asarray(candidates, dtype=np.int64)[first]
    return Selection(bottom, top, worst, subset_worst)
