"""Near-duplicate images: perceptual hashes, the sets they form, and a split that keeps each
set on one side.

The same photo often reappears re-encoded, resized or slightly re-cropped under another
file name (UTKFace has hundreds such pairs). A copy on both sides of train/test inflates
test accuracy, and unevenly across groups, which is what fairens measures. Each image gets
a 256-bit perceptual hash (pHash, ``imagehash.phash`` with ``hash_size=16``: the signs of
the 16x16 lowest frequencies of the DCT of a 64x64 grayscale image, against their median);
two images whose hashes differ in at most ``NEAR_DUPLICATE_DISTANCE`` bits are
near-duplicates, and the
near-duplicate relation's connected components are the sets a split must keep together.
docs/datasets.md describes how the threshold was chosen.
"""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import imagehash
import numpy as np
import pandas as pd
from PIL import Image, UnidentifiedImageError
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from tqdm.auto import tqdm

from ..errors import FairensError, bad_file
from ..files import read_json
from .base import Split, split_files
from .decode import cache_key, store_in_cache

# Chosen on UTKFace (docs/datasets.md, "Near-duplicates"): pairs up to 46 of 256 bits apart
# were the same photo re-encoded, re-cropped or rotated in 30 of 32 inspected at 42-46; from 48
# on most were different people. The 64-bit pHash could not separate them: aligned faces of
# different people were 4 bits apart as often as copies.
HASH_SIZE = 16
WORDS = HASH_SIZE * HASH_SIZE // 64
NEAR_DUPLICATE_DISTANCE = 46
_CHUNK = 1024  # rows of the pairwise distance matrix held at once (1024 x 23,708 x 8 bytes)


def file_hashes(paths: Sequence[str | Path], *, cache_dir: str | Path | None
                ) -> tuple[list[str], np.ndarray]:
    """(SHA-256 of each file's bytes, its 256-bit perceptual hash as uint64 [N, 4]), from one
    read of each file, cached in ``cache_dir`` under a key made of every file's path, size
    and modification time. The perceptual hash is taken from the full-size decode, so it is
    the same whatever ``data.image_size`` a run asks for."""
    cache, key_folder = cache_key(paths, {"hashes": f"sha256+phash{HASH_SIZE}"}, cache_dir,
                                  "hashes", ".json")
    if cache.is_file():
        try:
            stored = read_json(cache, "a cache of file hashes")
            if isinstance(stored, dict) and len(stored.get("sha256", ())) == len(paths):
                return stored["sha256"], _words(stored["phash"])
        except (FairensError, KeyError, ValueError, TypeError):
            pass  # unreadable: hash again
    digests, hashes = [], []
    for path in tqdm(paths, desc="hashing images", unit="img", mininterval=1.0,
                     disable=True if len(paths) < 2000 else None):
        digest, phash = _hash_file(path)
        digests.append(digest)
        hashes.append(phash)
    text = json.dumps({"sha256": digests, "phash": hashes})
    store_in_cache(cache, key_folder, lambda f: f.write(text.encode()))
    return digests, _words(hashes)


def _words(hashes: Sequence[str]) -> np.ndarray:
    """Hex hashes as uint64 [N, WORDS]."""
    out = np.zeros((len(hashes), WORDS), dtype=np.uint64)
    for i, text in enumerate(hashes):
        out[i] = [int(text[16 * w:16 * (w + 1)], 16) for w in range(WORDS)]
    return out


def _hash_file(path: str | Path) -> tuple[str, str]:
    """(SHA-256 of the file's bytes, its perceptual hash in hex), from one read."""
    with open(path, "rb") as f:
        content = f.read()
    try:
        with Image.open(io.BytesIO(content)) as image:
            phash = str(imagehash.phash(image, hash_size=HASH_SIZE))
    except (UnidentifiedImageError, Image.DecompressionBombError, OSError, ValueError) as exc:
        raise bad_file(path, f"cannot read or decode this image ({exc})") from exc
    return hashlib.sha256(content).hexdigest(), phash


def near_pairs(hashes: np.ndarray, max_distance: int) -> pd.DataFrame:
    """Every pair (i < j) whose hashes (uint64 [N, words]) differ in at most ``max_distance``
    bits: columns ``first``, ``second``, ``distance``, sorted by (first, second)."""
    hashes = np.asarray(hashes, dtype=np.uint64).reshape(len(hashes), -1)
    firsts, seconds, distances = [], [], []
    for start in range(0, len(hashes), _CHUNK):
        distance = np.zeros((len(hashes[start:start + _CHUNK]), len(hashes)), dtype=np.uint16)
        for word in range(hashes.shape[1]):
            distance += np.bitwise_count(hashes[start:start + _CHUNK, word, None]
                                         ^ hashes[None, :, word])
        rows, cols = np.nonzero(distance <= max_distance)
        rows = rows + start
        upper = cols > rows
        firsts.append(rows[upper])
        seconds.append(cols[upper])
        distances.append(distance[rows[upper] - start, cols[upper]])
    if not firsts:
        return pd.DataFrame({"first": [], "second": [], "distance": []}, dtype=np.int64)
    return pd.DataFrame({"first": np.concatenate(firsts), "second": np.concatenate(seconds),
                         "distance": np.concatenate(distances).astype(np.int64)})


def duplicate_sets(n: int, pairs: pd.DataFrame) -> np.ndarray:
    """int64 [n]: the set of each image (connected components of the pairs), numbered in
    order of each set's first image, so that the numbering follows the files' order."""
    graph = coo_matrix((np.ones(len(pairs)), (pairs["first"], pairs["second"])), shape=(n, n))
    _, component = connected_components(graph, directed=False)
    first_seen = np.full(component.max(initial=-1) + 1, n, dtype=np.int64)
    np.minimum.at(first_seen, component, np.arange(n))
    renumber = np.empty_like(first_seen)
    renumber[np.argsort(first_seen, kind="stable")] = np.arange(len(first_seen))
    return renumber[component].astype(np.int64)


