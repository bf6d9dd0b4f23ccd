"""UTKFace as distributed: aligned and cropped 200x200 face JPEGs whose file names carry
the labels, ``UTKFace/<age>_<gender>_<race>_<datetime>.jpg.chip.jpg``.

Gender 0 is male and 1 female; race 0 White, 1 Black, 2 Asian, 3 Indian, 4 Others (the
dataset's own coding); ages are binned into the age groups of ``AGE_GROUPS``. The target
(``data.target``) is one of gender, race and age_group; the other two are the sensitive
attributes by default.

Data hygiene, reported in ``run.json`` (``data.hygiene``) and never silent:

* a file name that does not start with ``<age>_<gender>_<race>_`` (integers; gender 0-1,
  race 0-4) is skipped, counted, and one example is named;
* byte-identical images (same SHA-256) are kept once; a set of copies whose labels disagree
  (gender, race or age group) is dropped entirely, since no one of them can be trusted;
* near-duplicates (``data.near_duplicates``, default on): re-encoded, resized or re-cropped
  copies found by perceptual hash (:mod:`fairens.data.duplicates`) form sets; a set whose
  labels disagree is dropped, the others stay whole;
* UTKFace has no official split: the kept images are split, seeded by ``data.split_seed``
  and stratified by gender x race x age group, into train / val / test of ``SPLIT_FRACTIONS``,
  identical for every member and every run with the same seed. The split assigns
  near-duplicate sets, not files, so no image or copy of it is in two splits.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from ..errors import FairensError, UsageError, bad_setting, check_flag
from .base import AugmentSpec, ImageData, Split
from .decode import decode_cached
from .duplicates import file_hashes, group_near_duplicates, label_conflicts, set_column, split_sets
from .registry import register_dataset
from .salts import DATA_SALTS

GENDERS = ("male", "female")
RACES = ("White", "Black", "Asian", "Indian", "Others")
AGE_GROUPS = ("0-2", "3-9", "10-19", "20-29", "30-39", "40-49", "50-59", "60-69", "70+")
_AGE_EDGES = (3, 10, 20, 30, 40, 50, 60, 70)  # the lower bound of each group after the first
LABELS = {"gender": GENDERS, "race": RACES, "age_group": AGE_GROUPS}
SPLIT_FRACTIONS = {"train": 0.7, "val": 0.1, "test": 0.2}
_NAME = re.compile(r"^(\d{1,3})_([01])_([0-4])_")


def age_group(age: int) -> str:
    """The age group of an age in years (``0-2``, ``3-9``, ``10-19``, ..., ``70+``)."""
    return AGE_GROUPS[int(np.searchsorted(_AGE_EDGES, age, side="right"))]


@dataclass
class Hygiene:
    """What reading the folder found: files, unparsable names, byte-identical copies and
    near-duplicate sets."""

    files: int = 0
    unparsable: int = 0
    unparsable_example: str | None = None
    duplicate_sets: int = 0
    duplicates_dropped_as_copies: int = 0
    conflicting_sets: int = 0
    conflicting_images_dropped: int = 0
    near_duplicates: bool = False
    near_duplicate_distance: int | None = None
    near_duplicate_sets: int = 0
    near_duplicate_images: int = 0
    near_duplicate_conflicting_sets: int = 0
    near_duplicate_conflicting_images_dropped: int = 0
    kept: int = 0
    split_sizes: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict:
        return dict(self.__dict__)

    def describe(self) -> str:
        near = (f"{self.near_duplicate_sets} sets of near-duplicates (perceptual hashes within "
                f"{self.near_duplicate_distance} bits; {self.near_duplicate_images} images), "
                f"{self.near_duplicate_conflicting_sets} whose labels disagree dropped "
                f"({self.near_duplicate_conflicting_images_dropped} images), the others kept "
                "whole in one split; " if self.near_duplicates
                else "near-duplicates not looked for (data.near_duplicates=false); ")
        return (f"UTKFace: {self.files} files; {self.unparsable} with an unparsable name "
                f"skipped (e.g. {self.unparsable_example!r}); {self.duplicate_sets} sets of "
                f"byte-identical copies: {self.duplicates_dropped_as_copies} copies dropped, "
                f"{self.conflicting_sets} sets whose labels disagree dropped "
                f"({self.conflicting_images_dropped} images); {near}{self.kept} kept: "
                + ", ".join(f"{k} {v}" for k, v in self.split_sizes.items()))


def _folder(root: str | None) -> Path:
    if root is None:
        raise UsageError("data.root is required for data=utkface: the folder that holds "
                         "UTKFace/")
    root = Path(root).expanduser()
    for candidate in (root / "UTKFace", root):
        if candidate.is_dir() and any(name.endswith(".jpg") for name in os.listdir(candidate)):
            return candidate
    raise FairensError(f"data.root={root}: no UTKFace here (looked for {root / 'UTKFace'}/ with "
                       "<age>_<gender>_<race>_<datetime>.jpg.chip.jpg files)")


def read_labels(folder: Path, hygiene: Hygiene, *, cache_dir: str | None,
                labels: tuple[str, ...] = tuple(LABELS), near_duplicates: bool = False,
                root: Path | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(one row per kept image: file, path, source, age, gender, race, age_group, sha256,
    duplicate_set; one row per file read: source, reason it was dropped or "").

    Unparsable names are skipped; byte-identical copies are kept once and near-duplicate
    sets (with ``near_duplicates``) kept whole, unless their ``labels`` disagree: then the
    set is dropped. ``source`` is the path relative to ``root`` (default: the folder's
    parent); hashes are cached in ``cache_dir``."""
    with os.scandir(folder) as entries:
        names = sorted(e.name for e in entries if e.is_file() and ".jpg" in e.name.lower())
    hygiene.files = len(names)
    relative = os.path.relpath(folder, root or folder.parent)
    base = "" if relative == "." else os.path.join(relative, "")
    files = pd.DataFrame({"source": [base + name for name in names], "reason": ""})
    rows = []
    for index, name in enumerate(names):
        match = _NAME.match(name)
        if match is None:
            hygiene.unparsable += 1
            hygiene.unparsable_example = hygiene.unparsable_example or name
            files.loc[index, "reason"] = "unparsable name"
            continue
        age, gender, race = (int(v) for v in match.groups())
        rows.append({"file": name, "row": index, "age": age, "gender": GENDERS[gender],
                     "race": RACES[race], "age_group": age_group(age)})
    if not rows:
        raise FairensError(f"{folder}: no image whose name starts with <age>_<gender>_<race>_ "
                           f"({hygiene.files} files looked at)")
    table = pd.DataFrame(rows)
    # paths as text: pathlib's joins cost 0.3 s per 23,708 files, a sixth of a cached load
    table["path"] = [os.path.join(folder, name) for name in table["file"]]
    table["source"] = files["source"].to_numpy()[table["row"]]
    digests, hashes = file_hashes(list(table["path"]), cache_dir=cache_dir)
    table["sha256"], table["phash"] = digests, list(hashes)
    table = _resolve_copies(table, hygiene, labels, files)
    if near_duplicates:
        table = _resolve_near_duplicates(table, hygiene, labels, files)
    else:
        table["duplicate_set"] = np.arange(len(table))
    hygiene.near_duplicates = near_duplicates
    hygiene.kept = len(table)
    return table, files


