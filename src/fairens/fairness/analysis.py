"""Per-subgroup accuracy of single members versus their ensemble (docs/statistics.md):
groups chosen on data they are not measured on, intervals that include training
randomness, verdicts on a named scale corrected for multiplicity, minority/majority
gaps, disagreement, calibration, parity metrics and counterfactual flip rates."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd

from ..errors import FairensError, UsageError
from .calibration import (
    Reliability,
    calibration_bins,
    disagreement,
    expected_calibration_error,
    reliability_bins,
)
from .correctness import Correctness, correctness
from .crosscheck import metricframe_table
from .estimates import LEVEL, Design, Estimate, average
from .groups import Grouping
from .inputs import RankingData
from .measures import Context, Layout, Measures, num
from .options import AnalysisOptions
from .parity import flip_rates, parity_differences
from .ranking import (
    Choice,
    Fold,
    GroupPicks,
    choose,
    make_folds,
    validation_views,
)
from .result import (
    SCHEMA_VERSION,
    AccuracyIntervals,
    Counterfactual,
    Crosscheck,
    Curve,
    CurveIntervals,
    FairnessResult,
    GapIntervals,
    GroupEstimate,
    GroupingResult,
    IntervalSettings,
    MemberSpread,
    Minority,
    MinorityGap,
    Outcome,
    Overall,
    PairFlips,
    RankingSettings,
    RankingSummary,
    SetEstimate,
    SideEstimate,
    SingleAndEnsemble,
    VerdictSettings,
    WorstGroup,
)
from .subpop import subpop_block
from .subsets import curve_sizes, curve_subsets
from .verdicts import Test, Verdicts, adjust, compare_gains, gain_block

GROUP_COLUMNS = ("grouping", "group", "n", "eligible", "single_mean", "single_std", "ensemble",
                 "gain", "rel_gain", "error_reduction", "single_mean_lo", "single_mean_hi",
                 "ensemble_lo", "ensemble_hi", "gain_lo", "gain_hi", "disagreement",
                 "ece_single", "ece_ensemble", "minority")
_NOT_PROTECTED = ("class", "train_frequency")
DEFAULT_OPTIONS = AnalysisOptions()
INTERVAL_METHOD = ("test sampling by linearisation (stratified by group, counterfactual pairs "
                   "as clusters) plus training randomness by the delete-one-member jackknife; "
                   "Student-t with Welch-Satterthwaite degrees of freedom, Wilson score "
                   "intervals for accuracies")


@dataclass(frozen=True)
class Analysis:
    """The result of :func:`analyse`.

    Attributes:
        fairness: the content of ``fairness.json`` (``to_json()`` writes it).
        table: one row per (grouping, group), with the columns of ``GROUP_COLUMNS``.
        metricframe: the same per-group accuracies computed by fairlearn's MetricFrame
            (empty when the cross-check is off).
        chosen: per grouping, the groups chosen (for :func:`fairens.fairness.compare_runs`).
        verdicts: per grouping, the estimates behind its verdicts (likewise).
        reliability: per grouping, the reliability diagram behind its ECE
            (:func:`fairens.fairness.calibration.reliability_bins`; not in fairness.json).
        member_keys: a fingerprint of each member's test logits: runs that share a member
            (the same predictions) share its training randomness in a paired comparison.
    """

    fairness: FairnessResult
    table: pd.DataFrame
    metricframe: pd.DataFrame
    chosen: dict[str, Choice] = field(default_factory=dict, repr=False, compare=False)
    verdicts: dict[str, Verdicts] = field(default_factory=dict, repr=False, compare=False)
    reliability: dict[str, Reliability] = field(default_factory=dict, repr=False,
                                                compare=False)
    member_keys: tuple[str, ...] = field(default=(), repr=False, compare=False)


def analyse(*, logits: np.ndarray, labels: np.ndarray, groups: pd.DataFrame,
            options: AnalysisOptions = DEFAULT_OPTIONS,
            minority: dict[str, list[str]] | None = None, pair_ids: np.ndarray | None = None,
            validation: RankingData | None = None,
            chosen: dict[str, Choice] | None = None) -> Analysis:
    """Single-member and ensemble accuracy per group, bottom-k/top-k, worst group,
    minority/majority and the ensemble-size curve for every grouping, with intervals and
    verdicts.

    Args:
        logits: float [K, N, C], member k's logits for test sample n.
        labels: int [N], the class index of each test sample.
        groups: N rows, one column per grouping; must include ``class``.
        options: see :class:`AnalysisOptions`.
        minority: per grouping, its minority groups; groupings whose groups are exactly
            ``minority`` and ``majority`` declare themselves.
        pair_ids: int [N], counterfactual pairs (e.g. the colour and gray copy of a test
            image): resampled together, and their flip rates reported.
        validation: the members' validation predictions, which rank the groups when
            ``options.ranking`` is ``validation`` or ``auto``.
        chosen: per grouping, groups another analysis of the same test set chose, to be
            measured here instead of choosing anew (``Analysis.chosen``).
    """
    logits, labels = np.asarray(logits), np.asarray(labels, dtype=np.int64)
    _check_inputs(logits, labels, groups)
    setup = _Setup.build(logits, labels, groups, options, minority or {},
                         None if pair_ids is None else np.asarray(pair_ids), validation, chosen)
    drafts, tests, choices, estimates, reliability = {}, [], {}, {}, {}
    for index, grouping in enumerate(setup.groupings):
        drafts[grouping.name], grouping_tests, choices[grouping.name], \
            estimates[grouping.name], reliability[grouping.name] = _grouping(setup, index)
        tests += [(grouping.name, slot, test) for slot, test in grouping_tests]
    decided, family = adjust([test for _, _, test in tests])
    for (name, slot, _), verdict in zip(tests, decided, strict=True):
        drafts[name][slot] = verdict
    summaries = {name: GroupingResult(**draft) for name, draft in drafts.items()}
    table = _table(summaries)
    frame, crosscheck = (_crosscheck(table, labels, setup.correct, setup.groupings)
                         if options.crosscheck else (pd.DataFrame(), None))
    fairness = _result(setup, logits.shape, summaries, family, crosscheck)
    keys = tuple(hashlib.sha1(np.ascontiguousarray(member, dtype=np.float32).tobytes())
                 .hexdigest() for member in logits)
    return Analysis(fairness=fairness, table=table, metricframe=frame, chosen=choices,
                    verdicts=estimates, reliability=reliability, member_keys=keys)


@dataclass(frozen=True)
class _Setup:
    """What every grouping's analysis shares: the options, the groupings with their
    sampling layouts, every predictor's correctness, and how groups are chosen."""

    options: AnalysisOptions
    labels: np.ndarray
    groupings: list[Grouping]
    layouts: list[Layout]
    correct: Correctness
    method: str
    views: list | None  # per grouping, what the validation predictions say
    chosen: dict[str, Choice] | None
    pairs: np.ndarray | None
    class_names: dict[int, str]
    n_classes: int

    @classmethod
    def build(cls, logits: np.ndarray, labels: np.ndarray, groups: pd.DataFrame,
              options: AnalysisOptions, minority: dict[str, list[str]],
              pairs: np.ndarray | None, validation: RankingData | None,
              chosen: dict[str, Choice] | None) -> _Setup:
        method = (next(iter(chosen.values())).method if chosen
                  else _ranking_method(options, validation))
        groupings = _groupings(groups, labels, minority)
        n_members = logits.shape[0]
        rng = np.random.default_rng(options.seed)
        subsets = [curve_subsets(n_members, size, options.max_subsets, rng)
                   for size in curve_sizes(n_members)]
        layouts = [Layout.build(g, pairs, method == "crossfit", [options.split_seed, i])
                   for i, g in enumerate(groupings)]
        correct = correctness(logits, labels, options.combine, subsets,
                              [layout.cells for layout in layouts])
        views = (validation_views(validation, groupings, options, subsets)
                 if method == "validation" and not chosen else None)
        return cls(options, labels, groupings, layouts, correct, method, views, chosen, pairs,
                   _class_names(labels, groupings[0], logits.shape[2]), logits.shape[2])


