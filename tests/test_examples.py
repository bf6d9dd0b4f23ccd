"""Every curated example re-runs: `fairens report` on a copy of an example run's inputs
writes the shipped fairness.json byte for byte, and `fairens compare` on a comparison's
shipped runs (`runs/` beside its `comparison/`) writes its compare.json
(scripts/curate_example.py made them)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from fairens.cli import main

from conftest import REPO, STALE_EXAMPLES

EXAMPLES = REPO / "results" / "examples"
INPUTS = ("run.json", "test_groups.csv", "val_groups.csv", "predictions", "members")

RUNS = sorted(p.parent.relative_to(EXAMPLES) for p in EXAMPLES.rglob("fairness.json")
              if (p.parent / "predictions").is_dir())
COMPARISONS = sorted(p.parent.relative_to(EXAMPLES) for p in EXAMPLES.rglob("compare.json")
                     if (p.parent.parent / "runs").is_dir())


def _inputs(source: Path, destination: Path) -> Path:
    destination.mkdir(parents=True)
    for name in INPUTS:
        if (source / name).is_dir():
            shutil.copytree(source / name, destination / name)
        elif (source / name).is_file():
            shutil.copy2(source / name, destination / name)
    return destination


def test_examples_ship_their_predictions() -> None:
    stale = [EXAMPLES / name for name in STALE_EXAMPLES]
    missing = [str(p.parent) for p in EXAMPLES.rglob("fairness.json")
               if not (p.parent / "predictions").is_dir()
               and not any(p.is_relative_to(folder) for folder in stale)]
    assert not missing, f"examples without predictions: {missing}"


@pytest.mark.parametrize("example", RUNS, ids=str)
def test_an_example_run_reports_its_shipped_fairness_json(example: Path, tmp_path: Path) -> None:
    copy = _inputs(EXAMPLES / example, tmp_path / "run")
    main(["report", str(copy), "--format", "json"])
    assert (copy / "fairness.json").read_bytes() == \
        (EXAMPLES / example / "fairness.json").read_bytes()


@pytest.mark.parametrize("example", COMPARISONS, ids=str)
def test_an_example_comparison_compares_its_runs_again(example: Path, tmp_path: Path) -> None:
    shipped = json.loads((EXAMPLES / example / "compare.json").read_text())
    out = tmp_path / "comparison"
    runs = [_inputs((EXAMPLES / example / run["folder"]).resolve(),
                    (out / run["folder"]).resolve()) for run in shipped["runs"]]
    main(["compare", *map(str, runs), "--out", str(out), "--grouping", shipped["grouping"]])
    assert (out / "compare.json").read_bytes() == \
        (EXAMPLES / example / "compare.json").read_bytes()
