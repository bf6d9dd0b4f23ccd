"""Per-subgroup accuracy of single members versus their ensemble, as DESIGN.md defines it,
with percentile-bootstrap intervals, minority/majority gaps, disagreement, calibration,
parity metrics and counterfactual flip rates.

Every statistic is computed from per-group sums [X, G, 1 + B] of a few per-sample values
(mean member correctness, ensemble correctness, per ensemble size the mean correctness
over its subsets and the worst-group values): column 0 is the test set itself (the point
estimate), columns 1..B are stratified bootstrap resamples, so point estimates and
intervals come from one code path, vectorised over samples and resamples, in memory that
does not grow with B (see ``Grouping.resampled_sums``).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ..errors import FairensError, bad_setting
from .calibration import disagreement, expected_calibration_error
from .combine import COMBINES
from .correctness import Correctness, correctness
from .crosscheck import metricframe_table
from .groups import Grouping
from .parity import flip_rates, parity_differences
from .subsets import curve_subsets

LEVEL = 0.95
GROUP_COLUMNS = ("grouping", "group", "n", "single_mean", "single_std", "ensemble", "gain",
                 "rel_gain", "single_mean_lo", "single_mean_hi", "ensemble_lo", "ensemble_hi",
                 "gain_lo", "gain_hi", "disagreement", "ece_single", "ece_ensemble", "minority")
_NOT_PROTECTED = ("class", "train_frequency")


@dataclass(frozen=True)
class Analysis:
    """The result of :func:`analyse`.

    Attributes:
        fairness: the content of ``fairness.json`` (JSON-ready; every DESIGN.md field).
        table: one row per (grouping, group), with the columns of ``GROUP_COLUMNS``.
        metricframe: the same per-group accuracies computed by fairlearn's MetricFrame
            (empty when the cross-check is off).
    """

    fairness: dict[str, Any]
    table: pd.DataFrame
    metricframe: pd.DataFrame


def analyse(*, logits: np.ndarray, labels: np.ndarray, groups: pd.DataFrame, k: int = 3,
            combine: str = "mean_prob", max_subsets: int = 64, seed: int = 0,
            n_boot: int = 1000, boot_seed: int = 0,
            minority: dict[str, list[str]] | None = None, pair_ids: np.ndarray | None = None,
            crosscheck: bool = True) -> Analysis:
    """Single-member and ensemble accuracy per group, bottom-k/top-k, worst group and the
    ensemble-size curve for every grouping, with 95% percentile-bootstrap intervals.

    Args:
        logits: float [K, N, C], member k's logits for test sample n.
        labels: int [N], the class index of each test sample.
        groups: N rows, one column per grouping; must include ``class``.
        k: size of the bottom-k and top-k sets (at most the number of classes; a grouping
            with fewer groups uses all of its groups).
        combine: ``mean_prob``, ``mean_logit`` or ``vote``.
        max_subsets: the curve averages over all subsets of a size when there are at most
            this many, otherwise over this many random distinct ones.
        seed: draws those random subsets.
        n_boot: bootstrap resamples (test samples drawn with replacement within each
            group); 0 computes no intervals.
        boot_seed: seeds the resampling.
        minority: per grouping, its minority groups; groupings whose groups are exactly
            ``minority`` and ``majority`` declare themselves.
        pair_ids: int [N], counterfactual pairs (e.g. the colour and gray copy of a test
            image); adds flip rates.
        crosscheck: recompute per-group accuracies with fairlearn's MetricFrame and check
            that they agree with the vectorised path to 1e-12.
    """
    logits, labels = np.asarray(logits), np.asarray(labels, dtype=np.int64)
    _check_inputs(logits, labels, groups, k, combine, max_subsets, n_boot)
    groupings = _groupings(groups, labels, minority or {})
    if k > len(groupings[0]):
        raise bad_setting("k", k, f"an integer from 1 to {len(groupings[0])}, the number of "
                                  "classes in the test set")
    n_members = logits.shape[0]
    rng = np.random.default_rng(seed)
    subsets = [curve_subsets(n_members, size, max_subsets, rng)
               for size in range(1, n_members + 1)]
    correct = correctness(logits, labels, combine, subsets, groupings)
    binary = logits.shape[2] == 2
    summaries = {}
    for index, grouping in enumerate(groupings):
        summary = _summarise(grouping, correct, correct.group_sums[index], k, n_boot,
                             [boot_seed, index])
        _add_spread(summary, grouping, correct)
        if binary and _protected(grouping.name):
            summary["parity"] = parity_differences(labels, correct.member_predictions,
                                                   correct.ensemble_predictions, grouping)
        summaries[grouping.name] = summary
    fairness = {
        "members": int(logits.shape[0]), "combine": combine, "k": int(k),
        "max_subsets": int(max_subsets), "seed": int(seed),
        "bootstrap": {"resamples": int(n_boot), "seed": int(boot_seed), "level": LEVEL},
        "n_samples": int(logits.shape[1]), "n_classes": int(logits.shape[2]),
        "overall": _overall(correct, summaries["class"]),
        "groupings": summaries,
    }
    if pair_ids is not None:
        fairness["counterfactual"] = _counterfactual(correct, np.asarray(pair_ids), labels,
                                                     groupings[0])
    table = _table(summaries)
    frame = pd.DataFrame()
    if crosscheck:
        frame = pd.concat([metricframe_table(labels, correct.member_predictions,
                                             correct.ensemble_predictions, g) for g in groupings],
                          ignore_index=True)
        difference = float(np.abs(frame[["single_mean", "ensemble"]].to_numpy()
                                  - table[["single_mean", "ensemble"]].to_numpy()).max())
        if difference > 1e-12:
            raise RuntimeError(f"fairlearn MetricFrame and the vectorised analysis disagree by "
                               f"{difference}: a bug in fairens")
        fairness["crosscheck"] = {"metricframe_max_abs_diff": difference}
    return Analysis(fairness=fairness, table=table, metricframe=frame)


def _check_inputs(logits: np.ndarray, labels: np.ndarray, groups: pd.DataFrame, k: int,
                  combine: str, max_subsets: int, n_boot: int) -> None:
    if logits.ndim != 3 or 0 in logits.shape:
        raise FairensError(f"logits must be a non-empty array [K, N, C], got shape "
                           f"{list(logits.shape)}")
    n = logits.shape[1]
    if labels.shape != (n,) or len(groups) != n:
        raise FairensError(f"labels ({len(labels)}) and groups ({len(groups)}) must have one "
                           f"entry per test sample ({n})")
    if "class" not in groups.columns:
        raise FairensError("groups must include the 'class' grouping")
    if labels.min() < 0 or labels.max() >= logits.shape[2]:
        raise FairensError(f"labels must be class indices in 0..{logits.shape[2] - 1}")
    for key, value, low in (("k", k, 1), ("max_subsets", max_subsets, 1), ("bootstrap", n_boot, 0)):
        if not isinstance(value, int | np.integer) or isinstance(value, bool) or value < low:
            raise bad_setting(key, value, "a positive integer" if low else
                              "a non-negative integer (0: no intervals)")
    if combine not in COMBINES:
        raise bad_setting("combine", combine, f"one of {', '.join(COMBINES)}")


def _groupings(groups: pd.DataFrame, labels: np.ndarray,
               minority: dict[str, list[str]]) -> list[Grouping]:
    out = [Grouping.from_column("class", groups["class"], labels, minority.get("class", ()))]
    for column in groups.columns:
        if column == "class":
            continue
        declared = minority.get(column)
        if declared is None and set(groups[column].astype(str)) == {"minority", "majority"}:
            declared = ["minority"]
        out.append(Grouping.from_column(column, groups[column], minority=declared or ()))
    return out


def _protected(name: str) -> bool:
    return name not in _NOT_PROTECTED and not name.startswith("class&")


def _ci(values: np.ndarray) -> list | None:
    """[lo, hi] (or nested lists of them) from the resample axis (last, rows 1..B).

    Resamples where a statistic is undefined (a relative gain over a zero accuracy) are
    left out; a bound with no defined resample is None.
    """
    if values.shape[-1] == 1:
        return None
    alpha = (1 - LEVEL) / 2
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN slices give NaN
        low, high = np.nanquantile(values[..., 1:], [alpha, 1 - alpha], axis=-1)
    bounds = np.stack([low, high], axis=-1)
    return np.where(np.isfinite(bounds), bounds, None).tolist()


def _ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(denominator != 0, numerator / denominator, np.nan)


def _num(value: float) -> float | None:
    return None if not np.isfinite(value) else float(value)


def _set_rel_gain(members: list[int], single: np.ndarray, ensemble: np.ndarray) -> np.ndarray:
    """Relative gain [1 + B] of the mean accuracy over a set of groups."""
    s = single[members].mean(axis=0)
    return _ratio(ensemble[members].mean(axis=0) - s, s)


def _set_stats(members: list[int], single: np.ndarray, ensemble: np.ndarray) -> dict[str, Any]:
    """Unweighted means over a set of groups of per-group accuracies [G, 1 + B]."""
    s, e = single[members].mean(axis=0), ensemble[members].mean(axis=0)
    gain = e - s
    rel = _set_rel_gain(members, single, ensemble)
    return {"single_mean": float(s[0]), "ensemble": float(e[0]), "gain": float(gain[0]),
            "rel_gain": _num(rel[0]),
            "ci": None if len(s) == 1 else {"single_mean": _ci(s), "ensemble": _ci(e),
                                            "gain": _ci(gain), "rel_gain": _ci(rel)}}


def _summarise(grouping: Grouping, correct: Correctness, subset_sums: np.ndarray, k: int,
               n_boot: int, boot_seed: list[int]) -> dict[str, Any]:
    names, n = grouping.names, grouping.counts
    n_members = len(correct.members)
    member_counts = grouping.sums(correct.members)  # [K, G], exact integers
    # point estimates from integer counts, so that equal accuracies are equal floats
    single_point = member_counts.sum(axis=0) / (n_members * n)
    ensemble_point = grouping.sums(correct.ensemble)[0] / n
    # every resampled statistic is a sum over samples of one of these rows
    rows = [correct.members.mean(axis=0), correct.ensemble, correct.curve_mean,
            _worst_group_values(grouping, correct, subset_sums)]
    sums = grouping.resampled_sums(rows, n_boot, boot_seed)  # [2 + 2K, G, 1 + B]
    del rows
    single_sums, ensemble_sums = sums[0], sums[1]
    single, ensemble = single_sums / n[:, None], ensemble_sums / n[:, None]
    single[:, 0], ensemble[:, 0] = single_point, ensemble_point
    gain = ensemble - single
    std = (member_counts / n).std(axis=0)
    with_ci = n_boot > 0
    groups = {}
    for i, name in enumerate(names):
        groups[name] = {
            "n": int(n[i]), "single_mean": float(single_point[i]), "single_std": float(std[i]),
            "ensemble": float(ensemble_point[i]), "gain": float(gain[i, 0]),
            "rel_gain": _num(_ratio(gain[i, 0], single_point[i])),
            "ci": None if not with_ci else {
                "single_mean": _ci(single[i]), "ensemble": _ci(ensemble[i]),
                "gain": _ci(gain[i])}}
    ranking = sorted(range(len(names)), key=lambda i: (single_point[i], names[i]))
    size = min(k, len(names))
    bottom, top = ranking[:size], ranking[::-1][:size]
    worst = min(range(len(names)), key=lambda i: (ensemble_point[i], names[i]))
    bottom_stats, top_stats = (_set_stats(s, single, ensemble) for s in (bottom, top))
    rel_difference = (_set_rel_gain(bottom, single, ensemble)
                      - _set_rel_gain(top, single, ensemble))
    summary = {
        "groups": groups,
        "bottom_k": {"k": size, "groups": [names[i] for i in bottom], **bottom_stats},
        "top_k": {"k": size, "groups": [names[i] for i in top], **top_stats},
        "bottom_vs_top": {"rel_gain_difference": _num(rel_difference[0]),
                          "ci": _ci(rel_difference)},
        "worst_group": {"group": names[worst], "single_mean": float(single_point[worst]),
                        "ensemble": float(ensemble_point[worst]),
                        "ci": None if not with_ci else {
                            "single_mean": _ci(single[worst]),
                            "ensemble": _ci(ensemble[worst])}},
        "curve": _curve(grouping, sums[2:2 + n_members], sums[2 + n_members:], bottom, top,
                        [len(drawn) for drawn in correct.subsets]),
    }
    if grouping.splits_minority:
        summary["minority"] = _minority(grouping, single_sums, ensemble_sums)
    return summary


def _curve(grouping: Grouping, curve_sums: np.ndarray, worst_sums: np.ndarray,
           bottom: list[int], top: list[int], subset_counts: list[int]) -> dict[str, Any]:
    """The ensemble-size curve from per-group sums [M, G, 1 + B] of each sample's mean
    correctness over a size's subsets (the mean over subsets is linear) and of its
    worst-group values (see :func:`_worst_group_values`)."""
    n = grouping.counts
    accuracy = curve_sums / n[:, None]
    lines = {"overall": curve_sums.sum(axis=1) / n.sum(),
             "bottom_k": accuracy[:, bottom].mean(axis=1),
             "top_k": accuracy[:, top].mean(axis=1),
             "worst_group": (worst_sums / n[:, None]).sum(axis=1)}
    if grouping.splits_minority:
        for side in ("minority", "majority"):
            members = list(getattr(grouping, side))
            lines[side] = curve_sums[:, members].sum(axis=1) / n[members].sum()
    out: dict[str, Any] = {"m": list(range(1, len(curve_sums) + 1)),
                           "subsets": subset_counts}
    out.update({name: line[:, 0].tolist() for name, line in lines.items()})
    out["ci"] = None if curve_sums.shape[2] == 1 else {name: _ci(line)
                                                       for name, line in lines.items()}
    return out


def _worst_group_values(grouping: Grouping, correct: Correctness,
                        subset_sums: np.ndarray) -> np.ndarray:
    """float64 [K, N]: per size m, the fraction of its subsets that are right on sample n
    and have the sample's group as their worst group (ties: by name).

    Summed over a group and divided by its size, then summed over groups, this is the mean
    over subsets of each subset's worst-group accuracy; in the resamples each subset's
    worst group stays the one of the test set (as bottom-k sets do), so the interval is
    the sampling uncertainty of that group's accuracy."""
    accuracy = subset_sums / grouping.counts  # [S, G]
    names = np.asarray(grouping.names, dtype=object)
    worst = np.lexsort((np.broadcast_to(names, accuracy.shape), accuracy), axis=1)[:, 0]
    samples = {}
    out = np.zeros((len(correct.subsets), len(grouping.codes)))
    for size in range(1, len(correct.subsets) + 1):
        rows = correct.subset_rows(size)
        for row in rows:
            group = int(worst[row])
            index = samples.setdefault(group, grouping.samples_of(group))
            out[size - 1, index] += correct.subset_correct(row, index)
        out[size - 1] /= len(rows)
    return out


