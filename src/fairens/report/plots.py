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

# one type scale for every figure
plt.rcParams.update({"font.size": 9, "axes.titlesize": 10, "axes.labelsize": 9,
                     "xtick.labelsize": 8, "ytick.labelsize": 8, "legend.fontsize": 8,
                     "figure.titlesize": 11})

MAX_BARS = 40  # beyond this many groups, bar charts show the 20 lowest and 20 highest
# reliability bins with fewer samples (at least 5, or 2% of the group's) are not drawn
MIN_BIN, MIN_BIN_SHARE = 5, 0.02
LINES = {"overall": ("overall", "black"), "bottom_k": ("bottom-{k}", "tab:red"),
         "top_k": ("top-{k}", "tab:blue"), "worst_group": ("worst group", "tab:purple"),
         "minority": ("minority", "tab:orange"), "majority": ("majority", "tab:green")}


def plot_text(text: object) -> str:
    """A label drawn as the data hold it: control characters shown as code points and
    ``$`` kept literal (matplotlib would parse ``$...$`` as mathematics, or fail on it)."""
    return visible(text).replace("$", r"\$")


def grid(rows: int, columns: int, width: float, height: float, *, bottom: float = 0.55,
         top: float = 0.6, left: float = 0.65) -> tuple[plt.Figure, np.ndarray]:
    """A rows x columns grid of ``width`` x ``height`` inch panels sharing both axes, with
    fixed margins (inches) for labels, a legend below and a title above. Fixed margins
    instead of a constrained layout and a tight bounding box: a 10-panel reliability
    diagram renders in about half the time (benchmarks/report_speed.py)."""
    gap_x, gap_y = 0.15, 0.45
    size = (left + columns * width + (columns - 1) * gap_x + 0.15,
            bottom + rows * height + (rows - 1) * gap_y + top)
    figure, axes = plt.subplots(rows, columns, figsize=size, sharex=True, sharey=True,
                                squeeze=False)
    figure.subplots_adjust(left=left / size[0], right=1 - 0.15 / size[0],
                           bottom=bottom / size[1], top=1 - top / size[1],
                           wspace=gap_x / width, hspace=gap_y / height)
    return figure, axes


def png(figure: plt.Figure, tight: bool = True) -> bytes:
    """The figure as PNG bytes with a 256-colour palette; the figure is closed.

    Plots hold few colours: the palette makes the self-contained HTML reports about 3x
    smaller (15 figures of the CIFAR-10S example: 739 KB -> 232 KB) for ~12 ms a figure.
    The fast quantizer turns white into near-white, which shows as a grey box on a page:
    near-white palette entries are set back to white.
    """
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110, bbox_inches="tight" if tight else None)
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


