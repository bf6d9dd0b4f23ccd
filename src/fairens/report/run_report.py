"""The report of one run: findings, per-grouping tables and figures."""

from __future__ import annotations

import hashlib
import re
from typing import Any

from ..fairness import Analysis
from ..fairness.calibration import Reliability
from ..fairness.result import FairnessResult, GroupingResult, Subpop
from .document import Document, Image, drop_empty_columns, pct, pct_ci, signed_pct
from .findings import RANKING_WORDS, SCALE_WORDS, findings
from .plots import (
    curve_figure,
    curve_lines,
    disagreement_figure,
    group_bars_figure,
    relative_gain_figure,
    reliability_figure,
)

RELIABILITY_GROUPS = 8  # groups drawn in a reliability diagram: those with the largest ECE


def slug(text: str, limit: int = 60) -> str:
    """A file-name-safe version of a grouping name, at most ``limit`` characters (a longer
    name keeps its start and a short hash of the whole, so two names never share one)."""
    safe = re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-") or "grouping"
    if len(safe) <= limit:
        return safe
    return f"{safe[:limit - 9]}-{hashlib.sha256(text.encode('utf-8')).hexdigest()[:8]}"


def _ci(entry: Any, key: str, signed: bool = False) -> str:
    """The interval of ``key`` of a block with intervals (a group, a set, a side)."""
    return pct_ci(None if entry.ci is None else getattr(entry.ci, key), signed)


def _percent(value: float | None) -> str:
    """0.012 -> '+1.2%'; None -> 'n/a'."""
    return signed_pct(value) + ("" if value is None else "%")


def _group_rows(summary: GroupingResult) -> list[list[str]]:
    minority = set(summary.minority_groups())
    rows = []
    for name, g in summary.groups.items():
        rows.append([name, str(g.n) + ("" if g.eligible else " *"),
                     f"{pct(g.single_mean)} ± {pct(g.single_std)}",
                     _ci(g, "single_mean"), pct(g.ensemble), _ci(g, "ensemble"),
                     signed_pct(g.gain), _ci(g, "gain", signed=True), signed_pct(g.rel_gain),
                     pct(g.disagreement), f"{pct(g.ece.single_mean)} → {pct(g.ece.ensemble)}",
                     "yes" if name in minority else ""])
    return rows


GROUP_HEADER = ["group", "n", "single (mean ± std, %)", "single 95% CI", "ensemble (%)",
                "ensemble 95% CI", "gain (pts)", "gain 95% CI", "rel. gain (%)",
                "disagreement (%)", "ECE single → ensemble (%)", "minority"]


def _set_bullets(summary: GroupingResult) -> list[str]:
    out = []
    bottom, top, worst, block = summary.bottom_k, summary.top_k, summary.worst_group, \
        summary.minority
    if bottom is not None and top is not None:
        for label, entry in ((f"bottom-{bottom.k}", bottom), (f"top-{bottom.k}", top)):
            chosen = (" / ".join(", ".join(half) for half in entry.by_half)
                      if entry.by_half is not None else ", ".join(entry.groups))
            out.append(f"{label} ({chosen}): single {pct(entry.single_mean)} "
                       f"{_ci(entry, 'single_mean')} → ensemble {pct(entry.ensemble)} "
                       f"{_ci(entry, 'ensemble')}, gain {signed_pct(entry.gain)} "
                       f"{_ci(entry, 'gain', signed=True)} points, relative gain "
                       f"{_percent(entry.rel_gain)} {_ci(entry, 'rel_gain', signed=True)}, "
                       f"error-rate reduction {_percent(entry.error_reduction)} "
                       f"{_ci(entry, 'error_reduction', signed=True)}".replace(" ,", ","))
    if worst is not None and bottom is not None and worst.by_half is None and \
            bottom.groups == [worst.group]:
        out[0] = out[0].replace(" (", " = worst group (", 1)  # one group, one line
    elif worst is not None:
        chosen = " / ".join(worst.by_half or [worst.group])
        out.append(f"worst group ({chosen}): single {pct(worst.single_mean)} "
                   f"{_ci(worst, 'single_mean')} → ensemble {pct(worst.ensemble)} "
                   f"{_ci(worst, 'ensemble')}")
    if block is not None:
        same = bottom is not None and top is not None and bottom.by_half is None and \
            block.groups == bottom.groups and \
            len(bottom.groups) + len(top.groups) == len(summary.groups)
        for index, side in enumerate(("minority", "majority")):
            entry = getattr(block, side)
            if same:  # two groups: the minority is the bottom set, the majority the top one
                out[index] = out[index].replace(" (", f" = {side} (", 1)
                continue
            out.append(f"{side} (n={entry.n}): single {pct(entry.single_mean)} "
                       f"{_ci(entry, 'single_mean')} → ensemble {pct(entry.ensemble)} "
                       f"{_ci(entry, 'ensemble')}")
        gap = block.gap
        out.append(f"majority − minority gap: {signed_pct(gap.single_mean)} → "
                   f"{signed_pct(gap.ensemble)} points (change {signed_pct(gap.change)} "
                   f"{_ci(gap, 'change', signed=True)})")
    return out


