"""Estimates of one grouping's statistics over sets of test samples.

A *cell* is a group of the grouping within one cross-fitting half (the whole test set
without a split) and within one of the MEMBER_PARTS random parts that separate a member's
systematic effect from its noise (see :mod:`fairens.fairness.estimates`); every statistic
is measured over a union of cells. An estimate's influence comes from the per-sample values
it averages; its member effects from cell sums of each member's correctness, of the leave-
one-out ensembles and of the curve subsets that leave each member out.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .correctness import Correctness
from .estimates import (
    LEVEL,
    Design,
    Estimate,
    p_value,
    split_parts,
    t_interval,
    uncertainty,
    wilson_interval,
)
from .groups import Grouping
from .options import AnalysisOptions
from .result import ScaleTest

MEMBER_PARTS = 4


class Measures:
    """Estimates over the cells of one grouping.

    Args:
        grouping: the grouping (its group of each test sample).
        correct: the predictions of every member, subset and ensemble.
        cells: the grouping of the test samples into cells, coded
            ``(group * halves + half) * MEMBER_PARTS + member_part``.
        halves: 2 with a cross-fitting split, else 1.
        cell_sums: float64 [S, cells], right answers of each curve subset per cell.
    """

    def __init__(self, grouping: Grouping, correct: Correctness, cells: Grouping, halves: int,
                 cell_sums: np.ndarray) -> None:
        self.grouping, self.correct, self.halves = grouping, correct, halves
        self.n_members = len(correct.members)
        self.single_row = correct.members.mean(axis=0)
        self.ensemble_row = correct.ensemble.astype(np.float64)
        self.cell_codes = cells.codes
        order = np.argsort(cells.codes, kind="stable")
        self.cell_counts = cells.counts
        bounds = np.r_[0, np.cumsum(cells.counts)]
        self._cell_samples = [order[bounds[c]:bounds[c + 1]] for c in range(len(cells))]
        self.cell_sums = cell_sums
        self.single_sums, self.ensemble_sums = cells.sums(np.vstack([self.single_row,
                                                                     self.ensemble_row]))
        self.member_sums = cells.sums(correct.members)  # [K, cells]
        self.left_out_sums = cells.sums(correct.leave_one_out)  # [K, cells] (empty for K = 1)
        # contains[j][s, i]: whether member i is in subset s of the curve's j-th size
        self._contains = []
        for drawn in correct.subsets:
            contains = np.zeros((len(drawn), self.n_members), dtype=bool)
            np.put_along_axis(contains, drawn, True, axis=1)
            self._contains.append(contains)

    def cells(self, group: int, half: int | None = None) -> list[int]:
        """The cells of ``group``: in cross-fitting ``half``, or in every half."""
        halves = range(self.halves) if half is None else [half]
        return [(group * self.halves + h) * MEMBER_PARTS + j for h in halves
                for j in range(MEMBER_PARTS)]

    def all_cells(self) -> list[int]:
        return [c for g in range(len(self.grouping)) for c in self.cells(g)]

    def samples(self, cells: list[int]) -> np.ndarray:
        parts = [self._cell_samples[c] for c in cells]
        return np.concatenate(parts) if parts else np.empty(0, np.int64)

    def size(self, cells: list[int]) -> int:
        return int(self.cell_counts[cells].sum())

    def subset_accuracy(self, cells: list[int]) -> np.ndarray:
        """float64 [S]: each curve subset's ensemble accuracy over ``cells``."""
        return self.cell_sums[:, cells].sum(axis=1) / self.size(cells)

    def _by_part(self, per_cell: np.ndarray, cells: list[int]) -> np.ndarray:
        """[MEMBER_PARTS, ...]: the sums of ``per_cell`` [..., cells] over each member part's
        cells, divided by the samples of all ``cells``."""
        total = self.size(cells)
        return np.stack([per_cell[..., [c for c in cells if c % MEMBER_PARTS == part]]
                         .sum(axis=-1) for part in range(MEMBER_PARTS)]) / total

    def single(self, cells: list[int]) -> Estimate:
        """Mean member accuracy; without member i it is the mean of the others."""
        delta = np.empty((MEMBER_PARTS, 0))
        if self.n_members > 1:
            each = self._by_part(self.member_sums, cells)  # [parts, K]
            mean = self._by_part(self.single_sums, cells)[:, None]  # [parts, 1]
            delta = (mean - each) / (self.n_members - 1)
        return Estimate.mean(self.single_row, self.samples(cells), delta, kind=0)

    def ensemble(self, cells: list[int]) -> Estimate:
        """Accuracy of the ensemble of all members; without member i, of the others'."""
        delta = np.empty((MEMBER_PARTS, 0))
        if self.n_members > 1:
            delta = (self._by_part(self.left_out_sums, cells)
                     - self._by_part(self.ensemble_sums, cells)[:, None])
        return Estimate.mean(self.ensemble_row, self.samples(cells), delta, kind=1)

    def _subset_delta(self, size: int, parts: np.ndarray) -> np.ndarray:
        """[parts, K]: per member part and member i, the mean of ``parts`` [parts, S_m] over the
        size's subsets that leave i out, minus its mean over all of them (0 where no subset
        leaves i out: that member then adds no spread)."""
        excluded = ~self._contains[self.correct.position(size)]
        counts = excluded.sum(axis=0)
        with np.errstate(invalid="ignore", divide="ignore"):
            without = (parts @ excluded.astype(np.float64)) / counts
        return np.where(counts > 0, without - parts.mean(axis=1, keepdims=True), 0.0)

    def curve(self, size: int, cells: list[int]) -> Estimate:
        """Mean over the curve's subsets of ``size`` members of their ensemble's accuracy."""
        if size == self.n_members:
            return self.ensemble(cells)
        rows = self.correct.subset_rows(size)
        delta = np.empty((MEMBER_PARTS, 0))
        if self.n_members > 1:
            delta = self._subset_delta(size, self._by_part(self.cell_sums[rows.start:rows.stop],
                                                           cells))
        return Estimate.mean(self.correct.curve_mean[self.correct.position(size)],
                             self.samples(cells), delta, kind=0 if size == 1 else 1)

    def worst_line(self, size: int, worst: np.ndarray, half: int | None) -> Estimate | None:
        """Mean over the subsets of ``size`` members of each one's accuracy on its own worst
        group ``worst`` [S] (chosen elsewhere; -1: none), measured in ``half``."""
        rows = self.correct.subset_rows(size)
        chosen = worst[rows.start:rows.stop]
        valid = np.flatnonzero(chosen >= 0)
        if len(valid) == 0:
            return None
        parts = np.zeros((MEMBER_PARTS, len(chosen)))  # each subset's accuracy, by member part
        samples, influence, weights = [], [], []
        for group in np.unique(chosen[valid]):
            cells = self.cells(int(group), half)
            in_group = self.samples(cells)
            picked = valid[chosen[valid] == group]
            right = np.zeros(len(in_group))
            for s in picked:
                right += self.correct.subset_correct(rows.start + int(s), in_group)
            parts[:, picked] = self._by_part(self.cell_sums[rows.start + picked], cells)
            w = right / len(valid)
            samples.append(in_group)
            influence.append((w - w.mean()) / len(in_group))
            weights.append(np.full(len(in_group), len(picked) / len(valid) / len(in_group)))
        value = float(parts[:, valid].sum(axis=0).mean())
        delta = np.empty((MEMBER_PARTS, 0))
        if self.n_members > 1:
            if size == self.n_members:
                delta = self.ensemble(self.cells(int(chosen[0]), half)).delta
            else:
                parts[:, np.setdiff1d(np.arange(len(chosen)), valid)] = \
                    parts[:, valid].mean(axis=1, keepdims=True)
                delta = self._subset_delta(size, parts)
        weights = np.concatenate(weights)
        coef = np.c_[np.zeros(len(weights)), weights]  # ensembles' correctness
        return Estimate(value, np.concatenate(samples), np.concatenate(influence), delta, coef)


