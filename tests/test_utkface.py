"""UTKFace read as distributed: labels from file names, hygiene, a leak-free split."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from fairens.data import load_dataset
from fairens.data.decode import decode_file, file_digests
from fairens.data.utkface import AGE_GROUPS, age_group
from fairens.settings import load_data

from conftest import REPO, output_files
from formats import write_utkface


@pytest.fixture(scope="module")
def faces(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("utk")
    write_utkface(root)
    return root


def _load(root: Path, **options):
    return load_dataset("utkface", root=str(root), image_size=16,
                        cache_dir=str(root / "cache"), **options)


def test_labels_are_words_and_groupings_intersect(faces: Path) -> None:
    data = _load(faces)
    assert data.classes == ("male", "female")
    assert data.groupings == ["class", "race", "age_group", "class&race", "class&age_group",
                              "race&age_group"]
    assert set(data.test.attributes["race"]) == {"White", "Black", "Asian", "Indian", "Others"}
    assert set(data.test.attributes["age_group"]) == {"20-29", "30-39", "40-49"}
    assert data.test.images.shape[1:] == (3, 16, 16)
    race = _load(faces, target="race")
    assert race.classes == ("White", "Black", "Asian", "Indian", "Others")
    assert race.groupings[:3] == ["class", "gender", "age_group"]


def test_age_groups() -> None:
    assert [age_group(a) for a in (0, 2, 3, 9, 10, 19, 29, 69, 70, 116)] == [
        "0-2", "0-2", "3-9", "3-9", "10-19", "10-19", "20-29", "60-69", "70+", "70+"]
    assert len(AGE_GROUPS) == 9


def test_hygiene_is_counted_and_reported(faces: Path) -> None:
    data = _load(faces)
    assert data.hygiene == {
        "files": 303, "unparsable": 1, "unparsable_example": "61_1_20170109150557335.jpg.chip.jpg",
        "duplicate_sets": 2, "duplicates_dropped_as_copies": 1, "conflicting_sets": 1,
        "conflicting_images_dropped": 2, "kept": 299,
        "split_sizes": {"train": 211, "val": 29, "test": 59}}
    assert data.summary()["hygiene"] == data.hygiene  # run.json records it


def test_no_image_is_in_two_splits(faces: Path) -> None:
    data = _load(faces)
    digests = {name: {hashlib.sha256(image.numpy().tobytes()).hexdigest()
                      for image in getattr(data, name).images}
               for name in ("train", "val", "test")}
    assert not digests["train"] & digests["test"] and not digests["train"] & digests["val"]
    assert not digests["val"] & digests["test"]
    # the copies whose labels disagree are in no split, the same-label copies in one
    files = sorted((faces / "UTKFace").iterdir())
    raw = [hashlib.sha256(p.read_bytes()).hexdigest() for p in files]
    # (the fixture copies its last face, 45_1_4_..., under gender 0)
    conflicting = next(p for p, d in zip(files, raw, strict=True)
                       if raw.count(d) == 2 and p.name.startswith("45_"))
    pixels = hashlib.sha256(decode_file(conflicting, size=16).numpy().tobytes()).hexdigest()
    assert not any(pixels in found for found in digests.values())
    assert sum(len(found) for found in digests.values()) == 299


def test_split_is_seeded_and_stratified(faces: Path) -> None:
    first, again, other = _load(faces), _load(faces), _load(faces, split_seed=1)
    assert np.array_equal(first.test.sample_ids, again.test.sample_ids)
    assert not np.array_equal(first.test.sample_ids, other.test.sample_ids)
    # 10 images a stratum (gender x race x age): 2 test, 1 validation, 7 training
    test = first.test.attributes.assign(gender=np.asarray(first.classes)[first.test.labels])
    counts = test.groupby(["gender", "race", "age_group"]).size()
    assert len(counts) == 30 and set(counts) <= {1, 2}


def test_decode_cache_keys_on_the_size(faces: Path, tmp_path: Path) -> None:
    for size in (16, 24):
        load_dataset("utkface", root=str(faces), image_size=size, cache_dir=str(tmp_path))
    assert len(list(tmp_path.glob("utkface-*.npy"))) == 2


def test_content_hashes_are_cached_and_follow_changed_files(tmp_path: Path) -> None:
    files = [tmp_path / "a.jpg", tmp_path / "b.jpg"]
    for path in files:
        path.write_bytes(b"same bytes")
    cache = tmp_path / "cache"
    assert file_digests(files, cache_dir=cache) == [hashlib.sha256(b"same bytes").hexdigest()] * 2
    [stored] = cache.glob("sha256-*.json")
    stored.write_text('["cached-a", "cached-b"]')
    assert file_digests(files, cache_dir=cache) == ["cached-a", "cached-b"]
    files[1].write_bytes(b"other bytes!")
    assert file_digests(files, cache_dir=cache)[1] == hashlib.sha256(b"other bytes!").hexdigest()


def test_a_run_records_the_hygiene(train_config, faces: Path, tmp_path: Path) -> None:
    from fairens.pipeline import train
    train(train_config("data=utkface", f"data.root={faces}", "data.image_size=16",
                       f"data.cache_dir={tmp_path}/c", "trainer.limit_train_batches=1",
                       "ensemble.size=1", "report.intervals=false"))
    meta = json.loads((tmp_path / "results" / "test" / "run.json").read_text())
    assert meta["data"]["hygiene"]["conflicting_images_dropped"] == 2


BAD = {
    "unknown target": ("data.target=age", "data.target='age' is not allowed: one of gender, "
                                          "race, age_group"),
    "sensitive equal to the target": (
        "data.sensitive=[gender]", "data.sensitive=['gender'] is not allowed: labels of UTKFace "
                                   "other than the target data.target=gender: race, age_group"),
    "image size 0": ("data.image_size=0", "data.image_size=0 is not allowed: a number of "
                                          "pixels from 1 to 2048, or null"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_settings_are_one_line(faces: Path, tmp_path: Path, case: str) -> None:
    override, message = BAD[case]
    done = subprocess.run([sys.executable, str(REPO / "train.py"), "data=utkface",
                           f"data.root={faces}", f"paths.results={tmp_path}/results",
                           f"paths.models={tmp_path}/models", override],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [f"error: {message}"]
    assert output_files(tmp_path) == []


@pytest.mark.parametrize("folder", ["missing", "empty"])
def test_a_folder_without_faces_is_refused(train_config, tmp_path: Path, folder: str) -> None:
    from fairens.errors import FairensError
    root = tmp_path / folder
    if folder == "empty":
        (root / "UTKFace").mkdir(parents=True)
    with pytest.raises(FairensError) as error:
        load_data(train_config("data=utkface", f"data.root={root}"))
    assert str(error.value) == (f"data.root={root}: no UTKFace here (looked for "
                                f"{root / 'UTKFace'}/ with <age>_<gender>_<race>_<datetime>"
                                ".jpg.chip.jpg files)")
