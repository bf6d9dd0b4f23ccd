"""The report of one run: the summary first (sentences, a small table, flags), then per
grouping its figures and tables, the methods folded away, and the run's details."""

from __future__ import annotations

import hashlib
import re
from typing import Any

from ..fairness import Analysis
from ..fairness.calibration import Reliability
from ..fairness.result import FairnessResult, GroupingResult, Subpop
from ..rundir import RunPredictions
from .document import Document, Image, estimate, p_value, pct, signed_pct
from .gallery import gallery_section
from .names import RANKING_WORDS, SCALE_WORDS, Names, verdict_words
from .plots import curve_figure, forest_figure, heatmap_figure, reliability_figure, shown_groups
from .summary import summary_block

RELIABILITY_GROUPS = 8  # groups drawn in a reliability diagram: those with the largest ECE


def slug(text: str, limit: int = 60) -> str:
    """A file-name-safe version of a grouping name, at most ``limit`` characters (a longer
    name keeps its start and a short hash of the whole, so two names never share one)."""
    safe = re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-") or "grouping"
    if len(safe) <= limit:
        return safe
    return f"{safe[:limit - 9]}-{hashlib.sha256(text.encode('utf-8')).hexdigest()[:8]}"


def _cell(block: Any, key: str, signed: bool = False) -> str:
    """'78.4 (77.5, 79.3)': the estimate ``key`` of a block and its interval."""
    return estimate(block.on(key), block.interval(key), signed)


def _group_tables(summary: GroupingResult, single: bool) -> tuple[tuple, tuple]:
    """The per-group table (lowest single-model accuracy first) and its secondary columns."""
    minority = set(summary.minority_groups())
    names = sorted(summary.groups, key=lambda g: (summary.groups[g].single_mean, g))
    main, more = [], []
    for name in names:
        g = summary.groups[name]
        n = str(g.n) + ("" if g.eligible else " *")
        if single:
            main.append([name, n, _cell(g, "ensemble"), pct(g.ece.ensemble)])
            continue
        main.append([name, n, _cell(g, "single_mean"), _cell(g, "ensemble"),
                     _cell(g, "gain", signed=True)])
        more.append([name, pct(g.single_std), _cell(g, "rel_gain", signed=True),
                     _cell(g, "error_reduction", signed=True), pct(g.disagreement),
                     f"{pct(g.ece.single_mean)} → {pct(g.ece.ensemble)}",
                     "yes" if name in minority else ""])
    if single:
        return (["group", "n", "accuracy (%)", "ECE (%)"], main), ([], [])
    return ((["group", "n", "one model (%)", "ensemble (%)", "gain (points)"], main),
            (["group", "std over members", "relative gain (%)", "error-rate reduction (%)",
              "members disagree (%)", "ECE one model → ensemble (%)", "minority"], more))


def _set_rows(summary: GroupingResult) -> list[list[str]]:
    """Bottom-k, top-k, the worst group chosen on the ranking data, minority, majority."""
    rows = []
    for side, entry in (("bottom", summary.bottom_k), ("top", summary.top_k)):
        if entry is not None:
            label = f"{side}-{entry.k}"
            chosen = (" / ".join(", ".join(half) for half in entry.by_half)
                      if entry.by_half is not None else ", ".join(entry.groups))
            rows.append([label, chosen, _cell(entry, "single_mean"), _cell(entry, "ensemble"),
                         _cell(entry, "gain", signed=True)])
    worst = summary.worst_group
    if worst is not None:
        ci = worst.ci
        rows.append(["worst group (chosen on the ranking data)",
                     " / ".join(worst.by_half or [worst.group]),
                     estimate(worst.single_mean, None if ci is None else ci.single_mean),
                     estimate(worst.ensemble, None if ci is None else ci.ensemble),
                     signed_pct(None if worst.ensemble is None or worst.single_mean is None
                                else worst.ensemble - worst.single_mean)])
    if summary.minority is not None:
        for side in ("minority", "majority"):
            entry = getattr(summary.minority, side)
            groups = summary.minority.groups if side == "minority" else \
                [g for g in summary.groups if g not in summary.minority.groups]
            rows.append([side, ", ".join(groups), _cell(entry, "single_mean"),
                         _cell(entry, "ensemble"), _cell(entry, "gain", signed=True)])
    return _merge_same(rows)


def _merge_same(rows: list[list[str]]) -> list[list[str]]:
    """One row for sets that are the same samples with the same numbers (with two groups
    the bottom-1 is often the worst group and the minority): 'bottom-1 = minority'."""
    merged: dict[tuple[str, ...], list[str]] = {}
    for label, *cells in rows:
        key = tuple(cells[:3])
        if key in merged:
            merged[key][0] += f" = {label}"
        else:
            merged[key] = [label, *cells]
    return list(merged.values())


