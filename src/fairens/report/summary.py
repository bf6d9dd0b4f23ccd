"""The summary that opens every run report: one plain sentence per question (does
ensembling help overall, the worst group, bottom-k versus top-k, minority versus majority,
calibration), a small table, and flags for harms and implausible results.

Every claim is the analysis's: a difference is claimed only where its verdict is (Holm's
correction over the report's verdicts, docs/statistics.md); otherwise the sentence says the
data do not separate the two sides."""

from __future__ import annotations

from ..fairness.result import FairnessResult, GroupingResult, SubpopWorst, Verdict
from .document import Document, estimate, p_value, pct, signed_pct
from .names import Names, verdict_words

SHORTCUT_FLIP_RATE = 0.2  # flip rates at or above this say the models use the attribute
FALL = 0.01  # a worst-group line that ends this far below its start is said to fall


def _ci_words(ci: list | None, signed: bool = True) -> str:
    if ci is None or None in ci:
        return ""
    fmt = signed_pct if signed else pct
    return f" (95% CI {fmt(ci[0])} to {fmt(ci[1])})"


def _protected(name: str) -> bool:
    return name != "train_frequency"


def _verdict_clause(verdict: Verdict, k: int | None) -> str:
    """'ensembling helps the bottom-3 more (difference +1.2 points, 95% CI +0.3 to +2.1,
    adjusted p 0.01)'; the difference is in points on the gain scale, else in % of it."""
    words = verdict_words(verdict.verdict, k)
    if verdict.refused or verdict.p is None:
        return words
    unit = " points" if verdict.scale == "gain" else "%"
    ci = "" if verdict.ci is None else \
        f", 95% CI {signed_pct(verdict.ci[0])} to {signed_pct(verdict.ci[1])}"
    return (f"{words} (difference {signed_pct(verdict.difference)}{unit}{ci}, adjusted p "
            f"{p_value(verdict.p_adjusted)})")


def _overall_sentence(fairness: FairnessResult, names: Names) -> str:
    overall = fairness.overall
    if fairness.members == 1:
        return (f"One {names.model} is right on {pct(overall.ensemble)}% of the "
                f"{fairness.n_samples:,} {names.test_set} samples"
                f"{_ci_words(overall.interval('ensemble'), signed=False)}.")
    verb = "raises" if overall.gain > 0 else "lowers" if overall.gain < 0 else "keeps"
    return (f"An ensemble of {fairness.members} {names.plural} {verb} accuracy on the "
            f"{fairness.n_samples:,} {names.test_set} samples from {pct(overall.single_mean)}"
            f"% (one model, mean of {fairness.members}) to {pct(overall.ensemble)}%: "
            f"{signed_pct(overall.gain)} points{_ci_words(overall.interval('gain'))}.")


def worst_groups(fairness: FairnessResult) -> dict[str, SubpopWorst]:
    """SubpopBench's worst group of every grouping but train_frequency, by grouping."""
    return {name: summary.subpop.worst_group for name, summary in fairness.groupings.items()
            if summary.subpop is not None and _protected(name)}


def lowest_worst_group(fairness: FairnessResult) -> str | None:
    """The grouping whose worst group is lowest with the ensemble (first on ties), or None."""
    worst = worst_groups(fairness)
    return min(worst, key=lambda name: worst[name].ensemble.accuracy) if worst else None


def _worst_sentence(fairness: FairnessResult, names: Names) -> str | None:
    """The worst group of every grouping of people in one sentence: whether the ensemble
    lifts it, and the lowest one with its interval."""
    worst, lowest = worst_groups(fairness), lowest_worst_group(fairness)
    if lowest is None:
        return None
    side = worst[lowest].ensemble
    where = (f"the lowest is the {names.group_of(lowest)} {side.group!r} at "
             f"{pct(side.accuracy)}%{_ci_words(side.ci, signed=False)}")
    if fairness.members == 1:
        return f"Worst groups: {where}."
    gains = {name: w.gain for name, w in worst.items()}
    low, high = min(gains.values()), max(gains.values())
    if low >= 0 or high <= 0:
        verb = "raises" if low >= 0 else "lowers"
        smallest, largest = sorted((abs(low), abs(high)))
        span = pct(smallest) if low == high else f"{pct(smallest)} to {pct(largest)}"
        text = f"Ensembling {verb} the worst-group accuracy by {span} points"
    else:
        falls = [names.grouping(n) for n, gain in gains.items() if gain < 0]
        text = (f"Ensembling changes the worst-group accuracy by {signed_pct(low)} to "
                f"{signed_pct(high)} points (lower by {', '.join(falls)})")
    text += " against each single model's own worst group"
    return (f"{text}; {where}, against {pct(worst[lowest].single_mean)}% for single "
            "models.")