def _grouping(setup: _Setup, index: int) -> tuple[dict[str, Any], list[tuple[str, Test]],
                                                  Choice, Verdicts, Reliability]:
    """One grouping: the fields of its result but the verdicts, the tests behind them, the
    groups chosen, the verdicts' estimates and the reliability diagram."""
    grouping, layout, correct = setup.groupings[index], setup.layouts[index], setup.correct
    measures = Measures(grouping, correct, layout.cells, layout.halves,
                        correct.group_sums[index])
    context = Context(grouping, measures, layout, setup.options)
    given = (setup.chosen or {}).get(grouping.name)
    if given is not None and given.names != grouping.names:
        raise FairensError(f"grouping {grouping.name!r} has other groups than the run whose "
                           "choice of groups is reused")
    choice = given or choose(context, make_folds(
        setup.method, measures, None if setup.views is None else setup.views[index]),
        setup.method)
    spread, reliability = _spread(grouping, correct)
    draft, tests, estimates = _summarise(context, choice, spread)
    protected = _protected(grouping.name)
    draft["subpop"] = subpop_block(context, setup.labels,
                                   setup.class_names if protected else None)
    if setup.n_classes == 2 and protected and draft["subpop"] is not None:
        eligible = grouping.counts >= setup.options.min_group_size
        draft["parity"] = parity_differences(setup.labels, correct.member_predictions,
                                             correct.ensemble_predictions, grouping, eligible)
    return draft, tests, choice, estimates, reliability


