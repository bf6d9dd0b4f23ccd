"""CIFAR-10 from the JPEG folder (and UTKFace): decode, cached load, and augmentation cost.

Measures, in one run:
  * first load: fairens decodes all 60,000 JPEGs into uint8 tensors (and writes its cache);
  * cached load: the same call again, reading the cache (target < 3 s);
  * baseline: one pass of torchvision's ImageFolder + DataLoader over the training images,
    the decoding a per-sample pipeline pays every epoch;
  * augmentation: fairens' batch crop+flip of 256 images versus one ResNet-9 training step
    on that batch (target < 10% of the step), and versus torchvision's per-sample v2
    RandomCrop + RandomHorizontalFlip on the same batch.

With ``--utkface ROOT`` (the folder holding UTKFace/), instead: the first load of all 23,708
faces decoded at 64x64 (names parsed, copies found by SHA-256, cache written), the cached load
(target < 2 s), and one torchvision ImageFolder-style pass over the same files (PIL decode,
resize to 64, tensor; what a per-sample pipeline pays every epoch): target, the first load is
no slower than that one pass.

    python benchmarks/data_pipeline.py --root /path/to/cifar10   # holds train/ and test/
    python benchmarks/data_pipeline.py --utkface /path/to/data   # holds UTKFace/
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader
from torchvision import datasets
from torchvision.transforms import v2

from fairens.data import augment_batch, load_dataset
from fairens.models import create_model

from common import seconds


def median_seconds(func, repeats: int) -> float:
    return statistics.median(seconds(func) for _ in range(repeats))


class _Files(torch.utils.data.Dataset):
    """Files decoded one by one, as torchvision's ImageFolder does (without class folders:
    UTKFace is flat)."""

    def __init__(self, files: list, transform) -> None:
        self.files, self.transform = files, transform

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, index: int):
        return self.transform(datasets.folder.default_loader(str(self.files[index])))


def utkface(root: str, size: int = 64, repeats: int = 3) -> None:
    """First load, cached load and one per-file pass over UTKFace at ``size``."""
    files = sorted(p for p in Path(root, "UTKFace").iterdir() if ".jpg" in p.name)
    per_file = _Files(files, v2.Compose([v2.Resize((size, size)), v2.PILToTensor()]))
    firsts, cached, passes = [], [], []
    for _ in range(repeats):
        with tempfile.TemporaryDirectory() as cache:
            load = lambda: load_dataset("utkface", root=root, image_size=size,  # noqa: E731
                                        cache_dir=cache)
            firsts.append(seconds(load))
            cached.append(seconds(load))
        passes.append(seconds(lambda: [None for _ in DataLoader(per_file, batch_size=256)]))
    first, again, one_pass = (statistics.median(v) for v in (firsts, cached, passes))
    spread = lambda v: f"{min(v):.1f}-{max(v):.1f}"  # noqa: E731
    print(f"UTKFace at {size}x{size}, {len(files)} files, median of {repeats} (range):")
    print(f"first load {first:.1f} s ({spread(firsts)}); torchvision ImageFolder-style pass "
          f"{one_pass:.1f} s ({spread(passes)}): first load / pass = {first / one_pass:.2f} "
          f"(target <= 1)")
    print(f"cached load {again:.2f} s ({spread(cached)}) (target < 2 s): "
          f"{one_pass / again:.0f}x faster than the per-file pass paid every epoch")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", help="CIFAR-10 JPEG tree (train/, test/)")
    parser.add_argument("--utkface", help="the folder that holds UTKFace/")
    parser.add_argument("--batch", type=int, default=256)
    args = parser.parse_args()
    if args.utkface:
        return utkface(args.utkface)
    if not args.root:
        parser.error("give --root (CIFAR-10) or --utkface")
    with tempfile.TemporaryDirectory() as cache:
        load = lambda: load_dataset("imagefolder", root=args.root, cache_dir=cache)  # noqa: E731
        first = seconds(load)
        start = time.perf_counter()
        data = load()
        cached = time.perf_counter() - start
    baseline_set = datasets.ImageFolder(f"{args.root}/train",
                                        transform=v2.Compose([v2.PILToTensor()]))
    per_epoch = seconds(lambda: [None for _ in DataLoader(baseline_set, batch_size=args.batch)])
    print(f"first load (decode {len(data.train) + len(data.val) + len(data.test)} images): "
          f"{first:.2f} s")
    print(f"cached load: {cached:.2f} s (target < 3 s); torchvision ImageFolder pass over "
          f"{len(baseline_set)} training images: {per_epoch:.2f} s, paid every epoch "
          f"(cached load / that pass = {cached / per_epoch:.3f})")

    images = data.train.images[:args.batch]
    ids, labels = data.train.sample_ids[:args.batch], data.train.labels[:args.batch]
    spec = data.augment
    ours = median_seconds(lambda: augment_batch(images, ids, seed=0, epoch=1, spec=spec), 50)
    per_sample = v2.Compose([v2.RandomCrop(32, padding=4), v2.RandomHorizontalFlip()])
    theirs = median_seconds(lambda: torch.stack([per_sample(x) for x in images]), 10)
    net = create_model("resnet9", num_classes=10, in_chans=3, img_size=32)
    optimizer = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9)

    def step() -> None:
        loss = F.cross_entropy(net(images.float() / 255), labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    step()
    step_time = median_seconds(step, 5)
    print(f"augmentation of a batch of {args.batch}: fairens {1000 * ours:.2f} ms, torchvision "
          f"per-sample v2 {1000 * theirs:.2f} ms (fairens is {theirs / ours:.1f}x faster); "
          f"ResNet-9 training step {1000 * step_time:.0f} ms: augmentation = "
          f"{100 * ours / step_time:.2f}% of a step (target < 10%)")


if __name__ == "__main__":
    main()