def _minority(grouping: Grouping, single_sums: np.ndarray,
              ensemble_sums: np.ndarray) -> dict[str, Any]:
    """Accuracy over all samples of the minority groups versus the majority groups, from
    the per-group correct sums [G, 1 + B] (single: mean over members)."""
    out: dict[str, Any] = {"groups": [grouping.names[i] for i in grouping.minority]}
    sides = {}
    for side in ("minority", "majority"):
        members = list(getattr(grouping, side))
        size = grouping.counts[members].sum()
        s, e = single_sums[members].sum(axis=0) / size, ensemble_sums[members].sum(axis=0) / size
        sides[side] = (s, e)
        out[side] = {"n": int(size), "single_mean": float(s[0]), "ensemble": float(e[0]),
                     "gain": float(e[0] - s[0]),
                     "ci": None if len(s) == 1 else {"single_mean": _ci(s), "ensemble": _ci(e),
                                                     "gain": _ci(e - s)}}
    gap_single = sides["majority"][0] - sides["minority"][0]
    gap_ensemble = sides["majority"][1] - sides["minority"][1]
    out["gap"] = {"single_mean": float(gap_single[0]), "ensemble": float(gap_ensemble[0]),
                  "change": float(gap_ensemble[0] - gap_single[0]),
                  "ci": None if len(gap_single) == 1 else {
                      "single_mean": _ci(gap_single), "ensemble": _ci(gap_ensemble),
                      "change": _ci(gap_ensemble - gap_single)}}
    return out