def _verdict_rows(summary: GroupingResult) -> list[list[str]]:
    rows = []
    k = None if summary.bottom_k is None else summary.bottom_k.k
    labels = {"bottom_vs_top": f"bottom-{k} minus top-{k}",
              "minority_vs_majority": "minority minus majority"}
    for key, entry in summary.verdicts():
        for scale, value in entry.scales.items():
            primary = scale == entry.scale
            rows.append([labels[key], SCALE_WORDS[scale] + (" (decides)" if primary else ""),
                         estimate(value.difference, value.ci, signed=True),
                         p_value(value.p), p_value(entry.p_adjusted) if primary else "",
                         (entry.note or verdict_words(entry.verdict, k)) if primary else
                         (f"not tested: {value.refused}" if value.refused else "")])
    return rows


def _subpop_rows(block: Subpop, single: bool) -> list[list[str]]:
    mean, worst, odds = block.group_mean_accuracy, block.worst_group, block.equalized_odds
    if single:
        rows = [["group-mean accuracy", _cell(mean, "ensemble")],
                [f"worst-group accuracy ({worst.ensemble.group})",
                 estimate(worst.ensemble.accuracy, worst.ensemble.ci)]]
        if odds is not None:
            rows.append(["equalized-odds gap (points)",
                         estimate(odds.largest.ensemble.gap, odds.largest.ensemble.ci)])
        return rows
    rows = [["group-mean accuracy", _cell(mean, "single_mean"), _cell(mean, "ensemble"),
             _cell(mean, "gain", signed=True)],
            [f"worst-group accuracy (each model's own worst group; ensemble: "
             f"{worst.ensemble.group})", f"{pct(worst.single_mean)} ± {pct(worst.single_std)}",
             estimate(worst.ensemble.accuracy, worst.ensemble.ci), signed_pct(worst.gain)],
            [f"worst group of the average member ({worst.average_member.group})",
             estimate(worst.average_member.accuracy, worst.average_member.ci), "", ""]]
    if odds is not None:
        largest = odds.largest
        rows.append(["equalized-odds gap (points; lower is fairer)",
                     f"{pct(odds.members.mean)} ± {pct(odds.members.std)}",
                     estimate(largest.ensemble.gap, largest.ensemble.ci),
                     signed_pct(largest.ensemble.gap - odds.members.mean)])
    return rows


def _reliability_groups(summary: GroupingResult) -> list[str]:
    """Every group, or the RELIABILITY_GROUPS eligible ones whose ensemble ECE is largest."""
    groups = summary.groups
    if len(groups) <= RELIABILITY_GROUPS:
        return list(groups)
    ranked = sorted((g for g in groups if groups[g].eligible),
                    key=lambda g: (-groups[g].ece.ensemble, g))
    return ranked[:RELIABILITY_GROUPS]


