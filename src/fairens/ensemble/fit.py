"""Training one member: seeds applied, Lightning fit, test logits, checkpoint."""

from __future__ import annotations

import contextlib
import csv
import math
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytorch_lightning as pl
import torch
from hydra.errors import HydraException
from hydra.utils import instantiate
from pytorch_lightning.callbacks import ModelCheckpoint, TQDMProgressBar
from pytorch_lightning.plugins.environments import LightningEnvironment
from pytorch_lightning.utilities.exceptions import MisconfigurationException

from ..data import ImageData, Split, batch_loader
from ..errors import FairensError, UsageError, bad_setting, is_int
from ..models import create_model
from ..ownership import OwnedFolder
from ..rundir import checkpoint_file, log_dir, log_files, resume_file
from .checkpoints import readable_checkpoint, save_member
from .module import TOTAL_STEPS_KEYS, MemberModule
from .seeds import MemberSeeds


@dataclass(frozen=True)
class Recipe:
    """How every member of a run is trained (identical for all members).

    Attributes:
        model: registry name; ``model_options`` go to its builder.
        optimizer, scheduler: Hydra ``_target_`` configs (see :class:`MemberModule`).
        batch_size: training batch size (evaluation uses the same).
        trainer: a Hydra ``_target_`` config of the Lightning ``Trainer``.
        label_smoothing: cross-entropy label smoothing.
        resume_interval: seconds of training between resume points (written at epoch ends).
        select: which weights a member keeps: ``last`` (the final epoch's), ``best_val``
            (the epoch of best validation accuracy) or ``worst_group_val`` (the epoch of best
            worst-group validation accuracy, the SubpopBench protocol).
        select_grouping: the grouping of the validation samples whose per-group accuracy is
            logged each epoch (and, for ``worst_group_val``, decides); None: the first
            intersection with the class, else the first attribute, else the class.
    """

    model: str
    optimizer: dict[str, Any]
    trainer: dict[str, Any]
    batch_size: int = 128
    scheduler: dict[str, Any] | None = None
    label_smoothing: float = 0.0
    model_options: dict[str, Any] = field(default_factory=dict)
    resume_interval: float = 60.0
    select: str = "last"
    select_grouping: str | None = None


_POSITIVE_INT_KEYS = ("max_epochs", "check_val_every_n_epoch")
SELECTIONS = {"last": None, "best_val": "val_acc", "worst_group_val": "val_worst_group_acc"}
_BATCH_LIMITS = ("limit_train_batches", "limit_val_batches")



def _cause(exc: BaseException) -> str:
    """The message of the error a library wrapped (Hydra wraps the constructor's)."""
    while isinstance(exc, HydraException) and exc.__cause__ is not None:
        exc = exc.__cause__
    return str(exc)


def _training_loader(split: Split, recipe: Recipe, seed: int | None = None) -> Any:
    return batch_loader(split, recipe.batch_size, shuffle_seed=seed, drop_last=True)


def steps_per_epoch(recipe: Recipe, train: Split) -> int:
    """Optimisation steps of one epoch over ``train``, as Lightning counts them
    (``limit_train_batches`` a fraction or a number of batches)."""
    batches = len(_training_loader(train, recipe))
    limit = recipe.trainer.get("limit_train_batches", 1.0)
    if limit is None:
        return batches
    return min(int(limit), batches) if is_int(limit) else int(limit * batches)


