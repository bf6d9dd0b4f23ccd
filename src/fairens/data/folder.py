"""Image files on disk: an ImageFolder tree, or a CSV manifest of paths, labels and attributes."""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from ..errors import FairensError, UsageError, bad_file, check_flag
from ..files import read_csv_text
from .base import AugmentSpec, ImageData, Split, split_off_validation
from .decode import decode_cached
from .duplicates import separate_splits
from .registry import register_dataset

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")
_AUGMENT = AugmentSpec(pad=4, flip=True)


def _image_files(folder: Path) -> list[Path]:
    # os.scandir and string sorting: pathlib's iterdir and Path ordering took 1.6 s of a
    # 2.1 s cached load of CIFAR-10's 60,000 files (benchmarks/data_pipeline.py)
    with os.scandir(folder) as entries:
        names = sorted(e.name for e in entries
                       if os.path.splitext(e.name)[1].lower() in IMAGE_SUFFIXES)
    return [folder / name for name in names]


def _folder_split(root: Path, split: str, classes: list[str]) -> list[tuple[Path, int]]:
    entries = []
    for folder in sorted(p for p in (root / split).iterdir() if p.is_dir()):
        if folder.name not in classes:
            raise bad_file(folder, f"class {folder.name!r} is not in the class list of "
                                   f"{root / 'train'} ({', '.join(classes)})")
        entries += [(path, classes.index(folder.name)) for path in _image_files(folder)]
    if not entries:
        raise bad_file(root / split, "holds no images (expected <class>/*.jpg or *.png)")
    return entries


def _attributes(csv: Path, root: Path, paths: list[Path]) -> pd.DataFrame:
    table = read_csv_text(csv, "data.attributes_csv, a CSV file", unique="path")
    if "path" not in table.columns or len(table.columns) < 2:
        raise bad_file(csv, "needs a 'path' column (relative to data.root) and attribute columns")
    table = table.set_index(table["path"].map(lambda p: str(Path(p)))).drop(columns="path")
    if table.index.has_duplicates:  # the same file written two ways (a/b.png, a//b.png)
        raise bad_file(csv, f"path {table.index[table.index.duplicated()][0]!r} appears more "
                            "than once; each image may have one row")
    keys = [str(p.relative_to(root)) for p in paths]
    missing = [k for k in keys if k not in table.index]
    if missing:
        raise bad_file(csv, f"has no row for {len(missing)} image(s), e.g. {missing[0]}")
    return table.loc[keys].reset_index(drop=True)


def _stack(entries: list[tuple[Path, int]], images: torch.Tensor, start_id: int,
           attributes: pd.DataFrame, root: Path) -> Split:
    labels = torch.tensor([label for _, label in entries], dtype=torch.int64)
    ids = torch.arange(start_id, start_id + len(entries), dtype=torch.int64)
    sources = np.array([os.path.relpath(path, root) for path, _ in entries], dtype=object)
    return Split(images, labels, ids, attributes.reset_index(drop=True), sources)


@register_dataset("imagefolder")
def load_imagefolder(*, root: str | None = None, attributes_csv: str | None = None,
                     val_fraction: float = 0.1, seed: int = 0, image_size: int | None = None,
                     cache_dir: str | None = None, near_duplicates: bool = False) -> ImageData:
    """``root/train/<class>/*`` and ``root/test/<class>/*`` (jpg/png), classes from the
    training folders; a stratified ``val_fraction`` of training becomes validation. An
    ``attributes_csv`` (``path`` relative to root, then one column per attribute) adds
    groupings. ``near_duplicates``: no near-duplicate set spans two splits
    (:func:`~fairens.data.duplicates.separate_splits`)."""
    if root is None:
        raise UsageError("data.root is required for data=imagefolder: the folder that holds "
                         "train/<class>/ and test/<class>/")
    root = Path(root).expanduser()
    if not (root / "train").is_dir() or not (root / "test").is_dir():
        raise FairensError(f"data.root={root}: no ImageFolder tree here (looked for "
                           f"{root / 'train'}/<class>/ and {root / 'test'}/<class>/)")
    classes = sorted(p.name for p in (root / "train").iterdir() if p.is_dir())
    entries = {s: _folder_split(root, s, classes) for s in ("train", "test")}
    paths = [path for s in ("train", "test") for path, _ in entries[s]]
    images = decode_cached(paths, size=image_size, name=f"imagefolder-{root.name}",
                           cache_dir=cache_dir)
    if attributes_csv is not None:
        attributes = _attributes(Path(attributes_csv).expanduser(), root, paths)
    else:
        attributes = pd.DataFrame(index=range(len(paths)))
    n_train = len(entries["train"])
    pool = _stack(entries["train"], images[:n_train], 0, attributes.iloc[:n_train], root)
    test = _stack(entries["test"], images[n_train:], n_train, attributes.iloc[n_train:], root)
    train, val = split_off_validation(pool, val_fraction, seed)
    return _given_split(ImageData(name="imagefolder", classes=tuple(classes), train=train,
                                  val=val, test=test, augment=_AUGMENT),
                        root, near_duplicates, cache_dir)