def _result(setup: _Setup, shape: tuple[int, ...], summaries: dict[str, GroupingResult],
            family: int, crosscheck: Crosscheck | None) -> FairnessResult:
    """fairness.json: the settings, overall accuracy and every grouping's result."""
    options, method, (n_members, n_samples, n_classes) = setup.options, setup.method, shape
    return FairnessResult(
        SCHEMA_VERSION, int(n_members), options.combine, options.k, options.max_subsets,
        options.seed, int(n_samples), int(n_classes),
        RankingSettings(method, options.ranking, "a reference run" if setup.chosen else None,
                        options.min_group_size,
                        options.split_seed if method == "crossfit" else None),
        None if not options.intervals else IntervalSettings(INTERVAL_METHOD, LEVEL,
                                                            n_members > 1),
        VerdictSettings(options.scale, "holm", family, LEVEL),
        _overall(setup), summaries,
        None if setup.pairs is None else _counterfactual(setup.correct, setup.pairs,
                                                         setup.labels, setup.groupings[0]),
        crosscheck)


def _crosscheck(table: pd.DataFrame, labels: np.ndarray, correct: Correctness,
                groupings: list[Grouping]) -> tuple[pd.DataFrame, Crosscheck]:
    """The per-group accuracies recomputed by fairlearn's MetricFrame, which must agree with
    the vectorised path to 1e-12, and the largest difference."""
    frame = pd.concat([metricframe_table(labels, correct.member_predictions,
                                         correct.ensemble_predictions, g) for g in groupings],
                      ignore_index=True)
    difference = float(np.abs(frame[["single_mean", "ensemble"]].to_numpy()
                              - table[["single_mean", "ensemble"]].to_numpy()).max())
    if difference > 1e-12:
        raise RuntimeError(f"fairlearn MetricFrame and the vectorised analysis disagree by "
                           f"{difference}: a bug in fairens")
    return frame, Crosscheck(difference)


def _check_inputs(logits: np.ndarray, labels: np.ndarray, groups: pd.DataFrame) -> None:
    if logits.ndim != 3 or 0 in logits.shape:
        raise FairensError(f"logits must be a non-empty array [K, N, C], got shape "
                           f"{list(logits.shape)}")
    n = logits.shape[1]
    if n < 2:
        raise FairensError(f"the test set has {n} sample: an analysis compares groups of "
                           "samples and needs at least 2")
    if labels.shape != (n,) or len(groups) != n:
        raise FairensError(f"labels ({len(labels)}) and groups ({len(groups)}) must have one "
                           f"entry per test sample ({n})")
    if "class" not in groups.columns:
        raise FairensError("groups must include the 'class' grouping")
    if labels.min() < 0 or labels.max() >= logits.shape[2]:
        raise FairensError(f"labels must be class indices in 0..{logits.shape[2] - 1}")


def _ranking_method(options: AnalysisOptions, validation: RankingData | None) -> str:
    if options.ranking == "auto":
        return "validation" if validation is not None else "crossfit"
    if options.ranking == "validation" and validation is None:
        raise UsageError("report.ranking=validation needs the members' validation "
                         "predictions (val_groups.csv and predictions/val/ in the run "
                         "folder); use crossfit to rank on halves of the test set")
    return options.ranking


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


def _class_names(labels: np.ndarray, classes: Grouping, n_classes: int) -> dict[int, str]:
    """The name of each class index in the test set (only the positive class, 1, of a
    two-class target: its equalized-odds gap is the other's)."""
    names = {int(label): classes.names[code]
             for label, code in zip(*np.unique(np.c_[labels, classes.codes], axis=0).T,
                                    strict=True)}
    return {1: names[1]} if n_classes == 2 and 1 in names else names