def check_recipe(recipe: Recipe, data: ImageData) -> None:
    """Refuse a recipe that Lightning or torch would reject, before anything is written:
    the trainer is constructed once (unknown arguments, an accelerator this machine lacks),
    the optimizer and scheduler are built on a stand-in parameter, and the settings those
    constructors accept but training cannot use are checked here, including a recipe
    under which a member would take no optimisation step on the training split."""
    trainer, train = recipe.trainer, data.train
    for key in _POSITIVE_INT_KEYS:
        value = trainer.get(key)
        if value is not None and not (is_int(value) and value >= 1):
            raise bad_setting(f"trainer.{key}", value, "a positive integer")
    for key in _BATCH_LIMITS:
        value = trainer.get(key)
        if value is not None and not (isinstance(value, int | float) and not isinstance(
                value, bool) and value > 0 and (is_int(value) or value <= 1)):
            raise bad_setting(f"trainer.{key}", value, "a fraction in (0, 1] or a positive "
                                                       "number of batches")
    clip = trainer.get("gradient_clip_val")
    if clip is not None and not (isinstance(clip, int | float) and clip >= 0):
        raise bad_setting("trainer.gradient_clip_val", clip, "a non-negative number, or null")
    try:
        _trainer({key: value for key, value in trainer.items()
                  if key not in ("logger", "callbacks")}, logger=False, callbacks=[])
    except (HydraException, MisconfigurationException, TypeError, ValueError) as exc:
        raise UsageError(f"trainer settings are not allowed: Lightning's Trainer rejects "
                         f"them ({_cause(exc)})") from exc
    for key in ("logger", "callbacks"):
        try:
            _configured(trainer.get(key))
        except (HydraException, ImportError, TypeError, ValueError) as exc:
            raise UsageError(f"trainer.{key} is not allowed: {_cause(exc)}") from exc
    max_steps = trainer.get("max_steps", -1)
    if steps_per_epoch(recipe, train) < 1 or max_steps == 0:
        raise UsageError(
            f"a member would take no optimisation step: {len(train)} training images in batches "
            f"of data.batch_size={recipe.batch_size}, trainer.limit_train_batches="
            f"{trainer.get('limit_train_batches')}, trainer.max_steps={max_steps}; allow at "
            "least one batch per epoch")
    tracked_grouping(data.val, recipe)
    _check_model(recipe, data)
    parameter = torch.nn.Parameter(torch.zeros(1))
    try:
        optimizer = instantiate(recipe.optimizer, params=[parameter])
    except (HydraException, TypeError, ValueError) as exc:
        raise UsageError(f"model.optimizer settings are not allowed: {_cause(exc)}") from exc
    if recipe.scheduler:
        steps = {key: 100 for key in TOTAL_STEPS_KEYS if recipe.scheduler.get(key, 0) is None}
        try:
            instantiate(recipe.scheduler, optimizer=optimizer, **steps)
        except (HydraException, TypeError, ValueError) as exc:
            raise UsageError(f"model.scheduler settings are not allowed: {_cause(exc)}") \
                from exc


def _check_model(recipe: Recipe, data: ImageData) -> None:
    """Build the network once with ``model.options`` and the starting weights of
    ``model.checkpoint`` and run it on one image: an option the architecture rejects, or
    weights that do not load into it, are refused before anything is written."""
    try:
        network = create_model(recipe.model, num_classes=len(data.classes),
                               in_chans=data.channels, img_size=data.image_size,
                               **recipe.model_options).eval()
        with torch.no_grad():  # some options only fail on the first forward pass
            network(torch.zeros(1, data.channels, data.image_size, data.image_size))
    except FairensError:
        raise
    except (TypeError, ValueError, RuntimeError, AssertionError, ZeroDivisionError,
            KeyError) as exc:
        options = {k: v for k, v in recipe.model_options.items() if k != "checkpoint"}
        raise UsageError(f"model.options={options} are not allowed for model={recipe.model}: "
                         f"{_cause(exc)}") from exc


@dataclass(frozen=True)
class MemberResult:
    """What training one member produced."""

    member: int
    seeds: MemberSeeds
    test_logits: np.ndarray  # float32 [N_test, C]
    val_logits: np.ndarray  # float32 [N_val, C]: ranks the groups in the analysis
    val_acc: float | None
    epochs: int
    seconds: float
    selected_epoch: int | None = None  # the epoch whose weights were kept (1-based)


