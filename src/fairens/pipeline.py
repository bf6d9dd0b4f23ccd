"""``python train.py``: train a run's members, then analyse it and write its report.

Orchestration only: :mod:`fairens.settings` reads and checks the configuration, the
stages do the work, :mod:`fairens.rundir` owns the files. This module calls them in order.
"""

from __future__ import annotations

import logging
import platform
import warnings
from datetime import datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import torch
from omegaconf import DictConfig

from .data import ImageData
from .ensemble import (
    MemberResult,
    MemberSeeds,
    Recipe,
    check_recipe,
    load_member,
    member_seeds,
    predict_logits,
    readable_checkpoint,
    train_member,
)
from .errors import FairensError, bad_setting
from .files import json_text
from .locks import RUN_LOCK_WAIT, hold
from .models import get_spec, profile_model
from .ownership import OwnedFolder
from .report import summary_lines, write_report
from .rundir import (
    DATA_SPLIT,
    RUN_JSON,
    TEST_GROUPS,
    VAL_GROUPS,
    RunPaths,
    checkpoint_file,
    load_meta,
    log_files,
    member_lock,
    open_models,
    open_run,
    predictions_file,
    predictions_path,
    report_file,
    resume_file,
    run_lock,
    save_predictions,
    write_data_split,
    write_run_json,
    write_test_groups,
)
from .settings import (
    EnsembleSettings,
    analysis_options,
    ensemble_settings,
    load_data,
    plain_config,
    recipe_from,
    recipe_record,
    run_paths,
    thread_count,
)

_VERSIONED = ("fairens", "torch", "torchvision", "pytorch-lightning", "timm", "hydra-core",
              "numpy", "onnx", "onnxruntime", "fairlearn", "scikit-learn")


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


def _run_meta(cfg: DictConfig, ens: EnsembleSettings, k: int, data: ImageData, recipe: Recipe,
              name: str) -> dict[str, Any]:
    seeds = [{"member": i, **member_seeds(ens.seed, ens.vary, i).as_dict()}
             for i in range(ens.size)]
    config = plain_config(cfg)
    config["run_name"] = name
    config["ensemble"].pop("member", None)  # the same run.json whichever job writes it
    return {"run_name": name, "created": datetime.now().astimezone().isoformat(timespec="seconds"),
            "ensemble": {"size": ens.size, "seed": ens.seed, "vary": list(ens.vary), "k": k},
            "seeds": seeds, "data": data.summary(), "model": _model_profile(recipe, data),
            "config": config, "versions": _versions()}


def _create_folder(folder: Path, key: str) -> None:
    """Create a run's folder, naming the setting that chose it when that fails."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise bad_setting(key, str(folder.parent), f"a folder fairens can write ({exc.strerror}: "
                                                   f"{folder})") from exc


def _first_difference(old: Any, new: Any, key: str) -> str | None:
    """``key.sub=old -> new`` for the first setting that differs, or None."""
    if isinstance(old, dict) and isinstance(new, dict):
        for sub in sorted(set(old) | set(new), key=str):
            found = _first_difference(old.get(sub), new.get(sub), f"{key}.{sub}")
            if found:
                return found
        return None
    return None if old == new else f"{key}={old!r} in run.json where this run asks for {new!r}"


def _member_outputs(paths: RunPaths, member: int) -> tuple[list[str], list[str]]:
    """What training a member writes: in the run folder, and in the models folder."""
    return ([predictions_file(member, "test"), predictions_file(member, "val"),
             paths.member_json(member), *log_files(member)],
            [checkpoint_file(member), resume_file(member, "last"), resume_file(member, "best")])


def _trained_any(paths: RunPaths, size: int) -> bool:
    return any(predictions_path(paths.results, m).exists() or paths.checkpoint(m).exists()
               for m in range(size))


def _prepare_run(run: OwnedFolder, paths: RunPaths, meta: dict[str, Any],
                 data: ImageData) -> None:
    """Write run.json, test_groups.csv and val_groups.csv, or check that an existing run is
    the same one: members trained with other settings are never mixed into one ensemble
    (a run none of whose members was trained yet takes the new settings)."""
    existing = paths.results / RUN_JSON
    if existing.exists() and _trained_any(paths, max(meta["ensemble"]["size"], 1)):
        old = load_meta(paths.results)
        difference = _first_difference(
            {key: old.get(key) for key in ("ensemble", "data", "model")}
            | {"recipe": recipe_record(old.get("config") or {})},
            {key: meta[key] for key in ("ensemble", "data", "model")}
            | {"recipe": recipe_record(meta["config"])}, "run")
        if difference:
            raise FairensError(
                f"{existing}: run {paths.name!r} was trained with other settings "
                f"({difference.removeprefix('run.recipe.').removeprefix('run.')}); members of "
                "one run share one recipe: choose another run_name, or delete that run "
                f"({paths.results} and {paths.models}) to start it again")
        if not (paths.results / VAL_GROUPS).exists():  # trained before validation was kept
            write_test_groups(run, data.val_groups(), split="val")
        return
    run.check([TEST_GROUPS, VAL_GROUPS, DATA_SPLIT, RUN_JSON], "train")
    write_test_groups(run, data.test_groups())
    write_test_groups(run, data.val_groups(), split="val")
    if data.files is not None:
        write_data_split(run, data.files)
    write_run_json(run, meta)


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


def _train_one(run: OwnedFolder, models: OwnedFolder, paths: RunPaths, data: ImageData,
               recipe: Recipe, seeds: MemberSeeds, member: int, label: str) -> None:
    """Train one member unless it is done, and write its predictions and summary; the
    caller holds the member's lock."""
    paths.remove_member_leftovers(member)
    if _member_done(paths, member, len(data.test)):
        if not _complete(predictions_path(paths.results, member, "val"), len(data.val)):
            # a member trained before validation predictions were kept: predict them now
            logits = predict_logits(load_member(paths.checkpoint(member)), data.val)
            save_predictions(run, member, logits, data.val.sample_ids.numpy(), "val")
        print(f"{label} {seeds.describe()} already trained: skipped", flush=True)
        return
    result = train_member(data, recipe, seeds, member=member, label=label, models=models,
                          run=run)
    test_acc = float((result.test_logits.argmax(axis=1) == data.test.labels.numpy()).mean())
    save_predictions(run, member, result.val_logits, data.val.sample_ids.numpy(), "val")
    save_predictions(run, member, result.test_logits, data.test.sample_ids.numpy())
    run.write(paths.member_json(member), json_text({
        "member": member, "seeds": seeds.as_dict(), "val_acc": result.val_acc,
        "test_acc": test_acc, "epochs": result.epochs, "seconds": result.seconds,
        "select": recipe.select, "selected_epoch": result.selected_epoch,
        "checkpoint": str(paths.checkpoint(member))}), by="train")
    print(_member_line(label, seeds, result, test_acc), flush=True)


