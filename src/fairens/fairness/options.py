"""The analysis options: one typed object, checked once, passed everywhere. Each field
declares its setting (``report.*``, ``ensemble.k``, ``ensemble.seed``), what it allows and
its help: the ``fairens`` flags, the sweep's comparison and the restoring of a run's options
are built from these declarations (configs/train.yaml holds the same defaults, checked by
tests/test_configs.py)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from ..errors import bad_setting, is_int
from .combine import COMBINES

RANKINGS = ("auto", "validation", "crossfit", "same_data")
SCALES = ("gain", "rel_gain", "error_reduction")


def _option(default: Any, setting: str, help: str, *, low: int | None = None,
            choices: tuple[str, ...] | None = None, metavar: str | None = None,
            allowed: str | None = None) -> Any:
    """A field of :class:`AnalysisOptions` with its setting, its help (for the flag) and
    what it allows: integers of at least ``low``, one of ``choices``, or (for a bool
    default) true or false; ``allowed`` words it in error messages."""
    if allowed is None:
        allowed = ("true or false" if isinstance(default, bool) else
                   f"one of {', '.join(choices)}" if choices else
                   "a positive integer" if low == 1 else "a non-negative integer")
    return field(default=default, metadata={"setting": setting, "help": help, "low": low,
                                            "choices": choices, "metavar": metavar,
                                            "allowed": allowed})


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

    k: int = _option(3, "ensemble.k", "bottom-k/top-k size", low=1,
                     allowed="a positive integer (size of the bottom-k and top-k sets)")
    combine: str = _option("mean_prob", "report.combine", "how members are combined",
                           choices=COMBINES)
    max_subsets: int = _option(64, "report.max_subsets", "member subsets averaged per "
                               "ensemble size on the curve", low=1, metavar="N")
    seed: int = _option(0, "ensemble.seed", "draws the curve's member subsets", low=0)
    ranking: str = _option("auto", "report.ranking", "which data choose the bottom-k, top-k "
                           "and worst groups: validation predictions, cross-fitted halves of "
                           "the test set, or the measured test set itself (biased); auto: "
                           "validation where the run has it, else crossfit", choices=RANKINGS)
    scale: str = _option("gain", "report.scale", "scale of the verdicts: gain in points, "
                         "relative gain, or error-rate reduction", choices=SCALES)
    min_group_size: int = _option(10, "report.min_group_size", "groups with fewer test "
                                  "samples are reported, never chosen", low=1, metavar="N")
    intervals: bool = _option(True, "report.intervals", "intervals, p-values and verdicts "
                              "(point estimates only)")
    split_seed: int = _option(0, "report.split_seed", "seeds the cross-fitting halves and "
                              "member parts", low=0, metavar="SEED")
    crosscheck: bool = _option(True, "report.crosscheck", "the cross-check of per-group "
                               "accuracies by fairlearn's MetricFrame (to 1e-12)")

    def __post_init__(self) -> None:
        for f in fields(self):
            value, meta = getattr(self, f.name), f.metadata
            if meta["low"] is not None:
                ok = is_int(value) and value >= meta["low"]
            elif meta["choices"] is not None:
                ok = value in meta["choices"]
            else:
                ok = isinstance(value, bool)
            if not ok:
                raise bad_setting(meta["setting"], value, meta["allowed"])
            if meta["low"] is not None:
                object.__setattr__(self, f.name, int(value))  # a NumPy integer, say

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def option_fields() -> tuple:
    """The fields of :class:`AnalysisOptions`, each with ``metadata``: ``setting``,
    ``help``, ``low``, ``choices`` and ``metavar``."""
    return fields(AnalysisOptions)


def from_settings(settings: Mapping[str, Any]) -> AnalysisOptions:
    """The options of ``{setting: value}`` (``report.combine``, ``ensemble.k``, ...); a
    setting left out takes its default."""
    return AnalysisOptions(**{f.name: settings[f.metadata["setting"]] for f in option_fields()
                              if f.metadata["setting"] in settings})


def recorded_settings(meta: Mapping[str, Any]) -> dict[str, Any]:
    """The analysis settings a run was trained with, from its ``run.json`` (``meta``):
    ``ensemble.k`` and ``ensemble.seed`` of its ensemble, ``report.*`` of its config."""
    sections = {"ensemble": meta.get("ensemble") or {},
                "report": (meta.get("config") or {}).get("report") or {}}
    out = {}
    for f in option_fields():
        section, key = f.metadata["setting"].split(".")
        if isinstance(sections[section], Mapping) and key in sections[section]:
            out[f.metadata["setting"]] = sections[section][key]
    return out


def run_options(meta: Mapping[str, Any], **given: Any) -> AnalysisOptions:
    """The options of analysing a run: each field ``given`` (None: not given), else the
    setting the run was trained with (:func:`recorded_settings`), else the default."""
    known = {f.name: f.metadata["setting"] for f in option_fields()}
    unknown = sorted(set(given) - set(known))
    if unknown:
        raise TypeError(f"AnalysisOptions has no field {', '.join(unknown)}")
    settings = recorded_settings(meta)
    settings |= {known[name]: value for name, value in given.items() if value is not None}
    return from_settings(settings)
