"""Cascade ensembles: members run one after another in a fixed order (member 0 first), and
the cascade stops as soon as the running ensemble is confident enough.

After m members the running ensemble predicts the argmax of the mean of their softmax
probabilities (the ``mean_prob`` combine, summed in member order in float64), and its
confidence is that mean's largest probability. The cascade stops at the first m whose
confidence is at least the threshold, or at the last member. Threshold 0 is the first
member alone; a threshold above 1 is the whole ensemble. The device bundle's runner
(``bench_device.py``) applies the same rule to the same member graphs.

Each threshold is evaluated like an exported graph (accuracy overall, per group and on
the analysis' chosen groups), plus the mean number of members it ran, overall and per
group: early exit spends less where members agree, which may not be where the ensemble
helps most (README, "Cascades").
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from ..fairness.groups import Grouping
from ..report.document import Document, pct
from .evaluate import ChosenGroups, GraphAccuracy, grouped_accuracy

THRESHOLDS = (0.6, 0.7, 0.8, 0.9, 0.95, 0.99)


def cascade_name(threshold: float) -> str:
    """The name of a threshold's cascade among an export's graphs: ``cascade_0.90``."""
    return f"cascade_{threshold:.2f}"


@dataclass(frozen=True)
class CascadeRun:
    """What a cascade did on each sample."""

    predictions: np.ndarray  # int64 [N]
    members: np.ndarray  # int64 [N], members run (1..K)


def running_means(probs: np.ndarray) -> np.ndarray:
    """float64 [K, N, C]: row m-1 is the mean of the first m members' probabilities."""
    totals = np.cumsum(np.asarray(probs, dtype=np.float64), axis=0)
    return totals / np.arange(1, len(totals) + 1)[:, None, None]


def run_cascade(means: np.ndarray, threshold: float) -> CascadeRun:
    """The cascade at ``threshold`` on the running means of :func:`running_means`."""
    stop = means.max(axis=2) >= threshold  # [K, N]
    stop[-1] = True
    first = stop.argmax(axis=0)  # the first m - 1 whose confidence passes
    chosen = means[first, np.arange(means.shape[1])]  # [N, C]
    return CascadeRun(chosen.argmax(axis=1), first + 1)


def evaluate_cascades(probs: np.ndarray, labels: np.ndarray, groupings: list[Grouping],
                      chosen: dict[str, ChosenGroups],
                      thresholds: tuple[float, ...] = THRESHOLDS) -> dict[str, GraphAccuracy]:
    """Per threshold (by :func:`cascade_name`): its accuracy as for an exported graph, with
    the mean members it ran overall and per group (a group's mean over its samples: weighted
    by group size, they add up to the overall mean)."""
    means = running_means(probs)
    out = {}
    for threshold in thresholds:
        run = run_cascade(means, threshold)
        correct = run.predictions == labels
        members = run.members.astype(np.float64)
        by_group = {g.name: replace(grouped_accuracy(correct, g, chosen[g.name]),
                                    members=_group_means(members, g)) for g in groupings}
        out[cascade_name(threshold)] = GraphAccuracy(float(correct.mean()), by_group,
                                                     len(correct), float(members.mean()))
    return out


def _group_means(values: np.ndarray, grouping: Grouping) -> dict[str, float]:
    means = grouping.sums(values[None])[0] / grouping.counts
    return dict(zip(grouping.names, means.tolist(), strict=True))


def cascade_section(doc: Document, accuracy: dict[str, dict[str, GraphAccuracy]],
                    cascades: list[dict]) -> None:
    """The compression report's cascade table: per threshold its accuracy, the members it
    ran, and per grouping its worst group's accuracy and members."""
    if not cascades:
        return
    full = accuracy.get(f"ensemble_{cascades[0]['members']:02d}", {}).get("fp32")
    doc.heading("Cascades: stop once the running ensemble is confident")
    doc.paragraph(
        f"Members run in order (member_00 first) and the cascade stops once the mean of "
        f"their probabilities reaches the threshold, or after all {cascades[0]['members']}; "
        "members run: the mean over the test images, overall and on each grouping's worst "
        "group (the analysis' choice)" + (f"; the full ensemble is {pct(full.overall)}%."
                                          if full is not None else "."))
    if full is not None:
        doc.paragraph(_finding(accuracy, cascades, full))
    first = accuracy[cascades[0]["name"]]["fp32"].groupings
    rows = []
    for cascade in cascades:
        result = accuracy[cascade["name"]]["fp32"]
        cells = [f"{cascade['threshold']:.2f}", pct(result.overall), f"{result.members:.2f}"]
        for grouping in first:
            entry = result.groupings[grouping]
            worst = entry.worst_group
            cells += ["", ""] if worst is None else [f"{worst.group}: {pct(worst.accuracy)}",
                                                     f"{entry.members[worst.group]:.2f}"]
        rows.append(cells)
    doc.table(["threshold", "accuracy (%)", "members run",
               *[h for g in first for h in (f"worst {g} (%)", f"members on worst {g}")]],
              rows)


CLOSE = 0.003  # "as accurate as the ensemble": within 0.3 points


def _finding(accuracy: dict[str, dict[str, GraphAccuracy]], cascades: list[dict],
             full: GraphAccuracy) -> str:
    """The cheapest threshold within 0.3 points of the full ensemble, in words, with the worst
    group it spends the most members on."""
    close = [c for c in cascades
             if accuracy[c["name"]]["fp32"].overall >= full.overall - CLOSE]
    if not close:
        return (f"No threshold comes within {100 * CLOSE:.1f} points of the full ensemble's "
                f"{pct(full.overall)}%.")
    best = min(close, key=lambda c: accuracy[c["name"]]["fp32"].members)
    result = accuracy[best["name"]]["fp32"]
    text = (f"The cheapest cascade within {100 * CLOSE:.1f} points of the full ensemble "
            f"({pct(full.overall)}%) stops at {best['threshold']:.2f}: {pct(result.overall)}% "
            f"with {result.members:.2f} of {best['members']} members on average")
    spent = [(entry.members[entry.worst_group.group], grouping, entry)
             for grouping, entry in result.groupings.items() if entry.worst_group is not None]
    if spent:
        members, grouping, entry = max(spent, key=lambda item: item[0])
        text += (f"; it runs the most on the worst {grouping} group, {entry.worst_group.group} "
                 f"({members:.2f} members, {pct(entry.worst_group.accuracy)}% right, against "
                 f"{pct(full.groupings[grouping].worst_group.accuracy)}% for the full ensemble)")
    return text + "."
