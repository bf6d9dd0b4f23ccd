"""Training one member two ways, for the throughput benchmarks: a bare PyTorch loop and
fairens' Lightning path, on the same network, seeds, data, batch size and epochs."""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate

from fairens.data import ImageData, augment_batch
from fairens.ensemble import Recipe, train_member
from fairens.ensemble.fit import build_member
from fairens.models import get_spec
from fairens.rundir import open_models
from fairens.settings import load_data, recipe_from

CONFIGS = Path(__file__).resolve().parents[1] / "configs"


def setup(*overrides: str) -> tuple[ImageData, Recipe]:
    """Data and recipe of ``configs/train.yaml`` with ``overrides``, quiet, on CPU."""
    with initialize_config_dir(config_dir=str(CONFIGS), version_base="1.3"):
        cfg = compose(config_name="train", overrides=[
            *overrides, "trainer.enable_progress_bar=false", "trainer.accelerator=cpu"])
    return load_data(cfg, get_spec(cfg.model.name)), recipe_from(cfg)


def training_images(data: ImageData, recipe: Recipe) -> int:
    """Images one training run processes (whole batches only)."""
    per_epoch = (len(data.train) // recipe.batch_size) * recipe.batch_size
    return recipe.trainer["max_epochs"] * per_epoch


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
                 models=open_models(folder, "benchmark"))
