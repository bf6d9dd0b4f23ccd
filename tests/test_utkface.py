"""UTKFace read as distributed: labels from file names, hygiene, a leak-free split."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from fairens.data import load_dataset
from fairens.data.decode import decode_file
from fairens.data.duplicates import duplicate_sets, file_hashes, near_pairs, split_sets
from fairens.data.utkface import AGE_GROUPS, Hygiene, age_group
from fairens.settings import load_data

from conftest import REPO, output_files
from formats import write_utkface
from test_render import check_page


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
        "files": 305, "unparsable": 1, "unparsable_example": "61_1_20170109150557335.jpg.chip.jpg",
        "duplicate_sets": 2, "duplicates_dropped_as_copies": 1, "conflicting_sets": 1,
        "conflicting_images_dropped": 2, "near_duplicates": True, "near_duplicate_distance": 46,
        "near_duplicate_sets": 2, "near_duplicate_images": 4,
        "near_duplicate_conflicting_sets": 1, "near_duplicate_conflicting_images_dropped": 2,
        "kept": 299, "split_sizes": {"train": 213, "val": 28, "test": 58}}
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


def test_content_hashes_are_cached_and_follow_changed_files(faces: Path, tmp_path: Path) -> None:
    files = [tmp_path / "a.jpg", tmp_path / "b.jpg"]
    one = next((faces / "UTKFace").glob("25_0_0_*"))
    for path in files:
        path.write_bytes(one.read_bytes())
    cache = tmp_path / "cache"
    digests, hashes = file_hashes(files, cache_dir=cache)
    assert digests == [hashlib.sha256(one.read_bytes()).hexdigest()] * 2
    assert hashes.shape == (2, 4) and (hashes[0] == hashes[1]).all()
    [stored] = cache.glob("hashes-*.json")
    stored.write_text(json.dumps({"sha256": ["cached-a", "cached-b"], "phash": ["0" * 64] * 2}))
    assert file_hashes(files, cache_dir=cache)[0] == ["cached-a", "cached-b"]
    files[1].write_bytes(next((faces / "UTKFace").glob("35_1_2_*")).read_bytes())
    digests, hashes = file_hashes(files, cache_dir=cache)
    assert digests[1] == hashlib.sha256(files[1].read_bytes()).hexdigest()
    assert near_pairs(hashes, 46).empty  # two different random faces


def _split_of(data, source: str) -> str:
    files = data.files.set_index("source")
    return files.loc[f"UTKFace/{source}", "split"]


def test_near_duplicates_stay_in_one_split_and_conflicts_are_dropped(faces: Path) -> None:
    copies = sorted(p.name for p in (faces / "UTKFace").glob("35_0_0_*"))
    original, copy = copies[0], copies[-1]  # face 10 and its re-encoded, resized copy
    for seed in range(8):
        data = _load(faces, split_seed=seed)
        assert _split_of(data, original) == _split_of(data, copy) != "dropped"
        sets = data.files.set_index("source")["duplicate_set"]
        assert sets[f"UTKFace/{original}"] == sets[f"UTKFace/{copy}"]
    # face 20's copy is labelled with another race: both are dropped, and say why
    reasons = data.files.set_index("source")["reason"]
    face_20 = sorted(p.name for p in (faces / "UTKFace").glob("45_0_0_*"))[0]
    [its_copy] = [p.name for p in (faces / "UTKFace").glob("45_0_1_*304.jpg.chip.jpg")]
    assert {reasons[f"UTKFace/{face_20}"], reasons[f"UTKFace/{its_copy}"]} == {
        "label conflict (near-duplicates)"}


def test_without_near_duplicates_the_split_is_the_images_split(faces: Path) -> None:
    data = _load(faces, near_duplicates=False)
    assert data.hygiene["near_duplicates"] is False and data.hygiene["kept"] == 301
    assert "near-duplicates not looked for" in Hygiene(**data.hygiene).describe()
    assert data.files["duplicate_set"].isna().all()


def test_split_sets_assigns_whole_sets_at_the_fractions() -> None:
    rng = np.random.default_rng(0)
    n = 1000
    pairs = near_pairs(np.arange(n, dtype=np.uint64)[:, None] // 3, 0)  # sets of three
    sets = duplicate_sets(n, pairs)
    assert sets.max() == 333 and (np.bincount(sets) <= 3).all()
    strata = np.asarray(["a", "b"], dtype=object)[(np.arange(n) // 3) % 2]
    split = split_sets(sets, pd.DataFrame({"s": strata}),
                       {"train": 0.7, "val": 0.1, "test": 0.2}, rng)
    assert all(len(set(split[sets == s])) == 1 for s in range(sets.max() + 1))
    share = {name: (split == name).mean() for name in ("train", "val", "test")}
    assert abs(share["test"] - 0.2) < 0.01 and abs(share["val"] - 0.1) < 0.01
    # every set a single image: the stratified split of the images, drawn as before
    singles = split_sets(np.arange(n), pd.DataFrame({"s": strata}),
                         {"train": 0.7, "val": 0.1, "test": 0.2}, np.random.default_rng(0))
    counts = pd.Series(strata).value_counts()
    assert (singles == "test").sum() == sum(int(c * 0.2) for c in counts)


def test_provenance_round_trips(faces: Path) -> None:
    data = _load(faces)
    table = data.test_groups()
    assert list(table.columns[:3]) == ["sample_id", "label", "source"]
    for row in table.head(5).itertuples():
        image = decode_file(faces / row.source, size=16)
        index = int(np.flatnonzero(data.test.sample_ids.numpy() == row.sample_id)[0])
        assert np.array_equal(image.numpy(), data.test.images[index].numpy())
    files = data.files
    assert len(files) == 305 and set(files["split"]) == {"train", "val", "test", "dropped"}
    kept = files[files["split"] != "dropped"]
    assert sorted(kept["sample_id"]) == sorted(
        np.concatenate([getattr(data, s).sample_ids.numpy() for s in ("train", "val", "test")]))
    assert set(files.loc[files["split"] == "dropped", "reason"]) == {
        "unparsable name", "byte-identical copy", "label conflict (byte-identical copies)",
        "label conflict (near-duplicates)"}


def test_a_run_records_the_hygiene(train_config, faces: Path, tmp_path: Path) -> None:
    from fairens.pipeline import train
    train(train_config("data=utkface", f"data.root={faces}", "data.image_size=16",
                       f"data.cache_dir={tmp_path}/c", "trainer.limit_train_batches=1",
                       "ensemble.size=1", "report.intervals=false"))
    run = tmp_path / "results" / "test"
    meta = json.loads((run / "run.json").read_text())
    assert meta["data"]["hygiene"]["conflicting_images_dropped"] == 2
    assert meta["data"]["hygiene"]["near_duplicate_conflicting_images_dropped"] == 2
    from fairens.rundir import load_groups, load_run
    split = pd.read_csv(run / "data_split.csv", dtype=str, keep_default_na=False)
    assert list(split.columns) == ["source", "split", "reason", "sample_id", "duplicate_set"]
    assert len(split) == 305
    test = load_groups(run)
    assert set(test["source"]) == set(split.loc[split["split"] == "test", "source"])
    assert "source" not in load_run(run).groups.columns  # provenance is not a grouping
    # the gallery of who the model fails, read from the faces' files
    assert (run / "plots" / "gallery.png").is_file()
    assert "Who the models fail: examples" in (run / "report.md").read_text()
    assert ("data hygiene: 305 files, 1 with an unparsable name; 2 sets of byte-identical "
            "copies (1 copies dropped, 2 images with disagreeing labels dropped); 2 sets of "
            "near-duplicates") in (run / "report.md").read_text()
    check_page(run / "report.html")


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
