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

A :class:`Choice` keeps each fold's groups, so that other runs on the same test set can be
measured on exactly those (paired comparisons).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import FairensError
from .correctness import correctness
from .groups import Grouping
from .inputs import RankingData
from .measures import Context, Measures
from .options import AnalysisOptions


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


def _ranked(values: np.ndarray, candidates: list[int], names: tuple[str, ...],
            descending: bool = False) -> list[int]:
    sign = -1 if descending else 1
    return sorted(candidates, key=lambda g: (sign * values[g], names[g]))


@dataclass(frozen=True)
class GroupPicks:
    """The groups one fold chooses: bottom-k and top-k by mean member accuracy (ties by
    name, ascending, for both), the worst group by ensemble accuracy, and each curve
    subset's worst group."""

    bottom: list[int]
    top: list[int]
    worst: int | None
    subset_worst: np.ndarray  # int64 [S], -1 where no group is eligible


def pick_groups(view: RankView, eligible: list[int], k: int, names: tuple[str, ...]) -> GroupPicks:
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
    return GroupPicks(bottom, top, worst, subset_worst)


@dataclass(frozen=True)
class Choice:
    """The groups an analysis chose for one grouping, fold by fold, so that other runs on the
    same test set can be measured on exactly those groups (paired comparisons)."""

    method: str
    folds: list[Fold]
    picks: list[GroupPicks]
    eligible: list[int]
    size: int
    names: tuple[str, ...]


def _view(measures: Measures, cells_of: list[list[int]]) -> RankView:
    """What the test samples in the given cells of each group say (NaN: no sample)."""
    n = np.array([measures.size(cells) for cells in cells_of], dtype=float)
    single = np.array([measures.single_sums[c].sum() for c in cells_of])
    ensemble = np.array([measures.ensemble_sums[c].sum() for c in cells_of])
    subsets = np.stack([measures.cell_sums[:, c].sum(axis=1) for c in cells_of], axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return RankView(single / n, ensemble / n, subsets / n)


def make_folds(method: str, measures: Measures, validation: RankView | None) -> list[Fold]:
    groups = range(len(measures.grouping))
    if method == "crossfit":
        return [Fold(_view(measures, [measures.cells(g, rank) for g in groups]), 1 - rank)
                for rank in (0, 1)]
    if method == "validation":
        return [Fold(validation, None)]
    return [Fold(_view(measures, [measures.cells(g) for g in groups]), None)]


def validation_views(validation: RankingData, groupings: list[Grouping],
                      options: AnalysisOptions, subsets: list[np.ndarray]) -> list[RankView]:
    """Per test grouping, what the validation predictions say about its groups."""
    logits = np.asarray(validation.logits)
    labels = np.asarray(validation.labels, dtype=np.int64)
    missing = [g.name for g in groupings if g.name not in validation.groups.columns]
    if missing:
        raise FairensError(f"the validation groups lack the grouping(s) {missing} of the test "
                           "groups")
    val_groupings = [Grouping.from_column(g.name, validation.groups[g.name]) for g in groupings]
    correct = correctness(logits, labels, options.combine, subsets, val_groupings)
    views = []
    for grouping, val, sums in zip(groupings, val_groupings, correct.group_sums, strict=True):
        index = {name: i for i, name in enumerate(val.names)}
        where = [index.get(name) for name in grouping.names]
        # a group with fewer validation samples than a test group needs is not ranked
        counts = np.where(val.counts >= options.min_group_size, val.counts, np.nan)
        single = val.sums(correct.members.mean(axis=0))[0] / counts
        ensemble = val.sums(correct.ensemble)[0] / counts
        accuracy = sums / counts
        pick = lambda values, i: values[..., i] if i is not None else np.nan  # noqa: E731
        views.append(RankView(np.array([pick(single, i) for i in where]),
                              np.array([pick(ensemble, i) for i in where]),
                              np.stack([accuracy[:, i] if i is not None
                                        else np.full(len(accuracy), np.nan) for i in where],
                                       axis=1)))
    return views


def choose(context: Context, folds: list[Fold], method: str) -> Choice:
    """Each fold's bottom-k, top-k and worst groups among the eligible ones: at least
    ``min_group_size`` test samples and samples in every fold's measured half; the two
    sets never overlap (k is at most half of the groups every fold can rank)."""
    grouping, measures, options = context.grouping, context.measures, context.options
    n = grouping.counts
    eligible = [g for g in range(len(grouping)) if n[g] >= options.min_group_size
                and all(measures.size(measures.cells(g, f.half)) > 0 for f in folds)]
    ranked = min(sum(np.isfinite(f.rank.single[g]) for g in eligible) for f in folds)
    size = min(options.k, ranked // 2)
    picks = [pick_groups(f.rank, eligible, size, grouping.names) for f in folds]
    return Choice(method, folds, picks, eligible, size, grouping.names)