class _MemberProgressBar(TQDMProgressBar):
    """Lightning's progress bar, titled with the member and epoch instead of a logger version."""

    def __init__(self, label: str) -> None:
        super().__init__()
        self.label = label

    def get_metrics(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> dict[str, Any]:
        metrics = super().get_metrics(trainer, pl_module)
        metrics.pop("v_num", None)
        return metrics

    def on_train_epoch_start(self, trainer: pl.Trainer, *args: Any) -> None:
        super().on_train_epoch_start(trainer, *args)
        self.train_progress_bar.set_description(
            f"{self.label} epoch {trainer.current_epoch + 1}/{trainer.max_epochs}")


class _EpochLines(pl.Callback):
    """Where output is not a terminal (a log file, a batch job, CI): one line per epoch
    instead of progress-bar redraws, with this epoch's training loss and, on epochs that
    validated (``trainer.check_val_every_n_epoch``), its validation accuracy."""

    def __init__(self, label: str) -> None:
        self.label = label
        self.start = 0.0
        self.val_acc: float | None = None

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.start = time.perf_counter()
        self.val_acc = None

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        value = trainer.callback_metrics.get("val_acc")  # this validation's, logged by now
        self.val_acc = None if value is None else float(value)

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: MemberModule) -> None:
        # callbacks run before the module's own hook logs train_loss: read it from the module
        metrics = f"train_loss={float(pl_module.mean_train_loss()):.4f}"
        if self.val_acc is not None:
            metrics += f" val_acc={self.val_acc:.4f}"
        print(f"{self.label} epoch {trainer.current_epoch + 1}/{trainer.max_epochs} {metrics} "
              f"({time.perf_counter() - self.start:.1f}s)", flush=True)


def _trainer(config: dict[str, Any], **kwargs: Any) -> pl.Trainer:
    """Lightning's Trainer from its config. A member is one process on one device, so it
    gets the plain cluster environment unless the config asks for more devices or nodes or
    names plugins: Lightning's detection of SLURM would otherwise warn on every node where
    ``srun`` is on PATH (breaking one-line errors) and take over SIGUSR1/SIGTERM in jobs."""
    one_process = config.get("devices", 1) in (1, "1") and config.get("num_nodes", 1) == 1
    if one_process and config.get("plugins") is None:
        kwargs["plugins"] = [LightningEnvironment()]
    return instantiate(config, **kwargs)


def _configured(spec: Any) -> list[Any]:
    """Loggers or callbacks given in the trainer config, instantiated: one ``_target_``
    mapping, a list of them, or a mapping of named ones (lightning-hydra-template's form)."""
    if spec is None or isinstance(spec, bool):
        return []
    if isinstance(spec, dict) and "_target_" not in spec:
        spec = list(spec.values())
    return [instantiate(item) for item in (spec if isinstance(spec, list) else [spec])
            if item is not None]


def _progress(label: str, trainer_config: dict[str, Any]) -> list[pl.Callback]:
    """The member's progress display: Lightning's bar on a terminal; elsewhere epoch lines,
    with Lightning's own bar turned off in ``trainer_config``."""
    if not trainer_config.get("enable_progress_bar", True):
        return []
    if sys.stderr.isatty():
        return [_MemberProgressBar(label)]
    trainer_config["enable_progress_bar"] = False
    return [_EpochLines(label)]


