"""The only reader of Hydra's configuration: every setting of ``python train.py`` checked
and turned into plain, typed values (the ensemble, the run's folders, the recipe, the
dataset, the analysis options), before anything is written.

The other stages take these values, never the configuration itself; ``fairens export``
rebuilds a run's data from the config kept in its ``run.json`` through :func:`load_data`.
"""

from __future__ import annotations

import math
import os
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from hydra.core.hydra_config import HydraConfig
from hydra.errors import HydraException, MissingConfigException
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from .data import ImageData, check_image_size, load_dataset, resize
from .ensemble import SELECTIONS, SOURCES, Recipe, check_vary
from .errors import UsageError, bad_setting, is_int
from .fairness import AnalysisOptions, from_settings, option_fields
from .models import ModelSpec
from .rundir import RunPaths

_RUN_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._=+-]*")
# a folder name of at most 255 bytes on every common file system, with room for the
# "_job<N>" a Hydra multirun adds to a default name
MAX_RUN_NAME = 200


@dataclass(frozen=True)
class EnsembleSettings:
    """The ``ensemble.*`` settings, checked."""

    size: int
    seed: int
    vary: tuple[str, ...]
    members: tuple[int, ...]



def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def ensemble_settings(cfg: DictConfig) -> EnsembleSettings:
    """Check ``cfg.ensemble``: sizes and seeds are integers, sources are known."""
    size, seed = cfg.size, cfg.seed
    if not is_int(size) or size < 1:
        raise bad_setting("ensemble.size", size, "a positive integer (the number of members)")
    if not is_int(seed) or seed < 0:
        raise bad_setting("ensemble.seed", seed, "a non-negative integer")
    vary = cfg.vary
    if isinstance(vary, str):
        vary = [vary]
    elif vary is None or OmegaConf.is_list(vary) or isinstance(vary, list | tuple):
        vary = list(vary or [])
    else:
        raise bad_setting("ensemble.vary", vary, f"a list of sources, a subset of {list(SOURCES)}")
    members = cfg.get("member")
    members = list(range(size)) if members is None else (
        [members] if is_int(members) else list(members))
    if not members or not all(is_int(m) and 0 <= m < size for m in members):
        raise bad_setting("ensemble.member", OmegaConf.to_container(cfg.member)
                          if OmegaConf.is_config(cfg.member) else cfg.member,
                          f"member indices from 0 to {size - 1} (ensemble.size={size}), "
                          "or null for all")
    return EnsembleSettings(size=int(size), seed=int(seed), vary=check_vary(vary),
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
    """The run's folders under ``paths.results``, ``paths.models`` and ``paths.export``: the
    name is a usable folder name and the three folders are given (checked before anything
    is written)."""
    name = run_name(cfg)
    if not _RUN_NAME.fullmatch(name) or len(name) > MAX_RUN_NAME:
        raise bad_setting("run_name", name, f"1 to {MAX_RUN_NAME} letters, digits and . _ = + - "
                                            "(no path separators or control characters), "
                                            "starting with a letter or digit")
    paths = _plain(cfg.paths)
    for key in ("results", "models", "export"):
        value = paths.get(key)
        if not isinstance(value, str) or not value.strip() or "\0" in value:
            raise bad_setting(f"paths.{key}", value, "a folder (a non-empty path)")
    return RunPaths.of(paths, name)


def _plain(cfg: Any) -> Any:
    return OmegaConf.to_container(cfg, resolve=True) if OmegaConf.is_config(cfg) else cfg


def recipe_from(cfg: DictConfig) -> Recipe:
    """The training recipe shared by every member."""
    batch_size = cfg.data.get("batch_size", 128)
    if not is_int(batch_size) or batch_size < 1:
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
    if not _is_number(smoothing) or not 0 <= smoothing < 1:
        raise bad_setting("model.label_smoothing",
                          float(smoothing) if _is_number(smoothing) else smoothing,
                          "a number from 0 to 1 (exclusive)")
    trainer = _plain(cfg.trainer)
    # which weights a member keeps: fairens's, not a Lightning Trainer argument
    chosen = {key: trainer.pop(key) for key in ("select", "select_grouping") if key in trainer}
    if chosen.get("select", "last") not in SELECTIONS:
        raise bad_setting("trainer.select", chosen["select"], f"one of {', '.join(SELECTIONS)}")
    return Recipe(model=str(cfg.model.name), optimizer=_plain(cfg.model.optimizer),
                  scheduler=_plain(cfg.model.get("scheduler")), trainer=trainer,
                  batch_size=int(batch_size), label_smoothing=float(smoothing),
                  model_options=options, resume_interval=float(interval), **chosen)


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


# Trainer settings that change what a run shows, not what its members learn.
_DISPLAY_ONLY = ("enable_progress_bar", "enable_model_summary", "log_every_n_steps",
                 "num_sanity_val_steps", "enable_checkpointing", "logger", "callbacks")
# Where a dataset lives, not what it is: jobs on several machines may mount it elsewhere.
_DATA_LOCATION = ("root", "download", "cache_dir", "manifest")


def recipe_record(config: dict[str, Any]) -> dict[str, Any]:
    """The parts of a run's config that every member must share: the model and its
    optimiser, the trainer (less display options) and the data settings (less where the
    files live)."""
    trainer = {k: v for k, v in (config.get("trainer") or {}).items() if k not in _DISPLAY_ONLY}
    data = {k: v for k, v in (config.get("data") or {}).items() if k not in _DATA_LOCATION}
    return {"model": config.get("model"), "trainer": trainer, "data": data}


def analysis_options(cfg: DictConfig, ens: EnsembleSettings) -> AnalysisOptions:
    """The analysis options of ``report.*``, ``ensemble.k`` and ``ensemble.seed``, checked
    before any member is trained."""
    report = _plain(cfg.report)
    known = sorted(f.metadata["setting"].removeprefix("report.") for f in option_fields()
                   if f.metadata["setting"].startswith("report."))
    unknown = sorted(set(report) - set(known))
    if unknown:
        raise UsageError(f"report has no setting {', '.join(unknown)}; its settings are "
                         f"{', '.join(known)}")
    return from_settings({"ensemble.k": cfg.ensemble.k, "ensemble.seed": ens.seed,
                          **{f"report.{key}": value for key, value in report.items()}})


def thread_count(cfg: DictConfig) -> int | None:
    """``num_threads``: PyTorch's CPU threads per process; where it is null, the CPUs a
    SLURM job was given (``SLURM_CPUS_PER_TASK``), else None for PyTorch's default (one per
    core)."""
    threads = cfg.get("num_threads")
    if threads is not None and (not is_int(threads) or threads < 1):
        raise bad_setting("num_threads", threads, "a positive integer, or null for PyTorch's "
                                                  "default")
    if threads is None:
        given = os.environ.get("SLURM_CPUS_PER_TASK", "")
        return int(given) if given.isdigit() and int(given) > 0 else None
    return int(threads)


def plain_config(cfg: DictConfig) -> dict[str, Any]:
    """The whole configuration, resolved, as plain Python (for run.json)."""
    return _plain(cfg)


def hydra_message(error: Exception) -> str:
    """One line for an error of Hydra's own (an unknown key, an unknown option of a config
    group, an override it cannot parse), which Hydra prints over several lines."""
    if isinstance(error, MissingConfigException) and error.options:
        head = str(error).splitlines()[0]
        return f"{head}; known names are {', '.join(sorted(error.options))}"
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    cause = error.__cause__
    if isinstance(cause, OmegaConfBaseException) and str(cause).strip():
        lines.insert(1, str(cause).strip().splitlines()[0])
    if "is not in struct" in " ".join(lines):
        lines.append("python train.py --cfg job lists every setting")
    return "; ".join(line.rstrip(".") for line in lines)


@contextmanager
def hydra_errors_in_one_line() -> Iterator[None]:
    """Around ``python train.py``'s Hydra entry point: Hydra's own configuration errors end
    in one line on stderr and exit status 2, as fairens's own usage errors do."""
    os.environ.setdefault("HYDRA_FULL_ERROR", "1")  # Hydra re-raises them here instead
    try:
        yield
    except (HydraException, OmegaConfBaseException) as error:
        print(f"error: {hydra_message(error)}", file=sys.stderr, flush=True)
        sys.exit(2)