_VERDICT_LABELS = {"bottom_vs_top": "bottom-k minus top-k",
                   "minority_vs_majority": "minority minus majority"}


def _verdict_rows(summary: GroupingResult) -> list[list[str]]:
    rows = []
    for key, entry in summary.verdicts():
        for scale, value in entry.scales.items():
            primary = scale == entry.scale
            adjusted = entry.p_adjusted if primary else None
            rows.append([_VERDICT_LABELS[key], SCALE_WORDS[scale]
                         + (" (decides)" if primary else ""),
                         signed_pct(value.difference), pct_ci(value.ci, signed=True),
                         "" if value.p is None else f"{value.p:.3g}",
                         "" if adjusted is None else f"{adjusted:.3g}",
                         entry.verdict.value if primary else ""])
    return rows


def _subpop_rows(block: Subpop) -> list[list[str]]:
    balanced, worst = block.group_mean_accuracy, block.worst_group
    rows = [["group-mean accuracy", pct(balanced.single_mean), _ci(balanced, "single_mean"),
             pct(balanced.ensemble), _ci(balanced, "ensemble"),
             f"{signed_pct(balanced.gain)} {_ci(balanced, 'gain', signed=True)}"],
            [f"worst-group accuracy (each member's own; ensemble: {worst.ensemble.group})",
             f"{pct(worst.single_mean)} ± {pct(worst.single_std)}", "",
             pct(worst.ensemble.accuracy), pct_ci(worst.ensemble.ci),
             signed_pct(worst.gain)]]
    odds = block.equalized_odds
    if odds is not None:
        largest = odds.largest
        rows.append([f"largest equalized-odds gap, pts (members' own "
                     f"{pct(odds.members.mean)} ± {pct(odds.members.std)})",
                     pct(largest.single_mean.gap), pct_ci(largest.single_mean.ci),
                     pct(largest.ensemble.gap), pct_ci(largest.ensemble.ci),
                     signed_pct(largest.ensemble.gap - largest.single_mean.gap)])
    return rows


def _curve_rows(summary: GroupingResult) -> tuple[list[str], list[list[str]]]:
    curve = summary.curve
    lines = curve_lines(summary)  # identical lines (one group in two roles) share a column
    header = ["m", "subsets", *[label for _, label, _ in lines]]
    rows = []
    for i, m in enumerate(curve.m):
        cells = [str(m), str(curve.subsets[i])]
        for key, _, _ in lines:
            band = curve.band(key)
            interval = band[i] if band else None
            cells.append(f"{pct(curve.line(key)[i])} {pct_ci(interval)}".strip())
        rows.append(cells)
    return header, rows


