"""The analysis options: one typed object, checked once, passed everywhere."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any

from ..errors import bad_setting
from .combine import COMBINES

RANKINGS = ("auto", "validation", "crossfit", "same_data")
SCALES = ("gain", "rel_gain", "error_reduction")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


@dataclass(frozen=True)
class AnalysisOptions:
    """How a run is analysed (docs/statistics.md defines each).

    Attributes:
        k: size of the bottom-k and top-k sets (per grouping at most half its eligible
            groups, so that the two sets never overlap).
        combine: how members are combined: ``mean_prob``, ``mean_logit`` or ``vote``.
        max_subsets: the curve averages over all member subsets of a size when there are
            at most this many, else over this many random distinct ones.
        seed: draws those random subsets.
        ranking: which data choose the bottom-k, top-k and worst groups: ``validation``
            (the members' validation predictions), ``crossfit`` (two seeded halves of the
            test set, each choosing for the other), ``same_data`` (the test set that is then
            measured: biased, kept to reproduce earlier numbers), or ``auto`` (validation
            where the run has it, else crossfit).
        scale: the scale of the verdicts: ``gain`` (points), ``rel_gain`` (gain over single
            accuracy) or ``error_reduction`` (gain over single error).
        min_group_size: groups with fewer test samples are reported, never chosen.
        intervals: compute intervals, p-values and verdicts (False: point estimates only).
        split_seed: seeds the cross-fitting halves and the member halves.
        crosscheck: recompute per-group accuracies with fairlearn's MetricFrame.
    """

    k: int = 3
    combine: str = "mean_prob"
    max_subsets: int = 64
    seed: int = 0
    ranking: str = "auto"
    scale: str = "gain"
    min_group_size: int = 10
    intervals: bool = True
    split_seed: int = 0
    crosscheck: bool = True

    def __post_init__(self) -> None:
        for key, low, name, allowed in (
                ("k", 1, "ensemble.k", "a positive integer (size of the bottom-k and top-k sets)"),
                ("max_subsets", 1, "report.max_subsets", "a positive integer"),
                ("seed", 0, "ensemble.seed", "a non-negative integer"),
                ("min_group_size", 1, "report.min_group_size", "a positive integer"),
                ("split_seed", 0, "report.split_seed", "a non-negative integer")):
            value = getattr(self, key)
            if not _is_int(value) or value < low:
                raise bad_setting(name, value, allowed)
            object.__setattr__(self, key, int(value))
        for name, value, allowed in (("report.combine", self.combine, COMBINES),
                                     ("report.ranking", self.ranking, RANKINGS),
                                     ("report.scale", self.scale, SCALES)):
            if value not in allowed:
                raise bad_setting(name, value, f"one of {', '.join(allowed)}")
        for name, value in (("report.intervals", self.intervals),
                            ("report.crosscheck", self.crosscheck)):
            if not isinstance(value, bool):
                raise bad_setting(name, value, "true or false")

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def run_options(meta: Mapping[str, Any], **given: Any) -> AnalysisOptions:
    """The options of analysing a run: each field ``given`` (None: not given), else for
    ``k`` and ``seed`` the run's ``ensemble.k`` and ``ensemble.seed`` from ``run.json``
    (``meta``), else the default above."""
    unknown = sorted(set(given) - {f.name for f in fields(AnalysisOptions)})
    if unknown:
        raise TypeError(f"AnalysisOptions has no field {', '.join(unknown)}")
    ensemble = meta.get("ensemble") or {}
    values = {key: ensemble[key] for key in ("k", "seed") if key in ensemble}
    values |= {key: value for key, value in given.items() if value is not None}
    return AnalysisOptions(**values)
