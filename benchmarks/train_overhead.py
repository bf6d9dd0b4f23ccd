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
import torch.nn.functional as F
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate

from fairens.data import ImageData, augment_batch
from fairens.ensemble import member_seeds, train_member
from fairens.ensemble.train import build_member
from fairens.pipeline import _quiet_lightning, load_data, recipe_from

from common import paired

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
CASES = {
    "small_cnn on digits 8x8": ["trainer.max_epochs=30"],
    "resnet9 on digits 32x32": ["model=resnet9", "data.image_size=32", "trainer.max_epochs=2",
                                "data.batch_size=128"],
}


def bare_loop(data: ImageData, recipe, seeds) -> None:
    """Train with a hand-written loop: shuffle, augment, step, validate, predict."""
    module = build_member(data, recipe, seeds)
    optimizer = instantiate(recipe.optimizer, params=list(module.parameters()))
    epochs = recipe.trainer["max_epochs"]
    n, batch = len(data.train), recipe.batch_size
    steps = epochs * (n // batch)
    schedule = dict(recipe.scheduler, total_steps=steps)
    scheduler = instantiate(schedule, optimizer=optimizer)
    generator = torch.Generator().manual_seed(seeds.batch_order)
    for epoch in range(epochs):
        module.train()
        order = torch.randperm(n, generator=generator)
        for index in order[: (n // batch) * batch].split(batch):
            images = augment_batch(data.train.images[index], data.train.sample_ids[index],
                                   seed=seeds.augmentation, epoch=epoch, spec=module.augment)
            loss = F.cross_entropy(module(images), data.train.labels[index],
                                   label_smoothing=recipe.label_smoothing)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            scheduler.step()
        module.eval()
        with torch.no_grad():
            for split in (data.val,) + ((data.test,) if epoch == epochs - 1 else ()):
                for index in torch.arange(len(split)).split(batch):
                    module(split.images[index]).argmax(dim=1)


def fairens_member(data: ImageData, recipe, seeds, folder: Path) -> None:
    """fairens' own member training (Lightning fit, test logits, checkpoint)."""
    train_member(data, recipe, seeds, member=0, label="member 1/1",
                 checkpoint=folder / "member_00.ckpt")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    _quiet_lightning()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    for case, overrides in CASES.items():
        with initialize_config_dir(config_dir=str(CONFIGS), version_base="1.3"):
            cfg = compose(config_name="train", overrides=[
                *overrides, "trainer.enable_progress_bar=false", "trainer.accelerator=cpu"])
        data, recipe = load_data(cfg), recipe_from(cfg)
        seeds = member_seeds(0, ["init", "batch_order", "augmentation"], 0)
        images = recipe.trainer["max_epochs"] * (len(data.train) // recipe.batch_size) \
            * recipe.batch_size
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
