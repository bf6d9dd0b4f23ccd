"""``python train.py``: train a run's members, then analyse it and write its report.

Hydra composes the configuration; this module turns it into plain settings, checks every
one of them before anything is written, and calls the stages in order.
"""

from __future__ import annotations

import logging
import math
import platform
import re
import tempfile
import warnings
from dataclasses import dataclass, fields
from datetime import datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import torch
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf

from .data import ImageData, check_image_size, load_dataset, resize
from .ensemble import (
    SOURCES,
    MemberResult,
    MemberSeeds,
    Recipe,
    check_recipe,
    check_vary,
    load_member,
    member_seeds,
    predict_logits,
    readable_checkpoint,
    train_member,
)
from .ensemble.train import resume_point
from .errors import FairensError, bad_setting
from .fairness import AnalysisOptions
from .files import inside, remove_leftovers, write_json
from .locks import RUN_LOCK_WAIT, hold
from .models import ModelSpec, get_spec, profile_model
from .report import summary_lines, write_report
from .rundir import (
    PREDICTIONS_DIR,
    RUN_JSON,
    VAL_GROUPS,
    load_meta,
    member_lock,
    member_name,
    predictions_path,
    run_lock,
    save_predictions,
    write_run_json,
    write_test_groups,
)

_RUN_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._=+-]*$")
_VERSIONED = ("fairens", "torch", "torchvision", "pytorch-lightning", "timm", "hydra-core",
              "numpy", "onnx", "onnxruntime", "fairlearn", "scikit-learn")


@dataclass(frozen=True)
class EnsembleSettings:
    """The ``ensemble.*`` settings, checked."""

    size: int
    seed: int
    vary: tuple[str, ...]
    k: int
    members: tuple[int, ...]


@dataclass(frozen=True)
class RunPaths:
    """Where a run's outputs go."""

    name: str
    results: Path
    models: Path

    def checkpoint(self, member: int) -> Path:
        return self.models / f"{member_name(member)}.ckpt"

    def member_json(self, member: int) -> Path:
        return self.results / "members" / f"{member_name(member)}.json"

    def log_dir(self, member: int) -> Path:
        return self.results / "logs" / member_name(member)

    def check_member_paths(self, member: int) -> None:
        """Refuse, before training, a member output that leads outside the run's folders."""
        checkpoint = self.checkpoint(member)
        for root, path in ((self.models, checkpoint), (self.models, resume_point(checkpoint)),
                           (self.results, self.member_json(member)),
                           (self.results, self.log_dir(member)),
                           (self.results, predictions_path(self.results, member)),
                           (self.results, predictions_path(self.results, member, "val"))):
            inside(root, path.parent)
            inside(root, path)

    def remove_member_leftovers(self, member: int) -> None:
        """Temporary files a killed process left while writing this member's outputs."""
        name = member_name(member)
        checkpoint = self.checkpoint(member)
        remove_leftovers(self.models, [checkpoint.name])
        remove_leftovers(resume_point(checkpoint), ["last.ckpt"])
        remove_leftovers(self.results / PREDICTIONS_DIR, [f"{name}.npz"])
        remove_leftovers(predictions_path(self.results, member, "val").parent, [f"{name}.npz"])
        remove_leftovers(self.results / "members", [f"{name}.json"])
        remove_leftovers(self.log_dir(member), ["metrics.csv"])


def _is_int(value: Any) -> bool:
    return isinstance(value, int | np.integer) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def ensemble_settings(cfg: DictConfig) -> EnsembleSettings:
    """Check ``cfg.ensemble``: sizes and seeds are integers, sources are known."""
    size, seed, k = cfg.size, cfg.seed, cfg.k
    if not _is_int(size) or size < 1:
        raise bad_setting("ensemble.size", size, "a positive integer (the number of members)")
    if not _is_int(seed) or seed < 0:
        raise bad_setting("ensemble.seed", seed, "a non-negative integer")
    if not _is_int(k) or k < 1:
        raise bad_setting("ensemble.k", k, "a positive integer (size of the bottom-k and "
                                           "top-k sets)")
    vary = cfg.vary
    if isinstance(vary, str):
        vary = [vary]
    elif vary is None or OmegaConf.is_list(vary) or isinstance(vary, list | tuple):
        vary = list(vary or [])
    else:
        raise bad_setting("ensemble.vary", vary, f"a list of sources, a subset of {list(SOURCES)}")
    members = cfg.get("member")
    members = list(range(size)) if members is None else (
        [members] if _is_int(members) else list(members))
    if not members or not all(_is_int(m) and 0 <= m < size for m in members):
        raise bad_setting("ensemble.member", OmegaConf.to_container(cfg.member)
                          if OmegaConf.is_config(cfg.member) else cfg.member,
                          f"member indices from 0 to {size - 1} (ensemble.size={size}), "
                          "or null for all")
    return EnsembleSettings(size=int(size), seed=int(seed), vary=check_vary(vary), k=int(k),
                            members=tuple(sorted(set(int(m) for m in members))))


