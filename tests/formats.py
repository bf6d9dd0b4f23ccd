"""Tiny datasets written in the real on-disk formats users have (no download, random pixels)."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
from PIL import Image

CIFAR10_CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse",
                   "ship", "truck"]


def _pickle(path: Path, obj: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:
        pickle.dump(obj, f, protocol=2)


def write_cifar10(root: Path, per_class_per_batch: int = 2, seed: int = 0) -> np.ndarray:
    """``root/cifar-10-batches-py/`` with five training batches and a test batch, as
    torchvision's CIFAR10 reads them. Returns the training images [N, 3, 32, 32] in order."""
    rng = np.random.default_rng(seed)
    folder = root / "cifar-10-batches-py"
    labels = np.repeat(np.arange(10), per_class_per_batch)
    train = []
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        data = rng.integers(0, 256, (len(labels), 3072), dtype=np.uint8)
        _pickle(folder / name, {"batch_label": name, "labels": labels.tolist(), "data": data,
                                "filenames": [f"{name}_{i}.png" for i in range(len(labels))]})
        if name != "test_batch":
            train.append(data.reshape(-1, 3, 32, 32))
    _pickle(folder / "batches.meta", {"label_names": CIFAR10_CLASSES, "num_cases_per_batch":
                                      len(labels), "num_vis": 3072})
    return np.concatenate(train)


def write_cifar100(root: Path, per_class: int = 2, seed: int = 0) -> None:
    """``root/cifar-100-python/{train,test,meta}``: 100 fine classes, 20 coarse (fine c has
    coarse c // 5)."""
    rng = np.random.default_rng(seed)
    folder = root / "cifar-100-python"
    fine = np.repeat(np.arange(100), per_class)
    for name in ("train", "test"):
        _pickle(folder / name, {"filenames": [f"{i}.png" for i in range(len(fine))],
                                "fine_labels": fine.tolist(), "coarse_labels": (fine // 5).tolist(),
                                "data": rng.integers(0, 256, (len(fine), 3072), dtype=np.uint8)})
    _pickle(folder / "meta", {"fine_label_names": [f"fine{i:02d}" for i in range(100)],
                              "coarse_label_names": [f"coarse{i:02d}" for i in range(20)]})


def _save_image(path: Path, size: tuple[int, int], rng: np.random.Generator) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    Image.fromarray(pixels).save(path)


def write_celeba(root: Path, n: int = 24, seed: int = 0) -> list[str]:
    """``root/celeba/`` with ``n`` 178x218 JPEGs, ``list_attr_celeba.txt`` (40 attributes,
    1/-1) and ``list_eval_partition.txt`` (0/1/2). Returns the image names."""
    rng = np.random.default_rng(seed)
    folder = root / "celeba"
    names = [f"{i + 1:06d}.jpg" for i in range(n)]
    for name in names:
        _save_image(folder / "img_align_celeba" / name, (178, 218), rng)
    attributes = ["5_o_Clock_Shadow", "Blond_Hair", "Male", "Smiling"]
    values = rng.choice([-1, 1], size=(n, len(attributes)))
    values[:, 1] = np.where(np.arange(n) % 3 == 0, 1, -1)  # every third face blond
    values[:, 2] = np.where(np.arange(n) % 2 == 0, 1, -1)  # every other face male
    lines = [str(n), " ".join(attributes)]
    lines += [f"{name} " + " ".join(f"{v:2d}" for v in row) for name, row in zip(names, values,
                                                                              strict=True)]
    (folder / "list_attr_celeba.txt").write_text("\n".join(lines) + "\n")
    splits = np.where(np.arange(n) < n // 2, 0, np.where(np.arange(n) < 3 * n // 4, 1, 2))
    (folder / "list_eval_partition.txt").write_text(
        "".join(f"{name} {s}\n" for name, s in zip(names, splits, strict=True)))
    return names


def write_imagefolder(root: Path, classes: tuple[str, ...] = ("cat", "dog", "fox"),
                      per_class: int = 10, test_per_class: int = 4, seed: int = 0) -> None:
    """``root/{train,test}/<class>/NNNN.{jpg,png}``, 16x16 RGB, jpg and png mixed."""
    rng = np.random.default_rng(seed)
    for split, count in (("train", per_class), ("test", test_per_class)):
        for name in classes:
            for i in range(count):
                _save_image(root / split / name / f"{i:04d}.{'png' if i % 3 == 0 else 'jpg'}",
                            (16, 16), rng)


def write_manifest(root: Path, n: int = 36, seed: int = 0) -> Path:
    """``root/images/*.png`` and ``root/manifest.csv`` (path,label,split,skin,site)."""
    rng = np.random.default_rng(seed)
    rows = ["path,label,split,skin,site"]
    for i in range(n):
        _save_image(root / "images" / f"{i:03d}.png", (12, 12), rng)
        split = "test" if i % 4 == 0 else "train"
        skin = "dark" if i % 6 in (0, 1) else "light"
        rows.append(f"images/{i:03d}.png,{['benign', 'malignant'][(i // 4) % 2]},{split},{skin},"
                    f"{'a' if i % 8 < 4 else 'b'}")
    manifest = root / "manifest.csv"
    manifest.write_text("\n".join(rows) + "\n")
    return manifest


def write_utkface(root: Path, per_stratum: int = 10, ages: tuple[int, ...] = (25, 35, 45),
                  seed: int = 0) -> Path:
    """``root/UTKFace/<age>_<gender>_<race>_<datetime>.jpg.chip.jpg`` as distributed (small
    random faces): ``per_stratum`` images for every gender x race x age, plus the faults of
    the real dataset: a name without the race field, a byte-identical copy under the same
    labels and one under other labels, and a re-encoded, resized copy (a near-duplicate)
    of face 10 under the same labels and of face 20 under another race."""
    rng = np.random.default_rng(seed)
    folder = root / "UTKFace"
    stamp, written = 20170116000000000, []
    for gender in (0, 1):
        for race in range(5):
            for age in ages:
                for _ in range(per_stratum):
                    stamp += 1
                    written.append(folder / f"{age}_{gender}_{race}_{stamp}.jpg.chip.jpg")
                    _save_image(written[-1], (20, 20), rng)
    (folder / "61_1_20170109150557335.jpg.chip.jpg").write_bytes(written[5].read_bytes())
    age, gender, race = written[0].name.split("_")[:3]
    # a copy under the same labels: kept once
    (folder / f"{age}_{gender}_{race}_{stamp + 1}.jpg.chip.jpg").write_bytes(
        written[0].read_bytes())
    age, gender, race = written[-1].name.split("_")[:3]
    # a copy whose gender disagrees: both dropped
    (folder / f"{age}_{1 - int(gender)}_{race}_{stamp + 2}.jpg.chip.jpg").write_bytes(
        written[-1].read_bytes())
    # near-duplicates: re-encoded at another quality and resized, under other names
    age, gender, race = written[10].name.split("_")[:3]
    near_copy(written[10], folder / f"{age}_{gender}_{race}_{stamp + 3}.jpg.chip.jpg")
    age, gender, race = written[20].name.split("_")[:3]
    near_copy(written[20], folder / f"{age}_{gender}_{(int(race) + 1) % 5}_{stamp + 4}"
                                     ".jpg.chip.jpg")
    return folder


def near_copy(source: Path, target: Path) -> None:
    """``source`` resized to 2x and saved as a JPEG of another quality: the same photo,
    other bytes (a near-duplicate)."""
    with Image.open(source) as image:
        image.convert("RGB").resize((image.width * 2, image.height * 2)).save(
            target, format="JPEG", quality=70)
