"""Accuracy of exported graphs, per subgroup, run by ONNX Runtime: the fairness cost of
compression (Hooker et al. 2020), int8 against fp32."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ..fairness.groups import Grouping
from ..report.document import Document, pct, signed_pct


def groupings_of(groups: pd.DataFrame, labels: np.ndarray,
                 minority: dict[str, list[str]]) -> list[Grouping]:
    """Every grouping of a run's test set, with its declared minorities."""
    return [Grouping.from_column(name, groups[name], labels if name == "class" else None,
                                 minority.get(name, ())) for name in groups.columns]


def grouped_accuracy(correct: np.ndarray, grouping: Grouping, k: int,
                     min_group_size: int = 1) -> dict[str, Any]:
    """Per-group accuracy of one predictor (bool [N]), with bottom-k, worst group and the
    minority/majority split; groups are ranked by this predictor's accuracy, among those
    with at least ``min_group_size`` test samples (all groups when none has)."""
    accuracy = grouping.accuracy(correct)[0]
    candidates = [i for i in range(len(grouping)) if grouping.counts[i] >= min_group_size]
    ranking = sorted(candidates or range(len(grouping)),
                     key=lambda i: (accuracy[i], grouping.names[i]))
    size = min(k, len(ranking))
    out: dict[str, Any] = {
        "groups": {name: float(accuracy[i]) for i, name in enumerate(grouping.names)},
        "bottom_k": {"groups": [grouping.names[i] for i in ranking[:size]],
                     "accuracy": float(accuracy[ranking[:size]].mean())},
        "worst_group": {"group": grouping.names[ranking[0]],
                        "accuracy": float(accuracy[ranking[0]])}}
    if grouping.splits_minority:
        for side in ("minority", "majority"):
            members = list(getattr(grouping, side))
            out[side] = float(grouping.sums(correct)[0, members].sum()
                              / grouping.counts[members].sum())
    return out


def compression_summary(accuracy: dict[str, dict[str, Any]], k: int) -> dict[str, Any]:
    """For each graph family and int8 precision: the change against fp32 per group, on the
    fp32 bottom-k groups, on the worst group and on the minority."""
    out = {}
    for family, by_precision in accuracy.items():
        reference = by_precision["fp32"]
        for precision, result in by_precision.items():
            if precision == "fp32":
                continue
            changes = {}
            for grouping, ref in reference["groupings"].items():
                now = result["groupings"][grouping]
                bottom = ref["bottom_k"]["groups"]
                entry = {
                    "per_group": {g: now["groups"][g] - ref["groups"][g] for g in ref["groups"]},
                    "bottom_k": float(np.mean([now["groups"][g] for g in bottom])
                                      - ref["bottom_k"]["accuracy"]),
                    "worst_group": now["worst_group"]["accuracy"] - ref["worst_group"]["accuracy"]}
                if "minority" in ref:
                    entry["minority"] = now["minority"] - ref["minority"]
                    entry["majority"] = now["majority"] - ref["majority"]
                changes[grouping] = entry
            out[f"{family}:{precision}"] = {
                "overall": result["overall"] - reference["overall"], "groupings": changes}
    return out


def compression_document(accuracy: dict[str, dict[str, Any]], summary: dict[str, Any],
                         title: str) -> Document:
    """The compression report: accuracy of every graph and precision, and what int8 costs
    each group."""
    doc = Document(title)
    doc.paragraph("Accuracy on the test set of each exported graph, run by ONNX Runtime, in "
                  "fp32 and int8 (dynamic: weights int8, activations quantized at run time; "
                  "static: QDQ with calibrated activations). A compressed model can keep its "
                  "top-line accuracy while losing more on some groups (Hooker et al. 2020).")
    first = next(iter(accuracy.values()))["fp32"]["groupings"]
    rows = []
    for family, by_precision in accuracy.items():
        for precision, result in by_precision.items():
            cells = [family, precision, pct(result["overall"])]
            for grouping in first:
                entry = result["groupings"][grouping]
                cells.append(f"{pct(entry['bottom_k']['accuracy'])} / "
                             f"{pct(entry['worst_group']['accuracy'])}")
            rows.append(cells)
    doc.table(["graph", "precision", "accuracy (%)",
               *[f"{g}: bottom-k / worst (%)" for g in first]], rows)
    doc.heading("What int8 costs each group")
    change_rows = []
    for key, entry in summary.items():
        for grouping, change in entry["groupings"].items():
            per_group = change["per_group"]
            most = min(per_group, key=lambda g: (per_group[g], g))
            change_rows.append([key, grouping, signed_pct(entry["overall"]),
                                signed_pct(change["bottom_k"]), signed_pct(change["worst_group"]),
                                signed_pct(change.get("minority")) if "minority" in change else "",
                                f"{most} ({signed_pct(per_group[most])})"])
    doc.table(["graph:precision", "grouping", "overall (pts)", "fp32 bottom-k (pts)",
               "worst group (pts)", "minority (pts)", "group losing most"], change_rows)
    return doc