def run_name(cfg: DictConfig) -> str:
    """``run_name``, or ``<data>_<model>_k<K>_<time>`` (plus the job number in a multirun).

    A job that trains only some members (``ensemble.member``) must name its run, so that
    every job of the ensemble trains into the same one.
    """
    if cfg.get("run_name") is not None:
        return str(cfg.run_name)
    if cfg.ensemble.get("member") is not None:
        raise bad_setting("run_name", None, "a name shared by every job when ensemble.member "
                                            "trains only some members (e.g. run_name=digits_k10)")
    name = (f"{cfg.data.name}_{cfg.model.name}_k{cfg.ensemble.size}_"
            f"{datetime.now():%Y%m%d-%H%M%S}")
    if HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN:
        name += f"_job{HydraConfig.get().job.num}"
    return name


def run_paths(cfg: DictConfig) -> RunPaths:
    """The run's folders under ``paths.results`` and ``paths.models``."""
    name = run_name(cfg)
    if not _RUN_NAME.match(name):
        raise bad_setting("run_name", name, "letters, digits and . _ = + - (no path "
                                            "separators), starting with a letter or digit")
    return RunPaths(name, Path(cfg.paths.results) / name, Path(cfg.paths.models) / name)


def _plain(cfg: Any) -> Any:
    return OmegaConf.to_container(cfg, resolve=True) if OmegaConf.is_config(cfg) else cfg


def recipe_from(cfg: DictConfig) -> Recipe:
    """The training recipe shared by every member."""
    batch_size = cfg.data.get("batch_size", 128)
    if not _is_int(batch_size) or batch_size < 1:
        raise bad_setting("data.batch_size", batch_size, "a positive integer")
    options = dict(_plain(cfg.model.get("options")) or {})
    checkpoint = cfg.model.get("checkpoint")
    if checkpoint is not None:
        if not Path(str(checkpoint)).expanduser().is_file():
            raise bad_setting("model.checkpoint", str(checkpoint), "a local state dict file "
                                                                   "(no such file)")
        options["checkpoint"] = str(Path(str(checkpoint)).expanduser().resolve())
    interval = cfg.get("resume_interval", 60)
    if not _is_number(interval) or not math.isfinite(interval) or interval < 0:
        raise bad_setting("resume_interval", interval, "seconds (>= 0; 0: after every epoch)")
    smoothing = cfg.model.get("label_smoothing", 0.0)
    if not _is_number(smoothing):
        raise bad_setting("model.label_smoothing", smoothing, "a number from 0 to 1 (exclusive)")
    trainer = _plain(cfg.trainer)
    select, select_grouping = trainer.pop("select", "last"), trainer.pop("select_grouping", None)
    return Recipe(model=str(cfg.model.name), optimizer=_plain(cfg.model.optimizer),
                  scheduler=_plain(cfg.model.get("scheduler")), trainer=trainer,
                  batch_size=int(batch_size), label_smoothing=float(smoothing),
                  model_options=options, resume_interval=float(interval), select=str(select),
                  select_grouping=select_grouping)


def load_data(cfg: DictConfig, spec: ModelSpec | None = None) -> ImageData:
    """The dataset named by ``data.name`` with its options, at a size the model runs at.

    An explicit ``data.image_size`` the model cannot run at is refused before anything is
    loaded; without one, images the model cannot take are upsampled to the smallest side
    it supports.
    """
    options = _plain(cfg.data)
    name = options.pop("name")
    options.pop("batch_size", None)
    requested = options.get("image_size")
    check_image_size(requested)
    if spec is not None and requested is not None:
        spec.check_size(requested)
    data = load_dataset(name, **options)
    if spec is None or spec.supports(data.image_size):
        return data
    size = spec.smallest_size(data.image_size)
    print(f"model={spec.name} cannot run at {data.image_size}x{data.image_size} (it supports "
          f"sides {spec.describe_sizes()}): images upsampled to {size}x{size}; set "
          "data.image_size to choose another size", flush=True)
    return resize(data, size)


def _versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for package in _VERSIONED:
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            continue
    return versions


def _model_profile(recipe: Recipe, data: ImageData) -> dict[str, Any]:
    profile = profile_model(recipe.model, num_classes=len(data.classes),
                            in_chans=data.channels, img_size=data.image_size,
                            **recipe.model_options)
    return {**profile, "options": recipe.model_options}