def quiet_lightning() -> None:
    """Silence Lightning's per-trainer banner and the warnings that do not apply here."""
    for name in ("pytorch_lightning.utilities.rank_zero", "lightning.pytorch.utilities.rank_zero",
                 "pytorch_lightning.accelerators.cuda"):
        logging.getLogger(name).setLevel(logging.WARNING)
    for message in (".*does not have many workers.*", ".*is smaller than the logging interval.*",
                    ".*LeafSpec.*is deprecated.*",
                    # a resumed member: its earlier curves are put back, its resume point reused
                    ".*Previous log files in this directory will be deleted.*",
                    r".*Checkpoint directory .*\.partial exists and is not empty.*",
                    # a member is one process (ensemble/fit.py, _trainer); Lightning still
                    # looks for SLURM when it chooses a checkpoint to resume from
                    ".*The `srun` command is available on your system but is not used.*"):
        warnings.filterwarnings("ignore", message=message)


def train(cfg: DictConfig) -> Path:
    """Train the members of the run that ``cfg`` describes, then analyse and report it.

    Every setting is checked before anything is written. Members whose checkpoint and
    predictions exist already are skipped. The analysis runs once every member of the
    run has predictions. Returns the run's results folder.
    """
    ens = ensemble_settings(cfg.ensemble)
    options = analysis_options(cfg, ens)
    paths = run_paths(cfg)
    spec = get_spec(str(cfg.model.name))
    recipe = recipe_from(cfg)
    threads = thread_count(cfg)
    quiet_lightning()
    data = load_data(cfg, spec)
    check_recipe(recipe, data)
    meta = _run_meta(cfg, ens, options.k, data, recipe, paths.name)
    if threads is not None:
        torch.set_num_threads(threads)
    # every setting is checked: from here on, fairens writes (only into its own folders)
    _create_folder(paths.results, "paths.results")
    _create_folder(paths.models, "paths.models")
    run, models = open_run(paths.results), open_models(paths.models, paths.name)
    for member in ens.members:
        outputs, checkpoints = _member_outputs(paths, member)
        run.check(outputs, "train")
        models.check(checkpoints, "train")
    with hold(run_lock(paths.results), f"run {paths.name!r}", wait=RUN_LOCK_WAIT):
        _prepare_run(run, paths, meta, data)
    for member in ens.members:
        label = f"member {member + 1}/{ens.size}"
        with hold(member_lock(paths.results, member), f"member {member} of run {paths.name!r}"):
            _train_one(run, models, paths, data, recipe,
                       member_seeds(ens.seed, ens.vary, member), member, label)
    # this job's members are done now; other jobs' members are checked on disk
    missing = [m for m in range(ens.size)
               if m not in ens.members and not _member_done(paths, m, len(data.test))]
    if missing:
        print(f"{paths.results}: members {missing} still to train; the report is written "
              "once every member has predictions", flush=True)
        return paths.results
    analysis = write_report(paths.results, options)
    print("\n".join(summary_lines(analysis)))
    print(f"report: {report_file(paths.results)}", flush=True)
    return paths.results
