"""Verdicts: a difference of two gains on each scale, with intervals and p-values, and the
Holm adjustment over every verdict of a report (docs/statistics.md)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .estimates import LEVEL, Design, Estimate, holm
from .measures import Context, num
from .options import SCALES


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
               design: Design | None = None) -> dict[str, Any]:
    """single_mean, ensemble, the gain on each scale, and their intervals."""
    scales = gain_scales(single, ensemble)
    out: dict[str, Any] = {"single_mean": num(single.value), "ensemble": num(ensemble.value)}
    out |= {key: num(value.value) for key, value in scales.items()}
    out["ci"] = None if not context.options.intervals else {
        "single_mean": context.accuracy(single, design),
        "ensemble": context.accuracy(ensemble, design),
        **{key: context.difference(value, design) for key, value in scales.items()}}
    return out


def compare_gains(context: Context, first: tuple[Estimate, Estimate],
                  second: tuple[Estimate, Estimate], labels: tuple[str, str],
                  measured: bool = True) -> dict[str, Any]:
    """The difference of two gains on each scale (first minus second), with intervals and
    p-values; ``verdict`` and ``p_adjusted`` are filled in once the whole report's family
    of verdicts is known."""
    design = context.measured if measured else context.design
    a, b = gain_scales(*first), gain_scales(*second)
    scales = {}
    for key in SCALES:
        scales[key] = context.test(a[key] - b[key], design)
        refusal = unsupported(key, first[0], second[0], labels)
        if refusal is not None:
            scales[key] |= {"ci": None, "p": None, "refused": refusal}
    primary = scales[context.options.scale]
    return {"scale": context.options.scale, **primary, "p_adjusted": None,
            "verdict": "not_tested" if "refused" in primary else "no_difference",
            "labels": list(labels), "scales": scales}


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
        n = len(np.unique(single.samples))
        count = n * (1 - single.value if scale == "error_reduction" else single.value)
        if not count >= MIN_BASELINE:
            return (f"the {side.removesuffix('_more')} side has {count:.1f} single-model "
                    f"{what} (the mean member's, over {n} test samples); a verdict on this "
                    f"scale needs at least {MIN_BASELINE} on each side")
    return None


def adjust(tests: list[dict[str, Any]]) -> int:
    """Holm-adjust the primary p-values of every verdict; a verdict claims a difference only
    when its adjusted p-value is below 1 - LEVEL. A verdict that repeats an earlier one
    (the same samples on each side) shares its result and is not counted twice. Returns
    the family size."""
    first: dict[Any, tuple[dict[str, Any], str]] = {}
    family, repeats = [], []
    for test in tests:
        key, name = test.pop("_same", (None, None))
        if key in first:
            original, where = first[key]
            test["note"] = (f"the same comparison as minority_vs_majority of `{where}`: not "
                            "counted twice")
            repeats.append((test, original))
            continue
        if key is not None:
            first[key] = (test, name)
        family.append(test)
    adjusted = holm([t["p"] for t in family])
    for test, p in zip(family, adjusted, strict=True):
        _decide(test, p)
    for test, original in repeats:
        # the original's place in the family, never below its own p (a grouping with other
        # strata measures the same samples with another variance)
        p = original["p_adjusted"]
        _decide(test, None if p is None or test["p"] is None else max(p, test["p"]))
    return len([p for p in adjusted if p is not None])


def _decide(test: dict[str, Any], p_adjusted: float | None) -> None:
    """Record the adjusted p-value and claim a difference where it is below 1 - LEVEL."""
    test["p_adjusted"] = p_adjusted
    more, less = test.pop("labels")
    if p_adjusted is not None and p_adjusted < 1 - LEVEL and test["difference"] is not None:
        test["verdict"] = more if test["difference"] > 0 else less
