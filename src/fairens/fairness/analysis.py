"""Per-subgroup accuracy of single members versus their ensemble, exactly as DESIGN.md defines.

The whole analysis is vectorised over members, member subsets and samples: member
predictions [K, N], ensemble predictions of every curve subset [S_m, N] for each size m,
then group sums by matrix products.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ..errors import FairensError, bad_setting
from .combine import COMBINES, ensemble_predictions, member_scores
from .groups import Grouping
from .subsets import curve_subsets

GROUP_COLUMNS = ("grouping", "group", "n", "single_mean", "single_std", "ensemble", "gain",
                 "rel_gain")


@dataclass(frozen=True)
class Analysis:
    """The result of :func:`analyse`.

    Attributes:
        fairness: the content of ``fairness.json`` (JSON-ready, every DESIGN.md field).
        table: one row per (grouping, group) with the columns of ``GROUP_COLUMNS``.
    """

    fairness: dict[str, Any]
    table: pd.DataFrame


@dataclass(frozen=True)
class _Correctness:
    """Which test samples each predictor gets right."""

    members: np.ndarray  # bool [K, N]
    curve: list[np.ndarray]  # per m = 1..K, bool [S_m, N] for the subsets of size m
    ensemble: np.ndarray  # bool [N], all K members


def analyse(*, logits: np.ndarray, labels: np.ndarray, groups: pd.DataFrame, k: int = 3,
            combine: str = "mean_prob", max_subsets: int = 64, seed: int = 0) -> Analysis:
    """Single-member and ensemble accuracy per group, bottom-k/top-k, worst group and the
    ensemble-size curve for every grouping.

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
    """
    logits, labels = np.asarray(logits), np.asarray(labels, dtype=np.int64)
    _check_inputs(logits, labels, groups, k, combine, max_subsets)
    groupings = [Grouping.from_column("class", groups["class"], labels)]
    groupings += [Grouping.from_column(c, groups[c]) for c in groups.columns if c != "class"]
    if k > len(groupings[0]):
        raise bad_setting("k", k, f"an integer from 1 to {len(groupings[0])}, the number of "
                                  "classes in the test set")
    correct = _correctness(logits, labels, combine, max_subsets, np.random.default_rng(seed))
    summaries = {g.name: _summarise(g, correct, k) for g in groupings}
    member_acc = correct.members.mean(axis=1)
    fairness = {
        "members": int(logits.shape[0]), "combine": combine, "k": int(k),
        "max_subsets": int(max_subsets), "seed": int(seed),
        "n_samples": int(logits.shape[1]), "n_classes": int(logits.shape[2]),
        "overall": {"single_mean": float(member_acc.mean()), "single_std": float(member_acc.std()),
                    "ensemble": float(correct.ensemble.mean())},
        "groupings": summaries,
    }
    return Analysis(fairness=fairness, table=_table(summaries))


def _check_inputs(logits: np.ndarray, labels: np.ndarray, groups: pd.DataFrame, k: int,
                  combine: str, max_subsets: int) -> None:
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
    if not isinstance(k, int | np.integer) or isinstance(k, bool) or k < 1:
        raise bad_setting("k", k, "a positive integer")
    if combine not in COMBINES:
        raise bad_setting("combine", combine, f"one of {', '.join(COMBINES)}")
    if not isinstance(max_subsets, int | np.integer) or max_subsets < 1:
        raise bad_setting("max_subsets", max_subsets, "a positive integer")


def _correctness(logits: np.ndarray, labels: np.ndarray, combine: str, max_subsets: int,
                 rng: np.random.Generator) -> _Correctness:
    scores = member_scores(logits, combine)
    n_members = len(scores)
    curve = []
    for size in range(1, n_members + 1):
        subsets = curve_subsets(n_members, size, max_subsets, rng)
        curve.append(ensemble_predictions(scores, subsets, combine) == labels)
    members = scores.argmax(axis=2) == labels
    return _Correctness(members=members, curve=curve, ensemble=curve[-1][0])


def _summarise(grouping: Grouping, correct: _Correctness, k: int) -> dict[str, Any]:
    names, n = grouping.names, grouping.counts
    member_counts = grouping.correct_counts(correct.members)
    n_members = len(member_counts)
    # from integer counts, so that equal accuracies are equal floats and ties are exact
    single_mean = member_counts.sum(axis=0) / (n_members * n)
    single_std = (member_counts / n).std(axis=0)
    ensemble = grouping.correct_counts(correct.ensemble)[0] / n
    gain = ensemble - single_mean
    groups = {name: {"n": int(n[i]), "single_mean": float(single_mean[i]),
                     "single_std": float(single_std[i]), "ensemble": float(ensemble[i]),
                     "gain": float(gain[i]),
                     "rel_gain": float(gain[i] / single_mean[i]) if single_mean[i] else None}
              for i, name in enumerate(names)}
    ranking = sorted(range(len(names)), key=lambda i: (single_mean[i], names[i]))
    size = min(k, len(names))
    bottom, top = ranking[:size], ranking[::-1][:size]
    worst = min(range(len(names)), key=lambda i: (ensemble[i], names[i]))
    return {
        "groups": groups,
        "bottom_k": _group_set(bottom, names, single_mean, ensemble),
        "top_k": _group_set(top, names, single_mean, ensemble),
        "worst_group": {"group": names[worst], "single_mean": float(single_mean[worst]),
                        "ensemble": float(ensemble[worst])},
        "curve": _curve(grouping, correct.curve, bottom, top),
    }


def _group_set(members: list[int], names: tuple[str, ...], single_mean: np.ndarray,
               ensemble: np.ndarray) -> dict[str, Any]:
    return {"k": len(members), "groups": [names[i] for i in members],
            "single_mean": float(single_mean[members].mean()),
            "ensemble": float(ensemble[members].mean())}


def _curve(grouping: Grouping, curve: list[np.ndarray], bottom: list[int],
           top: list[int]) -> dict[str, list]:
    out: dict[str, list] = {"m": [], "subsets": [], "overall": [], "bottom_k": [], "top_k": [],
                            "worst_group": []}
    for size, correct in enumerate(curve, start=1):
        accuracy = grouping.accuracy(correct)  # [S, G]
        out["m"].append(size)
        out["subsets"].append(len(correct))
        out["overall"].append(float(correct.mean(axis=1).mean()))
        out["bottom_k"].append(float(accuracy[:, bottom].mean(axis=1).mean()))
        out["top_k"].append(float(accuracy[:, top].mean(axis=1).mean()))
        out["worst_group"].append(float(accuracy.min(axis=1).mean()))
    return out


def _table(summaries: dict[str, dict[str, Any]]) -> pd.DataFrame:
    rows = [{"grouping": grouping, "group": group, **values}
            for grouping, summary in summaries.items()
            for group, values in summary["groups"].items()]
    return pd.DataFrame(rows, columns=list(GROUP_COLUMNS))
