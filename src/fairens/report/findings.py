"""A short findings paragraph written from the numbers: every claim names its scale and is
made only where its interval excludes zero after Holm's correction over every verdict of
the report (docs/statistics.md)."""

from __future__ import annotations

from typing import Any

from ..fairness.result import FairnessResult, GroupingResult, Verdict
from .document import pct, signed_pct

SCALE_WORDS = {"gain": "gain in points", "rel_gain": "relative gain",
               "error_reduction": "error-rate reduction"}
RANKING_WORDS = {
    "validation": "chosen on the members' validation predictions, measured on the test set",
    "crossfit": "chosen on one half of the test set and measured on the other, both ways",
    "same_data": "chosen and measured on the same test predictions (biased: see "
                 "docs/statistics.md)"}


def _signed(value: float | None, scale: str) -> str:
    return signed_pct(value) + ("" if scale == "gain" or value is None else "%")


def _interval(ci: list | None, scale: str = "gain", signed: bool = True) -> str:
    if ci is None or None in ci:
        return ""
    if not signed:
        return f", 95% CI {pct(ci[0])} to {pct(ci[1])}"
    return f", 95% CI {_signed(ci[0], scale)} to {_signed(ci[1], scale)}"


def verdict_sentence(entry: Verdict, more: str, less: str, family: int) -> str:
    """What a verdict allows one to say."""
    if entry.refused:
        return f"not tested on this scale: {entry.refused}"
    if entry.p is None:
        return "no interval was computed, so no difference is claimed"
    adjusted = f"Holm-adjusted p = {entry.p_adjusted:.2g} over {family} verdicts"
    if entry.verdict.claimed:
        return f"{adjusted}: {more if entry.difference > 0 else less}"
    ci = entry.ci
    if ci is not None and (ci[0] > 0 or ci[1] < 0):
        return (f"{adjusted}: the 95% interval alone excludes zero, but not after correcting for "
                "the report's several verdicts, so these data do not separate them")
    return f"{adjusted}: these data do not separate them"


def _other_scales(entry: Verdict) -> str:
    """The verdict's difference on the scales it is not decided on, and a warning when the
    scales disagree in sign."""
    parts, signs = [], set()
    for scale, value in entry.scales.items():
        if value.difference is not None:
            signs.add(value.difference > 0)
        if scale != entry.scale:
            why = f" (not tested: {value.refused})" if value.refused else ""
            parts.append(f"{SCALE_WORDS[scale]} {_signed(value.difference, scale)}"
                         f"{_interval(value.ci, scale)}{why}")
    text = "On the other scales: " + "; ".join(parts) + "."
    if len(signs) > 1:
        text += (" The point estimates on the three scales point in different directions: "
                 "relative gain favours groups with low accuracy, error-rate reduction groups "
                 "with high accuracy.")
    return text


def _change(entry: Any, scale: str) -> str:
    """'+1.2, 95% CI +0.3 to +2.1' of a block's gain on ``scale``."""
    return f"{_signed(entry.on(scale), scale)}{_interval(entry.interval(scale), scale)}"


