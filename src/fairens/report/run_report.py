"""The report of one run: findings, per-grouping tables and figures."""

from __future__ import annotations

import re
from typing import Any

from ..fairness import Analysis
from .document import Document, Image, pct, pct_ci, signed_pct
from .findings import findings
from .plots import curve_figure, disagreement_figure, group_bars_figure, relative_gain_figure


def slug(text: str) -> str:
    """A file-name-safe version of a grouping name."""
    return re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-") or "grouping"


def _ci(entry: dict[str, Any], key: str, signed: bool = False) -> str:
    return pct_ci((entry.get("ci") or {}).get(key), signed)


def _group_rows(summary: dict[str, Any]) -> list[list[str]]:
    minority = set(summary.get("minority", {}).get("groups", []))
    rows = []
    for name, g in summary["groups"].items():
        rows.append([name, str(g["n"]), f"{pct(g['single_mean'])} ± {pct(g['single_std'])}",
                     _ci(g, "single_mean"), pct(g["ensemble"]), _ci(g, "ensemble"),
                     signed_pct(g["gain"]), _ci(g, "gain", signed=True), signed_pct(g["rel_gain"]),
                     pct(g["disagreement"]),
                     f"{pct(g['ece']['single_mean'])} → {pct(g['ece']['ensemble'])}",
                     "yes" if name in minority else ""])
    return rows


GROUP_HEADER = ["group", "n", "single (mean ± std, %)", "single 95% CI", "ensemble (%)",
                "ensemble 95% CI", "gain (pts)", "gain 95% CI", "rel. gain (%)",
                "disagreement (%)", "ECE single → ensemble (%)", "minority"]


def _set_bullets(summary: dict[str, Any]) -> list[str]:
    k = summary["bottom_k"]["k"]
    out = []
    for label, entry in ((f"bottom-{k}", summary["bottom_k"]), (f"top-{k}", summary["top_k"])):
        out.append(f"{label} ({', '.join(entry['groups'])}): single {pct(entry['single_mean'])} "
                   f"{_ci(entry, 'single_mean')} → ensemble {pct(entry['ensemble'])} "
                   f"{_ci(entry, 'ensemble')}, relative gain {signed_pct(entry['rel_gain'])}% "
                   f"{_ci(entry, 'rel_gain', signed=True)}")
    worst = summary["worst_group"]
    out.append(f"worst group {worst['group']}: single {pct(worst['single_mean'])} "
               f"{_ci(worst, 'single_mean')} → ensemble {pct(worst['ensemble'])} "
               f"{_ci(worst, 'ensemble')}")
    if "minority" in summary:
        block = summary["minority"]
        for side in ("minority", "majority"):
            entry = block[side]
            out.append(f"{side} (n={entry['n']}): single {pct(entry['single_mean'])} "
                       f"{_ci(entry, 'single_mean')} → ensemble {pct(entry['ensemble'])} "
                       f"{_ci(entry, 'ensemble')}")
        gap = block["gap"]
        out.append(f"majority − minority gap: {signed_pct(gap['single_mean'])} → "
                   f"{signed_pct(gap['ensemble'])} points (change {signed_pct(gap['change'])} "
                   f"{_ci(gap, 'change', signed=True)})")
    return out