def _grouping_section(doc: Document, index: int, name: str, summary: GroupingResult,
                      reliability: Reliability | None, names: Names, single: bool) -> None:
    title, group = names.grouping(name), names.group_of(name)
    doc.heading(f"By {title}")
    stem = f"{index:02d}-{slug(name)}"
    shown = shown_groups(summary)
    some = "" if len(shown) == len(summary.groups) else \
        f" (the {len(shown) // 2} lowest and {len(shown) // 2} highest of {len(summary.groups)})"
    doc.image(Image(f"{stem}-groups.png", forest_figure(summary, title, single),
                    f"Accuracy per {group}{some}, lowest single-model accuracy first, "
                    + ("with 95% intervals" if single else
                       "and the ensemble's gain in points (red: worse with the ensemble, "
                       "green: better; 95% intervals)"), wide=True))
    heatmap = heatmap_figure(summary, title, single) if "&" in name else None
    if heatmap is not None:
        doc.image(Image(f"{stem}-heatmap.png", heatmap,
                        f"{title}: accuracy of each intersection"
                        + ("" if single else " with the ensemble, its gain below")))
    (header, rows), more = _group_tables(summary, single)
    doc.table(header, rows)
    if more[1]:
        doc.table(*more, collapsed=f"more columns for each {group}")
    if any(not g.eligible for g in summary.groups.values()):
        doc.paragraph("* too few test samples to be judged: shown, never chosen as "
                      "bottom-k, top-k or worst group.")
    if not single:
        sets = _set_rows(summary)
        if sets:
            doc.table(["set", "groups", "one model (%)", "ensemble (%)", "gain (points)"], sets)
        verdicts = _verdict_rows(summary)
        if verdicts:
            doc.table(["comparison", "scale", "difference (95% CI)", "p", "adjusted p",
                       "verdict"], verdicts, collapsed="the verdicts on each scale")
    if summary.subpop is not None:
        doc.table(["metric (%)", *(["value (95% CI)"] if single else
                                   ["one model", "ensemble", "change"])],
                  _subpop_rows(summary.subpop, single))
    if summary.parity is not None:
        parity = summary.parity["demographic_parity_difference"]
        doc.paragraph(f"Demographic-parity gap (points): {pct(parity.ensemble)}"
                      + ("" if single else f" for the ensemble, {pct(parity.single_mean)} ± "
                                           f"{pct(parity.single_std)} for one model") + ".")
    if not single and summary.curve is not None:
        doc.image(Image(f"{stem}-curve.png", curve_figure(summary, f"{title}: accuracy vs "
                                                                   "ensemble size"),
                        f"Accuracy versus ensemble size ({title}), with 95% intervals",
                        wide=True))
    drawn = _reliability_groups(summary)
    if reliability is not None and drawn:
        doc.fold(f"calibration of each {group}")
        doc.image(Image(f"{stem}-reliability.png",
                        reliability_figure(reliability, drawn, f"reliability: {title}"),
                        f"Reliability diagram per {group}"
                        + ("" if len(drawn) == len(summary.groups) else
                           f" (the {len(drawn)} with the largest ECE)")
                        + ": accuracy against confidence in 15 bins (bins with under 5 samples "
                          "or 2% of the group not drawn); the diagonal is perfect calibration",
                        wide=True))
        doc.fold(None)


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


def _hygiene_text(hygiene: dict[str, Any]) -> str:
    """What reading the files dropped (run.json's data.hygiene), in one line; the whole
    split, file by file, is in data_split.csv."""
    parts = []
    if "files" in hygiene:
        parts.append(f"{hygiene['files']:,} files, {hygiene.get('unparsable', 0)} with an "
                     "unparsable name")
    if "duplicate_sets" in hygiene:
        parts.append(f"{hygiene['duplicate_sets']} sets of byte-identical copies "
                     f"({hygiene.get('duplicates_dropped_as_copies', 0)} copies dropped, "
                     f"{hygiene.get('conflicting_images_dropped', 0)} images with disagreeing "
                     "labels dropped)")
    if hygiene.get("near_duplicates"):
        parts.append(f"{hygiene.get('near_duplicate_sets', 0)} sets of near-duplicates "
                     f"(perceptual hashes within {hygiene.get('near_duplicate_distance')} "
                     f"bits; {hygiene.get('near_duplicate_images', 0):,} images): "
                     f"{hygiene.get('near_duplicate_conflicting_images_dropped', 0):,} images "
                     "with disagreeing labels dropped"
                     + (f", {hygiene['near_duplicates_dropped_across_splits']} copies of an "
                        "earlier split's image dropped"
                        if "near_duplicates_dropped_across_splits" in hygiene else
                        ", the others kept whole in one split"))
    return "; ".join(parts) + " (every file's fate: data_split.csv)"


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
    hygiene = (meta.get("data") or {}).get("hygiene")
    if hygiene:
        rows.append(["data hygiene", _hygiene_text(hygiene)])
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


def _methods(doc: Document, fairness: FairnessResult) -> None:
    """How the numbers were made, folded away at the end."""
    ranking, intervals = fairness.ranking, fairness.intervals
    doc.heading("Methods")
    doc.fold("how these numbers were computed")
    members = "one model" if fairness.members == 1 else \
        f"{fairness.members} members combined by their {COMBINE_WORDS[fairness.combine]}"
    text = (f"{members}, {fairness.n_samples:,} test samples, {fairness.n_classes} classes. "
            f"Bottom-k, top-k and the worst group are {RANKING_WORDS[ranking.method]}; groups "
            f"with fewer than {ranking.min_group_size} test samples are never chosen. ")
    if intervals is None:
        text += "No intervals were computed."
    elif fairness.members == 1:
        text += ("Intervals are 95% intervals of test sampling (Wilson score intervals for "
                 "accuracies); how much a retrained model would differ is not measured by one "
                 "model. Worst-group and equalized-odds intervals are simultaneous over the "
                 "groups, so they hold although the worst group is picked on the test data.")
    else:
        text += ("Intervals are 95% intervals that include both test sampling and training "
                 "randomness (which members happened to be trained): " + intervals.method
                 + ". Worst-group and equalized-odds intervals are simultaneous over the "
                 "groups, so they hold although the worst group is picked on the test data.")
        if fairness.members > 1:
            text += (f" Verdicts are decided on the {SCALE_WORDS[fairness.verdicts.scale]} "
                     "scale and claimed only where the Holm-adjusted p-value over the "
                     f"report's {fairness.verdicts.family} verdicts is below 0.05; per-group "
                     "intervals describe each group and are not adjusted for the number of "
                     "groups.")
    doc.paragraph(text)
    doc.paragraph("Group-mean accuracy is SubpopBench's adjusted accuracy (the mean over "
                  "groups), class-balanced accuracy sklearn's balanced accuracy (the mean "
                  "recall over classes); a single model's worst-group accuracy is each "
                  "model's own worst group, averaged over the members, as SubpopBench reports "
                  "it; ECE is top-label with 15 bins. docs/statistics.md defines every number "
                  "and names its equivalent in SubpopBench and fairlearn.")
    if fairness.crosscheck is not None:
        doc.paragraph("Per-group accuracies were recomputed with fairlearn's MetricFrame "
                      f"(groups_metricframe.csv); largest difference "
                      f"{fairness.crosscheck.metricframe_max_abs_diff:.1e}.")
    doc.fold(None)


