"""One report comparing runs on the same test set, e.g. the ``ensemble.vary`` ablation.

Every run is measured on the groups the reference run chose, and each run's gain is
compared with the reference's by a paired difference (docs/statistics.md): a run
"separates" from the reference only where that interval excludes zero after Holm's
correction over all comparisons of the report.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from ..errors import FairensError, UsageError
from ..fairness import AnalysisOptions, compare_runs
from ..fairness.result import (
    FairnessResult,
    GroupingResult,
    PairedComparison,
    PairedDifference,
)
from ..files import csv_text, json_text
from ..rundir import load_run
from .document import Document, Image, p_value, pct, pct_ci, signed_pct
from .names import SCALE_WORDS, Names, dataset_title, model_title, verdict_words
from .plots import plot_text, png, series_color
from .publish import check_document_folder, document_folder, write_document

CURVES = {"overall": "overall", "bottom_k": "bottom-k", "top_k": "top-k",
          "worst_group": "worst group", "minority": "minority", "majority": "majority"}
_ALL_SOURCES = ["init", "batch_order", "augmentation"]
_STATISTICS = {"bottom": "bottom-k", "top": "top-k", "minority": "minority"}
_SCALE_WORDS = {"gain": "gain (points)", "rel_gain": "relative gain (%)",
                "error_reduction": "error-rate reduction (%)"}


@dataclass(frozen=True)
class ComparedRun:
    """One run of a comparison: its label, folder, run.json and analysis."""

    label: str
    folder: Path
    meta: dict[str, Any]
    fairness: FairnessResult

    def summary(self, grouping: str) -> GroupingResult:
        return self.fairness.groupings[grouping]


@dataclass(frozen=True)
class Comparison:
    """The runs, measured on the reference's groups, and their paired comparisons."""

    runs: list[ComparedRun]
    reference: int
    paired: PairedComparison
    grouping: str

    @property
    def k(self) -> int | None:
        """The size of the reference's bottom-k set (None where it has none)."""
        bottom = self.runs[self.reference].summary(self.grouping).bottom_k
        return None if bottom is None else bottom.k


def _labels(metas: list[dict[str, Any]], folders: list[Path]) -> list[str]:
    """``vary=init+batch_order`` when the runs differ in ensemble.vary, else folder names."""
    varies = [m.get("ensemble", {}).get("vary") for m in metas]
    if all(v is not None for v in varies):
        labels = ["vary=" + ("+".join(v) if v else "none") for v in varies]
        if len(set(labels)) == len(labels):
            return labels
    names = [f.name for f in folders]
    return names if len(set(names)) == len(names) else [str(f) for f in folders]


def _reference(run_dirs: list[Path], metas: list[dict[str, Any]], reference: str | None) -> int:
    """The index of ``reference`` among the runs; by default the run that varies every
    source of randomness (the full ensemble of an ablation), else the first."""
    if reference is not None:
        wanted = Path(reference).resolve()
        for index, folder in enumerate(run_dirs):
            if folder.resolve() == wanted:
                return index
        raise UsageError(f"--reference {reference} is not one of the compared runs")
    full = [i for i, m in enumerate(metas) if m.get("ensemble", {}).get("vary") == _ALL_SOURCES]
    return full[0] if len(full) == 1 else 0


def load_comparison(run_dirs: list[str | Path], options: AnalysisOptions,
                    grouping: str = "class", reference: str | None = None) -> Comparison:
    """Analyse every run on the reference run's choice of groups; they must share one test
    set."""
    if len(run_dirs) < 2:
        raise UsageError(f"compare needs at least two run directories, got {len(run_dirs)}")
    folders = [Path(d) for d in run_dirs]
    runs = [load_run(d) for d in folders]
    first = runs[0]
    for folder, run in zip(folders[1:], runs[1:], strict=True):
        if not np.array_equal(run.sample_ids, first.sample_ids) or \
                run.class_names != first.class_names or \
                not run.groups.equals(first.groups):
            raise FairensError(f"{folder}: its test set, classes or groups differ from those of "
                               f"{folders[0]}; only runs on the same test set can be compared")
    metas = [r.meta for r in runs]
    index = _reference(folders, metas, reference)
    base = runs[index].analyse(options)
    if grouping not in base.fairness.groupings:
        raise UsageError(f"grouping {grouping!r} is not in the runs' test groups; they have "
                         f"{', '.join(base.fairness.groupings)}")
    analyses = [base if i == index else run.analyse(options, chosen=base.chosen)
                for i, run in enumerate(runs)]
    labels = _labels(metas, folders)
    compared = [ComparedRun(label, folder, run.meta, analysis.fairness)
                for label, folder, run, analysis in zip(labels, folders, runs, analyses,
                                                        strict=True)]
    return Comparison(compared, index, compare_runs(analyses, index, grouping, options.scale),
                      grouping)


