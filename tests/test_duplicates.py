"""Near-duplicate images: perceptual hashes find re-encoded, resized copies; a given split
(ImageFolder, manifest) keeps no near-duplicate set across two splits."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from fairens.data import load_dataset
from fairens.data.duplicates import (
    NEAR_DUPLICATE_DISTANCE,
    duplicate_sets,
    file_hashes,
    label_conflicts,
    near_pairs,
)

from formats import near_copy, write_imagefolder, write_manifest


def test_a_reencoded_resized_copy_is_near_and_other_images_are_far(tmp_path: Path) -> None:
    write_imagefolder(tmp_path, per_class=6, test_per_class=0 + 1)
    originals = sorted((tmp_path / "train").rglob("*.jpg"))
    near_copy(originals[0], tmp_path / "copy.jpg")
    _, hashes = file_hashes([*originals, tmp_path / "copy.jpg"], cache_dir=tmp_path / "c")
    pairs = near_pairs(hashes, NEAR_DUPLICATE_DISTANCE)
    assert pairs[["first", "second"]].values.tolist() == [[0, len(originals)]]
    assert 0 < pairs["distance"].iloc[0] <= NEAR_DUPLICATE_DISTANCE


def test_sets_are_connected_components_numbered_in_file_order() -> None:
    pairs = pd.DataFrame({"first": [1, 3, 4], "second": [4, 5, 6], "distance": [0, 2, 4]})
    assert duplicate_sets(7, pairs).tolist() == [0, 1, 2, 3, 1, 3, 1]
    labels = pd.DataFrame({"race": ["a", "a", "b", "b", "a", "c", "a"]})
    assert label_conflicts(duplicate_sets(7, pairs), labels).tolist() == [
        False, False, False, True, False, True, False]


@pytest.fixture
def folder_with_leaks(tmp_path: Path) -> Path:
    write_imagefolder(tmp_path)
    near_copy(tmp_path / "train" / "cat" / "0001.jpg", tmp_path / "test" / "cat" / "9001.jpg")
    near_copy(tmp_path / "train" / "dog" / "0002.jpg", tmp_path / "test" / "fox" / "9002.jpg")
    return tmp_path


def test_imagefolder_keeps_no_near_duplicate_across_splits(folder_with_leaks: Path) -> None:
    plain = load_dataset("imagefolder", root=str(folder_with_leaks), image_size=16,
                         cache_dir=str(folder_with_leaks / "c"))
    assert len(plain.test) == 14 and plain.hygiene is None
    clean = load_dataset("imagefolder", root=str(folder_with_leaks), image_size=16,
                         cache_dir=str(folder_with_leaks / "c"), near_duplicates=True)
    reasons = clean.files.set_index("source")["reason"]
    # the test copy of a training cat goes; the dog whose copy is filed as a fox goes too
    assert reasons["test/cat/9001.jpg"] == "near-duplicate of a train image"
    assert reasons[["train/dog/0002.jpg", "test/fox/9002.jpg"]].tolist() == [
        "label conflict (near-duplicates)"] * 2
    assert reasons["train/cat/0001.jpg"] == ""
    assert len(clean.test) == 12
    assert clean.hygiene["near_duplicates_dropped_across_splits"] == 1
    kept = clean.files[clean.files["split"] != "dropped"]
    assert kept.groupby("duplicate_set")["split"].nunique().max() == 1
    assert set(clean.test_groups()["source"]) == set(kept.loc[kept["split"] == "test",
                                                              "source"])


def test_manifest_near_duplicates(tmp_path: Path) -> None:
    manifest = write_manifest(tmp_path)
    near_copy(tmp_path / "images" / "001.png", tmp_path / "images" / "copy.jpg")
    with manifest.open("a") as f:
        f.write("images/copy.jpg,benign,test,dark,a\n")  # the same labels as 001.png
    data = load_dataset("manifest", manifest=str(manifest), near_duplicates=True,
                        image_size=12, cache_dir=str(tmp_path / "c"))
    reasons = data.files.set_index("source")["reason"]
    assert reasons["images/copy.jpg"] == "near-duplicate of a train image"
    assert "images/copy.jpg" not in set(data.test_groups()["source"])
    assert np.isin(data.test.sources, data.files["source"]).all()
