"""The accuracy side of the model zoo: one table of accuracy, worst-k and worst-group
accuracy, parameters and MACs per model and per ensemble size, with a figure."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd

from ..errors import UsageError, bad_file
from ..files import csv_text
from ..rundir import RUN_JSON, load_fairness, load_meta
from .document import Document, Image, pct
from .plots import png, series_color
from .publish import check_document_folder, document_folder, write_document


def zoo_rows(run_dirs: list[str | Path], grouping: str = "class") -> pd.DataFrame:
    """One row per (run, ensemble size m): the curve's accuracies at m, and m times the
    member's parameters and MACs (deploy form)."""
    rows = []
    for folder in map(Path, run_dirs):
        meta, fairness = load_meta(folder), load_fairness(folder)
        if "model" not in meta:
            raise bad_file(folder / RUN_JSON, "missing, or without the model: the zoo needs "
                                              "runs trained by fairens")
        if grouping not in fairness.groupings:
            raise UsageError(f"{folder}: no grouping {grouping!r} in its fairness.json")
        summary, model = fairness.groupings[grouping], meta["model"]
        curve = summary.curve
        for i, m in enumerate(curve.m):
            rows.append({
                "model": model["name"], "run": folder.name, "members": m,
                "accuracy": curve.overall[i],
                "k": None if summary.bottom_k is None else summary.bottom_k.k,
                "bottom_k": (curve.bottom_k or [None] * len(curve.m))[i],
                "worst_group": curve.worst_group[i],
                "params": m * model["deploy_params"], "macs": m * model["deploy_macs"],
                "input": "x".join(map(str, model["input"]))})
    return pd.DataFrame(rows)


def _figure(table: pd.DataFrame, column: str, label: str) -> bytes:
    figure, axis = plt.subplots(figsize=(7.2, 4.6))
    for index, (model, rows) in enumerate(table.groupby("model", sort=False)):
        color = series_color(index)
        axis.plot(rows["macs"] / 1e6, 100 * rows[column], marker="o", markersize=4,
                  color=color, label=model if len(rows) == 1 else f"{model} (m = 1..{len(rows)})")
    axis.set_xscale("log")
    axis.set(xlabel="MACs per image (millions, log scale)", ylabel=f"{label} (%)",
             title=f"{label} versus compute")
    axis.grid(alpha=0.3)
    axis.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5), frameon=False)
    return png(figure)


def write_zoo_table(run_dirs: list[str | Path], out: str | Path,
                    grouping: str = "class") -> pd.DataFrame:
    """Write ``zoo.csv``, ``zoo.md``, ``zoo.html`` and ``plots/`` into ``out``."""
    check_document_folder(out, "zoo", ["zoo.csv", "zoo.md", "zoo.html"])
    table = zoo_rows(run_dirs, grouping)
    bottom = "bottom_k"
    k = "/".join(sorted({str(int(v)) for v in table["k"].dropna()})) or "k"
    doc = Document(f"fairens zoo: {len(run_dirs)} runs")
    doc.paragraph("Accuracy on the test set of each model and, for ensembles, of every "
                  "ensemble size m (mean over member subsets), with its bottom-"
                  f"{k} and worst-group accuracy (grouping `{grouping}`); parameters and "
                  "MACs are the deploy form's, times m.")
    doc.image(Image("zoo-accuracy.png", _figure(table, "accuracy", "accuracy"),
                    "Accuracy versus MACs"))
    doc.image(Image("zoo-worst-group.png", _figure(table, "worst_group", "worst-group accuracy"),
                    "Worst-group accuracy versus MACs"))
    doc.table(["model", "members", "input", "accuracy (%)", f"bottom-{k} (%)",
               "worst group (%)", "params (M)", "MACs (M)"],
              [[r["model"], str(r["members"]), r["input"], pct(r["accuracy"]), pct(r[bottom]),
                pct(r["worst_group"]), f"{r['params'] / 1e6:.3f}", f"{r['macs'] / 1e6:.1f}"]
               for r in table.to_dict("records")])
    write_document(document_folder(out, "zoo"), "zoo", doc, {"zoo.csv": csv_text(table)})
    return table