def _curve_rows(curve: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    keys = [key for key in ("overall", "bottom_k", "top_k", "worst_group", "minority",
                            "majority") if key in curve]
    header = ["m", "subsets", *[key.replace("_", "-") for key in keys]]
    rows = []
    for i, m in enumerate(curve["m"]):
        cells = [str(m), str(curve["subsets"][i])]
        for key in keys:
            interval = curve["ci"][key][i] if curve["ci"] else None
            cells.append(f"{pct(curve[key][i])} {pct_ci(interval)}".strip())
        rows.append(cells)
    return header, rows


def _grouping_section(doc: Document, index: int, name: str, summary: dict[str, Any]) -> None:
    doc.heading(f"Grouping `{name}`")
    stem = f"{index:02d}-{slug(name)}"
    doc.image(Image(f"{stem}-curve.png",
                    curve_figure(summary, f"accuracy vs ensemble size: {name}"),
                    f"Accuracy versus ensemble size ({name}), 95% bootstrap bands"))
    doc.image(Image(f"{stem}-relative-gain.png",
                    relative_gain_figure(summary, f"relative gain: {name}"),
                    f"Relative gain over one member versus ensemble size ({name})"))
    doc.image(Image(f"{stem}-groups.png", group_bars_figure(summary, f"per group: {name}"),
                    f"Single members (mean ± std) versus the ensemble per group ({name})"))
    if any(g["disagreement"] for g in summary["groups"].values()):
        doc.image(Image(f"{stem}-disagreement.png",
                        disagreement_figure(summary, f"disagreement: {name}"),
                        f"Disagreement between members per group ({name})"))
    doc.table(GROUP_HEADER, _group_rows(summary))
    doc.bullets(_set_bullets(summary))
    if "parity" in summary:
        doc.table(["fairlearn metric", "single (mean ± std)", "ensemble"],
                  [[metric.replace("_", " "), f"{pct(v['single_mean'])} ± {pct(v['single_std'])}",
                    pct(v["ensemble"])] for metric, v in summary["parity"].items()])
    doc.paragraph("Accuracy (%) versus ensemble size, with 95% intervals:")
    doc.table(*_curve_rows(summary["curve"]))


def build_run_document(analysis: Analysis, *, title: str,
                       meta: dict[str, Any] | None = None) -> Document:
    """The report of one analysed run; ``meta`` is its run.json (or empty)."""
    fairness, meta = analysis.fairness, meta or {}
    doc = Document(title)
    boot = fairness["bootstrap"]
    doc.paragraph(
        f"{fairness['members']} members combined by `{fairness['combine']}`, "
        f"{fairness['n_samples']} test samples, {fairness['n_classes']} classes; intervals are "
        f"95% percentile-bootstrap intervals from {boot['resamples']} resamples of the test "
        f"samples within each group (seed {boot['seed']}).")
    model = meta.get("model", {})
    if {"name", "params", "macs", "input"} <= set(model):
        doc.paragraph(f"Model `{model['name']}`: {model['params']:,} parameters, "
                      f"{model['macs'] / 1e6:.2f} M multiply-accumulates per "
                      f"{'x'.join(map(str, model['input']))} image; ensemble of "
                      f"{fairness['members']}: {fairness['members'] * model['params']:,} "
                      "parameters.")
    doc.heading("Findings")
    doc.bullets(findings(fairness))
    for index, (name, summary) in enumerate(fairness["groupings"].items()):
        _grouping_section(doc, index, name, summary)
    if "counterfactual" in fairness:
        block = fairness["counterfactual"]
        doc.heading("Counterfactual pairs")
        doc.paragraph(f"{block['pairs']} pairs of test images that differ only in the protected "
                      "attribute; flip rate = fraction of pairs whose prediction changes.")
        rows = [["all", str(block["pairs"]), pct(block["overall"]["single_mean"]),
                 pct(block["overall"]["ensemble"])]]
        rows += [[name, str(v["pairs"]), pct(v["single_mean"]), pct(v["ensemble"])]
                 for name, v in block["per_class"].items()]
        doc.table(["class", "pairs", "flip rate, single (%)", "flip rate, ensemble (%)"], rows)
    if "crosscheck" in fairness:
        doc.paragraph("Per-group accuracies were recomputed with fairlearn's `MetricFrame` "
                      f"(groups_metricframe.csv); largest difference "
                      f"{fairness['crosscheck']['metricframe_max_abs_diff']:.1e}.")
    return doc


def summary_lines(analysis: Analysis) -> list[str]:
    """A few console lines: overall, and per grouping bottom-k, top-k and worst group."""
    fairness = analysis.fairness
    overall = fairness["overall"]
    lines = [f"overall: single {pct(overall['single_mean'])} ± {pct(overall['single_std'])}  "
             f"ensemble {pct(overall['ensemble'])}  ({fairness['members']} members)"]
    for name, summary in fairness["groupings"].items():
        k, worst = summary["bottom_k"]["k"], summary["worst_group"]
        parts = [f"{label}-{k} {pct(s['single_mean'])} -> {pct(s['ensemble'])}"
                 for label, s in (("bottom", summary["bottom_k"]), ("top", summary["top_k"]))]
        parts.append(f"worst {worst['group']!r} {pct(worst['single_mean'])} -> "
                     f"{pct(worst['ensemble'])}")
        if "minority" in summary:
            block = summary["minority"]
            parts.append(f"minority {pct(block['minority']['single_mean'])} -> "
                         f"{pct(block['minority']['ensemble'])}")
        lines.append(f"{name}: " + "  ".join(parts))
    return lines