def _figure(comparison: Comparison, key: str) -> bytes | None:
    grouping = comparison.grouping
    lines = [(r.label, r.summary(grouping).curve) for r in comparison.runs
             if r.summary(grouping).curve.line(key)]
    if not lines:
        return None
    k = comparison.k or "k"
    figure, axis = plt.subplots(figsize=(6.4, 4.2))
    for index, (label, curve) in enumerate(lines):
        color = series_color(index)
        values = np.asarray(curve.line(key), dtype=float)
        axis.plot(curve.m, 100 * values, marker="o", markersize=3, color=color,
                  label=plot_text(label), linewidth=1.4)
        if curve.band(key):
            bounds = 100 * np.asarray([b if b else [np.nan, np.nan] for b in curve.band(key)],
                                      dtype=float)
            axis.fill_between(curve.m, bounds[:, 0], bounds[:, 1], color=color, alpha=0.08,
                              linewidth=0)
    name = CURVES[key].replace("-k", f"-{k}")
    axis.set(xlabel="ensemble size m", ylabel="accuracy (%)",
             title=plot_text(f"{name} ({grouping}); bands: 95% intervals"))
    axis.xaxis.get_major_locator().set_params(integer=True)
    axis.grid(alpha=0.3)
    axis.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), frameon=False)
    return png(figure)


def _forest(comparison: Comparison) -> bytes | None:
    """Each run's paired difference to the reference, per statistic: the Holm-adjusted
    interval the verdict uses (thick) and the unadjusted 95% interval (thin), zero line."""
    paired, runs = comparison.paired, comparison.runs
    statistics = [s for s in _STATISTICS if any(row and s in row for row in paired.comparisons)]
    if not statistics:
        return None
    others = [i for i in range(len(runs)) if i != comparison.reference]
    figure, axes = plt.subplots(1, len(statistics), sharey=True, squeeze=False,
                                figsize=(3.3 * len(statistics) + 1.8, 0.42 * len(others) + 1.6),
                                layout="constrained")
    y = np.arange(len(others))[::-1]
    k = comparison.k or "k"
    for axis, statistic in zip(axes[0], statistics, strict=True):
        axis.axvline(0, color="0.3", linewidth=0.9)
        for row_y, index in zip(y, others, strict=True):
            entry = (paired.comparisons[index] or {}).get(statistic)
            if entry is None or entry.difference is None:
                continue
            color = "tab:red" if entry.verdict.claimed else "0.35"
            for ci, width in ((entry.ci, 1.0), (entry.ci_adjusted, 3.0)):
                if ci is not None:
                    axis.plot([100 * ci[0], 100 * ci[1]], [row_y, row_y], color=color,
                              linewidth=width, solid_capstyle="butt")
            axis.plot(100 * entry.difference, row_y, "o", color=color, markersize=4)
        axis.set_title(_STATISTICS[statistic].replace("-k", f"-{k}"))
        axis.set_xlabel(f"{_SCALE_WORDS[paired.scale]}, run − reference")
        axis.grid(axis="x", alpha=0.3)
    axes[0, 0].set_yticks(y, [plot_text(runs[i].label) for i in others])
    figure.suptitle(plot_text(f"paired differences to {runs[comparison.reference].label} "
                              "(thick: Holm-adjusted interval; thin: 95%; red: separates)"))
    return png(figure)


