"""Analysing a run directory and writing fairness.json and the reports into it."""

from __future__ import annotations

import shutil
from pathlib import Path

from ..errors import FairensError
from ..fairness import Analysis, analyse
from ..files import write_bytes, write_csv, write_json, write_text
from ..rundir import FAIRNESS_JSON, RunPredictions, load_run
from .document import Document, render_html, render_markdown
from .run_report import build_run_document

PLOTS_DIR = "plots"


def analyse_run(run: RunPredictions, *, k: int = 3, combine: str = "mean_prob",
                max_subsets: int = 64, seed: int | None = None, n_boot: int = 1000,
                boot_seed: int = 0) -> Analysis:
    """Analyse loaded predictions, with the minorities and pairs that run.json declares;
    ``seed`` defaults to the run's ``ensemble.seed`` (else 0)."""
    if seed is None:
        seed = int(run.meta.get("ensemble", {}).get("seed", 0))
    minority = run.meta.get("data", {}).get("minority") or None
    analysis = analyse(logits=run.logits, labels=run.labels, groups=run.groups, k=k,
                       combine=combine, max_subsets=max_subsets, seed=seed, n_boot=n_boot,
                       boot_seed=boot_seed, minority=minority, pair_ids=run.pair_ids)
    analysis.fairness["member_ids"] = list(run.members)
    return analysis


def write_document(folder: Path, stem: str, doc: Document) -> None:
    """``<stem>.md``, ``<stem>.html`` and the PNGs under ``plots/``, each written atomically;
    plots of an earlier report that this one no longer has are removed."""
    plots = folder / PLOTS_DIR
    names = {image.name for image in doc.images}
    for image in doc.images:
        write_bytes(plots / image.name, image.data)
    write_text(folder / f"{stem}.md", render_markdown(doc, PLOTS_DIR))
    write_text(folder / f"{stem}.html", render_html(doc))
    if plots.is_dir() and stem == "report":
        for stale in plots.glob("*.png"):
            if stale.name not in names:
                stale.unlink()
    if plots.is_dir() and not any(plots.iterdir()):
        shutil.rmtree(plots)


def write_report(run_dir: str | Path, **options) -> Analysis:
    """Analyse the run in ``run_dir`` (see :func:`analyse_run` for the options) and write
    ``fairness.json``, ``groups.csv``, ``groups_metricframe.csv``, ``report.md``,
    ``report.html`` and ``plots/`` there. Nothing is written when the analysis fails."""
    run_dir = Path(run_dir)
    run = load_run(run_dir)
    if run.missing_members:
        raise FairensError(f"{run_dir}: members {list(run.missing_members)} of "
                           f"{run.meta['ensemble']['size']} have no predictions yet; train them "
                           "(python train.py ensemble.member=... run_name=...) before reporting")
    analysis = analyse_run(run, **options)
    title = f"fairens report: {run.meta.get('run_name', run_dir.name)}"
    doc = build_run_document(analysis, title=title, meta=run.meta)
    write_json(run_dir / FAIRNESS_JSON, analysis.fairness)
    write_csv(run_dir / "groups.csv", analysis.table)
    if not analysis.metricframe.empty:
        write_csv(run_dir / "groups_metricframe.csv", analysis.metricframe)
    write_document(run_dir, "report", doc)
    return analysis
