"""A gallery of who the models fail: test images of the worst group and the bottom-k, for
runs that record where each test image came from (``source`` in ``test_groups.csv``).

Rows: the images most members get wrong; of those, the ones the ensemble fixes; and the
ones most members get right that the ensemble breaks. Each thumbnail is labelled with its
true label, the ensemble's prediction and how many members are wrong. Images are read from
``data.root`` (run.json) joined with the source; a run whose images cannot be read (array
datasets, another machine, moved data) gets no gallery.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from PIL import Image as PILImage

from ..fairness.combine import member_scores
from ..fairness.result import FairnessResult
from .document import Document, Image
from .names import Names
from .plots import plot_text, png
from .summary import lowest_worst_group

PER_ROW = 8  # thumbnails per row: 3 rows of 8 at most
THUMBNAIL = 64  # pixels a side
FIXES = "of those, the ensemble fixes"


def _data_root(meta: dict[str, Any]) -> Path | None:
    root = ((meta.get("config") or {}).get("data") or {}).get("root")
    return None if root is None else Path(str(root)).expanduser()


def _focus(fairness: FairnessResult) -> tuple[str, list[str]] | None:
    """(the grouping of the lowest worst group across groupings but train_frequency, its
    worst group and bottom-k groups), or None."""
    name = lowest_worst_group(fairness)
    if name is None:
        return None
    worst = fairness.groupings[name].subpop.worst_group.ensemble.group
    bottom = fairness.groupings[name].bottom_k
    return name, [worst, *(g for g in (bottom.groups if bottom else []) if g != worst)]


def _rows(logits: np.ndarray, labels: np.ndarray, chosen: np.ndarray, combine: str
          ) -> tuple[list[tuple[str, np.ndarray]], np.ndarray, np.ndarray]:
    """The gallery's rows (title, sample indices), the ensemble's predictions and the
    number of members wrong on each sample."""
    scores = member_scores(logits, combine)
    ensemble = scores.mean(axis=0).argmax(axis=1)
    wrong = (logits.argmax(axis=2) != labels).sum(axis=0)
    members = logits.shape[0]
    order = np.lexsort((np.arange(len(labels)), -wrong))  # most members wrong first
    ranked = order[chosen[order]]
    most_wrong = ranked[wrong[ranked] * 2 > members]
    rows = [("most members wrong" if members > 1 else "the model is wrong",
             most_wrong[:PER_ROW])]
    if members > 1:
        rows.append((FIXES,
                     most_wrong[ensemble[most_wrong] == labels[most_wrong]][:PER_ROW]))
        right = ranked[::-1][wrong[ranked[::-1]] * 2 < members]
        rows.append(("most members right, the ensemble breaks",
                     right[ensemble[right] != labels[right]][:PER_ROW]))
    return [(title, index) for title, index in rows if len(index)], ensemble, wrong


def _thumbnail(path: Path) -> np.ndarray | None:
    try:
        with PILImage.open(path) as image:
            return np.asarray(image.convert("RGB").resize((THUMBNAIL, THUMBNAIL)))
    except (OSError, ValueError):
        return None


def gallery_figure(rows: list[tuple[str, list[np.ndarray], list[str]]]) -> bytes:
    """A grid of thumbnails: one row per (title, images, captions)."""
    cell, text, gap = 1.0, 0.75, 0.25  # inches: a thumbnail, the titles above it, a gap
    height = len(rows) * (cell + text + gap)
    figure, axes = plt.subplots(len(rows), PER_ROW, figsize=(PER_ROW * 1.1, height),
                                squeeze=False)
    for axis_row, (title, images, captions) in zip(axes, rows, strict=True):
        for index, axis in enumerate(axis_row):
            axis.set_axis_off()
            if index < len(images):
                axis.imshow(images[index])
                axis.set_title(captions[index], fontsize=7)
        axis_row[0].text(0, 1.0 + 0.55 / cell, plot_text(title), transform=axis_row[0].transAxes,
                         fontsize=9, fontweight="bold", va="bottom")
    figure.subplots_adjust(left=0.01, right=0.99, top=1 - (text + gap) / height,
                           bottom=0.01, hspace=(text + gap) / cell, wspace=0.08)
    return png(figure, tight=True)


def gallery_section(doc: Document, *, fairness: FairnessResult, logits: np.ndarray,
                    labels: np.ndarray, groups: pd.DataFrame, sources: np.ndarray | None,
                    meta: dict[str, Any], names: Names, class_names: list[str]) -> None:
    """Add the gallery to ``doc``, where the run has sources and its images can be read."""
    root, focus = _data_root(meta), _focus(fairness)
    if sources is None or root is None or focus is None:
        return
    grouping, chosen_groups = focus
    chosen = groups[grouping].isin(chosen_groups).to_numpy()
    rows, ensemble, wrong = _rows(logits, labels, chosen, fairness.combine)
    drawn = []
    for title, index in rows:
        images, captions = [], []
        for i in index:
            image = _thumbnail(root / os.path.normpath(str(sources[i])))
            if image is None:
                continue
            images.append(image)
            captions.append(f"{plot_text(class_names[labels[i]])} → "
                            f"{plot_text(class_names[ensemble[i]])}\n"
                            f"{plot_text(groups[grouping].iloc[i])}"
                            + (f"\n{wrong[i]} of {logits.shape[0]} wrong"
                               if logits.shape[0] > 1 else ""))
        if images:
            drawn.append((title, images, captions))
    if not drawn:
        return
    group = names.group_of(grouping)
    bottom = fairness.groupings[grouping].bottom_k
    which = f"the worst {group}" + ("" if bottom is None else
                                    f" and the bottom-{bottom.k} {group}s")
    described = ", ".join(f"'{g}'" for g in chosen_groups)
    doc.heading("Who the models fail: examples")
    doc.paragraph(f"Test images of {which} ({described}): true label → the "
                  + ("ensemble's prediction, and how many of the "
                     f"{logits.shape[0]} members are wrong" if logits.shape[0] > 1 else
                     "model's prediction")
                  + f". At most {PER_ROW} a row; the images are read from the dataset's "
                    "folder, where test_groups.csv's source column says each came from.")
    titles = [title for title, _ in rows]
    if logits.shape[0] > 1 and FIXES not in titles and titles:
        doc.paragraph("The ensemble fixes none of the images that most members get wrong "
                      "in these groups.")
    doc.image(Image("gallery.png", gallery_figure(drawn),
                    f"Examples from {described} ({names.grouping(grouping)})", wide=True))
