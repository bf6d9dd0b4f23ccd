"""Figures of an analysis, as PNG bytes (matplotlib, no display needed)."""

from __future__ import annotations

import io
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from .document import visible

MAX_BARS = 40  # beyond this many groups, bar charts show the 20 lowest and 20 highest
LINES = {"overall": ("overall", "black"), "bottom_k": ("bottom-{k}", "tab:red"),
         "top_k": ("top-{k}", "tab:blue"), "worst_group": ("worst group", "tab:purple"),
         "minority": ("minority", "tab:orange"), "majority": ("majority", "tab:green")}


def plot_text(text: object) -> str:
    """A label drawn as the data hold it: control characters shown as code points and
    ``$`` kept literal (matplotlib would parse ``$...$`` as mathematics, or fail on it)."""
    return visible(text).replace("$", r"\$")


def png(figure: plt.Figure) -> bytes:
    """The figure as PNG bytes; the figure is closed."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    plt.close(figure)
    return buffer.getvalue()


def series_color(index: int) -> tuple[float, ...]:
    """Colour of the index-th model in a many-model plot: tab20's ten dark hues first, then
    their light twins, so neighbouring models stay distinct."""
    return plt.get_cmap("tab20")((2 * index) % 20 + (index // 10) % 2)


def _band(axis: plt.Axes, m: list[int], ci: list | None, color: str, scale: float = 100) -> None:
    if ci is not None:
        bounds = np.asarray([b if b else [np.nan, np.nan] for b in ci], dtype=float) * scale
        axis.fill_between(m, bounds[:, 0], bounds[:, 1], color=color, alpha=0.15, linewidth=0)


def _k(summary: dict[str, Any]) -> str:
    return str(summary.get("bottom_k", {}).get("k", "k"))


def curve_figure(summary: dict[str, Any], title: str) -> bytes:
    """Accuracy versus ensemble size: overall, bottom-k, top-k, worst group (and minority,
    majority), with 95% interval bands: the FAIR-Ensemble headline figure."""
    curve, k = summary["curve"], _k(summary)
    figure, axis = plt.subplots(figsize=(6.4, 4.2))
    for key, (label, color) in LINES.items():
        if key in curve:
            axis.plot(curve["m"], 100 * np.asarray(curve[key], dtype=float), marker="o",
                      markersize=3,
                      color=color, label=label.format(k=k))
            _band(axis, curve["m"], (curve["ci"] or {}).get(key), color)
    axis.set(xlabel="ensemble size m", ylabel="accuracy (%)", title=plot_text(title))
    axis.xaxis.get_major_locator().set_params(integer=True)
    axis.grid(alpha=0.3)
    axis.legend(fontsize=8)
    return png(figure)


def relative_gain_figure(summary: dict[str, Any], title: str) -> bytes:
    """Relative gain over a single member, (acc(m) - acc(1)) / acc(1), per line."""
    curve, k = summary["curve"], _k(summary)
    figure, axis = plt.subplots(figsize=(6.4, 4.2))
    for key, (label, color) in LINES.items():
        if key in curve and curve[key][0]:
            values = np.asarray(curve[key], dtype=float)
            axis.plot(curve["m"], 100 * (values / values[0] - 1), marker="o", markersize=3,
                      color=color, label=label.format(k=k))
    axis.axhline(0, color="grey", linewidth=0.8)
    axis.set(xlabel="ensemble size m", ylabel="relative gain over one member (%)",
             title=plot_text(title))
    axis.xaxis.get_major_locator().set_params(integer=True)
    axis.grid(alpha=0.3)
    axis.legend(fontsize=8)
    return png(figure)


def shown_groups(summary: dict[str, Any]) -> list[str]:
    """Groups a bar chart shows: all, or the 20 lowest and 20 highest by single_mean."""
    groups = summary["groups"]
    if len(groups) <= MAX_BARS:
        return list(groups)
    ranked = sorted(groups, key=lambda g: (groups[g]["single_mean"], g))
    return ranked[:MAX_BARS // 2] + ranked[-MAX_BARS // 2:]


def _bar_axis(names: list[str]) -> tuple[plt.Figure, plt.Axes]:
    width = max(6.4, 0.32 * len(names) + 2)
    figure, axis = plt.subplots(figsize=(width, 4.2))
    crowded = len(names) > 8
    labels = [plot_text(n if len(n) <= 24 else n[:22] + "…") for n in names]
    axis.set_xticks(range(len(names)), labels,
                    rotation=60 if crowded else 0, ha="right" if crowded else "center", fontsize=8)
    axis.grid(axis="y", alpha=0.3)
    return figure, axis


def group_bars_figure(summary: dict[str, Any], title: str) -> bytes:
    """Per group: mean single-member accuracy (with member std) next to the ensemble's."""
    names = shown_groups(summary)
    groups = summary["groups"]
    figure, axis = _bar_axis(names)
    x = np.arange(len(names))
    single = np.array([groups[g]["single_mean"] for g in names]) * 100
    std = np.array([groups[g]["single_std"] for g in names]) * 100
    ensemble = np.array([groups[g]["ensemble"] for g in names]) * 100
    axis.bar(x - 0.2, single, 0.4, yerr=std, capsize=2, color="tab:gray",
             label="single (mean ± std)")
    axis.bar(x + 0.2, ensemble, 0.4, color="tab:blue", label="ensemble")
    floor = max(0.0, min(single.min(), ensemble.min()) - 10)
    axis.set(ylabel="accuracy (%)", title=plot_text(title), ylim=(floor, 100.5))
    axis.legend(fontsize=8)
    return png(figure)


def disagreement_figure(summary: dict[str, Any], title: str) -> bytes:
    """Per group: mean pairwise disagreement between members."""
    names = shown_groups(summary)
    values = [summary["groups"][g]["disagreement"] or 0.0 for g in names]
    figure, axis = _bar_axis(names)
    axis.bar(np.arange(len(names)), 100 * np.asarray(values), color="tab:orange")
    axis.set(ylabel="members disagreeing (% of pairs × samples)", title=plot_text(title))
    return png(figure)