def _protected(name: str) -> bool:
    return name not in _NOT_PROTECTED and not name.startswith("class&")


@dataclass(frozen=True)
class _Spread:
    """Per group: disagreement between members (None with one member), and the ECE of the
    mean member and of the ensemble."""

    disagreement: np.ndarray | None
    ece_single: np.ndarray
    ece_ensemble: np.ndarray


def _summarise(context: Context, choice: Choice, spread: _Spread
               ) -> tuple[dict[str, Any], list[tuple[str, Test]], Verdicts]:
    """The fields of the grouping's :class:`GroupingResult` but its verdicts, the tests
    behind them (by field name), and their estimates."""
    grouping = context.grouping
    folds, picks, eligible, size = choice.folds, choice.picks, choice.eligible, choice.size
    draft: dict[str, Any] = {"groups": _groups(context, eligible, spread),
                             "ranking": RankingSummary(len(eligible), len(folds) == 2)}
    tests = []
    estimates = Verdicts(context.measured, context.design)
    if size >= 1:
        bottom, top = (_set(context, folds, picks, side) for side in ("bottom", "top"))
        draft["bottom_k"], draft["top_k"] = bottom[0], top[0]
        estimates = replace(estimates, bottom=bottom[1], top=top[1])
        test = compare_gains(context, bottom[1], top[1], (Outcome.BOTTOM_MORE, Outcome.TOP_MORE))
        if _same_as_minority(grouping, picks):
            draft["bottom_vs_top"] = replace(
                test.verdict, note="the same comparison as minority_vs_majority: not counted "
                                   "twice")
        else:
            tests.append(("bottom_vs_top", test))
    if any(p.worst is not None for p in picks):
        draft["worst_group"] = _worst(context, folds, picks)
    draft["curve"] = _curve(context, folds, picks, size)
    if grouping.splits_minority:
        draft["minority"], sides = _minority(context)
        estimates = replace(estimates, minority=sides[0], majority=sides[1])
        test = compare_gains(context, sides[0], sides[1],
                             (Outcome.MINORITY_MORE, Outcome.MAJORITY_MORE), measured=False)
        # two groupings with the same minority samples (class and train_frequency of a
        # long tail) make one comparison: it enters the family of verdicts once
        same = tuple(hashlib.sha1(side[0].distinct_samples().tobytes()).hexdigest()
                     for side in sides)
        tests.append(("minority_vs_majority", replace(test, same=same, where=grouping.name)))
    return draft, tests, estimates


def _groups(context: Context, eligible: list[int],
            spread: _Spread) -> dict[str, GroupEstimate]:
    grouping, measures = context.grouping, context.measures
    n = grouping.counts
    member_counts = grouping.sums(measures.correct.members)  # [K, G], exact integers
    std = (member_counts / n).std(axis=0)
    groups = {}
    for g, name in enumerate(grouping.names):
        cells = measures.cells(g)
        block = gain_block(context, measures.single(cells), measures.ensemble(cells))
        # point estimates from integer counts, so that equal accuracies are equal floats
        single = float(member_counts[:, g].sum() / (len(member_counts) * n[g]))
        groups[name] = GroupEstimate(
            int(n[g]), g in eligible, **(block.parts() | {"single_mean": single}),
            single_std=float(std[g]),
            disagreement=None if spread.disagreement is None else float(spread.disagreement[g]),
            ece=SingleAndEnsemble(float(spread.ece_single[g]), float(spread.ece_ensemble[g])))
    return groups


def _same_as_minority(grouping: Grouping, picks: list[GroupPicks]) -> bool:
    """Whether bottom-vs-top compares exactly the minority groups with the majority ones."""
    return grouping.splits_minority and all(
        set(p.bottom) == set(grouping.minority) and set(p.top) == set(grouping.majority)
        for p in picks)