def label_conflicts(sets: np.ndarray, labels: pd.DataFrame) -> np.ndarray:
    """bool [N]: the images of sets whose members disagree on any column of ``labels``."""
    frame = labels.reset_index(drop=True).assign(_set=sets)
    disagree = frame.groupby("_set")[list(labels.columns)].transform("nunique").max(axis=1) > 1
    return disagree.to_numpy()


def group_near_duplicates(hashes: np.ndarray, labels: pd.DataFrame
                          ) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """(the near-duplicate set of each image, bool [N]: the images of sets whose ``labels``
    disagree, the hygiene counts for run.json)."""
    sets = duplicate_sets(len(hashes), near_pairs(hashes, NEAR_DUPLICATE_DISTANCE))
    alone = np.bincount(sets)[sets] == 1
    conflict = label_conflicts(sets, labels)
    return sets, conflict, {
        "near_duplicates": True, "near_duplicate_distance": NEAR_DUPLICATE_DISTANCE,
        "near_duplicate_sets": len(np.unique(sets[~alone])),
        "near_duplicate_images": int((~alone).sum()),
        "near_duplicate_conflicting_sets": len(np.unique(sets[conflict])),
        "near_duplicate_conflicting_images_dropped": int(conflict.sum())}


def set_column(sets: np.ndarray) -> pd.arrays.IntegerArray:
    """``data_split.csv``'s duplicate_set: the set of an image that has copies, else empty."""
    column = pd.array(sets, dtype="Int64")
    column[np.bincount(sets)[sets] == 1] = pd.NA
    return column


def split_sets(sets: np.ndarray, strata: pd.DataFrame, fractions: dict[str, float],
               rng: np.random.Generator) -> np.ndarray:
    """object [N]: the split of each image, given as whole sets: within each stratum (the
    rows of ``strata`` of a set's first image), the sets are shuffled and cut where the
    running image count passes ``fractions`` (test first, then val; rounded down; the rest
    train). With every set a single image this is the stratified split of the images."""
    first = pd.Series(np.arange(len(sets))).groupby(sets).first().to_numpy()
    size = np.bincount(sets)
    keys = strata.iloc[first].reset_index(drop=True)
    order = list(fractions)[::-1]  # test, val, train
    by_set = np.empty(len(first), dtype=object)
    for _, members in sorted(keys.groupby(list(keys.columns), sort=True).indices.items()):
        shuffled = rng.permutation(members)
        start = np.concatenate([[0], np.cumsum(size[shuffled])[:-1]])
        total = int(size[shuffled].sum())
        cut_test = int(total * fractions[order[0]])
        cut_val = cut_test + int(total * fractions[order[1]])
        by_set[shuffled] = np.where(start < cut_test, order[0],
                                    np.where(start < cut_val, order[1], order[2]))
    return by_set[sets]


SPLIT_ORDER = ("train", "val", "test")


def separate_splits(splits: dict[str, Split], root: Path, *, cache_dir: str | Path | None
                    ) -> tuple[dict[str, Split], pd.DataFrame, dict[str, Any]]:
    """Near-duplicate hygiene for a dataset whose split is given (an ImageFolder tree, a
    manifest, CelebA's partition): the images are read at ``root / source``; a set whose
    labels disagree (the class or any attribute) is dropped, and an image whose set also
    has an image in an earlier split (train, then val, then test) is dropped from its own,
    so no set spans two splits and the given split is otherwise kept. Returns (the splits,
    the ``data_split.csv`` rows, the hygiene counts)."""
    parts = [splits[name] for name in SPLIT_ORDER]
    sources = np.concatenate([part.sources for part in parts])
    rank = np.repeat(np.arange(len(parts)), [len(part) for part in parts])
    _, hashes = file_hashes([root / str(source) for source in sources], cache_dir=cache_dir)
    labels = pd.concat([part.attributes.assign(_label=part.labels.numpy()) for part in parts],
                       ignore_index=True)
    sets, conflict, hygiene = group_near_duplicates(hashes, labels)
    first = pd.Series(rank).groupby(sets).transform("min").to_numpy()
    leak = (rank > first) & ~conflict
    reason = np.where(conflict, "label conflict (near-duplicates)",
                      np.where(leak, np.char.add("near-duplicate of a ",
                                                 np.char.add(np.asarray(SPLIT_ORDER)[first],
                                                             " image")), ""))
    files = split_files(dict(zip(SPLIT_ORDER, parts, strict=True)))
    files["split"] = files["split"].where(reason == "", "dropped")
    files["reason"] = reason
    files["duplicate_set"] = set_column(sets)
    offsets = np.concatenate([[0], np.cumsum([len(part) for part in parts])])
    kept = {name: part.subset(np.flatnonzero(reason[offsets[i]:offsets[i + 1]] == ""))
            for i, (name, part) in enumerate(zip(SPLIT_ORDER, parts, strict=True))}
    hygiene |= {"near_duplicates_dropped_across_splits": int(leak.sum()),
                "split_sizes": {name: len(split) for name, split in kept.items()}}
    print(f"{root}: {hygiene['near_duplicate_sets']} sets of near-duplicates (perceptual hashes "
          f"within {NEAR_DUPLICATE_DISTANCE} bits; {hygiene['near_duplicate_images']} images): "
          f"{hygiene['near_duplicate_conflicting_sets']} whose labels disagree dropped "
          f"({int(conflict.sum())} images), {int(leak.sum())} copies of an image in an earlier "
          "split dropped", flush=True)
    return kept, files, hygiene