def grouping_findings(name: str, summary: GroupingResult, members: int, scale: str,
                      family: int) -> list[str]:
    """Sentences about one grouping: bottom-k versus top-k, the worst group, minorities."""
    lines = []
    bottom, top, worst = summary.bottom_k, summary.top_k, summary.worst_group
    versus, minority_test = summary.bottom_vs_top, summary.minority_vs_majority
    if bottom is None:
        lines.append(f"`{name}` has {summary.ranking.eligible} group(s) large enough to be "
                     "chosen (at least report.min_group_size test samples, and samples in "
                     "every half it is ranked and measured on), so no bottom-k and top-k are "
                     "compared" + ("" if worst is not None else " and no worst group is named")
                     + "; its groups are reported below with their intervals.")
    worst_is_bottom = worst is not None and worst.by_half is None and \
        bottom is not None and bottom.groups == [worst.group]
    if versus is not None and versus.note is not None and \
            minority_test is not None and minority_test.note is not None:
        return [*lines, _repeated_sides(name, summary, worst_is_bottom)]
    if versus is not None and bottom is not None and top is not None:
        k = bottom.k
        sentence = (
            f"For `{name}`, an ensemble of {members} takes the bottom-{k} groups from "
            f"{pct(bottom.single_mean)}% to {pct(bottom.ensemble)}% ({SCALE_WORDS[scale]} "
            f"{_change(bottom, scale)}) and the top-{k} from {pct(top.single_mean)}% to "
            f"{pct(top.ensemble)}% ({_change(top, scale)}); the bottom-{k} "
            f"{SCALE_WORDS[scale]} minus the top-{k} one is "
            f"{_signed(versus.difference, scale)}{_interval(versus.ci, scale)}")
        if versus.note is not None:
            sentence += " (the same two sides as the minority comparison below, not counted twice)."
        else:
            sentence += "; " + verdict_sentence(
                versus, f"on this scale ensembling helps the bottom-{k} groups more",
                f"on this scale ensembling helps the top-{k} groups more", family) + "."
        if worst_is_bottom:
            sentence += f" The bottom-{k} group ({worst.group!r}) is also the worst group."
        lines.append(f"{sentence} {_other_scales(versus)}")
    if worst is not None and not (worst_is_bottom and versus is not None):
        chosen = " / ".join(repr(g) for g in worst.by_half or [worst.group])
        ci = None if worst.ci is None else worst.ci.ensemble
        lines.append(f"The worst `{name}` group under the ensemble ({chosen}) is at "
                     f"{pct(worst.ensemble)}%{_interval(ci, signed=False)} "
                     f"(single members: {pct(worst.single_mean)}%).")
    if minority_test is not None and minority_test.note is not None:
        lines.append(f"Minority `{name}` groups are the same samples as above: "
                     f"{minority_test.note}.")
    elif minority_test is not None and summary.minority is not None:
        minority, majority = summary.minority.minority, summary.minority.majority
        lines.append(
            f"Minority `{name}` groups go from {pct(minority.single_mean)}% to "
            f"{pct(minority.ensemble)}% ({SCALE_WORDS[scale]} {_change(minority, scale)}), "
            f"majority groups from {pct(majority.single_mean)}% to {pct(majority.ensemble)}% "
            f"({_change(majority, scale)}); the minority {SCALE_WORDS[scale]} minus the "
            f"majority one is {_signed(minority_test.difference, scale)}"
            f"{_interval(minority_test.ci, scale)}; "
            + verdict_sentence(minority_test, "on this scale ensembling helps the minority more",
                               "on this scale ensembling helps the majority more", family)
            + f". {_other_scales(minority_test)}")
    return lines


def _repeated_sides(name: str, summary: GroupingResult, worst_is_bottom: bool) -> str:
    """One sentence for a grouping whose two sides are the samples of a minority comparison
    made above (e.g. train_frequency's minority and majority): shown, not repeated."""
    bottom, top, note = summary.bottom_k, summary.top_k, summary.minority_vs_majority.note
    k = bottom.k
    also = ", also its worst group," if worst_is_bottom else ""
    return (f"`{name}` splits the test set into the same two sides as a comparison above "
            f"({note}): its bottom-{k} ({', '.join(bottom.groups)}){also} goes from "
            f"{pct(bottom.single_mean)}% to {pct(bottom.ensemble)}%, its top-{k} "
            f"({', '.join(top.groups)}) from {pct(top.single_mean)}% to {pct(top.ensemble)}%.")


def findings(fairness: FairnessResult) -> list[str]:
    """The findings paragraph as a list of sentences."""
    overall = fairness.overall
    scale, family = fairness.verdicts.scale, fairness.verdicts.family
    ci = None if overall.ci is None else overall.ci.ensemble
    lines = [f"Overall accuracy goes from {pct(overall.single_mean)}% (one member, mean of "
             f"{fairness.members}) to {pct(overall.ensemble)}% for the ensemble"
             f"{_interval(ci, signed=False)}."]
    for name, summary in fairness.groupings.items():
        lines += grouping_findings(name, summary, fairness.members, scale, family)
    if fairness.counterfactual is not None:
        flips = fairness.counterfactual.overall
        lines.append(f"Changing only the protected attribute flips {pct(flips.single_mean)}% "
                     f"of single-member predictions and {pct(flips.ensemble)}% of the "
                     "ensemble's.")
    return lines
