"""Datasets by name: ``data=<name>`` looks its loader up here."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from ..errors import FairensError, UsageError, bad_setting, unknown_name
from .base import (
    ImageData,
    add_intersections,
    cap_training_classes,
    check_attribute_columns,
    declare_minorities,
    make_long_tailed,
    resize,
)

Loader = Callable[..., ImageData]
_DATASETS: dict[str, Loader] = {}
MAX_IMAGE_SIZE = 2048  # a larger side is a typo: 60,000 images would need terabytes


def register_dataset(name: str) -> Callable[[Loader], Loader]:
    """Decorator: make a loader available as ``data=<name>``.

    A loader takes keyword-only options (its Hydra config keys) and returns the dataset at
    its native resolution with a balanced or natural training split.
    """
    def add(loader: Loader) -> Loader:
        _DATASETS[name] = loader
        return loader
    return add


def check_image_size(size: Any) -> None:
    """Refuse a ``data.image_size`` that is not null or a side from 1 to MAX_IMAGE_SIZE."""
    if size is not None and not (isinstance(size, int) and not isinstance(size, bool)
                                 and 1 <= size <= MAX_IMAGE_SIZE):
        raise bad_setting("data.image_size", size, f"a number of pixels from 1 to "
                                                   f"{MAX_IMAGE_SIZE}, or null")


def list_datasets() -> list[str]:
    """Names of every registered dataset, sorted."""
    return sorted(_DATASETS)


def load_dataset(name: str, *, seed: int = 0, imbalance_ratio: float = 1.0,
                 image_size: int | None = None, max_train_per_class: int | None = None,
                 intersections: str | list[str] = "pairs", **options: Any) -> ImageData:
    """Load dataset ``name``, then make its training split long-tailed and resize it.

    Args:
        name: a registered dataset name.
        seed: drives the splits and the long-tail subsampling (not the ensemble seeds:
            every member sees the same data).
        imbalance_ratio: largest over smallest training class size; 1 keeps the split.
        image_size: side in pixels to resize every image to; None keeps the native size.
        max_train_per_class: keep at most this many training images of each class (a
            seeded stratified subset, e.g. for CPU runs on CIFAR); None keeps all.
        intersections: intersectional groupings of the dataset's attributes (``pairs``: the
            class with each attribute and every two attributes; ``none``; or a list of names
            such as ``[class&race]``).
        **options: the loader's own options (``root``, ``download``, ...).

    Attribute groupings are checked (each must hold at least two groups on the test split)
    and their minorities declared: the groups below the median training count.
    """
    if name not in _DATASETS:
        raise unknown_name("data", name, _DATASETS)
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise bad_setting("data.seed", seed, "a non-negative integer")
    check_image_size(image_size)
    loader = _DATASETS[name]
    accepted = inspect.signature(loader).parameters
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        allowed = ", ".join(sorted({*accepted, "seed", "imbalance_ratio", "image_size",
                                    "max_train_per_class", "intersections"}))
        raise UsageError(f"data={name} has no setting {', '.join(unknown)}; "
                         f"its settings are {allowed}")
    if "seed" in accepted:
        options["seed"] = seed
    if "image_size" in accepted and image_size is not None:
        options["image_size"] = image_size  # decoded at that size: no second resize
    loaded = loader(**options)
    data = add_intersections(loaded, intersections)
    check_attribute_columns(data, f"data={name}")
    if max_train_per_class is not None:
        data = cap_training_classes(data, max_train_per_class, seed)
    data = declare_minorities(make_long_tailed(data, imbalance_ratio, seed))
    _check_splits(data, name)
    data = replace(data, files=data.data_split(before=loaded))
    return data if image_size is None else resize(data, image_size)


_SPLIT_NEEDS = {"train": ("1 image", 1), "val": ("1 image: validation ranks the groups and "
                                                 "chooses the epoch a member keeps", 1),
                "test": ("2 images: the analysis compares groups of test samples", 2)}


def _check_splits(data: ImageData, name: str) -> None:
    """Every split holds what training and the analysis need, found before any training."""
    for split, (needs, least) in _SPLIT_NEEDS.items():
        count = len(getattr(data, split))
        if count < least:
            raise FairensError(f"data={name}: the {split} split has {count} image(s); it needs at "
                               f"least {needs}")