def _resolve_copies(table: pd.DataFrame, hygiene: Hygiene, labels: tuple[str, ...],
                    files: pd.DataFrame) -> pd.DataFrame:
    """Keep one of each set of byte-identical images, unless the set's labels disagree."""
    _, sets = np.unique(table["sha256"], return_inverse=True)
    sizes = np.bincount(sets)[sets]
    conflicting = label_conflicts(sets, table[list(labels)])
    hygiene.duplicate_sets = len(np.unique(sets[sizes > 1]))
    hygiene.conflicting_sets = len(np.unique(sets[conflicting]))
    hygiene.conflicting_images_dropped = int(conflicting.sum())
    copy = pd.Series(sets).duplicated().to_numpy() & ~conflicting
    hygiene.duplicates_dropped_as_copies = int(copy.sum())
    files.loc[table["row"][conflicting], "reason"] = "label conflict (byte-identical copies)"
    files.loc[table["row"][copy], "reason"] = "byte-identical copy"
    return table[~conflicting & ~copy].reset_index(drop=True)


def _resolve_near_duplicates(table: pd.DataFrame, hygiene: Hygiene, labels: tuple[str, ...],
                             files: pd.DataFrame) -> pd.DataFrame:
    """Group near-duplicates into sets; drop the sets whose labels disagree."""
    sets, conflicting, counts = group_near_duplicates(np.stack(table["phash"].to_list()),
                                                      table[list(labels)])
    for key, value in counts.items():
        setattr(hygiene, key, value)
    files.loc[table["row"][conflicting], "reason"] = "label conflict (near-duplicates)"
    kept = table.assign(duplicate_set=sets)[~conflicting].reset_index(drop=True)
    _, kept["duplicate_set"] = np.unique(kept["duplicate_set"], return_inverse=True)
    return kept


