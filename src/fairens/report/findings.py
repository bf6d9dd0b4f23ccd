"""A short findings paragraph written from the numbers, never claiming more than the
bootstrap intervals support."""

from __future__ import annotations

from typing import Any

from .document import pct, signed_pct


def _interval(ci: list | None, signed: bool = True) -> str:
    if ci is None:
        return ""
    fmt = signed_pct if signed else pct
    return f", 95% CI {fmt(ci[0])} to {fmt(ci[1])}"


def _verdict(ci: list | None, more: str, less: str) -> str:
    if ci is None:
        return "no intervals were computed (bootstrap=0), so no difference is claimed"
    if None in ci:
        return "the interval is undefined (zero accuracy in resamples), so no difference is claimed"
    if ci[0] > 0:
        return f"the interval excludes zero: {more}"
    if ci[1] < 0:
        return f"the interval excludes zero: {less}"
    return "the interval includes zero, so these data do not show a difference"


def grouping_findings(name: str, summary: dict[str, Any], members: int) -> list[str]:
    """Sentences about one grouping: bottom-k versus top-k, the worst group, minorities."""
    bottom, top, worst = summary["bottom_k"], summary["top_k"], summary["worst_group"]
    k = bottom["k"]
    ci = lambda entry, key: (entry.get("ci") or {}).get(key)  # noqa: E731
    lines = []
    if k < len(summary["groups"]):
        difference = summary["bottom_vs_top"]
        lines.append(
            f"For `{name}`, an ensemble of {members} takes the bottom-{k} groups from "
            f"{pct(bottom['single_mean'])}% to {pct(bottom['ensemble'])}% (relative gain "
            f"{signed_pct(bottom['rel_gain'])}%{_interval(ci(bottom, 'rel_gain'))}) and the "
            f"top-{k} from {pct(top['single_mean'])}% to {pct(top['ensemble'])}% (relative "
            f"gain {signed_pct(top['rel_gain'])}%{_interval(ci(top, 'rel_gain'))}). The bottom-{k} "
            f"relative gain minus the top-{k} one is "
            f"{signed_pct(difference['rel_gain_difference'])} points"
            f"{_interval(difference['ci'])}; "
            + _verdict(difference["ci"], f"ensembling helps the bottom-{k} groups more",
                       f"ensembling helps the top-{k} groups more") + ".")
    lines.append(f"The worst `{name}` group under the ensemble is {worst['group']!r} at "
                 f"{pct(worst['ensemble'])}%{_interval(ci(worst, 'ensemble'), signed=False)} "
                 f"(single members: {pct(worst['single_mean'])}%).")
    if "minority" in summary:
        block = summary["minority"]
        minority, majority, gap = block["minority"], block["majority"], block["gap"]
        lines.append(
            f"Minority `{name}` groups gain {signed_pct(minority['gain'])} points"
            f"{_interval(ci(minority, 'gain'))}, majority groups "
            f"{signed_pct(majority['gain'])}{_interval(ci(majority, 'gain'))}; the majority − "
            f"minority gap goes from {signed_pct(gap['single_mean'])} to "
            f"{signed_pct(gap['ensemble'])} points (change {signed_pct(gap['change'])}"
            f"{_interval(ci(gap, 'change'))}); "
            + _verdict(ci(gap, "change"), "ensembling widens the gap",
                       "ensembling narrows the gap") + ".")
    return lines


def findings(fairness: dict[str, Any]) -> list[str]:
    """The findings paragraph as a list of sentences."""
    overall = fairness["overall"]
    lines = [f"Overall accuracy goes from {pct(overall['single_mean'])}% (one member, mean of "
             f"{fairness['members']}) to {pct(overall['ensemble'])}% for the ensemble"
             f"{_interval((overall.get('ci') or {}).get('ensemble'), signed=False)}."]
    for name, summary in fairness["groupings"].items():
        lines += grouping_findings(name, summary, fairness["members"])
    if "counterfactual" in fairness:
        flips = fairness["counterfactual"]["overall"]
        lines.append(f"Changing only the protected attribute flips {pct(flips['single_mean'])}% "
                     f"of single-member predictions and {pct(flips['ensemble'])}% of the "
                     "ensemble's.")
    return lines
