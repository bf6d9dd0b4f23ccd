"""SubpopBench-style metrics of one grouping (docs/statistics.md, "Subpopulation metrics"):
group-mean accuracy (SubpopBench's ``adjusted_accuracy``), worst-group accuracy and, for
attribute groupings, the equalized-odds gap, over the groups with at least
``report.min_group_size`` test samples; single members versus the ensemble, with intervals
that include training randomness.

The worst group and the largest gap are chosen on the data they are measured on, so their
intervals are simultaneous: Bonferroni-level intervals for every group's rate, which all
hold together with probability >= 95%, bound the minimum (or the spread) of the true rates.
"""

from __future__ import annotations

import numpy as np

from .estimates import LEVEL, Estimate, average
from .measures import MEMBER_PARTS, Context, num
from .result import (
    EqualizedOdds,
    OddsClass,
    OddsGap,
    OddsLargest,
    OddsSide,
    Spread,
    Subpop,
    SubpopWorst,
    WorstSide,
)
from .verdicts import gain_block

EO_TOLERANCE = 1e-9


def subpop_block(context: Context, labels: np.ndarray,
                 class_names: dict[int, str] | None) -> Subpop | None:
    """Balanced accuracy, worst-group accuracy and, for a grouping of people (given the
    names of the class indices ``class_names``), the equalized-odds gap; None when fewer
    than two groups are large enough."""
    grouping, measures = context.grouping, context.measures
    eligible = [g for g in range(len(grouping))
                if grouping.counts[g] >= context.options.min_group_size]
    if len(eligible) < 2:
        return None
    single = average([measures.single(measures.cells(g)) for g in eligible])
    ensemble = average([measures.ensemble(measures.cells(g)) for g in eligible])
    odds = None if class_names is None else \
        _equalized_odds(context, labels, eligible, class_names)
    return Subpop([grouping.names[g] for g in eligible], gain_block(context, single, ensemble),
                  _worst_group(context, eligible), odds)


def _simultaneous(context: Context, estimates: list[Estimate], level: float) -> list | None:
    intervals = [context.accuracy(e, level=level) for e in estimates]
    return None if any(i is None for i in intervals) else intervals


def _worst_group(context: Context, eligible: list[int]) -> SubpopWorst:
    """Each member's own worst-group accuracy (mean and spread over members: SubpopBench's
    single-model number), the ensemble's worst group, and the worst group of the mean
    member's group accuracies; each chosen group with the interval [min of lower bounds,
    min of upper bounds] of simultaneous group intervals."""
    grouping, measures = context.grouping, context.measures
    level = 1 - (1 - LEVEL) / len(eligible)
    sides = []
    for make in (measures.single, measures.ensemble):
        estimates = [make(measures.cells(g)) for g in eligible]
        values = [e.value for e in estimates]
        worst = int(np.argmin(values))  # ties: the first in table order
        intervals = _simultaneous(context, estimates, level)
        sides.append(WorstSide(grouping.names[eligible[worst]], num(values[worst]),
                               None if intervals is None else [min(i[0] for i in intervals),
                                                               min(i[1] for i in intervals)]))
    own = grouping.accuracy(measures.correct.members)[:, eligible].min(axis=1)
    return SubpopWorst(level, float(own.mean()), float(own.std()), sides[1],
                       num(sides[1].accuracy - own.mean()), sides[0])


def _rate(context: Context, predicted_class: int, samples: np.ndarray) -> tuple[Estimate,
                                                                                  Estimate]:
    """How often the mean member and the ensemble predict ``predicted_class`` on ``samples``,
    with their member-deletion effects (the leave-one-out ensembles' predictions)."""
    correct, measures = context.measures.correct, context.measures
    members = correct.member_predictions[:, samples] == predicted_class  # [K, n]
    single = members.mean(axis=0)
    ensemble = (correct.ensemble_predictions[samples] == predicted_class).astype(np.float64)
    n, k = len(samples), len(members)
    deltas = [np.empty((MEMBER_PARTS, 0))] * 2
    if k > 1:
        part = measures.cell_codes[samples] % MEMBER_PARTS
        indicator = (part[None, :] == np.arange(MEMBER_PARTS)[:, None]).astype(np.float64)
        left_out = correct.leave_one_out_predictions[:, samples] == predicted_class
        by_part = [indicator @ rows.T / n for rows in (members, left_out)]  # [parts, K]
        deltas = [((indicator @ single / n)[:, None] - by_part[0]) / (k - 1),
                  by_part[1] - (indicator @ ensemble / n)[:, None]]
    coef = [np.zeros((n, 2)), np.zeros((n, 2))]
    coef[0][:, 0], coef[1][:, 1] = 1.0 / n, 1.0 / n
    return tuple(Estimate(float(v.mean()), samples, (v - v.mean()) / n, d, c)
                 for v, d, c in zip((single, ensemble), deltas, coef, strict=True))


