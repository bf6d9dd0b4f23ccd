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
    measured under and the cross-fitting halves' correlations."""

    measured: Design
    design: Design
    rho: dict[str, dict[str, float]]
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
               design: Design | None = None,
               rho: dict[str, float] | None = None) -> dict[str, Any]:
    """single_mean, ensemble, the gain on each scale, and their intervals (``rho``: the
    cross-fitting halves' correlation of each)."""
    scales = gain_scales(single, ensemble)
    rho = rho or {}
    out: dict[str, Any] = {"single_mean": num(single.value), "ensemble": num(ensemble.value)}
    out |= {key: num(value.value) for key, value in scales.items()}
    out["ci"] = None if not context.options.intervals else {
        "single_mean": context.accuracy(single, design, rho.get("single_mean", 0.0)),
        "ensemble": context.accuracy(ensemble, design, rho.get("ensemble", 0.0)),
        **{key: context.difference(value, design, rho.get(key, 0.0))
           for key, value in scales.items()}}
    return out


def compare_gains(context: Context, first: tuple[Estimate, Estimate],
                  second: tuple[Estimate, Estimate], labels: tuple[str, str],
                  measured: bool = True, rho: dict[str, float] | None = None) -> dict[str, Any]:
    """The difference of two gains on each scale (first minus second), with intervals and
    p-values; ``verdict`` and ``p_adjusted`` are filled in once the whole report's family
    of verdicts is known."""
    design = context.measured if measured else context.design
    a, b, rho = gain_scales(*first), gain_scales(*second), rho or {}
    scales = {key: context.test(a[key] - b[key], design, rho.get(key, 0.0)) for key in SCALES}
    primary = scales[context.options.scale]
    return {"scale": context.options.scale, **primary, "p_adjusted": None,
            "verdict": "no_difference", "labels": list(labels), "scales": scales}


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
        test["p_adjusted"] = p
        more, less = test.pop("labels")
        if p is not None and p < 1 - LEVEL and test["difference"] is not None:
            test["verdict"] = more if test["difference"] > 0 else less
    for test, original in repeats:
        test.pop("labels")
        test["p_adjusted"], test["verdict"] = original["p_adjusted"], original["verdict"]
    return len([p for p in adjusted if p is not None])
