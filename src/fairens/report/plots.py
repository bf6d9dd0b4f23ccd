"""Figures of an analysis, as PNG bytes (matplotlib, no display needed)."""

from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from PIL import Image as PILImage

from ..fairness.calibration import Reliability
from ..fairness.result import GroupEstimate, GroupingResult
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
    """The figure as PNG bytes with a 256-colour palette; the figure is closed.

    Plots hold few colours: the palette makes the self-contained HTML reports about 3x
    smaller (15 figures of the CIFAR-10S example: 739 KB -> 232 KB) for ~12 ms a figure.
    The fast quantizer turns white into near-white, which shows as a grey box on a page:
    near-white palette entries are set back to white.
    """
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    plt.close(figure)
    buffer.seek(0)
    image = PILImage.open(buffer).convert("RGB").quantize(
        256, method=PILImage.Quantize.FASTOCTREE)
    palette = image.getpalette()
    for start in range(0, len(palette), 3):
        if min(palette[start:start + 3]) >= 247:
            palette[start:start + 3] = [255, 255, 255]
    image.putpalette(palette)
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


# 20 colours for many-model plots: tab10's hues, then Dark2's and two more, each
# distinct from its neighbours (tab20's light twins were hard to tell from their dark ones)
_SERIES = [*plt.get_cmap("tab10").colors, *plt.get_cmap("Dark2").colors,
           (0.0, 0.0, 0.0), (0.55, 0.55, 0.0)]


def series_color(index: int) -> tuple[float, ...]:
    """Colour of the index-th model in a many-model plot (20 distinct, then repeating)."""
    return tuple(_SERIES[index % len(_SERIES)])


def _k(summary: GroupingResult) -> str:
    return "k" if summary.bottom_k is None else str(summary.bottom_k.k)


def curve_lines(summary: GroupingResult) -> list[tuple[str, str, str]]:
    """(key, label, colour) of each distinct line of the curve; a line identical to an
    earlier one (with two groups, the bottom-1 is often the worst group and the minority)
    is merged into its label, e.g. ``bottom-1 = worst group``."""
    curve, k = summary.curve, _k(summary)
    lines: list[tuple[str, str, str]] = []
    for key in curve.lines():
        label, color = LINES[key]
        label = label.format(k=k)
        same = next((i for i, (other, _, _) in enumerate(lines)
                     if curve.line(other) == curve.line(key)
                     and curve.band(other) == curve.band(key)), None)
        if same is None:
            lines.append((key, label, color))
        else:
            other, merged, other_color = lines[same]
            lines[same] = (other, f"{merged} = {label}", other_color)
    return lines


def _legend_outside(axis: plt.Axes) -> None:
    axis.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)