class _ResumePoint(ModelCheckpoint):
    """Lightning's ``last.ckpt`` at the end of an epoch once ``interval`` seconds of training
    have passed since the last one, written under a temporary name and renamed, so that a
    crash never leaves a half-written checkpoint to resume from.

    Only epoch ends: the batch order and augmentation are functions of the epoch, so a
    resumed member repeats exactly what an uninterrupted one does. Not every epoch: writing
    a checkpoint after each 60 ms epoch of the digits CNN cost 8% of its training time
    (benchmarks/train_overhead.py), and a short member is cheaper to train again.
    """

    def __init__(self, models: OwnedFolder, relative: str, interval: float) -> None:
        # without a monitor, top-1 is the latest epoch: Lightning rewrites last.ckpt at
        # every epoch end (with save_top_k=0 it would only write it when training ends)
        path = models.path / relative
        # at training epoch ends even where validation runs only every n-th epoch (Lightning
        # would then save after validation, inside the epoch: not a point to resume from)
        super().__init__(dirpath=path.parent, filename=path.stem, save_top_k=1,
                         every_n_epochs=1, enable_version_counter=False,
                         save_on_train_epoch_end=True)
        self.models, self.relative = models, relative
        self.interval = interval
        self.saved_at = time.monotonic()
        self.pending: contextlib.ExitStack | None = None

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        super().on_train_start(trainer, pl_module)
        self.saved_at = time.monotonic()

    def _save_checkpoint(self, trainer: pl.Trainer, filepath: str) -> None:
        last_epoch = trainer.current_epoch + 1 >= (trainer.max_epochs or 0) > 0
        if last_epoch or time.monotonic() - self.saved_at < self.interval:
            return  # the member's own checkpoint follows the last epoch
        # Lightning logs the epoch's training metrics after this hook: the checkpoint is
        # renamed into place only once they are on disk (next epoch's start), else a kill in
        # between resumes after an epoch whose training-loss row is lost
        self.pending = contextlib.ExitStack()
        tmp = self.pending.enter_context(self.models.writing(self.relative, by="train"))
        super()._save_checkpoint(trainer, str(tmp))
        self._last_checkpoint_saved = filepath
        self.saved_at = time.monotonic()

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self.pending is not None:
            self.pending.close()
            self.pending = None

    def on_exception(self, trainer: pl.Trainer, pl_module: pl.LightningModule,
                     exception: BaseException) -> None:
        if self.pending is not None:  # the temporary file goes; the earlier point stays
            self.pending.__exit__(type(exception), exception, exception.__traceback__)
            self.pending = None


class _BestEpoch(ModelCheckpoint):
    """The weights of the epoch with the best ``monitor`` so far, written atomically to
    ``best.ckpt`` in the member's resume folder (and restored with it after a crash)."""

    def __init__(self, models: OwnedFolder, relative: str, monitor: str) -> None:
        path = models.path / relative
        super().__init__(dirpath=path.parent, filename=path.stem, monitor=monitor, mode="max",
                         save_top_k=1, enable_version_counter=False, save_last=False)
        self.models, self.relative = models, relative

    def _save_checkpoint(self, trainer: pl.Trainer, filepath: str) -> None:
        with self.models.writing(self.relative, by="train") as tmp:
            super()._save_checkpoint(trainer, str(tmp))
        self._last_checkpoint_saved = filepath


def tracked_grouping(split: Split, recipe: Recipe) -> str:
    """The grouping whose per-group validation accuracy a member logs (see Recipe)."""
    columns = list(split.attributes.columns)
    if recipe.select_grouping is not None:
        if recipe.select_grouping not in ["class", *columns]:
            raise bad_setting("trainer.select_grouping", recipe.select_grouping,
                              f"a grouping of the data: {', '.join(['class', *columns])}")
        return recipe.select_grouping
    intersections = [c for c in columns if c.startswith("class&")]
    others = [c for c in columns if c != "train_frequency"]
    return (intersections or others or ["class"])[0]


def _track(module: MemberModule, data: ImageData, recipe: Recipe) -> None:
    grouping = tracked_grouping(data.val, recipe)
    values = (np.asarray(data.classes, dtype=object)[data.val.labels.numpy()]
              if grouping == "class" else data.val.attributes[grouping].to_numpy(dtype=object))
    names, codes = np.unique(values.astype(str), return_inverse=True)
    module.track_groups(data.val.sample_ids, torch.from_numpy(codes.astype(np.int64)),
                        names.tolist())