def _versus_sentence(fairness: FairnessResult, names: Names, key: str) -> str | None:
    """Every grouping's bottom-k versus top-k (or minority versus majority) verdict in one
    sentence: the claims, then how far apart the others are."""
    verdicts = {name: getattr(summary, key) for name, summary in fairness.groupings.items()
                if getattr(summary, key) is not None and getattr(summary, key).note is None}
    if not verdicts or fairness.members == 1:
        return None
    sides = "the bottom-k and top-k groups" if key == "bottom_vs_top" else \
        "minority and majority groups"
    claims = []
    for name, verdict in verdicts.items():
        if verdict.verdict.claimed:
            k = fairness.groupings[name].bottom_k.k if key == "bottom_vs_top" else None
            claims.append(f"by {names.grouping(name)}, {_verdict_clause(verdict, k)}")
    rest = [v.difference for n, v in verdicts.items()
            if not v.verdict.claimed and v.difference is not None]
    unit = " points" if fairness.verdicts.scale == "gain" else "%"
    quiet = ""
    if rest:
        spread = f"difference {signed_pct(rest[0])}" if len(rest) == 1 else \
            f"differences {signed_pct(min(rest))} to {signed_pct(max(rest))}"
        others = "in the other groupings" if claims else \
            ("by " + names.grouping(next(iter(verdicts))) if len(verdicts) == 1
             else f"in all {len(verdicts)} groupings")
        quiet = (f"{others} the data do not separate the gains of {sides} "
                 f"({spread}{unit})")
    text = "; ".join([*claims, *([quiet] if quiet else [])])
    return text[:1].upper() + text[1:] + "."


def _calibration_sentence(fairness: FairnessResult) -> str:
    ece = fairness.overall.ece
    if fairness.members == 1:
        return f"Calibration error (ECE) is {pct(ece.ensemble)}%."
    verb = "rises" if ece.ensemble > ece.single_mean else "falls"
    return (f"Calibration error (ECE) {verb} from {pct(ece.single_mean)}% for one model to "
            f"{pct(ece.ensemble)}% for the ensemble.")


def sentences(fairness: FairnessResult, names: Names) -> list[str]:
    """The summary: one sentence per question (overall, the worst group, bottom-k versus
    top-k, minority versus majority, calibration)."""
    out = [_overall_sentence(fairness, names), _worst_sentence(fairness, names),
           _versus_sentence(fairness, names, "bottom_vs_top"),
           _versus_sentence(fairness, names, "minority_vs_majority"),
           _calibration_sentence(fairness)]
    return [sentence for sentence in out if sentence]


def summary_rows(fairness: FairnessResult, names: Names) -> tuple[list[str], list[list[str]]]:
    """The summary table: accuracy, class-balanced accuracy, each grouping's worst-group
    accuracy, ECE; one model, the ensemble and the change (estimates with intervals)."""
    overall, single = fairness.overall, fairness.members == 1
    table = []
    for label, block in (("accuracy", overall),
                         (f"class-balanced accuracy ({names.target})", overall.class_balanced)):
        cells = [estimate(block.ensemble, block.interval("ensemble"))]
        if not single:
            cells = [estimate(block.single_mean, block.interval("single_mean")), *cells,
                     estimate(block.gain, block.interval("gain"), signed=True)]
        table.append([label, *cells])
    for name, summary in fairness.groupings.items():
        if summary.subpop is None:
            continue
        worst = summary.subpop.worst_group
        label = f"worst {names.group_of(name)}"
        cells = [estimate(worst.ensemble.accuracy, worst.ensemble.ci)]
        if not single:
            cells = [f"{pct(worst.single_mean)} ± {pct(worst.single_std)}", *cells,
                     signed_pct(worst.gain)]
        table.append([label, *cells])
    ece = overall.ece
    table.append(["ECE (lower is better)", *([pct(ece.ensemble)] if single else
                                             [pct(ece.single_mean), pct(ece.ensemble),
                                              signed_pct(ece.ensemble - ece.single_mean)])])
    header = ["metric (%)", "one model (95% CI)"] if single else \
        ["metric (%)", "one model (95% CI)", "ensemble (95% CI)", "change, points"]
    return header, table


def _count(n: int, grouping: str, names: Names) -> str:
    """'1 race group', '3 classes'."""
    return f"{n} {names.group_of(grouping) if n == 1 else names.groups_of(grouping)}"


