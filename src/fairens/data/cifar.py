"""CIFAR-10, CIFAR-100 and CIFAR-10S from torchvision's on-disk format.

``data.root`` holds ``cifar-10-batches-py/`` or ``cifar-100-python/`` exactly as
torchvision downloads them. The batches are read here rather than through
``torchvision.datasets.CIFAR10``, whose md5 check rejects any file but the official ones,
with an unpickler that admits only the numpy and builtin types those files contain.
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torchvision.transforms.v2 import functional as TF

from ..errors import FairensError, UsageError, bad_file
from .base import AugmentSpec, ImageData, Split, split_off_validation, with_intersection
from .registry import register_dataset
from .salts import DATA_SALTS

_CIFAR10 = ("cifar-10-batches-py", [f"data_batch_{i}" for i in range(1, 6)], ["test_batch"],
            "batches.meta", "label_names", "labels")
_CIFAR100 = ("cifar-100-python", ["train"], ["test"], "meta", "fine_label_names", "fine_labels")
_TEST_ID_OFFSET = 1_000_000  # test sample ids follow the training ids
_CIFAR_AUGMENT = AugmentSpec(pad=4, flip=True)


class _CifarUnpickler(pickle.Unpickler):
    """Loads CIFAR batches (dicts of lists, strings and numpy arrays) and nothing else."""

    _ALLOWED = frozenset({("numpy.core.multiarray", "_reconstruct"),
                          ("numpy._core.multiarray", "_reconstruct"), ("numpy", "ndarray"),
                          ("numpy", "dtype"), ("_codecs", "encode")})

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in self._ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name}")
        return super().find_class(module, name)


def _read_pickle(path: Path) -> dict[str, Any]:
    try:
        with open(path, "rb") as f:
            entry = _CifarUnpickler(f, encoding="latin1").load()
    except (pickle.UnpicklingError, EOFError, OSError, ValueError, TypeError) as exc:
        raise bad_file(path, f"not a CIFAR batch file as torchvision writes it ({exc})") from exc
    if not isinstance(entry, dict):
        raise bad_file(path, "not a CIFAR batch file: it holds no dictionary")
    return entry


def _find_folder(root: str | Path | None, folder: str, meta_file: str, download: bool,
                 title: str, downloader: Any) -> Path:
    if root is None:
        raise UsageError(f"data.root is required for {title}: the folder that holds {folder}/")
    root = Path(root).expanduser()
    if download:
        downloader(root=str(root), train=True, download=True)
        downloader(root=str(root), train=False, download=True)
    for candidate in (root / folder, root):
        if (candidate / meta_file).is_file():
            return candidate
    raise FairensError(f"data.root={root}: no {title} here (looked for {root / folder}/); "
                       f"set data.download=true to fetch it with torchvision, or point data.root "
                       f"at the folder that holds {folder}/")


def _read_batches(folder: Path, files: list[str], label_key: str,
                  n_classes: int) -> tuple[np.ndarray, dict[str, np.ndarray], np.ndarray]:
    """(images uint8 [N, 3, 32, 32], label lists by key, each image's source
    ``<batch file>:<row>``) of the batch files."""
    images, labels, sources = [], {}, []
    for name in files:
        path = folder / name
        if not path.is_file():
            raise bad_file(path, "missing CIFAR batch file")
        entry = _read_pickle(path)
        data = np.asarray(entry.get("data"))
        if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3 * 32 * 32:
            raise bad_file(path, f"'data' must be uint8 [N, 3072], got {data.dtype} "
                                 f"{list(data.shape)}")
        images.append(data.reshape(-1, 3, 32, 32))
        sources.append(np.char.add(f"{name}:", np.arange(len(data)).astype(str)).astype(object))
        for key, value in entry.items():
            if key.endswith("labels"):
                labels.setdefault(key, []).append(np.asarray(value, dtype=np.int64))
    merged = {key: np.concatenate(value) for key, value in labels.items()}
    if label_key not in merged:
        raise bad_file(folder / files[0], f"has no '{label_key}' list")
    bad = merged[label_key][(merged[label_key] < 0) | (merged[label_key] >= n_classes)]
    if len(bad):
        raise bad_file(folder / files[0], f"label {int(bad[0])} is not in the class list "
                                          f"(0..{n_classes - 1})")
    return np.concatenate(images), merged, np.concatenate(sources)


def _load(spec: tuple, *, root: str | Path | None, download: bool, val_fraction: float,
          seed: int, name: str, title: str, downloader: Any) -> tuple[ImageData, dict]:
    folder_name, train_files, test_files, meta_file, names_key, label_key = spec
    folder = _find_folder(root, folder_name, meta_file, download, title, downloader)
    meta = _read_pickle(folder / meta_file)
    classes = tuple(meta[names_key])
    train_images, train_labels, train_sources = _read_batches(folder, train_files, label_key,
                                                              len(classes))
    test_images, test_labels, test_sources = _read_batches(folder, test_files, label_key,
                                                           len(classes))
    pool = Split(torch.from_numpy(train_images), torch.from_numpy(train_labels[label_key]),
                 torch.arange(len(train_images), dtype=torch.int64), sources=train_sources)
    test = Split(torch.from_numpy(test_images), torch.from_numpy(test_labels[label_key]),
                 torch.arange(len(test_images), dtype=torch.int64) + _TEST_ID_OFFSET,
                 sources=test_sources)
    train, val = split_off_validation(pool, val_fraction, seed)
    data = ImageData(name=name, classes=classes, train=train, val=val, test=test,
                     augment=_CIFAR_AUGMENT)
    return data, {"meta": meta, "train": train_labels, "test": test_labels}


@register_dataset("cifar10")
def load_cifar10(*, root: str | None = None, download: bool = False,
                 val_fraction: float = 0.1, seed: int = 0) -> ImageData:
    """CIFAR-10: 50,000 training (a stratified ``val_fraction`` held out) and 10,000 test
    images of 10 classes; grouping ``class``."""
    from torchvision.datasets import CIFAR10
    data, _ = _load(_CIFAR10, root=root, download=download, val_fraction=val_fraction,
                    seed=seed, name="cifar10", title="CIFAR-10", downloader=CIFAR10)
    return data


@register_dataset("cifar100")
def load_cifar100(*, root: str | None = None, download: bool = False,
                  val_fraction: float = 0.1, seed: int = 0) -> ImageData:
    """CIFAR-100: 100 classes; groupings ``class`` and ``superclass`` (the 20 coarse labels)."""
    from torchvision.datasets import CIFAR100
    data, extra = _load(_CIFAR100, root=root, download=download, val_fraction=val_fraction,
                        seed=seed, name="cifar100", title="CIFAR-100", downloader=CIFAR100)
    coarse_names = np.asarray(extra["meta"]["coarse_label_names"], dtype=object)
    # the coarse label of each fine class, from the training labels
    fine, coarse = extra["train"]["fine_labels"], extra["train"]["coarse_labels"]
    coarse_of = np.zeros(len(data.classes), dtype=np.int64)
    coarse_of[fine] = coarse
    def superclass(split: Split) -> Split:
        return split.with_attribute("superclass", coarse_names[coarse_of[split.labels.numpy()]])
    return ImageData(name=data.name, classes=data.classes, train=superclass(data.train),
                     val=superclass(data.val), test=superclass(data.test), augment=data.augment)


def _to_gray(images: torch.Tensor) -> torch.Tensor:
    return TF.rgb_to_grayscale(images, num_output_channels=3)


def _cifar10_base(root: str | None, download: bool, val_fraction: float, seed: int,
                  cache_dir: str | None) -> ImageData:
    """CIFAR-10 from torchvision's batches, or from the JPEG tree
    ``root/{train,test}/<class>/*.jpg`` (read as data=imagefolder reads it)."""
    from torchvision.datasets import CIFAR10
    tree = Path(root).expanduser() if root is not None else None
    if tree is not None and (tree / "train").is_dir() and (tree / "test").is_dir():
        from .folder import load_imagefolder
        base = load_imagefolder(root=str(tree), val_fraction=val_fraction, seed=seed,
                                cache_dir=cache_dir)
        if len(base.classes) != 10:
            raise FairensError(f"data.root={tree}: an image tree of {len(base.classes)} "
                               "classes, where CIFAR-10 has 10")
        return base
    base, _ = _load(_CIFAR10, root=root, download=download, val_fraction=val_fraction,
                    seed=seed, name="cifar10s", title="CIFAR-10", downloader=CIFAR10)
    return base


@register_dataset("cifar10s")
def load_cifar10s(*, root: str | None = None, download: bool = False,
                  val_fraction: float = 0.1, seed: int = 0, skew: float = 0.95,
                  color_classes: list[int] | None = None,
                  cache_dir: str | None = None) -> ImageData:
    """CIFAR-10 Skewed (Wang et al., CVPR 2020): in training (and validation), the
    ``color_classes`` (default the first five) are ``skew`` colour and 1 - ``skew``
    grayscale, the other classes the reverse; the test split holds every test image twice,
    in colour and in grayscale, as a counterfactual pair. Groupings ``color``
    (``color``/``gray``) and ``class&color``. ``data.root`` holds torchvision's
    ``cifar-10-batches-py/`` or the JPEG tree ``{train,test}/<class>/*.jpg``."""
    if not 0.5 <= skew <= 1:
        raise UsageError(f"data.skew={skew!r} is not allowed: a fraction from 0.5 to 1")
    base = _cifar10_base(root, download, val_fraction, seed, cache_dir)
    color_classes = list(range(5)) if color_classes is None else list(color_classes)
    rng = np.random.default_rng([seed, DATA_SALTS["cifar10s_skew"]])

    def skewed(split: Split) -> Split:
        labels = split.labels.numpy()
        gray = np.zeros(len(labels), dtype=bool)
        for c in range(len(base.classes)):
            of_class = rng.permutation(np.flatnonzero(labels == c))
            share = 1 - skew if c in color_classes else skew
            gray[of_class[:round(share * len(of_class))]] = True
        images = split.images.clone()
        images[torch.from_numpy(gray)] = _to_gray(split.images[torch.from_numpy(gray)])
        out = Split(images, split.labels, split.sample_ids, split.attributes, split.sources)
        return with_intersection(out.with_attribute("color", np.where(gray, "gray", "color")),
                                 base.classes, "color")

    test = base.test
    doubled = Split(torch.cat([test.images, _to_gray(test.images)]),
                    torch.cat([test.labels, test.labels]),
                    torch.cat([test.sample_ids, test.sample_ids + _TEST_ID_OFFSET]),
                    sources=np.concatenate([test.sources, test.sources + " (gray copy)"]))
    doubled = with_intersection(
        doubled.with_attribute("color", ["color"] * len(test) + ["gray"] * len(test)),
        base.classes, "color")
    pair_ids = np.concatenate([test.sample_ids.numpy()] * 2)
    return ImageData(name="cifar10s", classes=base.classes, train=skewed(base.train),
                     val=skewed(base.val), test=doubled, augment=base.augment,
                     pair_ids=pair_ids)