def _given_split(data: ImageData, root: Path, near_duplicates: bool,
                 cache_dir: str | None) -> ImageData:
    """``data`` with no near-duplicate set across its splits, where asked."""
    check_flag("data.near_duplicates", near_duplicates)
    if not near_duplicates:
        return data
    splits, files, hygiene = separate_splits({"train": data.train, "val": data.val,
                                              "test": data.test}, root, cache_dir=cache_dir)
    return replace(data, files=files, hygiene=hygiene, **splits)


_REQUIRED = ("path", "label", "split")


def _read_manifest(manifest: Path) -> pd.DataFrame:
    if not manifest.is_file():
        raise FairensError(f"data.manifest={manifest}: no such file (a CSV with columns "
                           "path,label,split and any attribute columns)")
    table = read_csv_text(manifest, "data.manifest, a CSV file", unique="path")
    missing = [c for c in _REQUIRED if c not in table.columns]
    if missing:
        raise bad_file(manifest, f"missing required column(s) {', '.join(missing)}; found "
                                 f"{', '.join(table.columns)}")
    unknown = sorted(set(table["split"]) - {"train", "val", "test"})
    if unknown:
        raise bad_file(manifest, f"split must be train, val or test; found {unknown[0]!r}")
    for split in ("train", "test"):
        if not (table["split"] == split).any():
            raise bad_file(manifest, f"has no {split} rows")
    return table


def _resolve_inside(folder: Path, relative: str, manifest: Path, row: int) -> Path:
    """The path of a manifest entry; absolute paths and paths leaving the folder are refused."""
    if not relative or not relative.isprintable():
        raise bad_file(manifest, f"line {row + 2}: path {relative!r} is empty or holds control "
                                 "characters; paths must name files")
    if Path(relative).is_absolute() or relative.startswith(("\\", "/")):
        raise bad_file(manifest, f"line {row + 2}: path {relative!r} is absolute; paths must be "
                                 "relative to the manifest's folder")
    path = (folder / relative).resolve()
    if not path.is_relative_to(folder):
        raise bad_file(manifest, f"line {row + 2}: path {relative!r} leaves the manifest's "
                                 f"folder {folder}")
    return path


@register_dataset("manifest")
def load_manifest(*, manifest: str | None = None, sensitive: list[str] | None = None,
                  classes: list[str] | None = None, val_fraction: float = 0.1, seed: int = 0,
                  image_size: int | None = None, cache_dir: str | None = None,
                  near_duplicates: bool = False) -> ImageData:
    """A CSV with ``path,label,split`` (train/val/test; without val rows a stratified
    ``val_fraction`` of train) and attribute columns; ``sensitive`` names the attribute
    columns used as groupings (default: all of them). Paths are relative to the manifest's
    folder and must stay inside it. Classes are ``classes`` or the sorted training labels.
    ``near_duplicates``: no near-duplicate set spans two splits."""
    if manifest is None:
        raise UsageError("data.manifest is required for data=manifest: a CSV with columns "
                         "path,label,split")
    manifest = Path(manifest).expanduser().resolve()
    table = _read_manifest(manifest)
    attribute_columns = [c for c in table.columns if c not in _REQUIRED]
    sensitive = attribute_columns if sensitive is None else list(sensitive)
    unknown = [c for c in sensitive if c not in attribute_columns]
    if unknown:
        raise bad_file(manifest, f"data.sensitive names column(s) {unknown} that the manifest "
                                 f"lacks; its attribute columns are {attribute_columns}")
    classes = sorted(set(table.loc[table["split"] == "train", "label"])) if classes is None \
        else [str(c) for c in classes]
    stray = table[~table["label"].isin(classes)]
    if len(stray):
        raise bad_file(manifest, f"line {stray.index[0] + 2}: label {stray['label'].iloc[0]!r} "
                                 f"is not in the class list ({', '.join(classes)})")
    folder = manifest.parent
    paths = [_resolve_inside(folder, p, manifest, i) for i, p in enumerate(table["path"])]
    missing = next((p for p in paths if not p.is_file()), None)
    if missing is not None:
        raise bad_file(missing, f"listed in {manifest.name} but not found")
    images = decode_cached(paths, size=image_size, name=f"manifest-{manifest.stem}",
                           cache_dir=cache_dir)
    class_index = {name: i for i, name in enumerate(classes)}
    everything = Split(images, torch.tensor([class_index[x] for x in table["label"]]),
                       torch.arange(len(table), dtype=torch.int64),
                       table[sensitive].reset_index(drop=True),
                       table["path"].to_numpy(dtype=object))
    split = table["split"].to_numpy()
    train, test = (everything.subset(np.flatnonzero(split == s)) for s in ("train", "test"))
    if (split == "val").any():
        val = everything.subset(np.flatnonzero(split == "val"))
    else:
        train, val = split_off_validation(train, val_fraction, seed)
    return _given_split(ImageData(name="manifest", classes=tuple(classes), train=train,
                                  val=val, test=test, augment=_AUGMENT),
                        folder, near_duplicates, cache_dir)
