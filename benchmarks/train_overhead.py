"""Training throughput of one member through fairens versus a bare PyTorch loop.

Both paths train the same network from the same seeds on the same data, batch size and
epochs, with the same batch augmentation, one validation pass per epoch and a final pass
over the test split; the bare loop has no Lightning, no logging, no progress bar and no
checkpoint. The two run in adjacent pairs, alternating which goes first, because this
shared 2-core machine drifts by +-25% over a minute; the ratio reported is the median of
the per-pair ratios. Prints training images/s of each and the ratio (target >= 0.85), for
the default CNN on digits and ResNet-9 at 32x32.

    python benchmarks/train_overhead.py [--repeats 7]
"""

from __future__ import annotations

import argparse
import functools
import statistics
import tempfile
from pathlib import Path

import torch

from fairens.ensemble import member_seeds
from fairens.pipeline import quiet_lightning

from common import paired
from training import bare_loop, fairens_member, setup, training_images

CASES = {
    "small_cnn on digits 8x8": ["trainer.max_epochs=30"],
    "resnet9 on digits 32x32": ["model=resnet9", "data.image_size=32", "trainer.max_epochs=2",
                                "data.batch_size=128"],
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    quiet_lightning()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    seeds = member_seeds(0, ["init", "batch_order", "augmentation"], 0)
    for case, overrides in CASES.items():
        data, recipe = setup(*overrides)
        images = training_images(data, recipe)
        with tempfile.TemporaryDirectory() as folder:
            ours = functools.partial(fairens_member, data, recipe, seeds, Path(folder))
            ours()  # warm-up
            timing = paired(functools.partial(bare_loop, data, recipe, seeds), ours, args.repeats)
        print(f"{case}: bare loop {images / statistics.median(timing.baseline):8.1f} img/s   "
              f"fairens {images / statistics.median(timing.candidate):8.1f} img/s   "
              f"ratio {timing.speed_ratio:.3f} (median of {args.repeats} paired runs; "
              f"best-of ratio {timing.best_ratio:.3f}; target >= 0.85; {images} training "
              "images per run)")


if __name__ == "__main__":
    main()