def _read_curves(path: Path) -> list[dict[str, str]]:
    if not path.is_file():
        return []
    with path.open(newline="", encoding="utf-8") as file:
        return list(csv.DictReader(file))


def _epoch(row: dict[str, str]) -> int:
    return int(float(row["epoch"]))  # written as 3 by Lightning, as 3.0 by other loggers


def _restore_earlier_curves(run: OwnedFolder, relative: str,
                            earlier: list[dict[str, str]]) -> None:
    """Puts back the learning-curve rows from before a resume, which Lightning's CSV logger
    deletes when it finds the member's log folder in use; rows of epochs the resumed
    training logged again are taken from the resumed training."""
    rows = _read_curves(run.path / relative)
    first = min((_epoch(row) for row in rows), default=math.inf)
    # sorted, as Lightning's CSV writer orders its columns: an uninterrupted run's header
    fields = sorted({key for row in [*earlier, *rows] for key in row})
    rows = [row for row in earlier if _epoch(row) < first] + rows
    with run.writing(relative, by="train") as tmp, \
            tmp.open("w", newline="", encoding="utf-8") as file:
        writer = csv.DictWriter(file, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)


class _StopOnDivergence(pl.Callback):
    """Stops a member whose training loss is no longer finite, naming it and its seeds."""

    def __init__(self, label: str) -> None:
        self.label = label

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: MemberModule) -> None:
        loss = float(pl_module.mean_train_loss())
        if not math.isfinite(loss):
            raise FairensError(f"{self.label} diverged at epoch {trainer.current_epoch}: the "
                               f"training loss is {loss}; lower the learning rate "
                               "(model.optimizer.lr) or check the data; it is not averaged "
                               "into any ensemble")


def build_member(data: ImageData, recipe: Recipe, seeds: MemberSeeds) -> MemberModule:
    """A fresh member whose weights are drawn from ``seeds.init`` only."""
    mean, std = data.mean_std
    torch.manual_seed(seeds.init)
    module = MemberModule(
        model=recipe.model, num_classes=len(data.classes), in_chans=data.channels,
        img_size=data.image_size, mean=list(mean), std=list(std), optimizer=recipe.optimizer,
        scheduler=recipe.scheduler, augment={"pad": data.augment.pad, "flip": data.augment.flip},
        augmentation_seed=seeds.augmentation, label_smoothing=recipe.label_smoothing,
        model_options=recipe.model_options)
    torch.manual_seed(seeds.shared)
    return module


@torch.inference_mode()
def predict_logits(module: torch.nn.Module, split: Split, batch_size: int = 512) -> np.ndarray:
    """Logits float32 [N, C] of ``module`` (in eval mode) on every image of ``split``."""
    module.eval()
    device = next(module.parameters()).device
    chunks = [module(images.to(device)).float().cpu() for images, _, _ in
              batch_loader(split, batch_size)]
    return torch.cat(chunks).numpy()


def _curve_logger(run: OwnedFolder, member: int) -> pl.loggers.CSVLogger:
    """Lightning's CSV logger into the run's ``logs/member_XX/``, claimed for fairens."""
    run.claim(log_files(member), by="train")
    logs = run.path / log_dir(member)
    return pl.loggers.CSVLogger(save_dir=logs.parent, name="", version=logs.name)


def _keep_best(best: _BestEpoch | None, module: MemberModule) -> int | None:
    """Load the selected epoch's weights into ``module`` (``trainer.select``); returns that
    epoch (1-based), or None where the last epoch's weights are kept."""
    if best is None or not best.best_model_path:
        return None
    kept = torch.load(best.best_model_path, map_location="cpu", weights_only=True)
    module.load_state_dict(kept["state_dict"])
    return int(kept["epoch"]) + 1


