"""Every generated HTML page parses as a browser would, and reads on a narrow screen:
a viewport, tables that scroll, intervals that never break inside, figures with text."""

from __future__ import annotations

import re
from pathlib import Path

import html5lib
import pytest

from fairens.cli import main
from fairens.report.document import Document, Image, render_html

from conftest import REPO, make_run

# "(81.0, 86.0)" with a breakable space: a browser may wrap it mid-interval
_BREAKABLE_INTERVAL = re.compile(r"\(([-+]?[\d.]+|n/a), ([-+]?[\d.]+|n/a)\)")
_NS = {"h": "http://www.w3.org/1999/xhtml"}


def check_page(path: Path) -> None:
    """Parse strictly and check the page's tables, figures and viewport."""
    tree = html5lib.HTMLParser(strict=True).parse(path.read_bytes())  # raises on any error
    assert tree.find(".//h:meta[@name='viewport']", _NS) is not None, path
    for table in tree.iterfind(".//h:table", _NS):
        wrapper = [d for d in tree.iterfind(".//h:div[@class='table']", _NS)
                   if table in list(d)]
        assert wrapper, f"{path}: a table outside its scrolling wrapper"
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


def test_the_compression_report_renders(exported_run: Path) -> None:
    check_page(exported_run / "export" / "test" / "compression.html")


# made by an earlier version, whose sources (the CIFAR-10 zoo's runs and exports) are not
# kept, so they cannot be regenerated: results/examples/README.md says so
STALE = {Path("results/examples/zoo_cifar10/zoo.html"),
         Path("results/examples/frontier_cifar10/frontier.html")}


@pytest.mark.parametrize("page", sorted(p.relative_to(REPO) for p in
                                        (REPO / "results" / "examples").rglob("*.html")),
                         ids=str)
def test_example_pages_render(page: Path) -> None:
    if page in STALE:
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


def test_two_groups_are_shown_once(tmp_path: Path) -> None:
    """With two classes, bottom-1 is the worst group: one line, one curve column."""
    import json

    import numpy as np
    import pandas as pd

    from conftest import foreign_groups, foreign_predictions
    rng = np.random.default_rng(0)
    labels = np.arange(300) % 2
    run = tmp_path / "run"
    foreign_groups(run, pd.DataFrame({"sample_id": np.arange(300), "label": labels,
                                         "class": [f"c{c}" for c in labels]}))
    signal = np.where(labels == 0, 0.3, 3.0)[:, None] * np.eye(2)[labels]
    for member in range(4):
        foreign_predictions(run, member, rng.normal(size=(300, 2)) + signal, np.arange(300))
    main(["report", str(run), "--ranking", "same_data"])
    report = (run / "report.md").read_text()
    fairness = json.loads((tmp_path / "run" / "fairness.json").read_text())
    summary = fairness["groupings"]["class"]
    assert summary["bottom_k"]["groups"] == [summary["worst_group"]["group"]]
    assert "- bottom-1 = worst group (" in report and "- worst group (" not in report
    assert "| m | subsets | overall | bottom-1 = worst group | top-1 |" in report
    assert "is also the worst group." in report
    assert "The worst `class` group" not in report
    assert "| minority |" not in report.split("## Grouping `class`")[1]  # none declared


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