def _set(context: Context, folds: list[Fold], picks: list[GroupPicks],
         side: str) -> tuple[SetEstimate, tuple[Estimate, Estimate]]:
    """A bottom-k or top-k set: chosen in each fold, measured on that fold's samples,
    averaged over folds (the unweighted mean over its groups, as FAIR-Ensemble)."""
    measures, names = context.measures, context.grouping.names
    chosen = [getattr(p, side) for p in picks]
    single = average([average([measures.single(measures.cells(g, f.half)) for g in groups])
                      for f, groups in zip(folds, chosen, strict=True)])
    ensemble = average([average([measures.ensemble(measures.cells(g, f.half)) for g in groups])
                        for f, groups in zip(folds, chosen, strict=True)])
    block = SetEstimate(len(chosen[0]), _union(chosen, names),
                        **gain_block(context, single, ensemble, context.measured).parts(),
                        by_half=[[names[g] for g in groups] for groups in chosen]
                        if len(folds) > 1 else None)
    return block, (single, ensemble)


def _union(chosen: list[list[int]], names: tuple[str, ...]) -> list[str]:
    """The groups chosen in any fold, those chosen in more folds first, then by rank."""
    votes: dict[int, tuple[int, int]] = {}
    for groups in chosen:
        for rank, g in enumerate(groups):
            count, best = votes.get(g, (0, rank))
            votes[g] = (count + 1, min(best, rank))
    return [names[g] for g in sorted(votes, key=lambda g: (-votes[g][0], votes[g][1],
                                                           names[g]))]


def _worst(context: Context, folds: list[Fold], picks: list[GroupPicks]) -> WorstGroup:
    measures, names = context.measures, context.grouping.names
    used = [(f, p.worst) for f, p in zip(folds, picks, strict=True) if p.worst is not None]
    chosen = [names[g] for _, g in used]
    if len(set(chosen)) > 1:
        # the cross-fitted halves chose different groups: the group named is the first
        # half's choice, measured where it was chosen for (the other half), so that the
        # name and the numbers are one group's
        used = used[:1]
    single = average([measures.single(measures.cells(g, f.half)) for f, g in used])
    ensemble = average([measures.ensemble(measures.cells(g, f.half)) for f, g in used])
    halves = len(folds) > 1
    return WorstGroup(
        chosen[0], num(single.value), num(ensemble.value),
        None if not context.options.intervals else AccuracyIntervals(
            context.accuracy(single, context.measured),
            context.accuracy(ensemble, context.measured)),
        by_half=chosen if halves else None,
        measured_on=("both halves" if len(used) > 1 else "one half") if halves else None)


def _curve(context: Context, folds: list[Fold], picks: list[GroupPicks],
           size: int) -> Curve:
    """Accuracy versus ensemble size m: each value the mean over the size's member subsets;
    the bottom-k and top-k sets stay those of all members, each subset's worst group is
    chosen on the fold's ranking data."""
    measures, grouping = context.measures, context.grouping
    # each point's interval is taken as the point is made: holding every size's estimates
    # (N-long influence terms each) until the end was the analysis' peak memory at 1e6 samples
    lines: dict[str, list[tuple[float | None, list | None]]] = {"overall": []}

    def point(estimate: Estimate | None, design: Design) -> tuple[float | None, list | None]:
        if estimate is None:
            return None, None
        return num(estimate.value), context.accuracy(estimate, design)

    if size:
        lines |= {"bottom_k": [], "top_k": []}
    lines["worst_group"] = []
    if grouping.splits_minority:
        lines |= {"minority": [], "majority": []}
    everything = measures.all_cells()
    for m in measures.correct.sizes:
        lines["overall"].append(point(measures.curve(m, everything), context.design))
        for side in ("bottom", "top"):
            if size:
                lines[f"{side}_k"].append(point(average([
                    average([measures.curve(m, measures.cells(g, f.half))
                             for g in getattr(p, side)])
                    for f, p in zip(folds, picks, strict=True)]), context.measured))
        worst = [measures.worst_line(m, p.subset_worst, f.half)
                 for f, p in zip(folds, picks, strict=True)]
        worst = [w for w in worst if w is not None]
        lines["worst_group"].append(point(average(worst) if worst else None,
                                          context.measured))
        if grouping.splits_minority:
            for side in ("minority", "majority"):
                cells = [c for g in getattr(grouping, side) for c in measures.cells(g)]
                lines[side].append(point(measures.curve(m, cells), context.design))
    ci = None if not context.options.intervals else CurveIntervals(**{
        name: [interval for _, interval in line] for name, line in lines.items()})
    return Curve(list(measures.correct.sizes), [len(drawn) for drawn in
                                                 measures.correct.subsets],
                 **{name: [value for value, _ in line] for name, line in lines.items()}, ci=ci)