COMBINE_WORDS = {"mean_prob": "mean probability", "mean_logit": "mean logit",
                 "vote": "majority vote"}


def run_title(meta: dict[str, Any], fairness: FairnessResult, fallback: str) -> str:
    """'UTKFace (gender), an ensemble of 10 ResNet-9s (width 16): utkface_resnet9_w16_k10';
    a run without run.json: 'run: an ensemble of 4 models'."""
    names = Names.of_run(meta)
    models = f"one {names.model}" if fairness.members == 1 else \
        f"an ensemble of {fairness.members} {names.plural}"
    if not meta:
        return f"{fallback}: {models}"
    target = "" if names.target in ("class", "digit") else f" ({names.target})"
    return f"{names.dataset}{target}, {models}: {meta.get('run_name', fallback)}"


def _counterfactual(doc: Document, fairness: FairnessResult, single: bool) -> None:
    block = fairness.counterfactual
    doc.heading("Counterfactual pairs")
    doc.paragraph(f"{block.pairs:,} pairs of test images that differ only in the protected "
                  "attribute; the flip rate is the share of pairs whose prediction changes.")
    rows = [["all", str(block.pairs), pct(block.overall.single_mean),
             pct(block.overall.ensemble)]]
    rows += [[name, str(v.pairs), pct(v.single_mean), pct(v.ensemble)]
             for name, v in block.per_class.items()]
    header = ["class", "pairs", "flip rate, one model (%)", "flip rate, ensemble (%)"]
    if single:
        header, rows = header[:3], [row[:3] for row in rows]
    doc.table(header, rows)


def build_run_document(analysis: Analysis, *, title: str,
                       meta: dict[str, Any] | None = None,
                       members: list[dict[str, Any]] | None = None,
                       run: RunPredictions | None = None) -> Document:
    """The report of one analysed run; ``meta`` is its run.json (or empty), ``members``
    its members' summaries (members/member_XX.json, or none); ``run``, its predictions,
    adds the gallery where the test images can be read. A single model (one member)
    gets the same report without the ensemble's columns, verdicts and curves."""
    fairness, meta = analysis.fairness, meta or {}
    names, single = Names.of_run(meta), fairness.members == 1
    doc = Document(title)
    summary_block(doc, fairness, names)
    if run is not None and run.sources is not None:
        gallery_section(doc, fairness=fairness, logits=run.logits, labels=run.labels,
                        groups=run.groups, sources=run.sources, meta=meta, names=names,
                        class_names=run.class_names)
    for index, (name, summary) in enumerate(fairness.groupings.items()):
        _grouping_section(doc, index, name, summary, analysis.reliability.get(name), names,
                          single)
    if fairness.counterfactual is not None:
        _counterfactual(doc, fairness, single)
    _methods(doc, fairness)
    run_details(doc, meta, members or [])
    return doc


def summary_lines(analysis: Analysis) -> list[str]:
    """A few console lines: overall, and per grouping bottom-k, top-k, worst group, minority
    and the verdicts (one model: its accuracy and worst group)."""
    fairness = analysis.fairness
    overall = fairness.overall
    if fairness.members == 1:
        lines = [f"overall: one model {pct(overall.ensemble)}"]
        for name, summary in fairness.groupings.items():
            if summary.subpop is not None:
                worst = summary.subpop.worst_group.ensemble
                lines.append(f"{name}: worst {worst.group!r} {pct(worst.accuracy)}")
        return lines
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