def _reliability_groups(summary: GroupingResult) -> list[str]:
    """Every group, or the RELIABILITY_GROUPS eligible ones whose ensemble ECE is largest."""
    groups = summary.groups
    if len(groups) <= RELIABILITY_GROUPS:
        return list(groups)
    ranked = sorted((g for g in groups if groups[g].eligible),
                    key=lambda g: (-groups[g].ece.ensemble, g))
    return ranked[:RELIABILITY_GROUPS]


def _grouping_section(doc: Document, index: int, name: str, summary: GroupingResult,
                      reliability: Reliability | None) -> None:
    doc.heading(f"Grouping `{name}`")
    stem = f"{index:02d}-{slug(name)}"
    doc.image(Image(f"{stem}-curve.png",
                    curve_figure(summary, f"accuracy vs ensemble size: {name}"),
                    f"Accuracy versus ensemble size ({name}), with 95% intervals", wide=True))
    doc.image(Image(f"{stem}-relative-gain.png",
                    relative_gain_figure(summary, f"relative gain: {name}"),
                    f"Relative gain over one member versus ensemble size ({name})"))
    doc.image(Image(f"{stem}-groups.png", group_bars_figure(summary, f"per group: {name}"),
                    f"Mean single member versus the ensemble per group ({name}), with 95% "
                    "intervals"))
    if any(g.disagreement for g in summary.groups.values()):
        doc.image(Image(f"{stem}-disagreement.png",
                        disagreement_figure(summary, f"disagreement: {name}"),
                        f"Disagreement between members per group ({name})"))
    shown = _reliability_groups(summary)
    if reliability is not None and shown:
        some = "" if len(shown) == len(summary.groups) else \
            f"; the {len(shown)} groups with the largest ensemble ECE"
        doc.image(Image(f"{stem}-reliability.png",
                        reliability_figure(reliability, shown, f"reliability: {name}"),
                        f"Reliability diagram per group ({name}{some}): accuracy against "
                        "confidence in 15 equal-width bins, single members pooled and the "
                        "ensemble; the diagonal is perfect calibration", wide=True))
    doc.table(*drop_empty_columns(GROUP_HEADER, _group_rows(summary)))
    if any(not g.eligible for g in summary.groups.values()):
        doc.paragraph("* fewer test samples than report.min_group_size (or none in a ranking "
                      "half): reported, never chosen as bottom-k, top-k or worst group.")
    doc.bullets(_set_bullets(summary))
    verdicts = _verdict_rows(summary)
    if verdicts:
        doc.paragraph("Differences of gains on each scale (the verdict is decided on the "
                      "report's scale, Holm-adjusted over every verdict of the report):")
        doc.table(["comparison", "scale", "difference", "95% CI", "p", "adjusted p",
                   "verdict"], verdicts)
    if summary.subpop is not None:
        doc.paragraph(f"Subpopulation metrics over the {len(summary.subpop.groups)} "
                      "groups with at least report.min_group_size test samples (worst group "
                      "and equalized-odds intervals are simultaneous over the groups):")
        doc.table(["metric", "single (mean member, %)", "single 95% CI", "ensemble (%)",
                   "ensemble 95% CI", "ensemble − single (pts)"], _subpop_rows(summary.subpop))
    if summary.parity is not None:
        doc.table(["fairlearn metric", "single (mean ± std)", "ensemble"],
                  [[metric.replace("_", " "), f"{pct(v.single_mean)} ± {pct(v.single_std)}",
                    pct(v.ensemble)] for metric, v in summary.parity.items()])
    doc.paragraph("Accuracy (%) versus ensemble size, with 95% intervals:")
    doc.table(*_curve_rows(summary))


