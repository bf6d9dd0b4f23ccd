"""The ``fairens`` command on run directories that hold only test_groups.csv and predictions/."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pytest

from fairens.cli import main

from conftest import make_run, output_files


def test_report_on_a_foreign_run_directory(tmp_path: Path, capsys) -> None:
    make_run(tmp_path, n_members=4)
    main(["report", str(tmp_path), "--k", "2", "--max-subsets", "3", "--min-group-size", "1"])
    fairness = json.loads((tmp_path / "fairness.json").read_text())
    assert fairness["members"] == 4 and fairness["k"] == 2 and fairness["seed"] == 0
    assert fairness["groupings"]["class"]["curve"]["subsets"] == [4, 3, 3, 1]
    assert set(fairness["groupings"]) == {"class", "site"}
    title = (tmp_path / "report.md").read_text().splitlines()[0]
    assert title == "# fairens report: " + tmp_path.name.replace("_", "\\_")
    assert "report: " in capsys.readouterr().out


def test_report_refusal_leaves_earlier_outputs_untouched(tmp_path: Path, capsys) -> None:
    make_run(tmp_path)
    main(["report", str(tmp_path)])
    before = {p: p.read_bytes() for p in output_files(tmp_path)}
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_info:
        main(["report", str(tmp_path), "--ranking", "validation"])
    assert exit_info.value.code == 2
    assert capsys.readouterr().err.strip() == (
        "error: report.ranking=validation needs the members' validation predictions "
        "(val_groups.csv and predictions/val/ in the run folder); use crossfit to rank on "
        "halves of the test set")
    assert before == {p: p.read_bytes() for p in output_files(tmp_path)}


def test_console_script_exit_code(tmp_path: Path) -> None:
    fairens = shutil.which("fairens")
    assert fairens, "the fairens console script is installed"
    done = subprocess.run([fairens, "report", str(tmp_path / "nowhere")], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 1
    assert done.stderr.strip() == f"error: {tmp_path / 'nowhere'}: no such run directory"
    usage = subprocess.run([fairens, "report", str(tmp_path), "--k", "0"], capture_output=True,
                           text=True, timeout=120)
    assert usage.returncode == 2
    assert usage.stderr.strip().splitlines()[-1] == (
        "fairens report: error: argument --k: '0' is not a positive integer")


def test_compare_runs_on_one_test_set(tmp_path: Path, capsys) -> None:
    runs = [make_run(tmp_path / name, seed=seed) for name, seed in (("a", 0), ("b", 1))]
    main(["compare", str(runs[0]), str(runs[1]), "--out", str(tmp_path / "cmp"), "--k", "2",
          "--min-group-size", "1"])
    out = tmp_path / "cmp"
    assert {"compare.md", "compare.html", "compare.csv", "compare.json", "plots"} <= {
        p.name for p in out.iterdir()}
    table = pd.read_csv(out / "compare.csv")
    assert table["run"].tolist() == ["a", "b"] and table["reference"].tolist() == [True, False]
    assert table.loc[1, "bottom_k_vs_reference_lo"] <= table.loc[1, "bottom_k_vs_reference"] \
        <= table.loc[1, "bottom_k_vs_reference_hi"]
    assert table.loc[1, "bottom_k_vs_reference"] == pytest.approx(
        table.loc[1, "bottom_k_gain"] - table.loc[0, "bottom_k_gain"])
    compared = json.loads((out / "compare.json").read_text())
    assert [r["folder"] for r in compared["runs"]] == ["../a", "../b"]  # relative to the output
    assert "comparison: " in capsys.readouterr().out


def test_runs_with_identical_predictions_never_separate(tmp_path: Path) -> None:
    first = make_run(tmp_path / "a", n=200, seed=3)
    shutil.copytree(first, tmp_path / "b")
    main(["compare", str(first), str(tmp_path / "b"), "--out", str(tmp_path / "cmp")])
    paired = json.loads((tmp_path / "cmp" / "compare.json").read_text())["paired"]
    for entry in paired["comparisons"][1].values():
        assert entry["difference"] == 0 and entry["verdict"] == "no_difference"
        assert entry["ci"][0] <= 0 <= entry["ci"][1]


def test_compare_refuses_runs_on_other_test_sets(tmp_path: Path, capsys) -> None:
    first = make_run(tmp_path / "a")
    other = make_run(tmp_path / "b", n=16)
    with pytest.raises(SystemExit):
        main(["compare", str(first), str(other), "--out", str(tmp_path / "cmp")])
    assert capsys.readouterr().err.strip() == (
        f"error: {other}: its test set, classes or groups differ from those of {first}; only "
        "runs on the same test set can be compared")
    assert not (tmp_path / "cmp").exists()