@dataclass(frozen=True)
class Layout:
    """How one grouping's test samples are laid out for the analysis: their sampling design,
    the design of the measured samples (refined by the cross-fitting halves, if any), and
    the cells (group x cross-fitting half x member part) that statistics are summed over."""

    design: Design
    measured: Design
    cells: Grouping
    halves: int

    @classmethod
    def build(cls, grouping: Grouping, pairs: np.ndarray | None, crossfit: bool,
              seed: list[int]) -> Layout:
        design = Design.build(grouping.codes, pairs)
        measured, halves, fold = design, 1, np.zeros(len(grouping.codes), np.int64)
        if crossfit:
            split = split_parts(design, [*seed, 0])
            measured, halves, fold = design.refined(split), 2, split[design.cluster]
        member_part = split_parts(measured, [*seed, 1], MEMBER_PARTS)[measured.cluster]
        codes = (grouping.codes * halves + fold) * MEMBER_PARTS + member_part
        n_cells = len(grouping) * halves * MEMBER_PARTS
        cells = Grouping(f"{grouping.name}/cells", tuple(map(str, range(n_cells))), codes,
                         np.bincount(codes, minlength=n_cells))
        return cls(design, measured, cells, halves)


@dataclass(frozen=True)
class Context:
    """One grouping's measures, layout and options: turns estimates into intervals and
    tests."""

    grouping: Grouping
    measures: Measures
    layout: Layout
    options: AnalysisOptions

    @property
    def design(self) -> Design:
        return self.layout.design

    @property
    def measured(self) -> Design:
        return self.layout.measured

    def accuracy(self, estimate: Estimate, design: Design | None = None,
                 level: float = LEVEL) -> list | None:
        if not self.options.intervals:
            return None
        spread = uncertainty(estimate, design or self.design)
        return wilson_interval(estimate, spread, level)

    def difference(self, estimate: Estimate, design: Design | None = None,
) -> list | None:
        if not self.options.intervals:
            return None
        return t_interval(estimate, uncertainty(estimate, design or self.design))

    def test(self, estimate: Estimate, design: Design) -> ScaleTest:
        spread = uncertainty(estimate, design) if self.options.intervals else None
        return ScaleTest(num(estimate.value),
                         None if spread is None else t_interval(estimate, spread),
                         None if spread is None else p_value(estimate, spread))


def num(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None
