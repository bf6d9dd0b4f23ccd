"""Training throughput of every registered model at 32x32 on this machine's CPU cores:
fairens (Lightning) versus a bare PyTorch loop on the same model, in adjacent pairs.

Digits upsampled to 32x32, batch 64, 2 epochs per run (12 steps). Prints training
images/s of both and their ratio per model (target >= 0.85 for each).

    python benchmarks/zoo_throughput.py [--repeats 3] [--models NAME ...]
"""

from __future__ import annotations

import argparse
import functools
import statistics
import tempfile
from pathlib import Path

import torch

from fairens.ensemble import member_seeds
from fairens.models import list_models
from fairens.pipeline import quiet_lightning

from common import paired
from training import bare_loop, fairens_member, setup, training_images


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--models", nargs="*", default=list_models())
    args = parser.parse_args()
    quiet_lightning()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, 32x32 inputs, "
          f"median of {args.repeats} paired runs")
    seeds = member_seeds(0, ["init", "batch_order", "augmentation"], 0)
    ratios = {}
    for name in args.models:
        data, recipe = setup(f"model={name}", "data.image_size=32", "trainer.max_epochs=2")
        images = training_images(data, recipe)
        with tempfile.TemporaryDirectory() as folder:
            ours = functools.partial(fairens_member, data, recipe, seeds, Path(folder))
            ours()  # warm-up
            timing = paired(functools.partial(bare_loop, data, recipe, seeds), ours, args.repeats)
        ratios[name] = timing.speed_ratio
        print(f"{name:24s} bare {images / statistics.median(timing.baseline):8.1f} img/s  "
              f"fairens {images / statistics.median(timing.candidate):8.1f} img/s  "
              f"ratio {timing.speed_ratio:.3f}  best-of {timing.best_ratio:.3f}", flush=True)
    below = [n for n, r in ratios.items() if r < 0.85]
    print(f"lowest ratio {min(ratios.values()):.3f}; below 0.85: {', '.join(below) or 'none'}")


if __name__ == "__main__":
    main()
