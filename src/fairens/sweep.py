"""Hydra callback: once a multirun ends, write one report comparing its runs.

Each job records its run folder in its own Hydra output folder (``run_dir.txt``), so the
comparison also finds runs trained in other processes (joblib) or on other machines
(SLURM) that share the filesystem.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hydra.core.hydra_config import HydraConfig
from hydra.core.utils import JobReturn, JobStatus
from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from .fairness import AnalysisOptions
from .ownership import open_folder
from .report import write_comparison, write_zoo_table
from .settings import analysis_options, ensemble_settings

RUN_DIR_FILE = "run_dir.txt"


class _RecordRuns(Callback):
    """Records each completed job's run folder; subclasses use them once the sweep ends."""

    def on_job_end(self, config: DictConfig, job_return: JobReturn, **kwargs: Any) -> None:
        if job_return.status == JobStatus.COMPLETED and job_return.return_value is not None:
            output = Path(HydraConfig.get().runtime.output_dir)
            open_folder(output, "sweep").write(
                RUN_DIR_FILE, str(Path(job_return.return_value).resolve()), by="sweep")

    @staticmethod
    def recorded_runs(config: DictConfig) -> list[str]:
        """The sweep's run folders, in job order."""
        sweep = Path(config.hydra.sweep.dir)
        records = sorted(sweep.glob(f"*/{RUN_DIR_FILE}"),
                         key=lambda p: (not p.parent.name.isdigit(), int(p.parent.name)
                                        if p.parent.name.isdigit() else 0, p.parent.name))
        return list(dict.fromkeys(p.read_text(encoding="utf-8").strip() for p in records))


class CompareRuns(_RecordRuns):
    """Writes ``fairens compare`` of every completed job's run into ``out``, with the
    sweep's analysis settings (``report.*``, ``ensemble.k``, ``ensemble.seed``), checked
    when the sweep starts, before any job runs.

    Args:
        out: the comparison's folder.
        grouping: the grouping compared (``class``).
    """

    def __init__(self, out: str, grouping: str = "class") -> None:
        self.out = out
        self.grouping = grouping
        self.options: AnalysisOptions | None = None  # the sweep's, once it starts

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        self.options = analysis_options(config, ensemble_settings(config.ensemble))

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        runs = self.recorded_runs(config)
        if len(runs) < 2:
            print(f"{config.hydra.sweep.dir}: fewer than two finished runs, no comparison")
            return
        write_comparison(runs, self.out, options=self.options, grouping=self.grouping)
        print(f"comparison of {len(runs)} runs: {self.out}/compare.md", flush=True)


class ZooTable(_RecordRuns):
    """Writes the zoo table (accuracy, worst-k, worst group, params, MACs per model and
    ensemble size) of every completed job's run into ``out``."""

    def __init__(self, out: str, grouping: str = "class") -> None:
        self.out = out
        self.grouping = grouping

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        runs = self.recorded_runs(config)
        if not runs:
            print(f"{config.hydra.sweep.dir}: no finished run, no zoo table")
            return
        write_zoo_table(runs, self.out, self.grouping)
        print(f"zoo table of {len(runs)} runs: {self.out}/zoo.md", flush=True)