def gains_table(comparison: Comparison) -> pd.DataFrame:
    """One row per run: overall accuracy, each compared statistic's gain on the report's
    scale and its paired difference to the reference (interval, Holm-adjusted p)."""
    rows = []
    scale = comparison.paired.scale
    for index, run in enumerate(comparison.runs):
        summary, overall = run.summary(comparison.grouping), run.fairness.overall
        row = {"run": run.label, "reference": index == comparison.reference,
               "members": run.fairness.members, "overall_single": overall.single_mean,
               "overall_ensemble": overall.ensemble}
        paired = comparison.paired.comparisons[index] or {}
        for statistic, key in (("bottom", "bottom_k"), ("top", "top_k")):
            entry = getattr(summary, key)
            if entry is not None:
                row |= {f"{key}_single": entry.single_mean,
                        f"{key}_ensemble": entry.ensemble, f"{key}_{scale}": entry.on(scale)}
            row |= _paired_columns(paired.get(statistic), key)
        if summary.minority is not None:
            row["minority_" + scale] = summary.minority.minority.on(scale)
            row |= _paired_columns(paired.get("minority"), "minority")
        worst = summary.worst_group
        row["worst_group_ensemble"] = None if worst is None else worst.ensemble
        rows.append(row)
    return pd.DataFrame(rows)


def _paired_columns(entry: PairedDifference | None, key: str) -> dict[str, Any]:
    if entry is None:
        return {}
    ci = entry.ci or [None, None]
    return {f"{key}_vs_reference": entry.difference, f"{key}_vs_reference_lo": ci[0],
            f"{key}_vs_reference_hi": ci[1], f"{key}_p_adjusted": entry.p_adjusted,
            f"{key}_verdict": entry.verdict.value}


def _summary(comparison: Comparison, grouping_title: str) -> list[str]:
    """The comparison's findings in plain sentences, the claims first."""
    paired, runs = comparison.paired, comparison.runs
    reference = runs[comparison.reference].label
    scale = _SCALE_WORDS[paired.scale]
    k = comparison.k or "k"
    lines = []
    for statistic, word in _STATISTICS.items():
        word = word.replace("-k", f"-{k}")
        claims, total = [], 0
        for run, row in zip(runs, paired.comparisons, strict=True):
            entry = (row or {}).get(statistic)
            if entry is None:
                continue
            total += 1
            if entry.verdict.claimed:
                interval = _interval(entry.ci_adjusted, paired.scale)
                claims.append(f"{run.label} is {verdict_words(entry.verdict)} by "
                              f"{_signed(abs(entry.difference), paired.scale).lstrip('+')} "
                              "(Holm-adjusted "
                              f"interval {interval}, adjusted p {p_value(entry.p_adjusted)})")
        if not total:
            continue
        if claims:
            lines.append(f"{word.capitalize()} {grouping_title}, {scale}: "
                         + "; ".join(claims) + f"; the other runs do not separate from "
                         f"{reference}.")
        else:
            lines.append(f"{word.capitalize()} {grouping_title}, {scale}: the data do "
                         f"not separate any run from {reference}.")
    accuracy = [r.fairness.overall.ensemble for r in runs]
    lines.append(f"Overall accuracy of the ensembles ranges from {pct(min(accuracy))}% to "
                 f"{pct(max(accuracy))}%.")
    lines.append(f"Every run is measured on the groups {reference} chose on data it is not "
                 "measured on, and compared with it on the same test samples; a difference "
                 "is claimed only where it holds after Holm's correction over the "
                 f"{paired.family} comparisons.")
    return lines


def _signed(value: float | None, scale: str) -> str:
    return signed_pct(value) + ("" if scale == "gain" else "%")


def _interval(ci: list | None, scale: str) -> str:
    return "n/a" if ci is None else f"{_signed(ci[0], scale)} to {_signed(ci[1], scale)}"


def _cell(row: dict[str, Any], key: str) -> str:
    """'+4.6 (+2.6, +6.5)' from a gains-table row; '' where the run lacks the column."""
    value = row.get(key)
    if value is None or value != value:  # absent or NaN
        return ""
    low, high = row.get(f"{key}_lo"), row.get(f"{key}_hi")
    bounds = [low, high] if low is not None and low == low else None
    return f"{signed_pct(value)} {pct_ci(bounds, signed=True)}".strip()