def _recipe_text(config: dict[str, Any]) -> str:
    model, trainer = config.get("model") or {}, config.get("trainer") or {}
    optimizer = model.get("optimizer") or {}
    scheduler = model.get("scheduler") or {}
    parts = [f"{str(optimizer.get('_target_', '?')).rsplit('.', 1)[-1]} "
             f"(lr {optimizer.get('lr', '?')})"]
    if scheduler:
        parts.append(str(scheduler.get("_target_", "")).rsplit(".", 1)[-1])
    parts += [f"{trainer.get('max_epochs', '?')} epochs",
              f"batch size {(config.get('data') or {}).get('batch_size', '?')}"]
    if "select" in trainer:
        parts.append(f"weights kept: {trainer['select']}")
    if model.get("label_smoothing"):
        parts.append(f"label smoothing {model['label_smoothing']}")
    return ", ".join(parts)


def _data_text(meta: dict[str, Any]) -> str:
    data, config = meta.get("data") or {}, (meta.get("config") or {}).get("data") or {}
    parts = [f"{data.get('name', config.get('name', '?'))}"]
    if "image_size" in data:
        parts.append(f"{data.get('channels', '?')}x{data['image_size']}x{data['image_size']}")
    if {"n_train", "n_val", "n_test"} <= set(data):
        parts.append(f"train / val / test {data['n_train']:,} / {data['n_val']:,} / "
                     f"{data['n_test']:,}")
    for key in ("target", "imbalance_ratio", "max_train_per_class", "split_seed", "seed"):
        if config.get(key) is not None:
            parts.append(f"{key} {config[key]}")
    return ", ".join(parts)


def run_details(doc: Document, meta: dict[str, Any], members: list[dict[str, Any]]) -> None:
    """The "Run details" section: what was trained, how, with which seeds and libraries,
    when and for how long (from run.json and members/member_XX.json)."""
    if not meta:
        return
    ensemble, model = meta.get("ensemble") or {}, meta.get("model") or {}
    rows = [["run", meta.get("run_name", "")]]
    if meta.get("created"):
        rows.append(["created", meta["created"]])
    size = ensemble.get("size", "?")
    if {"name", "params", "macs", "input"} <= set(model) and isinstance(size, int):
        rows.append(["model", f"{model['name']}: {model['params']:,} parameters, "
                              f"{model['macs'] / 1e6:.2f} M multiply-accumulates per "
                              f"{'x'.join(map(str, model['input']))} image; ensemble of "
                              f"{size}: {size * model['params']:,} parameters"])
    if meta.get("config"):
        rows.append(["recipe", _recipe_text(meta["config"])])
    rows.append(["data", _data_text(meta)])
    if ensemble:
        rows.append(["ensemble", f"{size} members, varying "
                                 f"{', '.join(ensemble.get('vary', [])) or 'nothing'}, "
                                 f"ensemble.seed {ensemble.get('seed', '?')}"])
    if members:
        seconds = sum(m.get("seconds") or 0 for m in members)
        rows.append(["training time", f"{seconds / 60:.1f} min for {len(members)} members "
                                      f"({seconds / len(members):.1f} s each on average)"])
    if meta.get("versions"):
        rows.append(["libraries", ", ".join(f"{k} {v}" for k, v in meta["versions"].items())])
    doc.heading("Run details")
    doc.bullets([f"{key}: {value}" for key, value in rows])
    seeds = meta.get("seeds") or []
    if seeds:
        doc.table(["member", "init", "batch order", "augmentation", "shared"],
                  [[str(s.get("member")), *(str(s.get(k, "")) for k in
                                            ("init", "batch_order", "augmentation", "shared"))]
                   for s in seeds], collapsed=f"seeds of the {len(seeds)} members (docs/seeds.md)")