def split_table(table: pd.DataFrame, seed: int) -> np.ndarray:
    """object [N]: ``train``, ``val`` or ``test`` for each image, seeded and stratified by
    gender x race x age group; near-duplicate sets (``duplicate_set``) go whole to one
    split (:func:`~fairens.data.duplicates.split_sets`)."""
    rng = np.random.default_rng([seed, DATA_SALTS["utkface_split"]])
    return split_sets(table["duplicate_set"].to_numpy(), table[list(LABELS)], SPLIT_FRACTIONS,
                      rng)


@register_dataset("utkface")
def load_utkface(*, root: str | None = None, target: str = "gender",
                 sensitive: list[str] | None = None, split_seed: int = 0,
                 image_size: int = 64, cache_dir: str | None = None,
                 near_duplicates: bool = True) -> ImageData:
    """UTKFace faces (see the module docstring), resized to ``image_size`` when decoded;
    the label is ``target``; each ``sensitive`` label is a grouping (default: the two that
    are not the target); ``near_duplicates`` keeps near-duplicate sets in one split."""
    if target not in LABELS:
        raise bad_setting("data.target", target, f"one of {', '.join(LABELS)}")
    sensitive = [s for s in LABELS if s != target] if sensitive is None else list(sensitive)
    unknown = [s for s in sensitive if s not in LABELS]
    if unknown or target in sensitive:
        raise bad_setting("data.sensitive", sensitive,
                          f"labels of UTKFace other than the target data.target={target}: "
                          f"{', '.join(s for s in LABELS if s != target)}")
    if not isinstance(split_seed, int) or isinstance(split_seed, bool) or split_seed < 0:
        raise bad_setting("data.split_seed", split_seed, "a non-negative integer")
    check_flag("data.near_duplicates", near_duplicates)
    folder = _folder(root)
    hygiene = Hygiene()
    table, files = read_labels(folder, hygiene, cache_dir=cache_dir,
                               labels=(target, *sensitive), near_duplicates=near_duplicates,
                               root=Path(root).expanduser())
    split = split_table(table, split_seed)
    hygiene.split_sizes = {name: int((split == name).sum()) for name in SPLIT_FRACTIONS}
    print(hygiene.describe(), flush=True)
    images = decode_cached(list(table["path"]), size=image_size,
                           name=f"utkface-{folder.name}", cache_dir=cache_dir)
    classes = LABELS[target]
    labels = torch.from_numpy(pd.Categorical(table[target], categories=classes).codes
                              .astype(np.int64))
    sample_ids = np.arange(len(table), dtype=np.int64)
    everything = Split(images, labels, torch.from_numpy(sample_ids),
                       table[sensitive].reset_index(drop=True), table["source"].to_numpy())
    splits = {name: everything.subset(np.flatnonzero(split == name)) for name in SPLIT_FRACTIONS}
    files["split"] = "dropped"
    files.loc[table["row"], "split"] = split
    files["sample_id"] = pd.Series(sample_ids, index=table["row"]).reindex(files.index).astype(
        "Int64")
    files["duplicate_set"] = pd.Series(set_column(table["duplicate_set"].to_numpy()),
                                       index=table["row"]).reindex(files.index)
    return ImageData(name="utkface", classes=classes, augment=AugmentSpec(pad=image_size // 16,
                                                                          flip=True),
                     hygiene=hygiene.as_dict(), files=files, **splits)
