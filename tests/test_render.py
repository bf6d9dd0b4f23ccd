"""Every generated HTML page parses as a browser would, and reads on a narrow screen:
a viewport, tables that scroll, intervals that never break inside, figures with text."""

from __future__ import annotations

import re
from pathlib import Path

import html5lib
import pytest

from fairens.cli import main
from fairens.report.document import Document, Image, render_html

from conftest import REPO, STALE_EXAMPLES, make_run

# "(81.0, 86.0)" with a breakable space: a browser may wrap it mid-interval
_BREAKABLE_INTERVAL = re.compile(r"\(([-+]?[\d.]+|n/a), ([-+]?[\d.]+|n/a)\)")
_NS = {"h": "http://www.w3.org/1999/xhtml"}
MAX_COLUMNS = 6


def check_page(path: Path) -> None:
    """Parse strictly and check the page's tables, figures and viewport."""
    tree = html5lib.HTMLParser(strict=True).parse(path.read_bytes())  # raises on any error
    assert tree.find(".//h:meta[@name='viewport']", _NS) is not None, path
    for table in tree.iterfind(".//h:table", _NS):
        wrapper = [d for d in tree.iterfind(".//h:div[@class='table']", _NS)
                   if table in list(d)]
        assert wrapper, f"{path}: a table outside its scrolling wrapper"
    folded = {t for d in tree.iterfind(".//h:details", _NS) for t in d.iterfind(".//h:table", _NS)}
    for table in tree.iterfind(".//h:table", _NS):
        columns = len(list(table.iterfind(".//h:thead/h:tr/h:th", _NS)))
        # read at 800 px: the columns a reader sees at once; more go in a folded table
        assert table in folded or columns <= MAX_COLUMNS, f"{path}: {columns} columns"
    for cell in tree.iterfind(".//h:td", _NS):
        text = "".join(cell.itertext())
        assert "\n" not in text, f"{path}: a table cell spans lines: {text!r}"
        assert not _BREAKABLE_INTERVAL.search(text), f"{path}: interval may break: {text!r}"
    for image in tree.iterfind(".//h:img", _NS):
        assert image.get("alt") and image.get("src", "").startswith("data:image/png;base64,")


@pytest.fixture(scope="module")
def pages(tmp_path_factory) -> list[Path]:
    root = tmp_path_factory.mktemp("pages")
    runs = [make_run(root / name, seed=seed) for name, seed in (("a", 0), ("b", 1))]
    main(["report", str(runs[0]), "--min-group-size", "1"])
    main(["compare", *map(str, runs), "--out", str(root / "cmp"),
          "--min-group-size", "1"])
    return [runs[0] / "report.html", root / "cmp" / "compare.html"]


def test_generated_pages_render(pages: list[Path]) -> None:
    for page in pages:
        check_page(page)
    # a foreign run (no source column) has no gallery
    assert "Who the models fail" not in pages[0].read_text()
    assert not (pages[0].parent / "plots" / "gallery.png").exists()


def test_the_compression_report_renders(exported_run: Path) -> None:
    check_page(exported_run / "export" / "test" / "compression.html")


# made by an earlier version whose sources are not kept (results/examples/README.md says
# which and why): parsed, not held to today's layout
STALE = {REPO / "results" / "examples" / name for name in STALE_EXAMPLES}


@pytest.mark.parametrize("page", sorted(p.relative_to(REPO) for p in
                                        (REPO / "results" / "examples").rglob("*.html")),
                         ids=str)
def test_example_pages_render(page: Path) -> None:
    if any((REPO / page).is_relative_to(folder) for folder in STALE):
        html5lib.HTMLParser(strict=True).parse((REPO / page).read_bytes())
    else:
        check_page(REPO / page)


def test_intervals_are_kept_on_one_line_and_figures_share_a_grid() -> None:
    doc = Document("t")
    doc.table(["group", "95% CI"], [["a", "(81.0, 86.0)"], ["b", "47.3 (-1.8, +97.8)"]],
              collapsed="two rows")
    for name in ("x", "y"):
        doc.image(Image(f"{name}.png", b"\x89PNG", name))
    page = render_html(doc)
    assert "(81.0,\u00a086.0)" in page and "(-1.8,\u00a0+97.8)" in page
    assert "<details><summary>two rows</summary>" in page
    assert page.count('<div class="figures">') == 1 and page.count("<figure>") == 2