def curve_figure(summary: GroupingResult, title: str) -> bytes:
    """Accuracy versus ensemble size, one small panel per line (overall, bottom-k, top-k,
    worst group, minority, majority) on a shared axis, each with its 95% band and the
    overall line in grey for reference: the FAIR-Ensemble headline figure, without
    overlapping bands; each panel's title gives its change from one member to all."""
    curve, lines = summary.curve, curve_lines(summary)
    columns = 2 if len(lines) == 4 else min(3, len(lines))  # no half-empty second row
    rows = -(-len(lines) // columns)
    figure, axes = grid(rows, columns, 2.9, 1.8, bottom=0.5, top=0.75)
    m = curve.m
    overall = 100 * np.asarray(curve.overall, dtype=float)
    for axis, (key, label, color) in zip(axes.flat, lines, strict=False):
        if key != "overall":
            axis.plot(m, overall, color="0.6", linewidth=1, label="overall")
        values = 100 * np.asarray(curve.line(key), dtype=float)
        axis.plot(m, values, marker="o", markersize=3, color=color, linewidth=1.6)
        ci = curve.band(key)
        if ci is not None:
            bounds = np.asarray([b if b else [np.nan, np.nan] for b in ci], dtype=float) * 100
            axis.fill_between(m, bounds[:, 0], bounds[:, 1], color=color, alpha=0.18,
                              linewidth=0)
        axis.set_title(f"{plot_text(label)}: {values[-1] - values[0]:+.1f} pts", color=color)
        axis.grid(alpha=0.3)
        axis.xaxis.get_major_locator().set_params(integer=True)
    for axis in axes.flat[len(lines):]:
        axis.set_visible(False)
    for axis in axes[-1]:
        axis.set_xlabel("ensemble size m")
    for axis in axes[:, 0]:
        axis.set_ylabel("accuracy (%)")
    figure.suptitle(plot_text(title) + "  (band: 95% interval; grey: overall)")
    return png(figure, tight=False)


def shown_groups(summary: GroupingResult) -> list[str]:
    """Groups a per-group figure shows, lowest single-model accuracy first: all, or the 20
    lowest and 20 highest."""
    groups = summary.groups
    ranked = sorted(groups, key=lambda g: (groups[g].single_mean, g))
    if len(ranked) <= MAX_BARS:
        return ranked
    return ranked[:MAX_BARS // 2] + ranked[-MAX_BARS // 2:]


def _short(name: str, limit: int = 28) -> str:
    return plot_text(name if len(name) <= limit else name[:limit - 2] + "…")


def _interval(groups: dict[str, GroupEstimate], names: list[str],
              key: str) -> np.ndarray | None:
    """[2, n] distances from the point to the interval's ends (for error bars), or None."""
    if not all(groups[g].interval(key) for g in names):
        return None
    point = np.array([groups[g].on(key) for g in names])
    bounds = np.array([groups[g].interval(key) for g in names])
    return 100 * np.abs(np.stack([point - bounds[:, 0], bounds[:, 1] - point]))


def forest_figure(summary: GroupingResult, title: str, single_model: bool = False) -> bytes:
    """Per group, lowest single-model accuracy at the top: accuracy of the mean single
    member and of the ensemble with 95% intervals (left), and the ensemble's gain in points
    with its interval and the zero line (right); one model: its accuracy only."""
    names, groups = shown_groups(summary), summary.groups
    panels = 1 if single_model else 2
    figure, axes = plt.subplots(1, panels, figsize=(3.6 * panels + 1.6, 0.24 * len(names) + 1.3),
                                sharey=True, squeeze=False, layout="constrained")
    y = np.arange(len(names))[::-1]
    labels = [f"{_short(n)} ({groups[n].n})" for n in names]
    sides = (("ensemble", "tab:blue", "one model" if single_model else "ensemble"),) \
        if single_model else ((("single_mean", "0.45", "one model (mean)"),
                               ("ensemble", "tab:blue", "ensemble")))
    for offset, (key, color, label) in zip((0.0,) if single_model else (0.14, -0.14), sides,
                                           strict=True):
        values = 100 * np.array([groups[g].on(key) for g in names], dtype=float)
        axes[0, 0].errorbar(values, y + offset, xerr=_interval(groups, names, key), fmt="o",
                            markersize=3.5, color=color, elinewidth=1, capsize=2, label=label)
    axes[0, 0].set_yticks(y, labels)
    axes[0, 0].set(xlabel="accuracy (%), 95% intervals")
    axes[0, 0].grid(axis="x", alpha=0.3)
    if not single_model:
        axes[0, 0].legend(loc="lower right", frameon=True)
        gains = 100 * np.array([groups[g].gain for g in names], dtype=float)
        axis = axes[0, 1]
        axis.axvline(0, color="0.3", linewidth=0.9)
        colors = ["tab:red" if (groups[g].interval("gain") or [0, 0])[1] < 0 else
                  "tab:green" if (groups[g].interval("gain") or [0, 0])[0] > 0 else "0.3"
                  for g in names]
        error = _interval(groups, names, "gain")
        for i, color in enumerate(colors):
            axis.errorbar(gains[i], y[i], xerr=None if error is None else error[:, i:i + 1],
                          fmt="s", markersize=3.5, color=color, elinewidth=1, capsize=2)
        axis.set(xlabel="gain of the ensemble (points), 95% intervals")
        axis.grid(axis="x", alpha=0.3)
    figure.suptitle(plot_text(title))
    return png(figure)


def heatmap_figure(summary: GroupingResult, title: str, single_model: bool = False) -> bytes | None:
    """A two-attribute intersection (groups named ``a&b``) as a grid: each cell the
    ensemble's accuracy and, below it, its gain over one model and n; None when the group
    names are not pairs."""
    pairs = [name.split("&") for name in summary.groups]
    if any(len(pair) != 2 for pair in pairs):
        return None
    rows = list(dict.fromkeys(pair[0] for pair in pairs))
    columns = list(dict.fromkeys(pair[1] for pair in pairs))
    values = np.full((len(rows), len(columns)), np.nan)
    text = np.full((len(rows), len(columns)), "", dtype=object)
    for name, (row, column) in zip(summary.groups, pairs, strict=True):
        entry = summary.groups[name]
        i, j = rows.index(row), columns.index(column)
        values[i, j] = 100 * entry.ensemble
        text[i, j] = f"{100 * entry.ensemble:.1f}" + (
            "" if single_model else f"\n{100 * entry.gain:+.1f}") + f"\nn={entry.n}"
    figure, axis = plt.subplots(figsize=(1.0 * len(columns) + 2.4, 0.62 * len(rows) + 1.4),
                                layout="constrained")
    image = axis.imshow(values, cmap="viridis", aspect="auto")
    for (i, j), label in np.ndenumerate(text):
        if label:
            dark = values[i, j] < np.nanmean(values)
            axis.text(j, i, label, ha="center", va="center", fontsize=7,
                      color="white" if dark else "black")
    axis.set_xticks(range(len(columns)), [_short(c, 16) for c in columns], rotation=30,
                    ha="right")
    axis.set_yticks(range(len(rows)), [_short(r, 16) for r in rows])
    figure.colorbar(image, ax=axis, label="accuracy (%)" if single_model else
                    "ensemble accuracy (%)")
    axis.set_title(plot_text(title))
    return png(figure)


def reliability_figure(bins: Reliability, names: list[str], title: str) -> bytes:
    """Reliability diagram per group: accuracy against mean confidence in each of the
    15 confidence bins, for single members (pooled) and the ensemble, with the diagonal of
    perfect calibration; bins holding under 5 samples or 2% of a group's are not drawn
    (their accuracy is noise), and the bars at the bottom show how many samples each bin holds."""
    columns = min(4, len(names))
    rows = -(-len(names) // columns)
    figure, axes = grid(rows, columns, 2.1, 1.9, bottom=0.85, top=0.5)
    index = {name: i for i, name in enumerate(bins.groups)}
    width = 100 / bins.count.shape[2]
    for axis, name in zip(axes.flat, names, strict=False):
        g = index[name]
        axis.plot([0, 100], [0, 100], color="0.7", linewidth=0.8)
        share = bins.count[1, g] / max(bins.count[1, g].sum(), 1)
        axis.bar(width * (np.arange(len(share)) + 0.5), 25 * share / max(share.max(), 1e-12),
                 width=width * 0.9, color="tab:blue", alpha=0.15)
        for row, color, label in ((0, "0.45", "single members"), (1, "tab:blue", "ensemble")):
            count = bins.count[row, g]
            kept = count >= max(MIN_BIN, MIN_BIN_SHARE * count.sum())
            confidence = np.where(kept, bins.confidence[row, g], np.nan)
            accuracy = np.where(kept, bins.accuracy[row, g], np.nan)
            axis.plot(100 * confidence, 100 * accuracy, color=color, linewidth=1, marker="o",
                      markersize=3, label=label)
        axis.set_title(_short(name, 24))
        axis.set(xlim=(0, 100), ylim=(0, 100), xticks=[0, 50, 100])
        axis.grid(alpha=0.3)
    for axis in axes.flat[len(names):]:
        axis.set_visible(False)
    for axis in axes[-1]:
        axis.set_xlabel("confidence (%)")
    for axis in axes[:, 0]:
        axis.set_ylabel("accuracy (%)")
    figure.legend(*axes.flat[0].get_legend_handles_labels(), loc="lower center", ncol=2,
                  frameon=False)
    figure.suptitle(plot_text(title) + " (bars: the ensemble's samples per bin)")
    return png(figure, tight=False)
