"""One report comparing runs on the same test set, e.g. the ``ensemble.vary`` ablation."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from ..errors import FairensError
from ..files import csv_text, json_text
from ..rundir import load_run
from .document import Document, Image, pct, pct_ci, signed_pct
from .plots import plot_text, png, series_color
from .write import analyse_run, write_document

CURVES = {"overall": "overall", "bottom_k": "bottom-k", "top_k": "top-k",
          "worst_group": "worst group", "minority": "minority", "majority": "majority"}


@dataclass(frozen=True)
class ComparedRun:
    """One run of a comparison: its label, folder, run.json and analysis."""

    label: str
    folder: Path
    meta: dict[str, Any]
    fairness: dict[str, Any]


def _labels(metas: list[dict[str, Any]], folders: list[Path]) -> list[str]:
    """``vary=init+batch_order`` when the runs differ in ensemble.vary, else folder names."""
    varies = [m.get("ensemble", {}).get("vary") for m in metas]
    if all(v is not None for v in varies):
        labels = ["vary=" + ("+".join(v) if v else "none") for v in varies]
        if len(set(labels)) == len(labels):
            return labels
    names = [f.name for f in folders]
    return names if len(set(names)) == len(names) else [str(f) for f in folders]


def load_comparison(run_dirs: list[str | Path], **options: Any) -> list[ComparedRun]:
    """Analyse every run with the same options; they must share one test set."""
    if len(run_dirs) < 2:
        raise FairensError(f"compare needs at least two run directories, got {len(run_dirs)}")
    runs = [load_run(d) for d in run_dirs]
    reference = runs[0]
    for folder, run in zip(run_dirs[1:], runs[1:], strict=True):
        if not np.array_equal(run.sample_ids, reference.sample_ids) or \
                run.class_names != reference.class_names:
            raise FairensError(f"{folder}: its test set or classes differ from those of "
                               f"{run_dirs[0]}; only runs on the same test set can be compared")
    folders = [Path(d) for d in run_dirs]
    labels = _labels([r.meta for r in runs], folders)
    return [ComparedRun(label, folder, run.meta, analyse_run(run, **options).fairness)
            for label, folder, run in zip(labels, folders, runs, strict=True)]


def _figure(runs: list[ComparedRun], grouping: str, key: str) -> bytes | None:
    lines = [(r.label, r.fairness["groupings"][grouping]["curve"]) for r in runs
             if key in r.fairness["groupings"][grouping]["curve"]]
    if not lines:
        return None
    k = runs[0].fairness["groupings"][grouping]["bottom_k"]["k"]
    figure, axis = plt.subplots(figsize=(6.4, 4.2))
    for index, (label, curve) in enumerate(lines):
        color = series_color(index)
        axis.plot(curve["m"], 100 * np.asarray(curve[key]), marker="o", markersize=3,
                  color=color, label=plot_text(label))
        if curve["ci"]:
            bounds = 100 * np.asarray(curve["ci"][key], dtype=float)
            axis.fill_between(curve["m"], bounds[:, 0], bounds[:, 1], color=color, alpha=0.12,
                              linewidth=0)
    name = CURVES[key].replace("-k", f"-{k}")
    axis.set(xlabel="ensemble size m", ylabel="accuracy (%)",
             title=plot_text(f"{name} ({grouping})"))
    axis.xaxis.get_major_locator().set_params(integer=True)
    axis.grid(alpha=0.3)
    axis.legend(fontsize=8)
    return png(figure)


def gains_table(runs: list[ComparedRun], grouping: str) -> pd.DataFrame:
    """Final gains of each run for one grouping, with their 95% intervals."""
    rows = []
    for run in runs:
        summary = run.fairness["groupings"][grouping]
        overall = run.fairness["overall"]
        row = {"run": run.label, "members": run.fairness["members"],
               "overall_single": overall["single_mean"], "overall_ensemble": overall["ensemble"]}
        for key in ("bottom_k", "top_k"):
            entry = summary[key]
            ci = (entry.get("ci") or {}).get("rel_gain") or [None, None]
            row |= {f"{key}_single": entry["single_mean"], f"{key}_ensemble": entry["ensemble"],
                    f"{key}_rel_gain": entry["rel_gain"], f"{key}_rel_gain_lo": ci[0],
                    f"{key}_rel_gain_hi": ci[1]}
        if "minority" in summary:
            for side in ("minority", "majority"):
                entry = summary["minority"][side]
                ci = (entry.get("ci") or {}).get("gain") or [None, None]
                row |= {f"{side}_gain": entry["gain"], f"{side}_gain_lo": ci[0],
                        f"{side}_gain_hi": ci[1]}
        row["worst_group_ensemble"] = summary["worst_group"]["ensemble"]
        rows.append(row)
    return pd.DataFrame(rows)


def _overlap(a: list | None, b: list | None) -> bool | None:
    if not a or not b or None in a or None in b:
        return None
    return a[0] <= b[1] and b[0] <= a[1]


def _findings(runs: list[ComparedRun], grouping: str) -> list[str]:
    k = runs[0].fairness["groupings"][grouping]["bottom_k"]["k"]
    runs = [r for r in runs if r.fairness["groupings"][grouping]["bottom_k"]["rel_gain"]
            is not None]
    if len(runs) < 2:
        return [f"The bottom-{k} relative gain is undefined (zero single-member accuracy) for "
                "all but at most one run: nothing to compare."]
    ranked = sorted(runs, key=lambda r: -r.fairness["groupings"][grouping]["bottom_k"]["rel_gain"])
    best, worst = ranked[0], ranked[-1]
    ci = lambda r: (r.fairness["groupings"][grouping]["bottom_k"].get("ci") or {}).get(  # noqa: E731
        "rel_gain")
    lines = [f"Largest bottom-{k} relative gain: {best.label} "
             f"({signed_pct(best.fairness['groupings'][grouping]['bottom_k']['rel_gain'])}% "
             f"{pct_ci(ci(best), signed=True)}); smallest: {worst.label} "
             f"({signed_pct(worst.fairness['groupings'][grouping]['bottom_k']['rel_gain'])}% "
             f"{pct_ci(ci(worst), signed=True)})."]
    overlap = _overlap(ci(best), ci(worst))
    if overlap is None:
        lines.append("Without intervals no difference between runs is claimed.")
    elif overlap:
        lines.append("Their 95% intervals overlap, so these data do not separate the runs.")
    else:
        lines.append(f"Their 95% intervals do not overlap: {best.label} gives the bottom-{k} "
                     f"groups a larger relative gain than {worst.label}.")
    return lines


def _with_interval(row: dict[str, Any], key: str) -> str:
    """'+4.6 (+2.6, +6.5)' from a gains-table row; '' where the run lacks the column."""
    if key not in row or row[key] is None or row[key] != row[key]:  # absent or NaN
        return ""
    low, high = row.get(f"{key}_lo"), row.get(f"{key}_hi")
    bounds = [low, high] if low is not None and low == low else None
    return f"{signed_pct(row[key])} {pct_ci(bounds, signed=True)}".strip()


def build_comparison(runs: list[ComparedRun], grouping: str = "class") -> tuple[Document,
                                                                                  pd.DataFrame]:
    """The comparison document and its table of final gains."""
    missing = [r.label for r in runs if grouping not in r.fairness["groupings"]]
    if missing:
        raise FairensError(f"grouping {grouping!r} is missing from runs {missing}")
    doc = Document(f"fairens comparison of {len(runs)} runs")
    doc.table(["run", "folder", "members", "data", "model", "vary"],
              [[r.label, str(r.folder), str(r.fairness["members"]),
                str(r.meta.get("data", {}).get("name", "")),
                str(r.meta.get("model", {}).get("name", "")),
                "+".join(r.meta.get("ensemble", {}).get("vary", [])) or "none"] for r in runs])
    doc.heading("Findings")
    doc.bullets(_findings(runs, grouping))
    doc.heading(f"Accuracy versus ensemble size (grouping `{grouping}`)")
    for key in CURVES:
        figure = _figure(runs, grouping, key)
        if figure is not None:
            doc.image(Image(f"compare-{key}.png", figure, f"{CURVES[key]} accuracy versus "
                            "ensemble size, 95% bootstrap bands"))
    table = gains_table(runs, grouping)
    k = runs[0].fairness["groupings"][grouping]["bottom_k"]["k"]
    doc.heading("Final gains")
    rows = []
    for run, row in zip(runs, table.to_dict("records"), strict=True):
        cells = [run.label, str(row["members"]),
                 f"{pct(row['overall_single'])} → {pct(row['overall_ensemble'])}"]
        for key in ("bottom_k", "top_k"):
            cells.append(f"{pct(row[f'{key}_single'])} → {pct(row[f'{key}_ensemble'])}")
            cells.append(_with_interval(row, f"{key}_rel_gain"))
        cells += [_with_interval(row, f"{side}_gain") for side in ("minority", "majority")]
        cells.append(pct(row["worst_group_ensemble"]))
        rows.append(cells)
    doc.table(["run", "members", "overall (%)", f"bottom-{k} (%)", f"bottom-{k} rel. gain",
               f"top-{k} (%)", f"top-{k} rel. gain", "minority gain (pts)",
               "majority gain (pts)", "worst group, ensemble (%)"], rows)
    return doc, table


def write_comparison(run_dirs: list[str | Path], out: str | Path, *, grouping: str = "class",
                     **options: Any) -> pd.DataFrame:
    """Analyse ``run_dirs`` alike and write ``compare.md``, ``compare.html``,
    ``compare.csv``, ``compare.json`` and ``plots/`` into ``out``."""
    runs = load_comparison(run_dirs, **options)
    doc, table = build_comparison(runs, grouping)
    write_document(out, "compare", doc, {
        "compare.csv": csv_text(table),
        "compare.json": json_text({"grouping": grouping, "runs": [
            {"label": r.label, "folder": str(r.folder), "fairness": r.fairness} for r in runs]})})
    return table
