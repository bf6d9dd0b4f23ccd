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
from typing import Any

import numpy as np

from .analysis import Analysis
from .estimates import Design, Estimate, Uncertainty, holm, p_value, t_interval, uncertainty
from .verdicts import gain_scales

STATISTICS = ("bottom", "top", "minority")


def _paired(first: Estimate, second: Estimate, design: Design,
            rho: float) -> tuple[Estimate, Uncertainty]:
    """first - second, with the sampling variance of the paired difference and the sum of
    the two runs' member variances."""
    difference = Estimate(first.value - second.value,
                          np.concatenate([first.samples, second.samples]),
                          np.concatenate([first.influence, -second.influence]),
                          np.empty((first.delta.shape[0], 0)))
    sampling = uncertainty(difference, design, rho)
    members = [uncertainty(Estimate(e.value, e.samples[:0], e.influence[:0], e.delta), design)
               for e in (first, second)]
    total_members = sum(m.members for m in members)
    df_parts = [(sampling.sampling, sampling.df)] + [(m.members, m.df) for m in members]
    total = sampling.sampling + total_members
    denominator = sum(v * v / d for v, d in df_parts if v > 0 and math.isfinite(d))
    df = total * total / denominator if denominator > 0 else math.inf
    return difference, Uncertainty(sampling.sampling, total_members, df)


def compare_runs(analyses: list[Analysis], reference: int, grouping: str,
                 scale: str) -> dict[str, Any]:
    """Each run's bottom-k, top-k and minority gain on ``scale`` minus the reference's, with
    paired intervals and Holm-adjusted p-values. ``analyses`` measured every run on the
    reference's choice of groups (``analyse(..., chosen=reference.chosen)``).

    Returns ``{"reference": index, "scale": ..., "comparisons": [per run: {statistic:
    {"gain", "difference", "ci", "p", "p_adjusted", "verdict"}}]}`` (None for the reference).
    """
    base = analyses[reference].verdicts[grouping]
    rows: list[dict[str, Any] | None] = []
    tests = []
    for index, analysis in enumerate(analyses):
        if index == reference:
            rows.append(None)
            continue
        mine = analysis.verdicts[grouping]
        row = {}
        for statistic in STATISTICS:
            ours, theirs = getattr(mine, statistic), getattr(base, statistic)
            if ours is None or theirs is None:
                continue
            rho = max(base.rho.get(statistic, {}).get(scale, 0.0),
                      mine.rho.get(statistic, {}).get(scale, 0.0))
            gain_ours, gain_theirs = gain_scales(*ours)[scale], gain_scales(*theirs)[scale]
            design = base.design if statistic == "minority" else base.measured
            difference, spread = _paired(gain_ours, gain_theirs, design, rho)
            entry = {"gain": _num(gain_ours.value), "reference_gain": _num(gain_theirs.value),
                     "difference": _num(difference.value),
                     "ci": t_interval(difference, spread), "p": p_value(difference, spread),
                     "p_adjusted": None, "verdict": "no_difference"}
            row[statistic] = entry
            tests.append(entry)
        rows.append(row)
    for entry, adjusted in zip(tests, holm([t["p"] for t in tests]), strict=True):
        entry["p_adjusted"] = adjusted
        if adjusted is not None and adjusted < 0.05 and entry["difference"] is not None:
            entry["verdict"] = "larger" if entry["difference"] > 0 else "smaller"
    return {"reference": reference, "scale": scale, "grouping": grouping,
            "family": len([t for t in tests if t["p"] is not None]), "comparisons": rows}


def _num(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None
