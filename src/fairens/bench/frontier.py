"""The accuracy/fairness-latency frontier: accuracy, bottom-k and worst-group accuracy of
every exported graph (each model, ensemble size and precision) against its latency on
every measured device, with the Pareto-optimal points marked."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.lines import Line2D
from matplotlib.ticker import NullFormatter, ScalarFormatter

from ..errors import UsageError
from ..export.evaluate import GraphAccuracy
from ..export.folder import MANIFEST, latency_reports, open_export, read_compression, read_manifest
from ..files import csv_text
from ..report.document import Document, Image, pct
from ..report.names import Names
from ..report.plots import plot_text, png, series_color
from ..report.publish import check_document_folder, document_folder, write_document

METRICS = {"accuracy": "accuracy", "bottom_k": "bottom-k accuracy",
           "worst_group": "worst-group accuracy"}
MARKERS = {"fp32": "o", "int8_static": "s", "int8_dynamic": "^"}


@dataclass(frozen=True)
class _Measured:
    """One export folder as the frontier reads it, each file read and checked once."""

    folder: Path
    manifest: dict[str, Any]
    accuracy: dict[str, dict[str, GraphAccuracy]]
    reports: list[dict[str, Any]]  # its latency files


def _measured(export_dirs: list[str | Path]) -> list[_Measured]:
    out = []
    for export_dir in map(Path, export_dirs):
        manifest = read_manifest(export_dir)
        accuracy = read_compression(export_dir).accuracy
        out.append(_Measured(export_dir, manifest, accuracy,
                             latency_reports(export_dir, manifest)))
    return out


def frontier_table(export_dirs: list[str | Path], grouping: str = "class") -> pd.DataFrame:
    """One row per (graph, precision, device, threads, format) with latency and accuracy."""
    return _table(_measured(export_dirs), grouping)


def _table(exports: list[_Measured], grouping: str) -> pd.DataFrame:
    rows = []
    for export in exports:
        export_dir, manifest, accuracy = export.folder, export.manifest, export.accuracy
        graphs = {(g["name"], g["precision"]): g
                  for g in [*manifest["graphs"], *manifest.get("cascades", [])]}
        for report in export.reports:
            for result in report["results"]:
                if result.get("p50_ms") is None or result["format"] == "torch":
                    continue
                measured = accuracy[result["graph"]][result["precision"]]
                if grouping not in measured.groupings:
                    raise UsageError(f"--grouping {grouping} is not a grouping of "
                                     f"{export_dir}: its groupings are "
                                     f"{', '.join(measured.groupings)}")
                groups = measured.groupings[grouping]
                rows.append({
                    **_intervals(measured, groups),
                    "model": manifest["model"], "run": manifest["run"], "graph": result["graph"],
                    "kind": graphs[result["graph"], result["precision"]]["kind"],
                    # a cascade: the mean members it ran on the timed images
                    "members": result.get("members_mean",
                                          graphs[result["graph"], result["precision"]]["members"]),
                    "precision": result["precision"], "device": report["device"],
                    "threads": result["threads"], "format": result["format"],
                    "p50_ms": result["p50_ms"], "p90_ms": result["p90_ms"],
                    "load_ms": result.get("load_ms"), "peak_mb": result.get("peak_mb"),
                    "accuracy": measured.overall,
                    "bottom_k": None if groups.bottom_k is None else groups.bottom_k.accuracy,
                    "worst_group": None if groups.worst_group is None
                    else groups.worst_group.accuracy, "minority": groups.minority})
    table = pd.DataFrame(rows)
    if table.empty:
        return table
    for metric in METRICS:
        table[f"pareto_{metric}"] = False
        for _, index in table.groupby(["device", "threads", "format"]).groups.items():
            table.loc[pareto(table.loc[index], metric), f"pareto_{metric}"] = True
    return table


Z = 1.959963984540054  # the normal 97.5% quantile


def _wilson(p: float, n: int | None) -> tuple[float | None, float | None]:
    if n is None or n == 0:
        return None, None
    denominator = 1 + Z * Z / n
    centre = (p + Z * Z / (2 * n)) / denominator
    half = Z / denominator * np.sqrt(p * (1 - p) / n + Z * Z / (4 * n * n))
    return max(0.0, centre - half), min(1.0, centre + half)


def _intervals(measured: GraphAccuracy, groups: Any) -> dict[str, float | None]:
    """95% intervals of test sampling (the graph held fixed): Wilson for accuracy and the
    worst group, the normal approximation for the bottom-k mean of group accuracies; None
    where the compression report (of an earlier fairens) has no sample counts."""
    out = dict(zip(("accuracy_lo", "accuracy_hi"), _wilson(measured.overall, measured.n),
                   strict=True))
    worst = groups.worst_group
    out |= dict(zip(("worst_group_lo", "worst_group_hi"),
                    _wilson(worst.accuracy, worst.n) if worst is not None else (None, None),
                    strict=True))
    bottom, bounds = groups.bottom_k, (None, None)
    if bottom is not None and bottom.n:
        rates = [groups.groups[g] for g in bottom.groups]
        se = np.sqrt(sum(r * (1 - r) / n for r, n in zip(rates, bottom.n, strict=True))) \
            / len(rates)
        bounds = (max(0.0, bottom.accuracy - Z * se), min(1.0, bottom.accuracy + Z * se))
    return out | dict(zip(("bottom_k_lo", "bottom_k_hi"), bounds, strict=True))


def pareto(points: pd.DataFrame, metric: str) -> list:
    """Index of the points no other point beats: as fast or faster and at least as accurate,
    better in one of the two."""
    ordered = points.sort_values(["p50_ms", metric], ascending=[True, False])
    front, best = [], -np.inf
    for index, row in ordered.iterrows():
        if row[metric] > best:
            front.append(index)
            best = row[metric]
    return front


def _figure(table: pd.DataFrame, device: str, threads: int, fmt: str, metric: str) -> bytes:
    """One metric against latency for every graph measured on one device setting."""
    rows = table[(table.device == device) & (table.threads == threads) & (table.format == fmt)]
    label = METRICS[metric]
    figure, axis = plt.subplots(figsize=(8.0, 4.6))
    models = list(dict.fromkeys(table["model"]))  # one colour per model on every figure
    for (model, precision), points in rows.groupby(["model", "precision"], sort=False):
        axis.scatter(points["p50_ms"], 100 * points[metric], s=16 + 5 * points["members"],
                     marker=MARKERS.get(precision, "o"), color=series_color(models.index(model)),
                     alpha=0.85, edgecolors="white", linewidths=0.4)
    front = rows[rows[f"pareto_{metric}"]].sort_values("p50_ms")
    axis.step(front["p50_ms"], 100 * front[metric], where="post", color="black", linewidth=1)
    axis.scatter(front["p50_ms"], 100 * front[metric], s=110, facecolors="none",
                 edgecolors="black", linewidths=1.2)
    if f"{metric}_lo" in front and front[f"{metric}_lo"].notna().all():
        axis.errorbar(front["p50_ms"], 100 * front[metric],
                      yerr=100 * np.abs(np.stack([front[metric] - front[f"{metric}_lo"],
                                                  front[f"{metric}_hi"] - front[metric]])),
                      fmt="none", ecolor="black", elinewidth=0.8, capsize=2)
    for _, point in front.iterrows():  # name every Pareto-optimal point
        axis.annotate(plot_text(f"{point['model']} {_size(point)} {point['precision']}"),
                      (point["p50_ms"], 100 * point[metric]), xytext=(5, -10),
                      textcoords="offset points", fontsize=7)
    axis.set_xscale("log")
    axis.xaxis.set_major_formatter(ScalarFormatter())
    axis.xaxis.set_minor_formatter(NullFormatter())
    axis.set(xlabel="p50 latency at batch 1 (ms, log scale)", ylabel=f"{label} (%)",
             title=plot_text(f"{label} vs latency: {device}, {threads} thread(s), {fmt}"))
    axis.grid(alpha=0.3)
    present = [m for m in models if m in set(rows["model"])]
    axis.legend(handles=_legend_handles(present, models, sorted(set(rows["precision"]))),
                loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    return png(figure)


def _size(point: Any) -> str:
    """``×10`` for a graph of 10 members, ``cascade 0.90 (2.1 members)`` for a cascade."""
    if point["kind"] == "cascade":
        return f"{point['graph'].replace('_', ' ')} ({point['members']:.1f} members)"
    return f"×{int(point['members'])}"


def _legend_handles(present: list[str], models: list[str],
                    precisions: list[str]) -> list[Line2D]:
    """One entry per model (colour), per precision (marker; size grows with members) and
    the Pareto front: a legend of every model x precision pair would be too long."""
    def point(label: str, color: Any, marker: str = "o") -> Line2D:
        return Line2D([], [], linestyle="", marker=marker, color=color, label=label)

    return [*(point(m, series_color(models.index(m))) for m in present),
            *(point(p, "grey", MARKERS.get(p, "o")) for p in precisions),
            Line2D([], [], color="black", marker="o", markerfacecolor="none",
                   label="Pareto front")]


def _ms(value: float | None) -> str:
    return "" if value is None else f"{value:.3f}"


def _latency_section(doc: Document, exports: list[_Measured]) -> None:
    """Every measurement, with PyTorch eager next to ONNX Runtime where both were timed."""
    for export in exports:
        for report in export.reports:
            results = report["results"]
            eager = {(r["graph"], r["threads"]): r["p50_ms"] for r in results
                     if r["format"] == "torch"}
            doc.heading(f"Latency of {report['run']} on {report['device']} (batch 1)", level=3)
            rows = []
            for r in results:
                if r["format"] == "torch":
                    continue
                torch_p50 = eager.get((r["graph"], r["threads"])) if r["precision"] == "fp32" \
                    else None
                rows.append([r["graph"], r["precision"], r["format"], str(r["threads"]),
                             _ms(r.get("p50_ms")), _ms(r.get("p90_ms")), _ms(r.get("p99_ms")),
                             _ms(r.get("mean_ms")), _ms(r.get("load_ms")),
                             "" if r.get("peak_mb") is None else f"{r['peak_mb']:.1f}",
                             _ms(torch_p50),
                             f"{r['p50_ms'] / torch_p50:.2f}" if torch_p50 else ""])
            doc.table(["graph", "precision", "format", "threads", "p50 (ms)", "p90 (ms)",
                       "p99 (ms)", "mean (ms)", "load (ms)", "peak memory (MB)",
                       "PyTorch eager p50 (ms)", "ORT / eager"], rows,
                      collapsed=f"all {len(rows)} measurements" if len(rows) > 12 else None)


def _summary(table: pd.DataFrame, grouping: str) -> list[str]:
    """Per device setting: the most accurate graph, the fastest one within a point of it,
    and the best worst group, in plain sentences."""
    out = []
    for (device, threads, fmt), rows in table.groupby(["device", "threads", "format"]):
        def name(row: Any) -> str:
            if row["kind"] == "cascade":
                members = _size(row)
            else:
                members = "one member" if row["members"] == 1 else \
                    f"{int(row['members'])} members"
            return f"{row['model']} ({members}, {row['precision']}) at {row['p50_ms']:.2f} ms"

        best = rows.loc[rows["accuracy"].idxmax()]
        close = rows[rows["accuracy"] >= best["accuracy"] - 0.01].sort_values("p50_ms").iloc[0]
        text = (f"On {device} ({threads} thread(s), {fmt}): the most accurate graph is "
                f"{name(best)}, {pct(best['accuracy'])}%")
        if close.name != best.name:
            text += (f"; {name(close)} is within a point ({pct(close['accuracy'])}%) at "
                     f"{close['p50_ms'] / best['p50_ms']:.2f}x its latency")
        worst = rows.dropna(subset=["worst_group"])
        if not worst.empty:
            top = worst.loc[worst["worst_group"].idxmax()]
            text += (f". The best worst {grouping} group: {name(top)}, "
                     f"{pct(top['worst_group'])}%")
        out.append(text + ".")
    return out


def write_frontier(export_dirs: list[str | Path], out: str | Path,
                   grouping: str = "class") -> pd.DataFrame:
    """``frontier.csv``, ``frontier.md``, ``frontier.html`` and ``plots/`` into ``out``: an
    export folder (whose own frontier they are) or a frontier folder."""
    names = ["frontier.csv", "frontier.md", "frontier.html"]
    into_export = (Path(out) / MANIFEST).is_file()
    if into_export:
        open_export(out).check(names, "frontier")
    else:
        check_document_folder(out, "frontier", names)
    exports = _measured(export_dirs)
    table = _table(exports, grouping)
    runs = list(dict.fromkeys(table["run"])) if not table.empty else []
    models = list(dict.fromkeys(table["model"])) if not table.empty else []
    doc = Document(f"Accuracy, fairness and latency: {len(models)} model(s), {len(runs)} "
                   "run(s)" if runs else "fairens frontier")
    if table.empty:
        doc.paragraph("No latency measured yet: run `fairens bench EXPORT_DIR` or ingest a "
                      "device's latency file.")
    else:
        title = Names().grouping(grouping)
        doc.heading("Summary")
        doc.bullets(_summary(table, title))
        doc.paragraph(f"Accuracy (and, by {title}, bottom-k and worst group) of every "
                      "exported graph against its p50 latency at batch 1; circled and named "
                      "points are Pareto-optimal (no other graph is as fast and as accurate), "
                      "with 95% intervals of test sampling; colour is the model, marker the "
                      "precision, marker size the members.")
        doc.table(["run"], [[run] for run in runs], collapsed=f"the {len(runs)} runs")
        for (device, threads, fmt), _ in table.groupby(["device", "threads", "format"]):
            stem = f"frontier-{device}-{threads}t-{fmt}".replace(" ", "_")
            doc.heading(f"{device}, {threads} thread(s), {fmt}")
            for metric, label in METRICS.items():
                doc.image(Image(f"{stem}-{metric.replace('_', '-')}.png",
                                _figure(table, device, threads, fmt, metric),
                                f"{label} versus latency on {device}", wide=True))
            rows = table[(table.device == device) & (table.threads == threads)
                         & (table.format == fmt)].sort_values("p50_ms")
            doc.table(["model", "graph", "precision", "p50 (ms)", "accuracy (%)",
                       "bottom-k (%)", "worst group (%)", "Pareto (acc / bottom-k / worst)"],
                      [[r["model"], r["graph"], r["precision"], f"{r['p50_ms']:.3f}",
                        pct(r["accuracy"]), pct(r["bottom_k"]), pct(r["worst_group"]),
                        " / ".join("yes" if r[f"pareto_{m}"] else "-" for m in METRICS)]
                       for r in rows.to_dict("records")],
                      collapsed=f"all {len(rows)} graphs by latency" if len(rows) > 12 else None)
    _latency_section(doc, exports)
    folder = open_export(out) if into_export else document_folder(out, "frontier")
    write_document(folder, "frontier", doc, {"frontier.csv": csv_text(table)})
    return table