def _gap(values: list[float], intervals: list | None) -> OddsGap:
    if intervals is None:
        return OddsGap(max(values) - min(values), None)
    return OddsGap(max(values) - min(values),
                   [max(0.0, max(i[0] for i in intervals) - min(i[1] for i in intervals)),
                    max(i[1] for i in intervals) - min(i[0] for i in intervals)])


def _largest(gaps: list[OddsGap]) -> OddsGap:
    """The largest of several gaps, with the interval [max of lows, max of highs]."""
    ci = [g.ci for g in gaps]
    return OddsGap(max(g.gap for g in gaps), None if None in ci else
                   [max(i[0] for i in ci), max(i[1] for i in ci)])


def _equalized_odds(context: Context, labels: np.ndarray, eligible: list[int],
                    class_names: dict[int, str]) -> EqualizedOdds | None:
    """Per class c of ``class_names`` (one-vs-rest; only the positive class of a two-class
    target): the largest difference between groups of the true-positive rate (on samples of
    class c) and of the false-positive rate (on the others), and its largest over classes;
    simultaneous intervals over every rate. Each member's own gap and the ensemble's come
    from :func:`equalized_odds_gaps` (the ensemble's must equal the one built from the
    rates)."""
    grouping = context.grouping
    samples = {g: grouping.samples_of(g) for g in eligible}
    usable = {c: [g for g in eligible if 0 < (labels[samples[g]] == c).sum() < len(samples[g])]
              for c in sorted(class_names)}
    usable = {c: groups for c, groups in usable.items() if len(groups) >= 2}
    if not usable:
        return None
    level = 1 - (1 - LEVEL) / (2 * sum(len(groups) for groups in usable.values()))
    per_class = {}
    for c, groups in usable.items():
        rates = [[_rate(context, c, samples[g][labels[samples[g]] == c]) for g in groups],
                 [_rate(context, c, samples[g][labels[samples[g]] != c]) for g in groups]]
        sides = []
        for index in (0, 1):  # the mean member, the ensemble
            tpr, fpr = (_gap([pair[index].value for pair in rate],
                             _simultaneous(context, [pair[index] for pair in rate], level))
                        for rate in rates)
            both = _largest([tpr, fpr])
            sides.append(OddsSide(both.gap, tpr.gap, fpr.gap, both.ci))
        per_class[class_names[c]] = OddsClass(*sides)
    largest = OddsLargest(*(_largest([OddsGap(side.gap, side.ci) for side in
                                      (getattr(entry, name) for entry in per_class.values())])
                            for name in ("single_mean", "ensemble")))
    correct = context.measures.correct
    members = equalized_odds_gaps(
        labels, np.vstack([correct.member_predictions, correct.ensemble_predictions[None]]),
        grouping.codes, usable)
    if abs(members[-1] - largest.ensemble.gap) > EO_TOLERANCE:
        raise RuntimeError(f"two computations of the ensemble's equalized-odds gap disagree "
                           f"({members[-1]} vs {largest.ensemble.gap}): a bug in fairens")
    return EqualizedOdds(per_class, largest, level,
                         Spread(float(np.mean(members[:-1])), float(np.std(members[:-1]))))


def equalized_odds_gaps(labels: np.ndarray, predictions: np.ndarray, codes: np.ndarray,
                        usable: dict[int, list[int]]) -> np.ndarray:
    """Each predictor's largest equalized-odds difference over the classes of ``usable``:
    fairlearn's ``equalized_odds_difference`` (class c against the rest, on the samples of
    c's usable groups) in one pass over the samples per predictor instead of one call per
    class (20,000 samples x 1,000 classes: 731 s of fairlearn calls; tests check equality).

    Args:
        labels: int [N]; predictions: int [X, N]; codes: int [N], each sample's group.
        usable: class -> the groups where it has both positives and negatives.

    Returns:
        float64 [X].
    """
    n_groups = int(codes.max()) + 1
    n_classes = max(int(labels.max()), int(predictions.max()), *usable) + 1
    positives = np.bincount(labels * n_groups + codes,
                            minlength=n_classes * n_groups).reshape(n_classes, n_groups)
    negatives = np.bincount(codes, minlength=n_groups)[None, :] - positives
    classes = np.fromiter(usable, dtype=np.int64)
    mask = np.zeros((len(classes), n_groups), dtype=bool)
    for row, groups in enumerate(usable.values()):
        mask[row, groups] = True
    out = np.empty(len(predictions))
    for index, predicted in enumerate(predictions):
        hits = np.bincount(labels * n_groups + codes, weights=predicted == labels,
                           minlength=n_classes * n_groups).reshape(n_classes, n_groups)
        called = np.bincount(predicted * n_groups + codes,
                             minlength=n_classes * n_groups).reshape(n_classes, n_groups)
        with np.errstate(invalid="ignore", divide="ignore"):
            rates = (hits / positives, (called - hits) / negatives)  # TPR, FPR [C, G]
        spreads = [np.where(mask, rate[classes], -np.inf).max(axis=1)
                   - np.where(mask, rate[classes], np.inf).min(axis=1) for rate in rates]
        out[index] = np.maximum(*spreads).max()
    return out
