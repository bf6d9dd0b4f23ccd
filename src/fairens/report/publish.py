"""Writing a run's analysis (fairness.json) and its reports into its run directory, and
the folders of comparison, frontier and zoo documents."""

from __future__ import annotations

from pathlib import Path

from ..errors import FairensError, name_list
from ..fairness import Analysis, AnalysisOptions
from ..files import csv_text, json_text
from ..locks import RUN_LOCK_WAIT, hold
from ..ownership import OwnedFolder, open_folder, referenced_files
from ..rundir import (
    FAIRNESS_JSON,
    GROUPS_CSV,
    METRICFRAME_CSV,
    PLOTS_DIR,
    REPORT,
    load_member_summaries,
    load_run,
    open_run,
    run_lock,
)
from .document import Document, render_html, render_markdown
from .run_report import build_run_document, run_title

FORMATS = ("html", "md", "json")  # what `fairens report --format` may ask for


def document_outputs(stem: str, doc: Document | None,
                     files: dict[str, str | bytes] | None = None,
                     formats: tuple[str, ...] = FORMATS) -> dict[str, str | bytes]:
    """``files`` (relative path -> content) plus, as ``formats`` ask, ``<stem>.md`` with
    the document's PNGs under ``plots/`` and ``<stem>.html`` (the PNGs embedded)."""
    outputs = dict(files or {})
    if doc is not None and "md" in formats:
        outputs |= {f"{PLOTS_DIR}/{image.name}": image.data for image in doc.images}
        outputs[f"{stem}.md"] = render_markdown(doc, PLOTS_DIR)
    if doc is not None and "html" in formats:
        outputs[f"{stem}.html"] = render_html(doc)
    return outputs


def adopt_documents(folder: Path, stem: str, data_files: tuple[str, ...], by: str,
                    title: str) -> dict[str, str]:
    """The files a document of an earlier version of fairens left in ``folder`` without a
    manifest: ``<stem>.md`` starting with ``# <title>``, the ``data_files`` beside it, and
    the figures the document links to (recorded as written by ``by``)."""
    markdown = folder / f"{stem}.md"
    if not markdown.is_file() or markdown.is_symlink() or not markdown.read_text(
            encoding="utf-8", errors="replace").startswith(f"# {title}"):
        return {}
    documents = [f"{stem}.md", f"{stem}.html"]
    names = [name for name in (*documents, *data_files)
             if (folder / name).is_file() and not (folder / name).is_symlink()]
    return dict.fromkeys([*names, *referenced_files(folder, documents, PLOTS_DIR)], by)


# the kinds of folder a document is written into, with what an earlier version wrote there
_DOCUMENT_KINDS = {"compare": ("comparison", ("compare.csv", "compare.json"),
                               "fairens comparison"),
                   "frontier": ("frontier", ("frontier.csv",), "fairens frontier"),
                   "zoo": ("zoo", ("zoo.csv",), "fairens zoo")}


def document_folder(folder: str | Path, stem: str) -> OwnedFolder:
    """The folder a comparison, frontier or zoo document (``stem``) is written into:
    created, or one fairens marked as such (or, from an earlier version, recognised by the
    document it holds)."""
    kind, data_files, title = _DOCUMENT_KINDS[stem]
    return open_folder(folder, kind, adopt=lambda path: adopt_documents(
        path, stem, data_files, stem, title))


def check_document_folder(folder: str | Path, stem: str, names: list[str]) -> None:
    """Before any work: refuse a document folder fairens may not write ``names`` into (a
    folder that does not exist yet is created only when the document is written)."""
    if Path(folder).exists():
        document_folder(folder, stem).check(names, stem)


def write_document(folder: OwnedFolder, stem: str, doc: Document,
                   files: dict[str, str | bytes] | None = None) -> None:
    """Publish :func:`document_outputs` into ``folder`` in one step, as written by
    ``stem``; the figures of an earlier document there that this one lacks are removed."""
    folder.publish(document_outputs(stem, doc, files), by=stem)


def write_report(run_dir: str | Path, options: AnalysisOptions | None = None,
                 formats: tuple[str, ...] = FORMATS) -> Analysis:
    """Analyse the run in ``run_dir`` (without ``options``: the settings it was trained
    with, :meth:`fairens.rundir.RunPredictions.analyse`) and publish ``fairness.json``,
    ``groups.csv``, ``groups_metricframe.csv`` and, as ``formats`` ask, ``report.md`` with
    ``plots/`` and ``report.html``, there in one step: a failure or a kill leaves all the
    earlier outputs, files fairens did not write are never replaced, and an earlier report
    in a format not asked for is removed (it would contradict the new fairness.json)."""
    run_dir = Path(run_dir)
    run = load_run(run_dir)
    if run.missing_members:
        raise FairensError(f"{run_dir}: members {name_list(run.missing_members)} of "
                           f"{run.meta['ensemble']['size']} have no predictions yet; train them "
                           "(python train.py ensemble.member=... run_name=...) before reporting")
    owned = open_run(run_dir, create=False)
    fixed = [FAIRNESS_JSON, GROUPS_CSV, METRICFRAME_CSV, f"{REPORT}.md", f"{REPORT}.html"]
    owned.check(fixed, "report")  # refused before the analysis, not after it
    analysis = run.analyse(options)
    title = run_title(run.meta, analysis.fairness, run_dir.name)
    doc = build_run_document(analysis, title=title, meta=run.meta,
                             members=load_member_summaries(run_dir), run=run) \
        if {"md", "html"} & set(formats) else None
    files = {FAIRNESS_JSON: json_text(analysis.fairness.to_json()),
             GROUPS_CSV: csv_text(analysis.table)}
    if not analysis.metricframe.empty:
        files[METRICFRAME_CSV] = csv_text(analysis.metricframe)
    name = run.meta.get("run_name", run_dir.name)
    with hold(run_lock(run_dir), f"run {name!r}", wait=RUN_LOCK_WAIT):
        owned.publish(document_outputs(REPORT, doc, files, formats), by="report")
    return analysis
