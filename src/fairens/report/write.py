"""Analysing a run directory and writing fairness.json and the reports into it."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from ..errors import FairensError
from ..fairness import Analysis, AnalysisOptions, Choice, RankingData, analyse, run_options
from ..files import (
    check_outputs,
    csv_text,
    json_text,
    remove_leftovers,
    remove_stale,
    write_outputs,
)
from ..locks import RUN_LOCK_WAIT, hold
from ..rundir import FAIRNESS_JSON, RunPredictions, load_member_summaries, load_run, run_lock
from .document import Document, render_html, render_markdown
from .run_report import build_run_document

PLOTS_DIR = "plots"


def analyse_run(run: RunPredictions, options: AnalysisOptions | None = None,
                chosen: dict[str, Choice] | None = None) -> Analysis:
    """Analyse loaded predictions with the minorities, pairs and validation predictions the
    run has; without ``options``, the defaults with the run's ``ensemble.seed`` and
    ``ensemble.k`` (else 0 and 3); ``chosen``: measure on another run's groups."""
    options = options or run_options(run.meta)
    minority = run.meta.get("data", {}).get("minority") or None
    validation = None if run.validation is None else RankingData(
        run.validation.logits, run.validation.labels, run.validation.groups)
    analysis = analyse(logits=run.logits, labels=run.labels, groups=run.groups,
                       options=options, minority=minority, pair_ids=run.pair_ids,
                       validation=validation, chosen=chosen)
    analysis.fairness["member_ids"] = list(run.members)
    return analysis


def document_outputs(stem: str, doc: Document,
                     files: Mapping[str, str | bytes] | None = None) -> dict[str, str | bytes]:
    """``files`` (relative path -> content) plus ``<stem>.md``, ``<stem>.html`` and the
    document's PNGs under ``plots/``."""
    outputs = {**(files or {}), **{f"{PLOTS_DIR}/{image.name}": image.data
                                   for image in doc.images}}
    outputs[f"{stem}.md"] = render_markdown(doc, PLOTS_DIR)
    outputs[f"{stem}.html"] = render_html(doc)
    return outputs


def write_document(folder: str | Path, stem: str, doc: Document,
                   files: Mapping[str, str | bytes] | None = None) -> None:
    """Write :func:`document_outputs` into ``folder``, each file atomically, after every
    path was checked to stay inside it."""
    folder = Path(folder)
    outputs = document_outputs(stem, doc, files)
    check_outputs(folder, [*outputs, PLOTS_DIR])
    write_outputs(folder, outputs)


def write_report(run_dir: str | Path, options: AnalysisOptions | None = None) -> Analysis:
    """Analyse the run in ``run_dir`` (see :func:`analyse_run` for the options) and write
    ``fairness.json``, ``groups.csv``, ``groups_metricframe.csv``, ``report.md``,
    ``report.html`` and ``plots/`` there. Nothing is written when the analysis fails."""
    run_dir = Path(run_dir)
    run = load_run(run_dir)
    if run.missing_members:
        raise FairensError(f"{run_dir}: members {list(run.missing_members)} of "
                           f"{run.meta['ensemble']['size']} have no predictions yet; train them "
                           "(python train.py ensemble.member=... run_name=...) before reporting")
    analysis = analyse_run(run, options)
    title = f"fairens report: {run.meta.get('run_name', run_dir.name)}"
    doc = build_run_document(analysis, title=title, meta=run.meta,
                             members=load_member_summaries(run_dir))
    files = {FAIRNESS_JSON: json_text(analysis.fairness), "groups.csv": csv_text(analysis.table)}
    if not analysis.metricframe.empty:
        files["groups_metricframe.csv"] = csv_text(analysis.metricframe)
    outputs = document_outputs("report", doc, files)
    check_outputs(run_dir, [*outputs, PLOTS_DIR])
    name = run.meta.get("run_name", run_dir.name)
    with hold(run_lock(run_dir), f"run {name!r}", wait=RUN_LOCK_WAIT):
        remove_leftovers(run_dir, [*files, "report.md", "report.html"])
        remove_leftovers(run_dir / PLOTS_DIR, ["*.png"])
        write_outputs(run_dir, outputs)
        # plots of an earlier report that this one no longer has
        remove_stale(run_dir, run_dir / PLOTS_DIR, "*.png",
                     {image.name for image in doc.images})
    return analysis