def _add_spread(summary: dict[str, Any], grouping: Grouping, correct: Correctness) -> None:
    """Per group: disagreement between members, and ECE of members and of the ensemble."""
    apart = disagreement(correct.member_predictions, grouping)
    ece = expected_calibration_error(correct.confidence, correct.calibration_correct, grouping)
    member_ece, ensemble_ece = ece[:-1].mean(axis=0), ece[-1]
    for i, group in enumerate(summary["groups"].values()):
        group["disagreement"] = None if apart is None else float(apart[i])
        group["ece"] = {"single_mean": float(member_ece[i]), "ensemble": float(ensemble_ece[i])}


def _overall(correct: Correctness, class_summary: dict[str, Any]) -> dict[str, Any]:
    accuracy = correct.members.mean(axis=1)
    ci = class_summary["curve"]["ci"]
    return {"single_mean": float(accuracy.mean()), "single_std": float(accuracy.std()),
            "ensemble": float(correct.ensemble.mean()),
            "ci": None if ci is None else {"single_mean": ci["overall"][0],
                                           "ensemble": ci["overall"][-1]}}


def _counterfactual(correct: Correctness, pair_ids: np.ndarray, labels: np.ndarray,
                    classes: Grouping) -> dict[str, Any]:
    n_classes = int(labels.max()) + 1
    predictions = np.vstack([correct.member_predictions, correct.ensemble_predictions[None]])
    overall, per_class, pairs = flip_rates(predictions, pair_ids, labels, n_classes)
    names = {int(label): classes.names[code] for label, code in zip(labels, classes.codes,
                                                                   strict=True)}
    return {"pairs": int(pairs.sum()),
            "overall": {"single_mean": float(overall[:-1].mean()),
                        "single_std": float(overall[:-1].std()), "ensemble": float(overall[-1])},
            "per_class": {names[c]: {"pairs": int(pairs[c]),
                                     "single_mean": float(per_class[:-1, c].mean()),
                                     "ensemble": float(per_class[-1, c])}
                          for c in range(n_classes) if pairs[c]}}


def _table(summaries: dict[str, dict[str, Any]]) -> pd.DataFrame:
    rows = []
    for grouping, summary in summaries.items():
        minority = set(summary.get("minority", {}).get("groups", []))
        for group, g in summary["groups"].items():
            ci = g["ci"] or {}
            bounds = {f"{key}_{side}": (ci[key][j] if key in ci else None)
                      for key in ("single_mean", "ensemble", "gain")
                      for j, side in enumerate(("lo", "hi"))}
            rows.append({"grouping": grouping, "group": group, "n": g["n"],
                         "single_mean": g["single_mean"], "single_std": g["single_std"],
                         "ensemble": g["ensemble"], "gain": g["gain"], "rel_gain": g["rel_gain"],
                         **bounds, "disagreement": g["disagreement"],
                         "ece_single": g["ece"]["single_mean"],
                         "ece_ensemble": g["ece"]["ensemble"], "minority": group in minority})
    return pd.DataFrame(rows, columns=list(GROUP_COLUMNS))