def _report_of(tmp_path: Path, n_classes: int, *flags: str) -> str:
    run = make_run(tmp_path / "run", n_members=4, n=200, n_classes=n_classes)
    main(["report", str(run), "--min-group-size", "1", *flags])
    return (run / "report.md").read_text()


def _scripted_run(root: Path) -> Path:
    """Two classes, five members, three groups with a known story: ``calibrated`` (each
    member right 70% of the time at 70% confidence: the ensemble is right more often but
    less sure, so its ECE rises), ``declining`` (members right 60% of the time, barely, and
    wrong with confidence: averaging makes the ensemble worse) and ``shortcut`` (every
    member always wrong: 0%, below chance)."""
    import numpy as np
    import pandas as pd

    from conftest import foreign_groups, foreign_predictions
    rng = np.random.default_rng(0)
    groups = np.repeat(["calibrated", "declining", "shortcut"], [2000, 300, 60])
    labels = rng.integers(0, 2, len(groups))
    foreign_groups(root, pd.DataFrame({"sample_id": np.arange(len(groups)), "label": labels,
                                       "class": [f"c{c}" for c in labels], "site": groups}))
    for member in range(5):
        right = np.where(groups == "calibrated", rng.random(len(groups)) < 0.7,
                         np.where(groups == "declining", rng.random(len(groups)) < 0.6, False))
        confidence = np.where(groups == "calibrated", 0.7,
                              np.where(right, 0.55, 0.95))
        p_label = np.where(right, confidence, 1 - confidence)
        probs = np.where(np.arange(2) == labels[:, None], p_label[:, None], 1 - p_label[:, None])
        foreign_predictions(root, member, np.log(probs), np.arange(len(groups)))
    return root


def test_the_summary_comes_first_in_plain_words_and_flags_harms(tmp_path: Path) -> None:
    run = _scripted_run(tmp_path / "run")
    main(["report", str(run), "--ranking", "same_data"])
    report = (run / "report.md").read_text()
    assert report.split("\n## ")[1].startswith("Summary\n")
    summary = report.split("## Summary")[1].split("\n## ")[0]
    assert summary.split("\n- ")[1].startswith("An ensemble of 5 models ")
    assert "the lowest is the site group 'shortcut' at 0.0% (95% CI 0.0 to " in summary
    assert "Calibration error (ECE) rises from " in summary
    warnings = [line for line in summary.splitlines() if line.startswith("> **Warning:**")]
    text = "\n".join(warnings)
    assert "Calibration error rises with ensembling" in text
    assert "site 'declining' gets worse with the ensemble" in text
    assert "2 site groups at or below chance (50.0%): " in text and "'shortcut' 0.0%" in text
    for jargon in ("bottom_more", "no_difference", "min_group_size", "mean_prob", "`class`"):
        assert jargon not in report, jargon
    page = (run / "report.html").read_text()
    assert page.index('<h2 id="s0">Summary</h2>') < page.index("<h2 id=\"s1\"")
    assert '<ul class="flags">' in page.split('<h2 id="s1"')[0]
    check_page(run / "report.html")


def test_a_single_model_report_has_no_ensemble_sections(tmp_path: Path) -> None:
    run = make_run(tmp_path / "run", n_members=1, n=200, n_classes=3)
    main(["report", str(run), "--min-group-size", "1"])
    report = (run / "report.md").read_text()
    assert "- One model is right on " in report
    body = report.split("## Methods")[0]
    for ensemble_only in ("ensemble (%)", "-curve.png", "verdict", "members", "gain"):
        assert not re.search(rf"\b{re.escape(ensemble_only)}", body), ensemble_only
    assert "plots/00-class-groups.png" in report
    check_page(run / "report.html")


def test_reliability_diagrams_and_no_run_details_without_run_json(tmp_path: Path) -> None:
    report = _report_of(tmp_path, 4)
    assert "plots/00-class-reliability.png" in report
    assert "## Run details" not in report  # a foreign run: no run.json to describe


def test_a_trained_run_has_its_details(exported_run: Path) -> None:
    report = (exported_run / "results" / "test" / "report.md").read_text()
    details = report.split("## Run details")[1]
    for text in ("- run: test", "- created: ", "- model: small\\_cnn: ", "- recipe: SGD (lr",
                 "- data: digits, 1x8x8, train / val / test ", "- ensemble: 2 members, varying",
                 "- training time: ", "- libraries: python ", "seeds of the 2 members"):
        assert text in details, text