def _minority(context: Context) -> tuple[Minority, list[tuple[Estimate, Estimate]]]:
    """Accuracy over all samples of the declared minority groups versus the majority
    groups (declared from training counts: not chosen on the test set)."""
    grouping, measures = context.grouping, context.measures
    sides, blocks = [], []
    for side in ("minority", "majority"):
        cells = [c for g in getattr(grouping, side) for c in measures.cells(g)]
        single, ensemble = measures.single(cells), measures.ensemble(cells)
        sides.append((single, ensemble))
        blocks.append(SideEstimate(measures.size(cells),
                                   **gain_block(context, single, ensemble).parts()))
    (s_min, e_min), (s_maj, e_maj) = sides
    gaps = [s_maj - s_min, e_maj - e_min]
    gaps.append(gaps[1] - gaps[0])
    gap = MinorityGap(*(num(value.value) for value in gaps), None if not context.options.intervals
                      else GapIntervals(*(context.difference(value) for value in gaps)))
    return Minority([grouping.names[i] for i in grouping.minority], *blocks, gap), sides


def _spread(grouping: Grouping, correct: Correctness) -> tuple[_Spread, Reliability]:
    """Disagreement and ECE per group, and the reliability diagram behind the ECE."""
    sums = calibration_bins(correct.confidence, correct.calibration_correct, grouping)
    ece = expected_calibration_error(sums)
    spread = _Spread(disagreement(correct.member_predictions, grouping),
                     ece[:-1].mean(axis=0), ece[-1])
    return spread, reliability_bins(sums, grouping)


def _overall(setup: _Setup) -> Overall:
    """Accuracy over every test sample, the class-balanced accuracy (the unweighted mean of
    the class accuracies), both with their gains, and the ECE over every test sample."""
    correct, grouping, layout = setup.correct, setup.groupings[0], setup.layouts[0]
    measures = Measures(grouping, correct, layout.cells, layout.halves, correct.group_sums[0])
    context = Context(grouping, measures, layout, setup.options)
    every = measures.all_cells()
    accuracy = gain_block(context, measures.single(every), measures.ensemble(every))
    classes = range(len(grouping))
    balanced = gain_block(context, average([measures.single(measures.cells(g)) for g in classes]),
                          average([measures.ensemble(measures.cells(g)) for g in classes]))
    sums = calibration_bins(correct.confidence, correct.calibration_correct, grouping)
    ece = expected_calibration_error(sums.sum(axis=2, keepdims=True))[:, 0]
    return Overall(**accuracy.parts(), single_std=float(correct.members.mean(axis=1).std()),
                   class_balanced=balanced,
                   ece=SingleAndEnsemble(float(ece[:-1].mean()), float(ece[-1])))


def _counterfactual(correct: Correctness, pair_ids: np.ndarray, labels: np.ndarray,
                    classes: Grouping) -> Counterfactual:
    n_classes = int(labels.max()) + 1
    predictions = np.vstack([correct.member_predictions, correct.ensemble_predictions[None]])
    overall, per_class, pairs = flip_rates(predictions, pair_ids, labels, n_classes)
    names = _class_names(labels, classes, 0)
    return Counterfactual(
        int(pairs.sum()), MemberSpread(float(overall[:-1].mean()), float(overall[:-1].std()),
                                       float(overall[-1])),
        {names[c]: PairFlips(int(pairs[c]), float(per_class[:-1, c].mean()),
                             float(per_class[-1, c])) for c in range(n_classes) if pairs[c]})


def _table(summaries: dict[str, GroupingResult]) -> pd.DataFrame:
    rows = []
    for grouping, summary in summaries.items():
        minority = set(summary.minority_groups())
        for group, g in summary.groups.items():
            bounds = {f"{key}_{side}": (g.interval(key)[j] if g.interval(key) else None)
                      for key in ("single_mean", "ensemble", "gain")
                      for j, side in enumerate(("lo", "hi"))}
            rows.append({"grouping": grouping, "group": group, "n": g.n,
                         "eligible": g.eligible, "single_mean": g.single_mean,
                         "single_std": g.single_std, "ensemble": g.ensemble,
                         "gain": g.gain, "rel_gain": g.rel_gain,
                         "error_reduction": g.error_reduction, **bounds,
                         "disagreement": g.disagreement, "ece_single": g.ece.single_mean,
                         "ece_ensemble": g.ece.ensemble, "minority": group in minority})
    return pd.DataFrame(rows, columns=list(GROUP_COLUMNS))
