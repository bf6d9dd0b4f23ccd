"""Accuracy of exported graphs, per subgroup, run by ONNX Runtime: the fairness cost of
compression (Hooker et al. 2020), int8 against fp32. The compression report's data
(``compression.json``) are the typed :class:`CompressionReport`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ..errors import FairensError
from ..fairness.groups import Grouping
from ..fairness.result import FairnessResult
from ..report.document import Document, pct, signed_pct
from ..typed_json import OPTIONAL, SchemaMismatch, decode, encode


@dataclass(frozen=True)
class ChosenGroups:
    """The groups of one grouping that the run's analysis chose: its bottom-k, its worst
    group and its minority."""

    bottom_k: list[str]
    worst_group: str | None
    minority: list[str]


@dataclass(frozen=True)
class SetAccuracy:
    groups: list[str]
    accuracy: float
    # each group's test samples (for the frontier's intervals; absent in older files)
    n: list[int] | None = field(default=None, metadata=OPTIONAL)


@dataclass(frozen=True)
class WorstAccuracy:
    group: str
    accuracy: float
    n: int | None = field(default=None, metadata=OPTIONAL)


@dataclass(frozen=True)
class GroupedAccuracy:
    """One predictor's accuracy per group and on the chosen groups."""

    groups: dict[str, float]
    bottom_k: SetAccuracy | None = field(default=None, metadata=OPTIONAL)
    worst_group: WorstAccuracy | None = field(default=None, metadata=OPTIONAL)
    minority: float | None = field(default=None, metadata=OPTIONAL)
    majority: float | None = field(default=None, metadata=OPTIONAL)
    # a cascade's mean members run per group (export/cascade.py); absent for graphs
    members: dict[str, float] | None = field(default=None, metadata=OPTIONAL)


@dataclass(frozen=True)
class GraphAccuracy:
    overall: float
    groupings: dict[str, GroupedAccuracy]
    n: int | None = field(default=None, metadata=OPTIONAL)  # test samples
    members: float | None = field(default=None, metadata=OPTIONAL)  # a cascade's mean run


@dataclass(frozen=True)
class GroupChange:
    """What int8 changed against fp32 for one grouping, in accuracy (fractions)."""

    per_group: dict[str, float]
    bottom_k: float | None = field(default=None, metadata=OPTIONAL)
    worst_group: float | None = field(default=None, metadata=OPTIONAL)
    minority: float | None = field(default=None, metadata=OPTIONAL)
    majority: float | None = field(default=None, metadata=OPTIONAL)


@dataclass(frozen=True)
class CompressionChange:
    overall: float
    groupings: dict[str, GroupChange]


@dataclass(frozen=True)
class CompressionReport:
    """``compression.json``: per graph and precision its accuracy (``accuracy``), and per
    ``graph:precision`` of int8 what it changed against fp32 (``change``)."""

    accuracy: dict[str, dict[str, GraphAccuracy]]
    change: dict[str, CompressionChange]

    def to_json(self) -> dict[str, Any]:
        return encode(self)

    @classmethod
    def from_json(cls, data: Any, where: str) -> CompressionReport:
        """Check and read a parsed ``compression.json``; one line naming ``where`` and the
        first thing that does not fit."""
        try:
            return decode(cls, data)
        except SchemaMismatch as error:
            raise FairensError(f"{where}: not the compression report of fairens export: "
                               f"{error}") from None


def groupings_of(groups: pd.DataFrame, labels: np.ndarray) -> list[Grouping]:
    """Every grouping of a run's test set (``test_groups.csv`` less its reserved columns)."""
    return [Grouping.from_column(name, groups[name], labels if name == "class" else None)
            for name in groups.columns]


def chosen_groups(fairness: FairnessResult) -> dict[str, ChosenGroups]:
    """Per grouping, the groups the run's analysis (``fairness.json``) chose: its bottom-k
    (the first k where cross-fitting chose more), its worst group and its minority. The
    export measures every graph on these fixed groups, so that int8 and fp32 are compared
    on the same groups, chosen without the test set (docs/statistics.md)."""
    out = {}
    for name, summary in fairness.groupings.items():
        bottom, worst = summary.bottom_k, summary.worst_group
        out[name] = ChosenGroups([] if bottom is None else bottom.groups[:bottom.k],
                                 None if worst is None else worst.group,
                                 summary.minority_groups())
    return out


