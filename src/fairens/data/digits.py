"""The embedded default: scikit-learn's bundled 8x8 handwritten digits (1,797 real images)."""

from __future__ import annotations

import numpy as np
import torch
from sklearn.datasets import load_digits as _sklearn_digits

from ..errors import bad_setting
from .base import AugmentSpec, ImageData, Split, stratified_split
from .registry import register_dataset
from .salts import DATA_SALTS


@register_dataset("digits")
def load_digits(*, seed: int = 0, test_per_class: int = 50, val_per_class: int = 20) -> ImageData:
    """Digits split per class: ``test_per_class`` test (balanced), ``val_per_class``
    validation, the rest (about 110 a class) training. No flips: a mirrored digit is
    another symbol; translation by one pixel instead."""
    bunch = _sklearn_digits()
    smallest = int(np.bincount(bunch.target).min())
    for key, value in (("test_per_class", test_per_class), ("val_per_class", val_per_class)):
        if not isinstance(value, int) or value < 1:
            raise bad_setting(f"data.{key}", value, "a positive integer")
    if test_per_class + val_per_class >= smallest:
        raise bad_setting("data.test_per_class", test_per_class,
                          f"test_per_class + val_per_class must stay below {smallest}, "
                          "the size of the smallest digit class")
    # 4-bit intensities 0..16 to the uint8 range every other dataset uses.
    images = torch.from_numpy(np.rint(bunch.images * (255 / 16)).astype(np.uint8)[:, None])
    labels = torch.from_numpy(bunch.target.astype(np.int64))
    index = np.arange(len(labels))
    everything = Split(images, labels, torch.from_numpy(index), sources=np.char.add(
        "sklearn.datasets.load_digits:", index.astype(str)).astype(object))
    test, val, train = stratified_split(bunch.target, [test_per_class, val_per_class],
                                        np.random.default_rng([seed, DATA_SALTS["digits_split"]]))
    return ImageData(
        name="digits", classes=tuple(str(c) for c in range(10)),
        train=everything.subset(train), val=everything.subset(val), test=everything.subset(test),
        augment=AugmentSpec(pad=1, flip=False))
