"""Accuracy of exported graphs, per subgroup, run by ONNX Runtime: the fairness cost of
compression (Hooker et al. 2020), int8 against fp32."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ..fairness.groups import Grouping
from ..fairness.result import FairnessResult
from ..report.document import Document, pct, signed_pct


def groupings_of(groups: pd.DataFrame, labels: np.ndarray) -> list[Grouping]:
    """Every grouping of a run's test set (``test_groups.csv`` less its reserved columns)."""
    return [Grouping.from_column(name, groups[name], labels if name == "class" else None)
            for name in groups.columns]


def chosen_groups(fairness: FairnessResult) -> dict[str, dict[str, Any]]:
    """Per grouping, the groups the run's analysis (``fairness.json``) chose: its bottom-k
    (the first k where cross-fitting chose more), its worst group and its minority. The
    export measures every graph on these fixed groups, so that int8 and fp32 are compared
    on the same groups, chosen without the test set (docs/statistics.md)."""
    out = {}
    for name, summary in fairness.groupings.items():
        bottom, worst = summary.bottom_k, summary.worst_group
        out[name] = {"bottom_k": [] if bottom is None else bottom.groups[:bottom.k],
                     "worst_group": None if worst is None else worst.group,
                     "minority": summary.minority_groups()}
    return out


def grouped_accuracy(correct: np.ndarray, grouping: Grouping,
                     chosen: dict[str, Any]) -> dict[str, Any]:
    """Per-group accuracy of one predictor (bool [N]) and its accuracy on the ``chosen``
    groups (:func:`chosen_groups`): the bottom-k mean over groups, the worst group, and
    the minority and majority over their samples, as the analysis defines them."""
    accuracy = dict(zip(grouping.names, grouping.accuracy(correct)[0].tolist(), strict=True))
    out: dict[str, Any] = {"groups": accuracy}
    if chosen["bottom_k"]:
        out["bottom_k"] = {"groups": chosen["bottom_k"],
                           "accuracy": float(np.mean([accuracy[g] for g in chosen["bottom_k"]]))}
    if chosen["worst_group"] is not None:
        out["worst_group"] = {"group": chosen["worst_group"],
                              "accuracy": accuracy[chosen["worst_group"]]}
    minority = np.isin(grouping.sample_groups(), chosen["minority"])
    if minority.any() and not minority.all():
        out["minority"] = float(correct[minority].mean())
        out["majority"] = float(correct[~minority].mean())
    return out


def compression_summary(accuracy: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """For each graph family and int8 precision: the change against fp32 per group, on the
    analysis' bottom-k groups, on its worst group and on its minority."""
    out = {}
    for family, by_precision in accuracy.items():
        reference = by_precision["fp32"]
        for precision, result in by_precision.items():
            if precision == "fp32":
                continue
            changes = {}
            for grouping, ref in reference["groupings"].items():
                now = result["groupings"][grouping]
                entry = {"per_group": {g: now["groups"][g] - ref["groups"][g]
                                       for g in ref["groups"]}}
                for key in ("bottom_k", "worst_group"):
                    if key in ref:
                        entry[key] = now[key]["accuracy"] - ref[key]["accuracy"]
                for key in ("minority", "majority"):
                    if key in ref:
                        entry[key] = now[key] - ref[key]
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
                cells.append(f"{pct(entry.get('bottom_k', {}).get('accuracy'))} / "
                             f"{pct(entry.get('worst_group', {}).get('accuracy'))}")
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
                                signed_pct(change.get("bottom_k")),
                                signed_pct(change.get("worst_group")),
                                signed_pct(change.get("minority")) if "minority" in change else "",
                                f"{most} ({signed_pct(per_group[most])})"])
    doc.table(["graph:precision", "grouping", "overall (pts)", "fp32 bottom-k (pts)",
               "worst group (pts)", "minority (pts)", "group losing most"], change_rows)
    return doc
