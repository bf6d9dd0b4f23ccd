"""CelebA in torchvision's layout: a binary target attribute and protected attributes.

``data.root`` holds ``celeba/`` (or is that folder) with ``img_align_celeba/*.jpg``,
``list_attr_celeba.txt`` and ``list_eval_partition.txt``. The text files are parsed here
rather than through ``torchvision.datasets.CelebA``, whose md5 checks reject any copy
but the official archive.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from ..errors import FairensError, UsageError, bad_file, check_flag
from .base import AugmentSpec, ImageData, Split
from .decode import decode_cached
from .duplicates import separate_splits
from .registry import register_dataset

_FILES = ("list_attr_celeba.txt", "list_eval_partition.txt")
_SPLITS = {"train": 0, "val": 1, "test": 2}
_CROP = 178  # the aligned faces are 178x218: a centred square before resizing


def _find_folder(root: str | Path | None, download: bool) -> Path:
    if root is None:
        raise UsageError("data.root is required for data=celeba: the folder that holds celeba/")
    root = Path(root).expanduser()
    if download:
        from torchvision.datasets import CelebA
        CelebA(root=str(root), split="all", download=True)
    for candidate in (root / "celeba", root):
        if all((candidate / f).is_file() for f in _FILES):
            return candidate
    raise FairensError(f"data.root={root}: no CelebA here (looked for {root / 'celeba'}/ with "
                       f"img_align_celeba/, {_FILES[0]} and {_FILES[1]}); set data.download=true "
                       "to fetch it with torchvision, or download it from "
                       "https://mmlab.ie.cuhk.edu.hk/projects/CelebA.html")


def _read_attributes(path: Path) -> pd.DataFrame:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
        names = lines[1].split()
        rows = [line.split() for line in lines[2:] if line.strip()]
    except (OSError, UnicodeDecodeError, IndexError) as exc:
        raise bad_file(path, f"not a CelebA attribute list ({exc})") from exc
    bad = next((i for i, row in enumerate(rows) if len(row) != len(names) + 1), None)
    if bad is not None:
        raise bad_file(path, f"line {bad + 3} has {len(rows[bad]) - 1} values for "
                             f"{len(names)} attributes")
    table = pd.DataFrame([r[1:] for r in rows], index=[r[0] for r in rows], columns=names)
    return table.astype(int) > 0


def _read_partition(path: Path) -> pd.Series:
    try:
        table = pd.read_csv(path, sep=r"\s+", header=None, names=["image", "split"],
                            dtype={"image": str, "split": int})
    except (OSError, ValueError, pd.errors.ParserError) as exc:
        raise bad_file(path, f"not a CelebA partition list ({exc})") from exc
    return table.set_index("image")["split"]


@register_dataset("celeba")
def load_celeba(*, root: str | None = None, download: bool = False,
                target_attr: str = "Blond_Hair", sensitive: list[str] | None = None,
                image_size: int = 64, cache_dir: str | None = None,
                near_duplicates: bool = False) -> ImageData:
    """CelebA faces, centre-cropped and resized to ``image_size``; the label is whether
    ``target_attr`` is present; each ``sensitive`` attribute (default ``Male``) is a
    grouping, and ``data.intersections`` adds its intersection with the label (blond & male
    is the classic minority). Decoded images are cached under ``cache_dir``."""
    folder = _find_folder(root, download)
    sensitive = ["Male"] if sensitive is None else list(sensitive)
    attributes = _read_attributes(folder / _FILES[0])
    unknown = [a for a in [target_attr, *sensitive] if a not in attributes.columns]
    if unknown:
        raise UsageError(f"data.target_attr/data.sensitive name unknown CelebA attributes "
                         f"{unknown}; known: {', '.join(attributes.columns)}")
    partition = _read_partition(folder / _FILES[1]).reindex(attributes.index)
    if partition.isna().any():
        missing = partition.index[partition.isna()][0]
        raise bad_file(folder / _FILES[1], f"has no split for {missing}")
    paths = [folder / "img_align_celeba" / name for name in attributes.index]
    images = decode_cached(paths, size=image_size, crop=_CROP, name="celeba",
                           cache_dir=cache_dir)
    labels = torch.from_numpy(attributes[target_attr].to_numpy().astype(np.int64))
    everything = Split(images, labels, torch.arange(len(labels), dtype=torch.int64),
                       sources=np.array([f"img_align_celeba/{name}" for name in attributes.index],
                                        dtype=object))
    for attribute in sensitive:
        values = np.where(attributes[attribute].to_numpy(), attribute, f"not_{attribute}")
        everything = everything.with_attribute(attribute, values)
    classes = (f"not_{target_attr}", target_attr)
    splits = {name: everything.subset(np.flatnonzero(partition.to_numpy() == code))
              for name, code in _SPLITS.items()}
    data = ImageData(name="celeba", classes=classes, augment=AugmentSpec(pad=image_size // 8,
                                                                         flip=True), **splits)
    check_flag("data.near_duplicates", near_duplicates)
    if not near_duplicates:
        return data
    splits, files, hygiene = separate_splits(splits, folder, cache_dir=cache_dir)
    return replace(data, files=files, hygiene=hygiene, **splits)