def curve_figure(summary: GroupingResult, title: str) -> bytes:
    """Accuracy versus ensemble size, one small panel per line (overall, bottom-k, top-k,
    worst group, minority, majority) on a shared axis, each with its 95% band and the
    overall line in grey for reference: the FAIR-Ensemble headline figure, without
    overlapping bands."""
    curve, lines = summary.curve, curve_lines(summary)
    columns = 2 if len(lines) == 4 else min(3, len(lines))  # no half-empty second row
    rows = -(-len(lines) // columns)
    figure, axes = plt.subplots(rows, columns, figsize=(3.2 * columns + 0.4, 2.4 * rows + 0.6),
                                sharex=True, sharey=True, squeeze=False)
    m = curve.m
    overall = 100 * np.asarray(curve.overall, dtype=float)
    for axis, (key, label, color) in zip(axes.flat, lines, strict=False):
        if key != "overall":
            axis.plot(m, overall, color="0.6", linewidth=1, label="overall")
        axis.plot(m, 100 * np.asarray(curve.line(key), dtype=float), marker="o", markersize=3,
                  color=color, linewidth=1.6)
        ci = curve.band(key)
        if ci is not None:
            bounds = np.asarray([b if b else [np.nan, np.nan] for b in ci], dtype=float) * 100
            axis.fill_between(m, bounds[:, 0], bounds[:, 1], color=color, alpha=0.18,
                              linewidth=0)
        axis.set_title(plot_text(label), fontsize=10, color=color)
        axis.grid(alpha=0.3)
        axis.xaxis.get_major_locator().set_params(integer=True)
        axis.tick_params(labelsize=9)
    for axis in axes.flat[len(lines):]:
        axis.set_visible(False)
    for axis in axes[-1]:
        axis.set_xlabel("ensemble size m", fontsize=9)
    for axis in axes[:, 0]:
        axis.set_ylabel("accuracy (%)", fontsize=9)
    figure.suptitle(plot_text(title) + "  (band: 95% interval; grey: overall)", fontsize=11)
    figure.tight_layout()
    return png(figure)


def relative_gain_figure(summary: GroupingResult, title: str) -> bytes:
    """Relative gain over a single member, (acc(m) - acc(1)) / acc(1), per line."""
    curve = summary.curve
    figure, axis = plt.subplots(figsize=(6.0, 3.6))
    for key, label, color in curve_lines(summary):
        if curve.line(key)[0]:
            values = np.asarray(curve.line(key), dtype=float)
            axis.plot(curve.m, 100 * (values / values[0] - 1), marker="o", markersize=3,
                      color=color, label=plot_text(label))
    axis.axhline(0, color="grey", linewidth=0.8)
    axis.set(xlabel="ensemble size m", ylabel="relative gain over one member (%)",
             title=plot_text(title))
    axis.xaxis.get_major_locator().set_params(integer=True)
    axis.grid(alpha=0.3)
    _legend_outside(axis)
    return png(figure)


def shown_groups(summary: GroupingResult) -> list[str]:
    """Groups a bar chart shows: all, or the 20 lowest and 20 highest by single_mean."""
    groups = summary.groups
    if len(groups) <= MAX_BARS:
        return list(groups)
    ranked = sorted(groups, key=lambda g: (groups[g].single_mean, g))
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


def _interval(groups: dict[str, GroupEstimate], names: list[str],
              key: str) -> np.ndarray | None:
    """[2, n] distances from the point to the interval's ends (for error bars), or None."""
    if not all(groups[g].interval(key) for g in names):
        return None
    point = np.array([groups[g].on(key) for g in names])
    bounds = np.array([groups[g].interval(key) for g in names])
    return 100 * np.abs(np.stack([point - bounds[:, 0], bounds[:, 1] - point]))


def group_bars_figure(summary: GroupingResult, title: str) -> bytes:
    """Per group, a dot plot on a 0-100% axis: the mean single member and the ensemble, each
    with its 95% interval (groups in table order, top to bottom)."""
    names = shown_groups(summary)
    groups = summary.groups
    figure, axis = plt.subplots(figsize=(6.4, 0.3 * len(names) + 1.6), layout="constrained")
    y = np.arange(len(names))[::-1]
    for offset, key, color, label in ((0.15, "single_mean", "0.45", "single member (mean)"),
                                      (-0.15, "ensemble", "tab:blue", "ensemble")):
        values = 100 * np.array([groups[g].on(key) for g in names])
        axis.errorbar(values, y + offset, xerr=_interval(groups, names, key), fmt="o",
                      markersize=4, color=color, elinewidth=1, capsize=2, label=label)
    axis.set_yticks(y, [plot_text(n if len(n) <= 28 else n[:26] + "…") for n in names],
                    fontsize=8)
    axis.set(xlim=(0, 100), xlabel="accuracy (%), with 95% intervals", title=plot_text(title))
    axis.grid(axis="x", alpha=0.3)
    figure.legend(fontsize=8, loc="outside lower center", ncol=2, frameon=False)
    return png(figure)


def disagreement_figure(summary: GroupingResult, title: str) -> bytes:
    """Per group: mean pairwise disagreement between members."""
    names = shown_groups(summary)
    values = [summary.groups[g].disagreement or 0.0 for g in names]
    figure, axis = _bar_axis(names)
    axis.bar(np.arange(len(names)), 100 * np.asarray(values), color="tab:orange")
    axis.set(ylabel="members disagreeing (% of pairs × samples)", title=plot_text(title))
    return png(figure)


def reliability_figure(bins: Reliability, names: list[str], title: str) -> bytes:
    """Reliability diagram per group: accuracy against mean confidence in each of the
    15 confidence bins, for single members (pooled) and the ensemble; the diagonal is
    perfect calibration, and a point's size grows with its bin's samples."""
    columns = min(4, len(names))
    rows = -(-len(names) // columns)
    figure, axes = plt.subplots(rows, columns, figsize=(2.5 * columns + 0.4, 2.4 * rows + 0.9),
                                sharex=True, sharey=True, squeeze=False, layout="constrained")
    index = {name: i for i, name in enumerate(bins.groups)}
    for axis, name in zip(axes.flat, names, strict=False):
        g = index[name]
        axis.plot([0, 100], [0, 100], color="0.7", linewidth=0.8)
        for row, color, label in ((0, "0.45", "single members"), (1, "tab:blue", "ensemble")):
            count = bins.count[row, g]
            used = count > 0
            confidence, accuracy = bins.confidence[row, g, used], bins.accuracy[row, g, used]
            axis.plot(100 * confidence, 100 * accuracy, color=color, linewidth=1, label=label)
            axis.scatter(100 * confidence, 100 * accuracy,
                         s=6 + 40 * count[used] / max(count.max(), 1), color=color, zorder=3)
        axis.set_title(plot_text(name if len(name) <= 24 else name[:22] + "…"), fontsize=10)
        axis.set(xlim=(0, 100), ylim=(0, 100))
        axis.tick_params(labelsize=9)
        axis.grid(alpha=0.3)
    for axis in axes.flat[len(names):]:
        axis.set_visible(False)
    for axis in axes[-1]:
        axis.set_xlabel("confidence (%)", fontsize=9)
    for axis in axes[:, 0]:
        axis.set_ylabel("accuracy (%)", fontsize=9)
    figure.legend(*axes.flat[0].get_legend_handles_labels(), fontsize=9,
                  loc="outside lower center", ncol=2, frameon=False)
    figure.suptitle(plot_text(title), fontsize=11)
    return png(figure)