def _check_stepped(trainer: pl.Trainer, n_train: int, recipe: Recipe, label: str) -> None:
    """A member that took no optimisation step is refused, not kept."""
    if trainer.global_step == 0:
        raise FairensError(
            f"{label} took no optimisation step ({n_train} training images, "
            f"data.batch_size={recipe.batch_size}, trainer.limit_train_batches="
            f"{recipe.trainer.get('limit_train_batches')}, trainer.max_epochs="
            f"{recipe.trainer.get('max_epochs')}): it would only add an untrained member; "
            "nothing of it was kept")


def train_member(data: ImageData, recipe: Recipe, seeds: MemberSeeds, *, member: int,
                 label: str, models: OwnedFolder, run: OwnedFolder | None = None,
                 callbacks: list[pl.Callback] | None = None) -> MemberResult:
    """Train one member with Lightning and return its test logits.

    Args:
        data: the run's dataset (the same for every member).
        recipe: the run's training recipe.
        seeds: this member's seeds; batch order and augmentation follow their own streams.
        member: the member's index.
        label: how messages name the member, e.g. ``member 3/10``.
        models: the run's models folder: the trained weights go to ``member_XX.ckpt``
            (atomically); until then ``member_XX.partial/last.ckpt`` holds the last
            finished epoch, and a later call resumes from it.
        run: the run folder, whose ``logs/member_XX/`` gets Lightning's CSV learning
            curves; None: no curves.
        callbacks: extra Lightning callbacks.
    """
    start = time.perf_counter()
    module = build_member(data, recipe, seeds)
    resume_name, best_name = resume_file(member, "last"), resume_file(member, "best")
    resume = models.path / resume_name
    if resume.is_file() and not readable_checkpoint(resume):
        print(f"{label}: {resume} is unreadable; training this member from the start", flush=True)
        models.remove([resume_name], by="train")
    trainer_config = dict(recipe.trainer)
    loggers = _configured(trainer_config.pop("logger", None))
    curves = log_files(member)
    earlier_curves = []
    if run is not None:  # the run directory's learning curves, next to any other logger
        loggers.insert(0, _curve_logger(run, member))
        if resume.is_file():
            earlier_curves = _read_curves(run.path / curves[0])
    callbacks = [_StopOnDivergence(f"{label} {seeds.describe()}"), *(callbacks or []),
                 *_configured(trainer_config.pop("callbacks", None))]
    _track(module, data, recipe)
    best = None
    if SELECTIONS[recipe.select] is not None:
        best = _BestEpoch(models, best_name, SELECTIONS[recipe.select])
        callbacks.append(best)
    if recipe.trainer.get("enable_checkpointing", True):
        callbacks.append(_ResumePoint(models, resume_name, recipe.resume_interval))
    callbacks += _progress(label, trainer_config)
    trainer = _trainer(trainer_config, logger=loggers or False, callbacks=callbacks)
    train = _training_loader(data.train, recipe, seeds.batch_order)
    if resume.is_file():
        print(f"{label}: resuming from {resume}", flush=True)
    trainer.fit(module, train, batch_loader(data.val, recipe.batch_size),
                ckpt_path=resume if resume.is_file() else None, weights_only=True)
    if run is not None:
        if earlier_curves:
            _restore_earlier_curves(run, curves[0], earlier_curves)
        run.settle(curves, by="train")
    _check_stepped(trainer, len(data.train), recipe, label)
    selected = _keep_best(best, module)
    save_member(trainer, models, checkpoint_file(member))
    models.remove([resume_name, best_name], by="train")
    val_logits = predict_logits(module, data.val)
    # of the kept weights, whichever epochs validated (trainer.check_val_every_n_epoch)
    val_acc = (float((val_logits.argmax(axis=1) == data.val.labels.numpy()).mean())
               if len(data.val) else None)
    return MemberResult(
        member=member, seeds=seeds, test_logits=predict_logits(module, data.test),
        val_logits=val_logits, val_acc=val_acc, epochs=trainer.current_epoch,
        seconds=time.perf_counter() - start, selected_epoch=selected)
