"""In-memory image data shared by every dataset: uint8 tensors, labels, groupings.

A dataset loader decodes its files once into an :class:`ImageData`; everything after
(long tail, resizing, batching, augmentation) works on these tensors.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from functools import cached_property

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from ..errors import FairensError, bad_setting
from .salts import DATA_SALTS

MINORITY, MAJORITY = "minority", "majority"


@dataclass(frozen=True)
class AugmentSpec:
    """Training augmentation of a dataset: random translation by up to ``pad`` pixels
    (a random crop of the zero-padded image) and, where the content allows, a horizontal flip."""

    pad: int = 0
    flip: bool = False


@dataclass(frozen=True)
class Split:
    """One split: images uint8 [N, C, H, W], labels int64 [N], sample_ids int64 [N],
    ``attributes``, N rows with one string column per grouping other than ``class``, and
    ``sources``, where each image came from (a file path relative to ``data.root``, or the
    dataset's own index), or None."""

    images: torch.Tensor
    labels: torch.Tensor
    sample_ids: torch.Tensor
    attributes: pd.DataFrame = field(default_factory=pd.DataFrame)
    sources: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.attributes.empty and len(self.attributes) != len(self.labels):
            object.__setattr__(self, "attributes", pd.DataFrame(index=range(len(self.labels))))

    def __len__(self) -> int:
        return len(self.labels)

    def subset(self, index: np.ndarray | torch.Tensor) -> Split:
        """The samples at ``index``, in that order."""
        index = torch.as_tensor(index, dtype=torch.int64)
        rows = self.attributes.iloc[index.numpy()].reset_index(drop=True)
        sources = None if self.sources is None else self.sources[index.numpy()]
        return Split(self.images[index], self.labels[index], self.sample_ids[index], rows,
                     sources)

    def with_attribute(self, name: str, values: np.ndarray | Sequence[str]) -> Split:
        """A copy with one more attribute column (string values, one per sample)."""
        attributes = self.attributes.copy()
        attributes[name] = np.asarray(values, dtype=object).astype(str)
        return replace(self, attributes=attributes)

    def class_counts(self, n_classes: int) -> np.ndarray:
        """Number of samples of each class, int64 [n_classes]."""
        return np.bincount(self.labels.numpy(), minlength=n_classes)


@dataclass(frozen=True)
class ImageData:
    """A dataset decoded into memory, with the subgroups of its samples.

    Attributes:
        name: the dataset's registry name.
        classes: class names; label ``i`` is ``classes[i]``.
        train, val, test: the splits; their ``attributes`` hold the other groupings.
        augment: the training augmentation this content allows.
        minority: for groupings that declare them, the groups that are minorities.
        pair_ids: int64 [N_test] counterfactual pair of each test sample, or None.
        hygiene: what reading the files found (skipped names, duplicates), or None.
        files: every image the dataset read (``data_split.csv``: source, split, reason,
            sample_id, duplicate_set), or None: then it is made from the splits' sources.
    """

    name: str
    classes: tuple[str, ...]
    train: Split
    val: Split
    test: Split
    augment: AugmentSpec = AugmentSpec()
    minority: dict[str, tuple[str, ...]] = field(default_factory=dict)
    pair_ids: np.ndarray | None = None
    hygiene: dict | None = None
    files: pd.DataFrame | None = None

    @property
    def channels(self) -> int:
        return int(self.train.images.shape[1])

    @property
    def image_size(self) -> int:
        return int(self.train.images.shape[-1])

    @property
    def groupings(self) -> list[str]:
        """Names of every grouping of the test samples, ``class`` first."""
        return ["class", *self.test.attributes.columns]

    @cached_property
    def mean_std(self) -> tuple[tuple[float, ...], tuple[float, ...]]:
        """Per-channel mean and std of the training images, scaled to [0, 1]."""
        total = torch.zeros(self.channels, dtype=torch.float64)
        squares = torch.zeros(self.channels, dtype=torch.float64)
        for chunk in self.train.images.split(4096):
            pixels = chunk.transpose(0, 1).reshape(self.channels, -1).double() / 255
            total += pixels.sum(dim=1)
            squares += (pixels * pixels).sum(dim=1)
        count = self.train.images[:, 0].numel()
        mean = total / count
        std = (squares / count - mean * mean).clamp_min(1e-6).sqrt()
        return tuple(mean.tolist()), tuple(std.tolist())

    def test_groups(self) -> pd.DataFrame:
        """The rows of ``test_groups.csv``: sample_id, label, [pair_id], [source], class,
        groupings."""
        return self._groups(self.test, self.pair_ids)

    def val_groups(self) -> pd.DataFrame:
        """The rows of ``val_groups.csv``: sample_id, label, [source], class, groupings."""
        return self._groups(self.val, None)

    def _groups(self, split: Split, pair_ids: np.ndarray | None) -> pd.DataFrame:
        labels = split.labels.numpy()
        frame = pd.DataFrame({"sample_id": split.sample_ids.numpy(), "label": labels})
        if pair_ids is not None:
            frame["pair_id"] = pair_ids
        if split.sources is not None:
            frame["source"] = split.sources
        frame["class"] = np.asarray(self.classes, dtype=object)[labels]
        for column in self.test.attributes.columns:
            frame[column] = split.attributes[column].astype(str).to_numpy()
        return frame

    def data_split(self, before: ImageData | None = None) -> pd.DataFrame | None:
        """The rows of ``data_split.csv``: every image read, its split, or why it was dropped;
        training images of ``before`` (the loader's split) that the long tail or
        ``data.max_train_per_class`` left out are dropped as not sampled. None for a dataset
        without sources."""
        before = before or self
        files = before.files if before.files is not None else split_files(
            {"train": before.train, "val": before.val, "test": before.test})
        if files is None:
            return None
        files = files.copy()
        trained = set(self.train.sample_ids.tolist())
        unused = (files["split"] == "train") & ~files["sample_id"].isin(trained)
        files.loc[unused, "split"] = "dropped"
        files.loc[unused, "reason"] = "not sampled (data.max_train_per_class or the long tail)"
        return files[["source", "split", "reason", "sample_id", "duplicate_set"]]

    def summary(self) -> dict:
        """Sizes and class counts, for run.json."""
        n = len(self.classes)
        return {"name": self.name, "classes": list(self.classes), "channels": self.channels,
                "image_size": self.image_size, "n_train": len(self.train),
                "n_val": len(self.val), "n_test": len(self.test),
                "train_class_counts": self.train.class_counts(n).tolist(),
                "groupings": self.groupings,
                "minority": {k: list(v) for k, v in self.minority.items()},
                **({"hygiene": self.hygiene} if self.hygiene is not None else {})}


def split_files(splits: dict[str, Split]) -> pd.DataFrame | None:
    """``data_split.csv``'s rows made from the splits' sources, every image kept (reason
    and duplicate_set empty), in the splits' order; None where a split has no sources."""
    if any(split.sources is None for split in splits.values()):
        return None
    return pd.DataFrame({
        "source": np.concatenate([s.sources for s in splits.values()]),
        "split": np.repeat(list(splits), [len(s) for s in splits.values()]),
        "reason": "",
        "sample_id": pd.array(np.concatenate([s.sample_ids.numpy() for s in splits.values()]),
                              dtype="Int64"),
        "duplicate_set": pd.array([pd.NA] * sum(map(len, splits.values())), dtype="Int64")})


def stratified_split(labels: np.ndarray, sizes: Sequence[int],
                     rng: np.random.Generator) -> list[np.ndarray]:
    """Shuffle each class and cut it into consecutive parts of ``sizes`` samples per class.

    Returns one index array per part (the last part takes what remains of each class),
    each sorted ascending so that splits do not depend on the shuffle order.
    """
    parts: list[list[np.ndarray]] = [[] for _ in range(len(sizes) + 1)]
    for c in np.unique(labels):
        index = rng.permutation(np.flatnonzero(labels == c))
        for part, chunk in zip(parts, np.split(index, np.cumsum(sizes)), strict=True):
            part.append(chunk)
    return [np.sort(np.concatenate(p)) for p in parts]


def split_off_validation(train: Split, fraction: float, seed: int) -> tuple[Split, Split]:
    """(train, val): a stratified ``fraction`` of every class moves to validation."""
    if not 0 < fraction < 1:
        raise bad_setting("data.val_fraction", fraction, "a number between 0 and 1 (exclusive)")
    labels = train.labels.numpy()
    rng = np.random.default_rng([seed, DATA_SALTS["validation_split"]])
    val = []
    for c in np.unique(labels):
        of_class = rng.permutation(np.flatnonzero(labels == c))
        val.append(of_class[:max(1, round(fraction * len(of_class)))] if len(of_class) > 1
                   else [])
    val_index = np.sort(np.concatenate(val)).astype(np.int64)
    keep = np.setdiff1d(np.arange(len(labels)), val_index)
    return train.subset(keep), train.subset(val_index)


def with_intersection(split: Split, classes: Sequence[str], attribute: str,
                      other: str = "class") -> Split:
    """Add the grouping ``<other>&<attribute>``, e.g. ``class&color`` (``airplane&gray``)
    or ``race&age_group`` (``Asian&20-29``)."""
    def values(name: str) -> np.ndarray:
        if name == "class":
            return np.asarray(classes, dtype=object)[split.labels.numpy()]
        return split.attributes[name].to_numpy(dtype=object)
    return split.with_attribute(f"{other}&{attribute}", values(other) + "&" + values(attribute))


INTERSECTIONS = ("pairs", "none")


def add_intersections(data: ImageData, intersections: str | Sequence[str]) -> ImageData:
    """Add intersectional groupings of the dataset's attributes: ``pairs`` (default: the
    class with each attribute, and every two attributes), ``none``, or a list of names such
    as ``["class&race", "race&gender"]``. Groupings the dataset has already are kept."""
    attributes = [c for c in data.test.attributes.columns if "&" not in c]
    if isinstance(intersections, str) and intersections in INTERSECTIONS:
        wanted = [] if intersections == "none" else (
            [f"class&{a}" for a in attributes]
            + [f"{a}&{b}" for i, a in enumerate(attributes) for b in attributes[i + 1:]])
    elif isinstance(intersections, list | tuple) and all(isinstance(w, str)
                                                          for w in intersections):
        wanted = list(intersections)
    else:
        raise bad_setting("data.intersections", intersections,
                          "pairs, none, or a list of names such as [class&race]")
    known = ["class", *attributes]
    for name in wanted:
        parts = name.split("&")
        if len(parts) != 2 or not all(p in known for p in parts) or parts[0] == parts[1]:
            raise bad_setting("data.intersections", list(wanted) if not isinstance(
                intersections, str) else intersections,
                f"names <a>&<b> of two of {', '.join(known)}; {name!r} is not")
    for name in wanted:
        if name in data.test.attributes.columns:
            continue
        other, attribute = name.split("&")
        joined = replace(data, **{split: with_intersection(getattr(data, split), data.classes,
                                                           attribute, other)
                                  for split in ("train", "val", "test")})
        if not _redundant(joined, name):
            data = joined
    return data


def _redundant(data: ImageData, name: str) -> bool:
    """Whether an intersection only repeats one of its parts (every class of CIFAR-100 is in
    one superclass, so class&superclass is class again)."""
    def column(split: Split, part: str) -> pd.Series:
        if part == "class":
            return pd.Series(split.labels.numpy())
        return split.attributes[part].reset_index(drop=True)
    splits = (data.train, data.val, data.test)
    joined = pd.concat([s.attributes[name] for s in splits]).nunique()
    return any(pd.concat([column(s, part) for s in splits]).nunique() == joined
               for part in name.split("&"))


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

    Minority classes are those whose training count is below the median class count; they
    are declared the minority of both ``train_frequency`` and ``class``. Validation and
    test splits keep their size.
    """
    if not isinstance(ratio, int | float) or not ratio >= 1:
        raise bad_setting("data.imbalance_ratio", ratio, "a number >= 1 (1 keeps the split as is)")
    if ratio == 1:
        return data
    n_classes = len(data.classes)
    labels = data.train.labels.numpy()
    counts = long_tail_counts(data.train.class_counts(n_classes), ratio)
    rng = np.random.default_rng([seed, DATA_SALTS["long_tail"]])
    keep = np.sort(np.concatenate([rng.permutation(np.flatnonzero(labels == c))[:counts[c]]
                                   for c in range(n_classes)]))
    train = data.train.subset(keep)
    frequency = np.where(counts < np.median(counts), MINORITY, MAJORITY)
    minority_classes = tuple(c for c, f in zip(data.classes, frequency, strict=True)
                             if f == MINORITY)
    return replace(
        data,
        train=train.with_attribute("train_frequency", frequency[train.labels.numpy()]),
        val=data.val.with_attribute("train_frequency", frequency[data.val.labels.numpy()]),
        test=data.test.with_attribute("train_frequency", frequency[data.test.labels.numpy()]),
        minority={**data.minority, "class": minority_classes, "train_frequency": (MINORITY,)})


def cap_training_classes(data: ImageData, cap: int, seed: int) -> ImageData:
    """Keep at most ``cap`` training images of each class (a seeded random subset)."""
    if not isinstance(cap, int) or isinstance(cap, bool) or cap < 1:
        raise bad_setting("data.max_train_per_class", cap, "a positive integer, or null for all")
    labels = data.train.labels.numpy()
    rng = np.random.default_rng([seed, DATA_SALTS["max_train_per_class"]])
    keep = np.sort(np.concatenate([rng.permutation(np.flatnonzero(labels == c))[:cap]
                                   for c in range(len(data.classes))]))
    return replace(data, train=data.train.subset(keep))


def declare_minorities(data: ImageData) -> ImageData:
    """Declare, for every attribute grouping that has not declared its own, the groups whose
    training count is below the median group count (groups absent from training included).

    A balanced grouping declares none. For two groups this is the smaller one; for
    CIFAR-10S's ``class&color`` the ten 5% colour/class combinations.
    """
    minority = dict(data.minority)
    for column in data.test.attributes.columns:
        if column in minority or column not in data.train.attributes.columns:
            continue
        groups = sorted(set(data.test.attributes[column]) | set(data.train.attributes[column]))
        counts = data.train.attributes[column].value_counts().reindex(groups, fill_value=0)
        below = tuple(g for g in groups if counts[g] < np.median(counts.to_numpy()))
        if below:
            minority[column] = below
    return replace(data, minority=minority)


def check_attribute_columns(data: ImageData, source: str) -> None:
    """Refuse an attribute grouping that holds one value only on the test split."""
    for column in data.test.attributes.columns:
        values = data.test.attributes[column].unique()
        if len(values) < 2:
            raise FairensError(f"{source}: attribute column {column!r} holds one value only "
                               f"({values[0]!r}) on the test split, so it defines no subgroups; "
                               "drop it from data.sensitive")


def available_memory() -> int:
    """Bytes of memory this machine can give now (Linux ``MemAvailable``, else free pages)."""
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_AVPHYS_PAGES")


def check_memory(n_images: int, channels: int, size: int) -> None:
    """Refuse a ``data.image_size`` whose decoded images (uint8) would not fit in memory,
    before they are allocated: a run that would be killed by the system, or swap for hours."""
    needed, available = n_images * channels * size * size, available_memory()
    if needed > available:
        raise bad_setting("data.image_size", size, f"a size whose {n_images:,} decoded images fit "
                                                   f"in memory: they need {needed / 1e9:.1f} GB, "
                                                   f"{available / 1e9:.1f} GB are available")


def resize(data: ImageData, size: int) -> ImageData:
    """All splits resized to ``size`` x ``size`` (bilinear, antialiased), still uint8."""
    if not isinstance(size, int) or size < 1:
        raise bad_setting("data.image_size", size, "a positive number of pixels, or null")
    if size == data.image_size:
        return data
    check_memory(len(data.train) + len(data.val) + len(data.test), data.channels, size)
    return replace(data, train=_resize_split(data.train, size), val=_resize_split(data.val, size),
                   test=_resize_split(data.test, size))


def _resize_split(split: Split, size: int) -> Split:
    out = torch.empty((len(split), split.images.shape[1], size, size), dtype=torch.uint8)
    # float working copies of at most 256 MB
    chunk = max(1, (1 << 28) // (4 * split.images.shape[1] * max(size, split.images.shape[2]) ** 2))
    for start in range(0, len(split), chunk):
        batch = split.images[start:start + chunk].float()
        resized = F.interpolate(batch, size=(size, size), mode="bilinear", antialias=True,
                                align_corners=False)
        out[start:start + chunk] = resized.round().clamp(0, 255).to(torch.uint8)
    return replace(split, images=out)