def _ensemble_flags(name: str, summary: GroupingResult, names: Names,
                    members: int) -> list[str]:
    """One grouping's harms from ensembling: groups worse with it, a worst group worse
    than single models' own or falling with the ensemble's size, calibration worsening."""
    out = []
    worse = [g for g, e in summary.groups.items() if e.eligible and e.ci is not None
             and e.ci.gain is not None and e.ci.gain[1] < 0]
    for group in worse[:5]:
        entry = summary.groups[group]
        out.append(f"{names.grouping(name)} {group!r} gets worse with the ensemble: "
                   f"{signed_pct(entry.gain)} points{_ci_words(entry.interval('gain'))}.")
    worst = summary.subpop.worst_group if summary.subpop is not None else None
    if worst is not None and worst.gain is not None and worst.gain < -FALL:
        out.append(f"The worst {names.group_of(name)} is worse with the ensemble: "
                   f"{worst.ensemble.group!r} at {pct(worst.ensemble.accuracy)}%, "
                   f"against {pct(worst.single_mean)}% for each single model's own "
                   f"worst group ({signed_pct(worst.gain)} points).")
    line = summary.curve.worst_group if summary.curve is not None else None
    if line and line[0] is not None and line[-1] is not None and line[-1] < line[0] - FALL:
        out.append(f"The worst {names.group_of(name)} falls as members are added: "
                   f"{pct(line[0])}% with one member, {pct(line[-1])}% with {members}.")
    rising = [g for g, e in summary.groups.items()
              if e.eligible and e.ece.ensemble > e.ece.single_mean]
    eligible = sum(e.eligible for e in summary.groups.values())
    if name == "class" and eligible and len(rising) > eligible / 2:
        out.append(f"Calibration worsens with the ensemble in {len(rising)} of "
                   f"{eligible} {names.groups_of(name)}.")
    return out


def _group_flags(name: str, summary: GroupingResult, names: Names, chance: float,
                 min_size: int) -> list[str]:
    """One grouping's implausible groups: at or below chance, or too small to judge."""
    out = []
    low = [g for g, e in summary.groups.items()
           if e.eligible and e.ensemble is not None and e.ensemble <= chance]
    if low:
        shown = ", ".join(f"{g!r} {pct(summary.groups[g].ensemble)}%" for g in low[:4])
        out.append(f"{_count(len(low), name, names)} at or below chance ({pct(chance)}%): "
                   f"{shown}{', ...' if len(low) > 4 else ''}: a shortcut the models learned "
                   "or labels that do not fit the images.")
    small = [g for g, e in summary.groups.items() if not e.eligible]
    if small:
        out.append(f"{_count(len(small), name, names)} with fewer than {min_size} test "
                   "samples (or none in a ranking half): shown, too small to judge.")
    return out


def flags(fairness: FairnessResult, names: Names) -> list[str]:
    """Harms and implausible results a reader must not miss."""
    out = []
    chance = 1 / fairness.n_classes
    for name, summary in fairness.groupings.items():
        if fairness.members > 1:
            out += _ensemble_flags(name, summary, names, fairness.members)
        out += _group_flags(name, summary, names, chance, fairness.ranking.min_group_size)
    if fairness.members > 1 and fairness.overall.ece.ensemble > fairness.overall.ece.single_mean:
        ece = fairness.overall.ece
        out.insert(0, f"Calibration error rises with ensembling: {pct(ece.single_mean)}% for "
                      f"one model, {pct(ece.ensemble)}% for the ensemble.")
    if fairness.counterfactual is not None:
        flips = fairness.counterfactual.overall
        if max(flips.single_mean, flips.ensemble) >= SHORTCUT_FLIP_RATE:
            out.insert(0, f"Changing only the protected attribute flips "
                          f"{pct(flips.single_mean)}% of single models' predictions and "
                          f"{pct(flips.ensemble)}% of the ensemble's: the models decide by it "
                          "(a shortcut), and ensembling does not remove it.")
    if fairness.overall.ensemble is not None and fairness.overall.ensemble <= chance:
        out.insert(0, f"Overall accuracy {pct(fairness.overall.ensemble)}% is at chance "
                      f"({pct(chance)}%): the models learned nothing usable.")
    return out


def summary_block(doc: Document, fairness: FairnessResult, names: Names) -> None:
    """The summary section: sentences, the small table, the flags."""
    doc.heading("Summary")
    doc.bullets(sentences(fairness, names))
    doc.table(*summary_rows(fairness, names))
    found = flags(fairness, names)
    if found:
        doc.flags(found)