def _run_meta(cfg: DictConfig, ens: EnsembleSettings, data: ImageData, recipe: Recipe,
              name: str) -> dict[str, Any]:
    seeds = [{"member": i, **member_seeds(ens.seed, ens.vary, i).as_dict()}
             for i in range(ens.size)]
    config = _plain(cfg)
    config["run_name"] = name
    config["ensemble"].pop("member", None)  # the same run.json whichever job writes it
    return {"run_name": name,
            "ensemble": {"size": ens.size, "seed": ens.seed, "vary": list(ens.vary), "k": ens.k},
            "seeds": seeds, "data": data.summary(), "model": _model_profile(recipe, data),
            "config": config, "versions": _versions()}


def _check_writable(folder: Path, key: str) -> None:
    """Refuse a folder that cannot be created or written, before training anything."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as exc:
        raise bad_setting(key, str(folder.parent), f"a folder fairens can write ({exc.strerror}: "
                                                   f"{folder})") from exc


# Trainer settings that change what a run shows, not what its members learn.
_DISPLAY_ONLY = ("enable_progress_bar", "enable_model_summary", "log_every_n_steps",
                 "num_sanity_val_steps", "enable_checkpointing")
# Where a dataset lives, not what it is: jobs on several machines may mount it elsewhere.
_DATA_LOCATION = ("root", "download", "cache_dir", "manifest")


def recipe_record(config: dict[str, Any]) -> dict[str, Any]:
    """The parts of a run's config that every member must share: the model and its
    optimiser, the trainer (less display options) and the data settings (less where the
    files live)."""
    trainer = {k: v for k, v in (config.get("trainer") or {}).items() if k not in _DISPLAY_ONLY}
    data = {k: v for k, v in (config.get("data") or {}).items() if k not in _DATA_LOCATION}
    return {"model": config.get("model"), "trainer": trainer, "data": data}


def _first_difference(old: Any, new: Any, key: str) -> str | None:
    """``key.sub=old -> new`` for the first setting that differs, or None."""
    if isinstance(old, dict) and isinstance(new, dict):
        for sub in sorted(set(old) | set(new), key=str):
            found = _first_difference(old.get(sub), new.get(sub), f"{key}.{sub}")
            if found:
                return found
        return None
    return None if old == new else f"{key}={old!r} in run.json where this run asks for {new!r}"


def _prepare_run(paths: RunPaths, meta: dict[str, Any], data: ImageData) -> None:
    """Write run.json, test_groups.csv and val_groups.csv, or check that an existing run is
    the same one: members trained with other settings are never mixed into one ensemble."""
    existing = paths.results / RUN_JSON
    if not existing.exists():
        write_test_groups(paths.results, data.test_groups())
        write_test_groups(paths.results, data.val_groups(), split="val")
        write_run_json(paths.results, meta)
        return
    old = load_meta(paths.results)
    difference = _first_difference(
        {key: old.get(key) for key in ("ensemble", "data", "model")}
        | {"recipe": recipe_record(old.get("config") or {})},
        {key: meta[key] for key in ("ensemble", "data", "model")}
        | {"recipe": recipe_record(meta["config"])}, "run")
    if difference:
        raise FairensError(
            f"{existing}: run {paths.name!r} was trained with other settings "
            f"({difference.removeprefix('run.recipe.').removeprefix('run.')}); members of one "
            "run share one recipe: choose another run_name, or delete that run "
            f"({paths.results} and {paths.models}) to start it again")
    if not (paths.results / VAL_GROUPS).exists():  # a run trained before validation was kept
        write_test_groups(paths.results, data.val_groups(), split="val")


def _complete(path: Path, n: int) -> bool:
    """Whether ``path`` holds readable predictions of ``n`` samples."""
    if not path.is_file():  # missing, or a FIFO that would block the reader
        return False
    try:
        with np.load(path, allow_pickle=False) as npz:
            return npz["logits"].shape[0] == npz["sample_id"].shape[0] == n
    except Exception:  # truncated or foreign: the member is trained (again)
        return False


def _member_done(paths: RunPaths, member: int, n_test: int) -> bool:
    """Whether the member's checkpoint and test predictions are complete and readable."""
    return (_complete(predictions_path(paths.results, member), n_test)
            and readable_checkpoint(paths.checkpoint(member)))


def _member_line(label: str, seeds: MemberSeeds, result: MemberResult, test_acc: float) -> str:
    val = "n/a" if result.val_acc is None else f"{result.val_acc:.4f}"
    return (f"{label} {seeds.describe()} val_acc={val} test_acc={test_acc:.4f} "
            f"({result.epochs} epochs, {result.seconds:.1f}s)")