def grouped_accuracy(correct: np.ndarray, grouping: Grouping,
                     chosen: ChosenGroups) -> GroupedAccuracy:
    """Per-group accuracy of one predictor (bool [N]) and its accuracy on the ``chosen``
    groups: the bottom-k mean over groups, the worst group, and the minority and majority
    over their samples, as the analysis defines them."""
    accuracy = dict(zip(grouping.names, grouping.accuracy(correct)[0].tolist(), strict=True))
    minority = np.isin(grouping.sample_groups(), chosen.minority)
    split = minority.any() and not minority.all()
    counts = dict(zip(grouping.names, grouping.counts.tolist(), strict=True))
    return GroupedAccuracy(
        accuracy,
        SetAccuracy(chosen.bottom_k, float(np.mean([accuracy[g] for g in chosen.bottom_k])),
                    [counts[g] for g in chosen.bottom_k]) if chosen.bottom_k else None,
        None if chosen.worst_group is None else
        WorstAccuracy(chosen.worst_group, accuracy[chosen.worst_group],
                      counts[chosen.worst_group]),
        float(correct[minority].mean()) if split else None,
        float(correct[~minority].mean()) if split else None)


def _change(now: GroupedAccuracy, ref: GroupedAccuracy) -> GroupChange:
    def less(a: float | None, b: float | None) -> float | None:
        return None if a is None or b is None else a - b
    return GroupChange(
        {g: now.groups[g] - ref.groups[g] for g in ref.groups},
        None if ref.bottom_k is None else now.bottom_k.accuracy - ref.bottom_k.accuracy,
        None if ref.worst_group is None else
        now.worst_group.accuracy - ref.worst_group.accuracy,
        less(now.minority, ref.minority), less(now.majority, ref.majority))


def compression_summary(accuracy: dict[str, dict[str, GraphAccuracy]]
                        ) -> dict[str, CompressionChange]:
    """For each graph family and int8 precision: the change against fp32 per group, on the
    analysis' bottom-k groups, on its worst group and on its minority."""
    out = {}
    for family, by_precision in accuracy.items():
        reference = by_precision["fp32"]
        for precision, result in by_precision.items():
            if precision != "fp32":
                out[f"{family}:{precision}"] = CompressionChange(
                    result.overall - reference.overall,
                    {grouping: _change(result.groupings[grouping], ref)
                     for grouping, ref in reference.groupings.items()})
    return out


def compression_document(accuracy: dict[str, dict[str, GraphAccuracy]],
                         summary: dict[str, CompressionChange], title: str) -> Document:
    """The compression report: accuracy of every graph and precision, and what int8 costs
    each group."""
    doc = Document(title)
    doc.paragraph("Accuracy on the test set of each exported graph, run by ONNX Runtime, in "
                  "fp32 and int8 (dynamic: weights int8, activations quantized at run time; "
                  "static: QDQ with calibrated activations). A compressed model can keep its "
                  "top-line accuracy while losing more on some groups (Hooker et al. 2020).")
    first = next(iter(accuracy.values()))["fp32"].groupings
    rows = []
    for family, by_precision in accuracy.items():
        for precision, result in by_precision.items():
            cells = [family, precision, pct(result.overall)]
            for grouping in first:
                entry = result.groupings[grouping]
                cells.append(f"{pct(None if entry.bottom_k is None else entry.bottom_k.accuracy)}"
                             " / " + pct(None if entry.worst_group is None
                                         else entry.worst_group.accuracy))
            rows.append(cells)
    doc.table(["graph", "precision", "accuracy (%)",
               *[f"{g}: bottom-k / worst (%)" for g in first]], rows)
    doc.heading("What int8 costs each group")
    change_rows = []
    for key, entry in summary.items():
        for grouping, change in entry.groupings.items():
            per_group = change.per_group
            most = min(per_group, key=lambda g: (per_group[g], g))
            change_rows.append([key, grouping, signed_pct(entry.overall),
                                signed_pct(change.bottom_k), signed_pct(change.worst_group),
                                "" if change.minority is None else signed_pct(change.minority),
                                f"{most} ({signed_pct(per_group[most])})"])
    doc.table(["graph:precision", "grouping", "overall (pts)", "fp32 bottom-k (pts)",
               "worst group (pts)", "minority (pts)", "group losing most"], change_rows)
    return doc