def _method_paragraph(fairness: FairnessResult) -> str:
    ranking, intervals = fairness.ranking, fairness.intervals
    return (
        f"{fairness.members} members combined by `{fairness.combine}`, "
        f"{fairness.n_samples} test samples, {fairness.n_classes} classes. Bottom-k, "
        f"top-k and worst groups are {RANKING_WORDS[ranking.method]}; groups with fewer than "
        f"{ranking.min_group_size} test samples are never chosen. "
        + ("No intervals were computed." if intervals is None else
           "Intervals are 95% intervals that include both test sampling and training "
           "randomness (which members happened to be trained): " + intervals.method + ". "
           f"Verdicts are decided on the {SCALE_WORDS[fairness.verdicts.scale]} scale "
           "and claimed only where the Holm-adjusted p-value over the report's "
           f"{fairness.verdicts.family} verdicts is below 0.05; per-group intervals "
           "describe each group and are not adjusted for the number of groups."))


def build_run_document(analysis: Analysis, *, title: str,
                       meta: dict[str, Any] | None = None,
                       members: list[dict[str, Any]] | None = None) -> Document:
    """The report of one analysed run; ``meta`` is its run.json (or empty), ``members``
    its members' summaries (members/member_XX.json, or none)."""
    fairness, meta = analysis.fairness, meta or {}
    doc = Document(title)
    doc.paragraph(_method_paragraph(fairness))
    doc.heading("Findings")
    doc.bullets(findings(fairness))
    for index, (name, summary) in enumerate(fairness.groupings.items()):
        _grouping_section(doc, index, name, summary, analysis.reliability.get(name))
    if fairness.counterfactual is not None:
        block = fairness.counterfactual
        doc.heading("Counterfactual pairs")
        doc.paragraph(f"{block.pairs} pairs of test images that differ only in the protected "
                      "attribute; flip rate = fraction of pairs whose prediction changes.")
        rows = [["all", str(block.pairs), pct(block.overall.single_mean),
                 pct(block.overall.ensemble)]]
        rows += [[name, str(v.pairs), pct(v.single_mean), pct(v.ensemble)]
                 for name, v in block.per_class.items()]
        doc.table(["class", "pairs", "flip rate, single (%)", "flip rate, ensemble (%)"], rows)
    if fairness.crosscheck is not None:
        doc.paragraph("Per-group accuracies were recomputed with fairlearn's `MetricFrame` "
                      f"(groups_metricframe.csv); largest difference "
                      f"{fairness.crosscheck.metricframe_max_abs_diff:.1e}.")
    run_details(doc, meta, members or [])
    return doc


def summary_lines(analysis: Analysis) -> list[str]:
    """A few console lines: overall, and per grouping bottom-k, top-k, worst group, minority
    and the verdicts."""
    fairness = analysis.fairness
    overall = fairness.overall
    lines = [f"overall: single {pct(overall.single_mean)} ± {pct(overall.single_std)}  "
             f"ensemble {pct(overall.ensemble)}  ({fairness.members} members; groups "
             f"chosen by {fairness.ranking.method}, verdicts on "
             f"{fairness.verdicts.scale})"]
    for name, summary in fairness.groupings.items():
        parts = []
        bottom, top, worst = summary.bottom_k, summary.top_k, summary.worst_group
        if bottom is not None and top is not None:
            parts += [f"{label}-{bottom.k} {pct(s.single_mean)} -> {pct(s.ensemble)}"
                      for label, s in (("bottom", bottom), ("top", top))]
        if worst is not None:
            parts.append(f"worst {worst.group!r} {pct(worst.single_mean)} -> "
                         f"{pct(worst.ensemble)}")
        if summary.minority is not None:
            side = summary.minority.minority
            parts.append(f"minority {pct(side.single_mean)} -> {pct(side.ensemble)}")
        for key, entry in summary.verdicts():
            if entry.note is None:
                parts.append(f"{key}: {entry.verdict.value}")
        if bottom is None:
            parts.append(f"no bottom-k/top-k: {summary.ranking.eligible} group(s) with "
                         f"at least {fairness.ranking.min_group_size} test samples")
        lines.append(f"{name}: " + "  ".join(parts))
    return lines
