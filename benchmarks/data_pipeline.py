"""CIFAR-10 from the JPEG folder: decode, cached load, and augmentation cost.

Measures, in one run:
  * first load: fairens decodes all 60,000 JPEGs into uint8 tensors (and writes its cache);
  * cached load: the same call again, reading the cache (target < 3 s);
  * baseline: one pass of torchvision's ImageFolder + DataLoader over the training images,
    the decoding a per-sample pipeline pays every epoch;
  * augmentation: fairens' batch crop+flip of 256 images versus one ResNet-9 training step
    on that batch (target < 10% of the step), and versus torchvision's per-sample v2
    RandomCrop + RandomHorizontalFlip on the same batch.

    python benchmarks/data_pipeline.py --root /path/to/cifar10   # holds train/ and test/
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time

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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", required=True, help="CIFAR-10 JPEG tree (train/, test/)")
    parser.add_argument("--batch", type=int, default=256)
    args = parser.parse_args()
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
