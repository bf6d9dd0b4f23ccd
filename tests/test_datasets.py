"""Every dataset loads from its real on-disk format through ``data=<name>``."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from fairens.errors import FairensError
from fairens.ownership import read_manifest
from fairens.pipeline import train
from fairens.settings import load_data

from conftest import output_files
from formats import (
    CIFAR10_CLASSES,
    write_celeba,
    write_cifar10,
    write_cifar100,
    write_imagefolder,
    write_manifest,
)


def test_cifar10(train_config, tmp_path: Path) -> None:
    pixels = write_cifar10(tmp_path / "data", per_class_per_batch=2)
    data = load_data(train_config("data=cifar10", f"data.root={tmp_path}/data",
                                  "data.val_fraction=0.2"))
    assert data.classes == tuple(CIFAR10_CLASSES)
    assert (len(data.train), len(data.val), len(data.test)) == (80, 20, 20)
    assert data.groupings == ["class"] and data.augment.flip and data.augment.pad == 4
    sample = int(data.train.sample_ids[7])
    assert torch.equal(data.train.images[7], torch.from_numpy(pixels[sample]))
    assert data.test.sample_ids.min() >= 1_000_000
    assert not set(data.train.sample_ids.tolist()) & set(data.val.sample_ids.tolist())


def test_cifar100_has_superclasses(train_config, tmp_path: Path) -> None:
    write_cifar100(tmp_path)
    data = load_data(train_config("data=cifar100", f"data.root={tmp_path}"))
    assert len(data.classes) == 100 and data.groupings == ["class", "superclass"]
    groups = data.test_groups()
    assert (groups["superclass"] == "coarse" + (groups["label"] // 5).map("{:02d}".format)).all()


def test_cifar10s_skews_training_colour_and_doubles_the_test_split(train_config,
                                                                   tmp_path: Path) -> None:
    write_cifar10(tmp_path, per_class_per_batch=40)
    data = load_data(train_config("data=cifar10s", f"data.root={tmp_path}",
                                  "data.val_fraction=0.1"))
    color = data.train.attributes["color"].to_numpy()
    labels = data.train.labels.numpy()
    for c in range(10):
        share = (color[labels == c] == "color").mean()
        assert share == pytest.approx(0.95 if c < 5 else 0.05, abs=0.01)
    gray = data.train.images[torch.from_numpy(color == "gray")]
    assert torch.equal(gray[:, 0], gray[:, 1]) and torch.equal(gray[:, 1], gray[:, 2])
    groups = data.test_groups()
    assert len(groups) == 2 * 400 and (groups["pair_id"].value_counts() == 2).all()
    assert list(groups.columns) == ["sample_id", "label", "pair_id", "source", "class",
                                    "color", "class&color"]
    # provenance: the pickle row, and the gray copy of the same row
    assert groups["source"].iloc[0].startswith("test_batch:")
    assert groups["source"].iloc[400] == groups["source"].iloc[0] + " (gray copy)"
    colour, grey = data.test.images[:400], data.test.images[400:]
    assert not torch.equal(colour, grey) and torch.equal(grey[:, 0], grey[:, 2])
    assert set(data.minority["class&color"]) == (
        {f"{c}&gray" for c in CIFAR10_CLASSES[:5]} | {f"{c}&color" for c in CIFAR10_CLASSES[5:]})
    assert "color" not in data.minority  # colour and gray are balanced overall
    again = load_data(train_config("data=cifar10s", f"data.root={tmp_path}"))
    assert torch.equal(again.train.images, data.train.images)


def test_cifar10s_reads_the_jpeg_tree_too(train_config, tmp_path: Path) -> None:
    write_imagefolder(tmp_path / "cifar10", classes=tuple(CIFAR10_CLASSES), per_class=40,
                      test_per_class=4)
    data = load_data(train_config("data=cifar10s", f"data.root={tmp_path}/cifar10",
                                  f"data.cache_dir={tmp_path}/c"))
    assert data.name == "cifar10s" and data.classes == tuple(CIFAR10_CLASSES)
    groups = data.test_groups()
    assert len(groups) == 2 * 40 and (groups["pair_id"].value_counts() == 2).all()
    color = data.train.attributes["color"].to_numpy()
    assert (color[data.train.labels.numpy() == 0] == "color").mean() == pytest.approx(0.95,
                                                                                      abs=0.05)


def test_celeba_groupings_and_cache(train_config, tmp_path: Path) -> None:
    write_celeba(tmp_path, n=24)
    cache = tmp_path / "cache"
    cfg = train_config("data=celeba", f"data.root={tmp_path}", f"data.cache_dir={cache}",
                       "data.image_size=32", "data.sensitive=[Male,Smiling]")
    data = load_data(cfg)
    assert data.classes == ("not_Blond_Hair", "Blond_Hair")
    assert (len(data.train), len(data.val), len(data.test)) == (12, 6, 6)
    assert data.train.images.shape[1:] == (3, 32, 32)
    assert data.groupings == ["class", "Male", "Smiling", "class&Male", "class&Smiling",
                              "Male&Smiling"]
    groups = data.test_groups()  # test faces 18..23: blond at 18 and 21, male when even
    assert groups["class&Male"].tolist() == [
        "Blond_Hair&Male", "not_Blond_Hair&not_Male", "not_Blond_Hair&Male",
        "Blond_Hair&not_Male", "not_Blond_Hair&Male", "not_Blond_Hair&not_Male"]
    assert "Blond_Hair&Male" in data.minority["class&Male"]
    before = sorted(cache.iterdir())
    [cached] = [p for p in before if not p.name.startswith(".fairens-")]
    assert torch.equal(load_data(cfg).test.images, data.test.images)
    assert sorted(cache.iterdir()) == before  # the second load read the cache
    assert read_manifest(cache)["files"].keys() == {cached.name}


def test_imagefolder_with_attributes(train_config, tmp_path: Path) -> None:
    write_imagefolder(tmp_path / "tree")
    csv = tmp_path / "attributes.csv"
    paths = sorted(str(p.relative_to(tmp_path / "tree")) for p in (tmp_path / "tree").rglob("*.*"))
    csv.write_text("path,lighting\n" + "".join(f"{p},{'dim' if i % 4 == 0 else 'bright'}\n"
                                                for i, p in enumerate(paths)))
    data = load_data(train_config("data=imagefolder", f"data.root={tmp_path}/tree",
                                  f"data.attributes_csv={csv}", f"data.cache_dir={tmp_path}/c",
                                  "data.val_fraction=0.2"))
    assert data.classes == ("cat", "dog", "fox") and data.image_size == 16
    assert (len(data.train), len(data.val), len(data.test)) == (24, 6, 12)
    assert data.groupings == ["class", "lighting", "class&lighting"]
    assert data.minority["lighting"] == ("dim",)
    assert set(data.minority["class&lighting"]) == {"cat&dim", "dog&dim", "fox&dim"}


def test_manifest_with_sensitive_columns(train_config, tmp_path: Path) -> None:
    manifest = write_manifest(tmp_path)
    data = load_data(train_config("data=manifest", f"data.manifest={manifest}",
                                  "data.sensitive=[skin]", f"data.cache_dir={tmp_path}/c"))
    assert data.classes == ("benign", "malignant")
    assert data.groupings == ["class", "skin", "class&skin"]
    assert len(data.test) == 9 and len(data.train) + len(data.val) == 27
    assert data.minority["skin"] == ("dark",)
    assert set(data.test.attributes["class&skin"]) <= {"benign&dark", "benign&light",
                                                       "malignant&dark", "malignant&light"}


@pytest.mark.parametrize(("setting", "groupings"), [
    # in this manifest every class is on one site: class&site would repeat class
    ("pairs", ["class", "skin", "site", "class&skin", "skin&site"]),
    ("none", ["class", "skin", "site"]),
    ("['skin&site']", ["class", "skin", "site", "skin&site"])])
def test_intersections_of_every_two_attributes(train_config, tmp_path: Path, setting: str,
                                               groupings: list[str]) -> None:
    manifest = write_manifest(tmp_path)
    data = load_data(train_config("data=manifest", f"data.manifest={manifest}",
                                  f"data.intersections={setting}",
                                  f"data.cache_dir={tmp_path}/c"))
    assert data.groupings == groupings
    if "skin&site" in groupings:
        row = data.test.attributes.iloc[0]
        assert row["skin&site"] == f"{row['skin']}&{row['site']}"


def test_long_tail_applies_to_any_dataset(train_config, tmp_path: Path) -> None:
    write_cifar10(tmp_path, per_class_per_batch=20)
    data = load_data(train_config("data=cifar10", f"data.root={tmp_path}",
                                  "data.imbalance_ratio=10"))
    counts = data.train.class_counts(10)
    assert counts[0] == 90 and counts[-1] == 9 and (np.diff(counts) <= 0).all()
    assert data.minority["train_frequency"] == ("minority",)
    assert (data.test.class_counts(10) == 20).all()


def test_two_member_run_on_an_imagefolder(train_config, tmp_path: Path) -> None:
    write_imagefolder(tmp_path / "tree", per_class=12)
    train(train_config("data=imagefolder", f"data.root={tmp_path}/tree", "model=resnet9",
                       "model.options.width=4", "data.batch_size=8",
                       f"data.cache_dir={tmp_path}/c"))
    fairness = json.loads((tmp_path / "results" / "test" / "fairness.json").read_text())
    assert fairness["members"] == 2 and fairness["n_samples"] == 12
    assert set(fairness["groupings"]["class"]["groups"]) == {"cat", "dog", "fox"}


def _cifar10_only(root: Path) -> str:
    write_cifar10(root)
    return (f"data.root={root}/cifar-10-batches-py: no CIFAR-100 here (looked for "
            f"{root}/cifar-10-batches-py/cifar-100-python/)")


def _corrupt_image(root: Path) -> str:
    write_imagefolder(root)
    (root / "train" / "dog" / "0004.jpg").write_bytes(b"not a jpeg")
    return f"{root / 'train' / 'dog' / '0004.jpg'}: cannot read or decode this image"


def _test_class_unknown(root: Path) -> str:
    write_imagefolder(root)
    (root / "test" / "cat").rename(root / "test" / "cow")
    return f"{root / 'test' / 'cow'}: class 'cow' is not in the class list of {root / 'train'}"


def _manifest_edit(root: Path, old: str, new: str, count: int = 1) -> Path:
    manifest = write_manifest(root)
    manifest.write_text(manifest.read_text().replace(old, new, count))
    return manifest


BAD_DATA = {
    "cifar10 missing root": (
        lambda root: ["data=cifar10", f"data.root={root}"],
        lambda root: f"data.root={root}: no CIFAR-10 here (looked for "
                     f"{root}/cifar-10-batches-py/); set data.download=true to fetch it with "
                     "torchvision, or point data.root at the folder that holds "
                     "cifar-10-batches-py/"),
    "cifar100 pointed at CIFAR-10": (
        lambda root: ["data=cifar100", f"data.root={root}/cifar-10-batches-py"],
        _cifar10_only),
    "celeba missing root": (
        lambda root: ["data=celeba", f"data.root={root}"],
        lambda root: f"data.root={root}: no CelebA here (looked for {root}/celeba/ with "),
    "imagefolder without root": (
        lambda root: ["data=imagefolder"],
        lambda root: "data.root is required for data=imagefolder: the folder that holds "
                     "train/<class>/ and test/<class>/"),
    "corrupt image": (
        lambda root: ["data=imagefolder", f"data.root={root}", f"data.cache_dir={root}/c"],
        _corrupt_image),
    "label not in the class list": (
        lambda root: ["data=imagefolder", f"data.root={root}", "data.cache_dir=null"],
        _test_class_unknown),
    "manifest missing a column": (
        lambda root: ["data=manifest", f"data.manifest={root}/manifest.csv"],
        lambda root: f"{_manifest_edit(root, 'path,label,split', 'file,label,split')}: missing "
                     "required column(s) path; found file, label, split, skin, site"),
    "manifest label not in classes": (
        lambda root: ["data=manifest", f"data.manifest={root}/manifest.csv",
                      "data.classes=[benign,malignant]"],
        lambda root: f"{_manifest_edit(root, ',malignant,', ',cyst,')}: line 6: label 'cyst' is "
                     "not in the class list (benign, malignant)"),
    "manifest path escaping": (
        lambda root: ["data=manifest", f"data.manifest={root}/manifest.csv"],
        lambda root: f"{_manifest_edit(root, 'images/001.png', '../secret.png')}: line 3: path "
                     f"'../secret.png' leaves the manifest's folder {root}"),
    "manifest absolute path": (
        lambda root: ["data=manifest", f"data.manifest={root}/manifest.csv"],
        lambda root: f"{_manifest_edit(root, 'images/001.png', '/etc/passwd')}: line 3: path "
                     "'/etc/passwd' is absolute; paths must be relative to the manifest's folder"),
    "attribute with one value": (
        lambda root: ["data=manifest", f"data.manifest={root}/manifest.csv",
                      f"data.cache_dir={root}/c"],
        lambda root: _manifest_edit(root, ",b\n", ",a\n", count=-1) and
        "data=manifest: attribute column 'site' holds one value only ('a') on the test split, "
        "so it defines no subgroups; drop it from data.sensitive"),
    "imbalance ratio below one": (
        lambda root: ["data=imagefolder", f"data.root={root}", "data.imbalance_ratio=0.5",
                      f"data.cache_dir={root}/c"],
        lambda root: write_imagefolder(root) or "data.imbalance_ratio=0.5 is not allowed: a "
                                                "number >= 1 (1 keeps the split as is)"),
}


@pytest.mark.parametrize("case", sorted(BAD_DATA))
def test_bad_data_gets_one_clear_message_and_writes_nothing(train_config, tmp_path: Path,
                                                            case: str) -> None:
    overrides, prepare = BAD_DATA[case]
    root = tmp_path / "data"
    root.mkdir()
    expected = prepare(root)
    with pytest.raises(FairensError) as error:
        train(train_config(*overrides(root)))
    assert str(error.value).startswith(expected), str(error.value)
    assert output_files(tmp_path / "results") == [] and output_files(tmp_path / "models") == []
