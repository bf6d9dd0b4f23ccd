"""Paired comparisons of runs on one test set (e.g. the ``ensemble.vary`` ablation).

Every run is measured on the groups the *reference* run chose, so that "the bottom-k"
means the same groups in every run; and each run's gain is compared with the reference's
gain on the same test samples, so that the test-sampling noise the two share cancels (the
variance of the difference comes from the difference of their per-sample influences).
The two runs' members were trained separately, so their member variances add. A run
*separates* from the reference only where the interval of that paired difference excludes
zero after Holm's correction over every comparison of the report.
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np

from .analysis import Analysis
from .estimates import (
    Design,
    Estimate,
    Uncertainty,
    combine_variances,
    holm,
    member_variance,
    p_value,
    t_interval,
    uncertainty,
)
from .result import Outcome, PairedComparison, PairedDifference
from .verdicts import gain_scales, unsupported

STATISTICS = ("bottom", "top", "minority")


def _shared_delta(first: Estimate, second: Estimate,
                  shared: list[tuple[int, int]]) -> list[np.ndarray]:
    """The member effects behind first - second, each run's centred on its mean: one block
    per run for the members only it has, and one for the members both have (the same
    predictions), whose effects on the difference subtract: a member shared by both runs
    moves both the same way."""
    ours, theirs = (e.delta - e.delta.mean(axis=1, keepdims=True) for e in (first, second))
    mine = [i for i in range(ours.shape[1]) if i not in {i for i, _ in shared}]
    others = [j for j in range(theirs.shape[1]) if j not in {j for _, j in shared}]
    blocks = [ours[:, mine], -theirs[:, others]]
    if shared:
        blocks.append(ours[:, [i for i, _ in shared]] - theirs[:, [j for _, j in shared]])
    return blocks


def _paired(first: Estimate, second: Estimate, design: Design,
            shared: list[tuple[int, int]]) -> tuple[Estimate, Uncertainty]:
    """first - second, with the sampling variance of the paired difference and the member
    variance of the runs' members (shared members counted once, in the difference)."""
    difference = Estimate(first.value - second.value,
                          np.concatenate([first.samples, second.samples]),
                          np.concatenate([first.influence, -second.influence]),
                          np.empty((first.delta.shape[0], 0)),
                          np.concatenate([first.coef, -second.coef]))
    sampling = uncertainty(difference, design)
    sizes = (first.delta.shape[1], second.delta.shape[1], first.delta.shape[1])
    members = [member_variance(delta, size, centred=True) for delta, size
               in zip(_shared_delta(first, second, shared), sizes, strict=False)]
    return difference, combine_variances((sampling.sampling, sampling.df), members)


def compare_runs(analyses: list[Analysis], reference: int, grouping: str,
                 scale: str) -> PairedComparison:
    """Each run's bottom-k, top-k and minority gain on ``scale`` minus the reference's, with
    paired intervals and Holm-adjusted p-values. ``analyses`` measured every run on the
    reference's choice of groups (``analyse(..., chosen=reference.chosen)``)."""
    base = analyses[reference].verdicts[grouping]
    keys = analyses[reference].member_keys
    rows: list[dict[str, PairedDifference] | None] = []
    estimates = {}  # (run, statistic) -> the difference and its uncertainty
    for index, analysis in enumerate(analyses):
        if index == reference:
            rows.append(None)
            continue
        mine = analysis.verdicts[grouping]
        shared = [(i, keys.index(key)) for i, key in enumerate(analysis.member_keys)
                  if key in keys]
        row = {}
        for statistic in STATISTICS:
            ours, theirs = getattr(mine, statistic), getattr(base, statistic)
            if ours is None or theirs is None:
                continue
            gain_ours, gain_theirs = gain_scales(*ours)[scale], gain_scales(*theirs)[scale]
            design = base.design if statistic == "minority" else base.measured
            difference, spread = _paired(gain_ours, gain_theirs, design, shared)
            estimates[index, statistic] = difference, spread
            entry = PairedDifference(_num(gain_ours.value), _num(gain_theirs.value),
                                     _num(difference.value), t_interval(difference, spread),
                                     p_value(difference, spread), None, Outcome.NO_DIFFERENCE)
            refusal = unsupported(scale, ours[0], theirs[0], ("run", "reference"))
            if refusal is not None:
                entry = replace(entry, ci=None, p=None, refused=refusal,
                                verdict=Outcome.NOT_TESTED)
            row[statistic] = entry
        rows.append(row)
    tests = [(index, row, statistic) for index, row in enumerate(rows) if row
             for statistic in row]
    for (index, row, statistic), adjusted in zip(
            tests, holm([row[s].p for _, row, s in tests]), strict=True):
        entry = replace(row[statistic], p_adjusted=adjusted)
        if adjusted is not None and entry.p is not None and adjusted > 0:
            # the interval whose exclusion of zero is the Holm verdict: each test at the
            # level its adjusted p-value implies
            entry = replace(entry, ci_adjusted=t_interval(
                *estimates[index, statistic], level=1 - 0.05 * entry.p / adjusted))
        if adjusted is not None and adjusted < 0.05 and entry.difference is not None:
            entry = replace(entry, verdict=Outcome.LARGER if entry.difference > 0
                            else Outcome.SMALLER)
        row[statistic] = entry
    return PairedComparison(reference, scale, grouping,
                            len([1 for _, row, s in tests if row[s].p is not None]), rows)


def _num(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None
