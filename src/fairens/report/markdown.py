"""The Markdown report and the console summary of an analysis."""

from __future__ import annotations

from typing import Any

from ..fairness import Analysis


def pct(value: float | None, digits: int = 1) -> str:
    """0.1234 -> '12.3'; None -> 'n/a'."""
    return "n/a" if value is None else f"{100 * value:.{digits}f}"


def signed_pct(value: float | None, digits: int = 1) -> str:
    """0.0123 -> '+1.2'; None -> 'n/a'."""
    return "n/a" if value is None else f"{100 * value:+.{digits}f}"


def md_text(text: str) -> str:
    """A group name as literal Markdown table text (no markup, no column breaks)."""
    escaped = "".join("\\" + ch if ch in "\\`*_{}[]<>()#+!|" else ch for ch in str(text))
    return escaped.replace("\n", " ")


def _md_table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    return lines + ["| " + " | ".join(row) + " |" for row in rows]


def _group_rows(summary: dict[str, Any]) -> list[list[str]]:
    return [[md_text(name), str(g["n"]), f"{pct(g['single_mean'])} ± {pct(g['single_std'])}",
             pct(g["ensemble"]), signed_pct(g["gain"]), signed_pct(g["rel_gain"])]
            for name, g in summary["groups"].items()]


def _set_line(label: str, group_set: dict[str, Any]) -> str:
    names = ", ".join(md_text(g) for g in group_set["groups"])
    return (f"- **{label}** ({names}): single {pct(group_set['single_mean'])} → "
            f"ensemble {pct(group_set['ensemble'])}")


def grouping_section(name: str, summary: dict[str, Any]) -> list[str]:
    """Markdown lines for one grouping: group table, bottom/top-k, worst group, curve."""
    k = summary["bottom_k"]["k"]
    worst = summary["worst_group"]
    lines = [f"## Grouping `{md_text(name)}`", ""]
    lines += _md_table(["group", "n", "single (mean ± std, %)", "ensemble (%)", "gain (pts)",
                        "rel. gain (%)"], _group_rows(summary))
    lines += ["", _set_line(f"bottom-{k}", summary["bottom_k"]),
              _set_line(f"top-{k}", summary["top_k"]),
              f"- **worst group** {md_text(worst['group'])}: single {pct(worst['single_mean'])} "
              f"→ ensemble {pct(worst['ensemble'])}", "", "Accuracy (%) versus ensemble size:", ""]
    curve = summary["curve"]
    rows = [[str(m), str(s), pct(o), pct(b), pct(t), pct(w)] for m, s, o, b, t, w in zip(
        curve["m"], curve["subsets"], curve["overall"], curve["bottom_k"], curve["top_k"],
        curve["worst_group"], strict=True)]
    lines += _md_table(["m", "subsets", "overall", f"bottom-{k}", f"top-{k}", "worst group"], rows)
    return [*lines, ""]


def render_markdown(analysis: Analysis, *, title: str) -> str:
    """The whole ``report.md``."""
    fairness = analysis.fairness
    overall = fairness["overall"]
    lines = [f"# {md_text(title)}", "",
             f"{fairness['members']} members, combined by `{fairness['combine']}`, "
             f"{fairness['n_samples']} test samples, {fairness['n_classes']} classes.", "",
             f"Overall accuracy: single member {pct(overall['single_mean'])} ± "
             f"{pct(overall['single_std'])} %, ensemble {pct(overall['ensemble'])} %.", ""]
    for name, summary in fairness["groupings"].items():
        lines += grouping_section(name, summary)
    return "\n".join(lines)


def summary_lines(analysis: Analysis) -> list[str]:
    """A few console lines: overall, and per grouping bottom-k, top-k and worst group."""
    fairness = analysis.fairness
    overall = fairness["overall"]
    lines = [f"overall: single {pct(overall['single_mean'])} ± {pct(overall['single_std'])}  "
             f"ensemble {pct(overall['ensemble'])}  ({fairness['members']} members)"]
    for name, summary in fairness["groupings"].items():
        k, worst = summary["bottom_k"]["k"], summary["worst_group"]
        parts = [f"{label}-{k} {pct(s['single_mean'])} -> {pct(s['ensemble'])}"
                 for label, s in (("bottom", summary["bottom_k"]), ("top", summary["top_k"]))]
        parts.append(f"worst {worst['group']!r} {pct(worst['single_mean'])} -> "
                     f"{pct(worst['ensemble'])}")
        lines.append(f"{name}: " + "  ".join(parts))
    return lines
