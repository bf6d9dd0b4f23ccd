"""Analysing a run directory and writing fairness.json and the reports into it."""

from __future__ import annotations

from pathlib import Path

from ..fairness import Analysis, analyse
from ..files import write_json, write_text
from ..rundir import FAIRNESS_JSON, load_run
from .markdown import render_markdown


def write_report(run_dir: str | Path, *, k: int = 3, combine: str = "mean_prob",
                 max_subsets: int = 64, seed: int | None = None) -> Analysis:
    """Analyse the run in ``run_dir`` and write ``fairness.json``, ``groups.csv`` and
    ``report.md`` there; ``seed`` defaults to the run's ``ensemble.seed`` (else 0)."""
    run_dir = Path(run_dir)
    run = load_run(run_dir)
    if seed is None:
        seed = int(run.meta.get("ensemble", {}).get("seed", 0))
    analysis = analyse(logits=run.logits, labels=run.labels, groups=run.groups, k=k,
                       combine=combine, max_subsets=max_subsets, seed=seed)
    analysis.fairness["member_ids"] = list(run.members)
    write_json(run_dir / FAIRNESS_JSON, analysis.fairness)
    write_text(run_dir / "groups.csv", analysis.table.to_csv(index=False, lineterminator="\n"))
    title = f"fairens report: {run.meta.get('run_name', run_dir.name)}"
    write_text(run_dir / "report.md", render_markdown(analysis, title=title))
    return analysis