def _train_one(paths: RunPaths, data: ImageData, recipe: Recipe, seeds: MemberSeeds,
               member: int, label: str) -> None:
    """Train one member unless it is done, and write its predictions and summary; the
    caller holds the member's lock."""
    paths.remove_member_leftovers(member)
    if _member_done(paths, member, len(data.test)):
        if not _complete(predictions_path(paths.results, member, "val"), len(data.val)):
            # a member trained before validation predictions were kept: predict them now
            logits = predict_logits(load_member(paths.checkpoint(member)), data.val)
            save_predictions(paths.results, member, logits, data.val.sample_ids.numpy(), "val")
        print(f"{label} {seeds.describe()} already trained: skipped", flush=True)
        return
    result = train_member(data, recipe, seeds, member=member, label=label,
                          checkpoint=paths.checkpoint(member), log_dir=paths.results / "logs")
    test_acc = float((result.test_logits.argmax(axis=1) == data.test.labels.numpy()).mean())
    save_predictions(paths.results, member, result.val_logits, data.val.sample_ids.numpy(),
                     "val")
    save_predictions(paths.results, member, result.test_logits, data.test.sample_ids.numpy())
    write_json(paths.member_json(member), {
        "member": member, "seeds": seeds.as_dict(), "val_acc": result.val_acc,
        "test_acc": test_acc, "epochs": result.epochs, "seconds": result.seconds,
        "select": recipe.select, "selected_epoch": result.selected_epoch,
        "checkpoint": str(paths.checkpoint(member))}, root=paths.results)
    print(_member_line(label, seeds, result, test_acc), flush=True)


def report_options(cfg: DictConfig, ens: EnsembleSettings) -> AnalysisOptions:
    """The analysis options of ``report.*`` (and ``ensemble.k``, ``ensemble.seed``),
    checked before any member is trained."""
    report = _plain(cfg.report)
    known = {f.name for f in fields(AnalysisOptions)} - {"k", "seed"}
    unknown = sorted(set(report) - known)
    if unknown:
        raise FairensError(f"report has no setting {', '.join(unknown)}; its settings are "
                           f"{', '.join(sorted(known))}")
    return AnalysisOptions(k=ens.k, seed=ens.seed, **report)


def quiet_lightning() -> None:
    """Silence Lightning's per-trainer banner and the warnings that do not apply here."""
    for name in ("pytorch_lightning.utilities.rank_zero", "lightning.pytorch.utilities.rank_zero",
                 "pytorch_lightning.accelerators.cuda"):
        logging.getLogger(name).setLevel(logging.WARNING)
    for message in (".*does not have many workers.*", ".*is smaller than the logging interval.*",
                    ".*LeafSpec.*is deprecated.*",
                    # a resumed member: its earlier curves are put back, its resume point reused
                    ".*Previous log files in this directory will be deleted.*",
                    r".*Checkpoint directory .*\.partial exists and is not empty.*"):
        warnings.filterwarnings("ignore", message=message)


def train(cfg: DictConfig) -> Path:
    """Train the members of the run that ``cfg`` describes, then analyse and report it.

    Every setting is checked before anything is written. Members whose checkpoint and
    predictions exist already are skipped. The analysis runs once every member of the
    run has predictions. Returns the run's results folder.
    """
    ens = ensemble_settings(cfg.ensemble)
    analysis_options = report_options(cfg, ens)
    paths = run_paths(cfg)
    spec = get_spec(str(cfg.model.name))
    recipe = recipe_from(cfg)
    threads = cfg.get("num_threads")
    if threads is not None and (not _is_int(threads) or threads < 1):
        raise bad_setting("num_threads", threads, "a positive integer, or null for PyTorch's "
                                                  "default")
    quiet_lightning()
    data = load_data(cfg, spec)
    check_recipe(recipe, data)
    _check_writable(paths.results, "paths.results")
    _check_writable(paths.models, "paths.models")
    if threads is not None:
        torch.set_num_threads(threads)
    for member in ens.members:
        paths.check_member_paths(member)
    with hold(run_lock(paths.results), f"run {paths.name!r}", wait=RUN_LOCK_WAIT):
        _prepare_run(paths, _run_meta(cfg, ens, data, recipe, paths.name), data)
    for member in ens.members:
        label = f"member {member + 1}/{ens.size}"
        with hold(member_lock(paths.results, member), f"member {member} of run {paths.name!r}"):
            _train_one(paths, data, recipe, member_seeds(ens.seed, ens.vary, member),
                       member, label)
    # this job's members are done now; other jobs' members are checked on disk
    missing = [m for m in range(ens.size)
               if m not in ens.members and not _member_done(paths, m, len(data.test))]
    if missing:
        print(f"{paths.results}: members {missing} still to train; the report is written "
              "once every member has predictions", flush=True)
        return paths.results
    analysis = write_report(paths.results, analysis_options)
    print("\n".join(summary_lines(analysis)))
    print(f"report: {paths.results / 'report.md'}", flush=True)
    return paths.results