def build_comparison(comparison: Comparison, out: Path) -> tuple[Document, pd.DataFrame]:
    """The comparison document and its table."""
    runs, grouping = comparison.runs, comparison.grouping
    scale = comparison.paired.scale
    reference = runs[comparison.reference]
    names = Names.of_run(reference.meta)
    title = names.grouping(grouping)
    doc = Document(f"{names.dataset}, {names.model}: {len(runs)} runs compared by {title}")
    doc.heading("Summary")
    doc.bullets(_summary(comparison, names.groups_of(grouping)))
    forest = _forest(comparison)
    if forest is not None:
        doc.image(Image("compare-differences.png", forest,
                        "Each run's gain minus the reference's, with the Holm-adjusted interval "
                        "the verdict uses (thick) and the 95% interval (thin)", wide=True))
    table = gains_table(comparison)
    k = comparison.k
    present = [(key, word.replace("-k", f"-{k}")) for key, word in
               (("bottom_k", "bottom-k"), ("top_k", "top-k"), ("minority", "minority"))
               if f"{key}_{scale}" in table.columns]
    main, full = [], []
    for row in table.to_dict("records"):
        run = row["run"] + (" (reference)" if row["reference"] else "")
        accuracy = f"{pct(row['overall_single'])} → {pct(row['overall_ensemble'])}"
        main.append([run, accuracy, *(_cell(row, f"{key}_vs_reference") for key, _ in present)])
        cells = [run, str(row["members"])]
        for key, _ in present:
            adjusted = row.get(f"{key}_p_adjusted")
            cells += [_signed(row.get(f"{key}_{scale}"), scale),
                      "" if adjusted is None or adjusted != adjusted else p_value(adjusted)]
        full.append(cells)
    doc.heading(f"{SCALE_WORDS[scale].capitalize()}: each run and its paired difference "
                "to the reference")
    doc.table(["run", "accuracy, one model → ensemble (%)",
               *(f"{word}: run − reference (95% CI)" for _, word in present)], main)
    doc.table(["run", "members", *(f"{word} {head}" for _, word in present
                                   for head in ("gain", "adjusted p"))], full,
              collapsed="each run's gains and adjusted p-values")
    doc.heading(f"Accuracy versus ensemble size, by {title}")
    for key in CURVES:
        figure = _figure(comparison, key)
        if figure is not None:
            doc.image(Image(f"compare-{key}.png", figure, f"{CURVES[key]} accuracy versus "
                            "ensemble size, on the reference's groups, with 95% intervals"))
    doc.heading("The runs compared")
    doc.table(["run", "folder", "members", "data", "model", "vary"],
              [[r.label + (" (reference)" if r is reference else ""),
                os.path.relpath(r.folder.resolve(), out.resolve()), str(r.fairness.members),
                dataset_title(r.meta), model_title(r.meta),
                "+".join(r.meta.get("ensemble", {}).get("vary", [])) or "none"] for r in runs],
              collapsed=f"the {len(runs)} runs and their folders")
    return doc, table


def write_comparison(run_dirs: list[str | Path], out: str | Path, *,
                     options: AnalysisOptions, grouping: str = "class",
                     reference: str | None = None) -> Comparison:
    """Analyse ``run_dirs`` on the reference's groups and write ``compare.md``,
    ``compare.html``, ``compare.csv``, ``compare.json`` and ``plots/`` into ``out``."""
    out = Path(out)
    check_document_folder(out, "compare", ["compare.md", "compare.html", "compare.csv",
                                           "compare.json"])
    comparison = load_comparison(run_dirs, options, grouping, reference)
    doc, table = build_comparison(comparison, out)
    write_document(document_folder(out, "compare"), "compare", doc, {
        "compare.csv": csv_text(table),
        "compare.json": json_text({
            "grouping": grouping, "reference": comparison.reference,
            "paired": comparison.paired.to_json(),
            "runs": [{"label": r.label,
                      "folder": os.path.relpath(r.folder.resolve(), out.resolve()),
                      "fairness": r.fairness.to_json()} for r in comparison.runs]})})
    return comparison
