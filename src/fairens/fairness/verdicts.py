"""Verdicts: a difference of two gains on each scale, with intervals and p-values, and the
Holm adjustment over every verdict of a report (docs/statistics.md)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from .estimates import LEVEL, Design, Estimate, holm
from .measures import Context, num
from .options import SCALES
from .result import Gain, GainIntervals, Outcome, Verdict


@dataclass(frozen=True)
class Verdicts:
    """The estimates behind one grouping's verdicts: (single, ensemble) accuracy of the
    bottom-k and top-k groups and of the minority and majority, with the design they were
    measured under."""

    measured: Design
    design: Design
    bottom: tuple[Estimate, Estimate] | None = None
    top: tuple[Estimate, Estimate] | None = None
    minority: tuple[Estimate, Estimate] | None = None
    majority: tuple[Estimate, Estimate] | None = None


def gain_scales(single: Any, ensemble: Any) -> dict[str, Any]:
    """A gain on the three scales: points, over single accuracy, over single error (of
    estimates, or of arrays of resampled values)."""
    gain = ensemble - single
    with np.errstate(divide="ignore", invalid="ignore"):
        return {"gain": gain, "rel_gain": gain / single,
                "error_reduction": gain / (1.0 - single)}


def gain_block(context: Context, single: Estimate, ensemble: Estimate,
               design: Design | None = None) -> Gain:
    """single_mean, ensemble, the gain on each scale, and their intervals."""
    scales = gain_scales(single, ensemble)
    ci = None if not context.options.intervals else GainIntervals(
        context.accuracy(single, design), context.accuracy(ensemble, design),
        *(context.difference(scales[key], design) for key in SCALES))
    return Gain(num(single.value), num(ensemble.value),
                *(num(scales[key].value) for key in SCALES), ci)


@dataclass(frozen=True)
class Test:
    """A verdict waiting for the Holm adjustment over the report's family of verdicts.

    Attributes:
        verdict: the verdict, with ``p_adjusted`` None.
        outcomes: what it claims when the difference is positive, and when negative.
        same: for a minority comparison, a fingerprint of the samples on each side: a
            later comparison of the same samples repeats it and is not counted twice.
        where: the grouping it belongs to.
    """

    verdict: Verdict
    outcomes: tuple[Outcome, Outcome]
    same: tuple[str, ...] | None = None
    where: str = ""


def compare_gains(context: Context, first: tuple[Estimate, Estimate],
                  second: tuple[Estimate, Estimate], outcomes: tuple[Outcome, Outcome],
                  measured: bool = True) -> Test:
    """The difference of two gains on each scale (first minus second), with intervals and
    p-values; the verdict and its adjusted p-value are decided by :func:`adjust` once the
    whole report's family of verdicts is known."""
    design = context.measured if measured else context.design
    a, b = gain_scales(*first), gain_scales(*second)
    scales = {}
    for key in SCALES:
        test = context.test(a[key] - b[key], design)
        refusal = unsupported(key, first[0], second[0], (outcomes[0].value, outcomes[1].value))
        scales[key] = test if refusal is None else replace(test, ci=None, p=None,
                                                          refused=refusal)
    primary = scales[context.options.scale]
    verdict = Verdict(context.options.scale, primary.difference, primary.ci, primary.p,
                      primary.refused, None, Outcome.NOT_TESTED if primary.refused
                      else Outcome.NO_DIFFERENCE, scales)
    return Test(verdict, outcomes)


# a verdict on a ratio scale needs this many single-model errors (error-rate reduction) or
# right answers (relative gain) on each side: below it the ratio rests on a handful of
# samples and its interval on an approximation that does not hold
MIN_BASELINE = 10


def unsupported(scale: str, first: Estimate, second: Estimate,
                labels: tuple[str, str]) -> str | None:
    """Why a verdict on ``scale`` is not made for these two sides' single-model accuracy
    estimates, or None: each side needs :data:`MIN_BASELINE` single-model errors for the
    error-rate reduction and as many right answers for the relative gain, counted as the
    mean member's errors (or right answers) over the side's test samples."""
    if scale == "gain":
        return None
    what = "errors" if scale == "error_reduction" else "right answers"
    for side, single in zip(labels, (first, second), strict=True):
        n = len(single.distinct_samples())
        count = n * (1 - single.value if scale == "error_reduction" else single.value)
        if not count >= MIN_BASELINE:
            return (f"the {side.removesuffix('_more')} side has {count:.1f} single-model "
                    f"{what} (the mean member's, over {n} test samples); a verdict on this "
                    f"scale needs at least {MIN_BASELINE} on each side")
    return None


def adjust(tests: list[Test]) -> tuple[list[Verdict], int]:
    """Holm-adjust the primary p-values of every verdict; a verdict claims a difference only
    when its adjusted p-value is below 1 - LEVEL. A verdict that repeats an earlier one
    (the same samples on each side) shares its result and is not counted twice. Returns
    the decided verdicts, in the order of ``tests``, and the family size."""
    first: dict[tuple[str, ...], int] = {}
    family, repeats = [], {}
    for index, test in enumerate(tests):
        if test.same is not None and test.same in first:
            repeats[index] = first[test.same]
            continue
        if test.same is not None:
            first[test.same] = index
        family.append(index)
    adjusted = holm([tests[i].verdict.p for i in family])
    out: list[Verdict | None] = [None] * len(tests)
    for index, p in zip(family, adjusted, strict=True):
        out[index] = _decide(tests[index], p)
    for index, original in repeats.items():
        # the original's place in the family, never below its own p (a grouping with other
        # strata measures the same samples with another variance)
        test, p = tests[index], out[original].p_adjusted
        own = test.verdict.p
        decided = _decide(test, None if p is None or own is None else max(p, own))
        out[index] = replace(decided, note=f"the same comparison as minority_vs_majority of "
                                           f"`{tests[original].where}`: not counted twice")
    return out, len([p for p in adjusted if p is not None])


def _decide(test: Test, p_adjusted: float | None) -> Verdict:
    """The verdict with its adjusted p-value, claiming a difference where it is below
    1 - LEVEL."""
    verdict = replace(test.verdict, p_adjusted=p_adjusted)
    more, less = test.outcomes
    if p_adjusted is not None and p_adjusted < 1 - LEVEL and verdict.difference is not None:
        verdict = replace(verdict, verdict=more if verdict.difference > 0 else less)
    return verdict
