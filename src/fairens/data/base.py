"""In-memory image data shared by every dataset: uint8 tensors, labels, groupings.

A dataset loader decodes its files once into an :class:`ImageData`; everything after
(long tail, resizing, batching, augmentation) works on these tensors.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from functools import cached_property

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from ..errors import bad_setting

MINORITY, MAJORITY = "minority", "majority"


@dataclass(frozen=True)
class AugmentSpec:
    """Training augmentation of a dataset: random translation by up to ``pad`` pixels
    (a random crop of the zero-padded image) and, where the content allows, a horizontal flip."""

    pad: int = 0
    flip: bool = False


@dataclass(frozen=True)
class Split:
    """One split: images uint8 [N, C, H, W], labels int64 [N], sample_ids int64 [N]."""

    images: torch.Tensor
    labels: torch.Tensor
    sample_ids: torch.Tensor

    def __len__(self) -> int:
        return len(self.labels)

    def subset(self, index: np.ndarray | torch.Tensor) -> Split:
        """The samples at ``index``, in that order."""
        index = torch.as_tensor(index, dtype=torch.int64)
        return Split(self.images[index], self.labels[index], self.sample_ids[index])

    def class_counts(self, n_classes: int) -> np.ndarray:
        """Number of samples of each class, int64 [n_classes]."""
        return np.bincount(self.labels.numpy(), minlength=n_classes)


@dataclass(frozen=True)
class ImageData:
    """A dataset decoded into memory, with the subgroups of its test samples.

    Attributes:
        name: the dataset's registry name.
        classes: class names; label ``i`` is ``classes[i]``.
        train, val, test: the splits.
        augment: the training augmentation this content allows.
        test_attributes: extra groupings of the test samples (one string column each,
            aligned with ``test``), e.g. ``color`` or ``class&color``.
        minority: for groupings that declare them, the groups that are minorities.
        pair_ids: int64 [N_test] counterfactual pair of each test sample, or None.
    """

    name: str
    classes: tuple[str, ...]
    train: Split
    val: Split
    test: Split
    augment: AugmentSpec = AugmentSpec()
    test_attributes: pd.DataFrame = field(default_factory=pd.DataFrame)
    minority: dict[str, tuple[str, ...]] = field(default_factory=dict)
    pair_ids: np.ndarray | None = None

    @property
    def channels(self) -> int:
        return int(self.train.images.shape[1])

    @property
    def image_size(self) -> int:
        return int(self.train.images.shape[-1])

    @cached_property
    def mean_std(self) -> tuple[tuple[float, ...], tuple[float, ...]]:
        """Per-channel mean and std of the training images, scaled to [0, 1]."""
        pixels = self.train.images.transpose(0, 1).reshape(self.channels, -1).double() / 255
        std = pixels.std(dim=1).clamp_min(1e-3)
        return tuple(pixels.mean(dim=1).tolist()), tuple(std.tolist())

    def test_groups(self) -> pd.DataFrame:
        """The rows of ``test_groups.csv``: sample_id, label, [pair_id], class, groupings."""
        labels = self.test.labels.numpy()
        frame = pd.DataFrame({"sample_id": self.test.sample_ids.numpy(), "label": labels})
        if self.pair_ids is not None:
            frame["pair_id"] = self.pair_ids
        frame["class"] = np.asarray(self.classes, dtype=object)[labels]
        for column in self.test_attributes.columns:
            frame[column] = self.test_attributes[column].astype(str).to_numpy()
        return frame

    def summary(self) -> dict:
        """Sizes and class counts, for run.json."""
        n = len(self.classes)
        return {"name": self.name, "classes": list(self.classes), "channels": self.channels,
                "image_size": self.image_size, "n_train": len(self.train),
                "n_val": len(self.val), "n_test": len(self.test),
                "train_class_counts": self.train.class_counts(n).tolist(),
                "groupings": ["class", *self.test_attributes.columns],
                "minority": {k: list(v) for k, v in self.minority.items()}}


def stratified_split(labels: np.ndarray, sizes: Sequence[int],
                     rng: np.random.Generator) -> list[np.ndarray]:
    """Shuffle each class and cut it into consecutive parts of ``sizes`` samples per class.

    Returns one index array per part (the last part takes what remains of each class),
    each sorted ascending so that splits do not depend on the shuffle order.
    """
    parts: list[list[np.ndarray]] = [[] for _ in range(len(sizes) + 1)]
    for c in np.unique(labels):
        index = rng.permutation(np.flatnonzero(labels == c))
        cuts = np.cumsum(sizes)
        for part, chunk in zip(parts, np.split(index, cuts), strict=True):
            part.append(chunk)
    return [np.sort(np.concatenate(p)) for p in parts]


def long_tail_counts(available: np.ndarray, ratio: float) -> np.ndarray:
    """Class sizes decaying exponentially from class 0 to the last class by ``ratio``.

    As CIFAR-10-LT (Cui et al. 2019): ``n_c = int(n_max * ratio ** (-c / (C - 1)))`` with
    ``n_max`` the smallest available class size, so every class can provide its share.
    """
    n_classes = len(available)
    n_max = int(available.min())
    exponents = np.arange(n_classes) / max(n_classes - 1, 1)
    return np.maximum((n_max * ratio ** -exponents).astype(np.int64), 1)


def make_long_tailed(data: ImageData, ratio: float, seed: int) -> ImageData:
    """Subsample the training split to a long tail and add the ``train_frequency`` grouping.

    Minority classes are those whose training count is below the median class count.
    Validation and test splits are left as they are.
    """
    if not ratio >= 1:
        raise bad_setting("data.imbalance_ratio", ratio, "a number >= 1 (1 keeps the split as is)")
    if ratio == 1:
        return data
    n_classes = len(data.classes)
    labels = data.train.labels.numpy()
    counts = long_tail_counts(data.train.class_counts(n_classes), ratio)
    rng = np.random.default_rng([seed, 0x10CA7])
    keep = np.sort(np.concatenate([rng.permutation(np.flatnonzero(labels == c))[:counts[c]]
                                   for c in range(n_classes)]))
    train = data.train.subset(keep)
    frequency = train_frequency(train.class_counts(n_classes))
    attributes = data.test_attributes.copy()
    attributes["train_frequency"] = frequency[data.test.labels.numpy()]
    return replace(data, train=train, test_attributes=attributes,
                   minority={**data.minority, "train_frequency": (MINORITY,)})


def train_frequency(counts: np.ndarray) -> np.ndarray:
    """``minority`` for classes whose training count is below the median, else ``majority``."""
    return np.where(counts < np.median(counts), MINORITY, MAJORITY).astype(object)


def resize(data: ImageData, size: int) -> ImageData:
    """All splits resized to ``size`` x ``size`` (bilinear, antialiased), still uint8."""
    if size == data.image_size:
        return data
    if size < 1:
        raise bad_setting("data.image_size", size, "a positive number of pixels")
    return replace(data, train=_resize_split(data.train, size), val=_resize_split(data.val, size),
                   test=_resize_split(data.test, size))


def _resize_split(split: Split, size: int, chunk: int = 4096) -> Split:
    out = torch.empty((len(split), split.images.shape[1], size, size), dtype=torch.uint8)
    for start in range(0, len(split), chunk):
        batch = split.images[start:start + chunk].float()
        resized = F.interpolate(batch, size=(size, size), mode="bilinear", antialias=True,
                                align_corners=False)
        out[start:start + chunk] = resized.round().clamp(0, 255).to(torch.uint8)
    return replace(split, images=out)
