"""The LightningModule that trains one ensemble member.

It receives plain configuration (so checkpoints can rebuild it) and builds its network
inside. Inputs arrive as uint8 batches; augmentation and normalisation happen here, on
whole batches, on the training device.
"""

from __future__ import annotations

import math
from typing import Any

import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from hydra.utils import instantiate
from torch import nn

from ..data import AugmentSpec, augment_batch
from ..models import create_model

# Scheduler options that take the number of optimizer steps; left null in the config,
# they are filled in here once the trainer knows the data size.
TOTAL_STEPS_KEYS = ("total_steps", "T_max")


class Normalize(nn.Module):
    """uint8 or [0, 255] images to (x / 255 - mean) / std, per channel."""

    def __init__(self, mean: list[float], std: list[float]) -> None:
        super().__init__()
        self.register_buffer("mean", torch.tensor(mean).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(std).view(1, -1, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x.float() / 255 - self.mean) / self.std


class MemberModule(pl.LightningModule):
    """One member: ``normalize`` then ``net``, trained with cross-entropy.

    Args:
        model: registry name of the network.
        model_options: extra keyword arguments of the network's builder (e.g. ``width``).
        num_classes, in_chans, img_size: what the network sees.
        mean, std: per-channel normalisation of [0, 1] pixels.
        optimizer: a Hydra ``_target_`` config of a ``torch.optim`` optimizer (no params).
        scheduler: a Hydra ``_target_`` config of an LR scheduler stepped every batch, or None.
        augment: ``{"pad": int, "flip": bool}``.
        augmentation_seed: this member's augmentation stream.
        label_smoothing: cross-entropy label smoothing.
    """

    def __init__(self, *, model: str, num_classes: int, in_chans: int, img_size: int,
                 mean: list[float], std: list[float], optimizer: dict[str, Any],
                 scheduler: dict[str, Any] | None = None, augment: dict[str, Any] | None = None,
                 augmentation_seed: int = 0, label_smoothing: float = 0.0,
                 model_options: dict[str, Any] | None = None) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.normalize = Normalize(mean, std)
        self.net = create_model(model, num_classes=num_classes, in_chans=in_chans,
                                img_size=img_size, **(model_options or {}))
        self.augment = AugmentSpec(**(augment or {}))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Logits [B, num_classes] of uint8 (or [0, 255] float) images [B, C, H, W]."""
        return self.net(self.normalize(images))

    # Loss and accuracy are summed on the device and logged once per epoch: Lightning's
    # per-step self.log cost about 10% of a small CNN's training time (train_overhead.py).
    def on_train_epoch_start(self) -> None:
        self._loss_sum, self._loss_count = torch.zeros((), device=self.device), 0

    def training_step(self, batch: tuple[torch.Tensor, ...], batch_idx: int) -> torch.Tensor:
        images, labels, sample_ids = batch
        images = augment_batch(images, sample_ids, seed=self.hparams.augmentation_seed,
                               epoch=self.current_epoch, spec=self.augment)
        loss = F.cross_entropy(self(images), labels,
                               label_smoothing=self.hparams.label_smoothing)
        self._loss_sum += loss.detach() * len(labels)
        self._loss_count += len(labels)
        return loss

    def mean_train_loss(self) -> torch.Tensor:
        """Mean training loss of the current epoch so far (NaN if any step's loss was)."""
        return self._loss_sum / max(self._loss_count, 1)

    def on_train_epoch_end(self) -> None:
        self.log("train_loss", self.mean_train_loss(), prog_bar=True)

    def track_groups(self, sample_ids: torch.Tensor, codes: torch.Tensor,
                     names: list[str]) -> None:
        """Log, at each validation, the accuracy of every group of one grouping of the
        validation samples (``val_acc/<group>``) and the lowest of them
        (``val_worst_group_acc``). Not a hyper-parameter: rebuilt each time a member trains."""
        order = torch.argsort(sample_ids)
        self._group_ids, self._group_codes = sample_ids[order], codes[order]
        self._group_names = list(names)

    def on_validation_epoch_start(self) -> None:
        self._val_correct, self._val_count = torch.zeros((), device=self.device), 0
        groups = len(getattr(self, "_group_names", []))
        self._group_right = torch.zeros(groups, device=self.device)
        self._group_total = torch.zeros(groups, device=self.device)

    def validation_step(self, batch: tuple[torch.Tensor, ...], batch_idx: int) -> None:
        images, labels, sample_ids = batch
        right = self(images).argmax(dim=1) == labels
        self._val_correct += right.sum()
        self._val_count += len(labels)
        if len(self._group_total):
            where = torch.searchsorted(self._group_ids, sample_ids.cpu())
            codes = self._group_codes[where].to(self.device)
            self._group_right += torch.bincount(codes, weights=right.float(),
                                                minlength=len(self._group_total))
            self._group_total += torch.bincount(codes, minlength=len(self._group_total))

    def on_validation_epoch_end(self) -> None:
        self.log("val_acc", self._val_correct / max(self._val_count, 1), prog_bar=True)
        seen = self._group_total > 0
        if seen.any():
            accuracy = self._group_right / self._group_total.clamp_min(1)
            self.log("val_worst_group_acc", accuracy[seen].min())
            # per-group curves go to the loggers directly: each self.log'ed value is moved
            # between devices by Lightning at every epoch end, which cost small_cnn on
            # digits 6% of its training time (benchmarks/train_overhead.py)
            curves = {f"val_acc/{name}": float(value) for name, value, present
                      in zip(self._group_names, accuracy.tolist(), seen.tolist(), strict=True)
                      if present}
            for logger in self.loggers:
                logger.log_metrics({**curves, "epoch": self.current_epoch},
                                   step=self.global_step)

    # The global RNG drives randomness outside the seeded sources (dropout, stochastic
    # depth): keep its state in the checkpoint so that a resumed member continues exactly.
    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        checkpoint["fairens_rng_state"] = torch.get_rng_state()

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        if "fairens_rng_state" in checkpoint:
            torch.set_rng_state(checkpoint["fairens_rng_state"])

    def configure_optimizers(self) -> Any:
        optimizer = instantiate(self.hparams.optimizer, params=list(self.parameters()))
        if not self.hparams.scheduler:
            return optimizer
        steps = int(self.trainer.estimated_stepping_batches)
        if "pct_start" in self.hparams.scheduler:
            # a one-cycle schedule is undefined when its warm-up is shorter than 2 steps
            steps = max(steps, math.ceil(2 / self.hparams.scheduler["pct_start"]))
        options = {key: steps for key in TOTAL_STEPS_KEYS
                   if key in self.hparams.scheduler and self.hparams.scheduler[key] is None}
        scheduler = instantiate(self.hparams.scheduler, optimizer=optimizer, **options)
        return {"optimizer": optimizer,
                "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}
