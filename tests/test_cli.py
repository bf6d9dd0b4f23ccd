"""The ``fairens`` command: help, version, exit status, JSON output, reports and comparisons
of run directories that hold only test_groups.csv and predictions/, Hydra's errors in one
line, and what training prints when its output is not a terminal."""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from fairens import __version__
from fairens.cli import build_parser, main
from fairens.pipeline import train

from conftest import REPO, compose_train, make_run, output_files


def test_report_on_a_foreign_run_directory(tmp_path: Path, capsys) -> None:
    make_run(tmp_path, n_members=4)
    main(["report", str(tmp_path), "--k", "2", "--max-subsets", "3", "--min-group-size", "1"])
    fairness = json.loads((tmp_path / "fairness.json").read_text())
    assert fairness["members"] == 4 and fairness["k"] == 2 and fairness["seed"] == 0
    assert fairness["groupings"]["class"]["curve"]["subsets"] == [4, 3, 3, 1]
    assert set(fairness["groupings"]) == {"class", "site"}
    title = (tmp_path / "report.md").read_text().splitlines()[0]
    assert title == f"# {tmp_path.name}: an ensemble of 4 models".replace("_", "\\_")
    assert "report: " in capsys.readouterr().out


def test_report_restores_every_analysis_setting_of_the_run(tmp_path: Path) -> None:
    """Each analysis setting the run was trained with is used again unless a flag
    overrides it: re-reporting reproduces the run's fairness.json."""
    make_run(tmp_path, n_members=4, n=40)
    (tmp_path / "run.json").write_text(json.dumps({
        "run_name": "restored", "ensemble": {"size": 4, "seed": 2, "k": 1},
        "config": {"report": {"combine": "vote", "max_subsets": 3, "ranking": "crossfit",
                              "scale": "error_reduction", "min_group_size": 2,
                              "intervals": True, "split_seed": 5, "crosscheck": False}}}))
    main(["report", str(tmp_path)])
    first = json.loads((tmp_path / "fairness.json").read_text())
    assert (first["combine"], first["k"], first["seed"], first["max_subsets"]) == \
        ("vote", 1, 2, 3)
    assert first["ranking"] | {"method": "crossfit", "min_group_size": 2, "split_seed": 5} \
        == first["ranking"] and first["verdicts"]["scale"] == "error_reduction"
    assert "crosscheck" not in first
    main(["report", str(tmp_path), "--combine", "mean_logit", "--no-intervals"])
    second = json.loads((tmp_path / "fairness.json").read_text())
    assert (second["combine"], second["intervals"], second["verdicts"]["scale"]) == \
        ("mean_logit", None, "error_reduction")


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


def _subcommands(parser: argparse.ArgumentParser, prefix: str = "fairens"):
    """(name, parser) of every command and subcommand."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield f"{prefix} {name}", sub
                yield from _subcommands(sub, f"{prefix} {name}")


def test_version(capsys) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out.strip() == f"fairens {__version__}"


def test_every_flag_has_help_and_no_markup() -> None:
    parser = build_parser()
    assert "examples:" in parser.format_help() and "exit status" in parser.format_help()
    commands = dict(_subcommands(parser))
    assert {"fairens report", "fairens compare", "fairens zoo", "fairens export",
            "fairens bench", "fairens bench run", "fairens bench ingest",
            "fairens frontier"} <= set(commands)
    for name, sub in [("fairens", parser), *commands.items()]:
        text = sub.format_help()
        assert "``" not in text and ":class:" not in text, name
        for action in sub._actions:
            if not isinstance(action, argparse._SubParsersAction):
                assert action.help, f"{name} {action.option_strings or action.dest}"


def test_bench_ingest_has_its_own_flags() -> None:
    commands = dict(_subcommands(build_parser()))
    ingest = {s for a in commands["fairens bench ingest"]._actions for s in a.option_strings}
    run = {s for a in commands["fairens bench run"]._actions for s in a.option_strings}
    assert {"--into", "--export-root"} <= ingest and not {"--threads", "--runs"} & ingest
    assert {"--threads", "--runs", "--warmup"} <= run and not {"--into"} & run


def test_bench_without_a_step_measures_the_export_folder() -> None:
    from fairens.cli import _with_default_step
    assert _with_default_step(["bench", "export/x", "--runs", "60"]) == [
        "bench", "run", "export/x", "--runs", "60"]
    assert _with_default_step(["bench", "ingest", "a.json"]) == ["bench", "ingest", "a.json"]


def test_report_and_compare_print_json(tmp_path: Path, capsys) -> None:
    runs = [make_run(tmp_path / name, seed=seed) for name, seed in (("a", 0), ("b", 1))]
    main(["report", str(runs[0]), "--json", "--min-group-size", "1"])
    summary = json.loads(capsys.readouterr().out)
    fairness = json.loads((runs[0] / "fairness.json").read_text())
    assert summary["run_dir"] == str(runs[0]) and summary["k"] == fairness["k"]
    assert summary["overall"] == fairness["overall"]
    assert summary["groupings"]["class"]["bottom_k"] == fairness["groupings"]["class"][
        "bottom_k"]
    assert "curve" not in summary["groupings"]["class"]
    main(["compare", *map(str, runs), "--out", str(tmp_path / "cmp"), "--json",
          "--min-group-size", "1"])
    compared = json.loads(capsys.readouterr().out)
    assert [r["run"] for r in compared["runs"]] == list(
        pd.read_csv(tmp_path / "cmp" / "compare.csv")["run"])


def test_usage_errors_exit_2_and_data_errors_exit_1(tmp_path: Path, capsys) -> None:
    with pytest.raises(SystemExit) as usage:
        main(["report", str(make_run(tmp_path / "run")), "--ranking", "validation"])
    assert usage.value.code == 2  # a setting this run cannot take
    with pytest.raises(SystemExit) as data:
        main(["report", str(tmp_path / "nowhere")])
    assert data.value.code == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and all(line.startswith("error: ") for line in err)


def _train_py(tmp_path: Path, *overrides: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(REPO / "train.py"),
                           f"paths.results={tmp_path}/results", f"paths.models={tmp_path}/models",
                           *overrides], capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize("override,message", [
    ("ensemble.sizee=3", "error: Could not override 'ensemble.sizee'; Key 'sizee' is not in "
                         "struct; To append to your config use +ensemble.sizee=3; python "
                         "train.py --cfg job lists every setting"),
    ("model=nosuch", "error: In 'train': Could not find 'model/nosuch'; known names are "
                     "deit_tiny_patch16_224, "),
    ("ensemble.size=[", "error: no viable alternative at input '['"),
])
def test_hydra_errors_are_one_line(tmp_path: Path, override: str, message: str) -> None:
    done = _train_py(tmp_path, override)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(message), lines
    assert not (tmp_path / "results").exists()


def test_train_help_describes_fairens_settings(tmp_path: Path) -> None:
    done = _train_py(tmp_path, "--help")
    assert done.returncode == 0
    for text in ("Train a homogeneous deep ensemble", "ensemble.size=10", "model: ",
                 "min_group_size: 10", "exit status 2"):
        assert text in done.stdout, text
    assert "Powered by Hydra" not in done.stdout


def test_training_off_a_terminal_prints_one_line_per_epoch(tmp_path: Path) -> None:
    done = _train_py(tmp_path, "run_name=log", "ensemble.size=2", "trainer.max_epochs=3")
    assert done.returncode == 0, done.stderr[-2000:]
    output = done.stdout + done.stderr
    assert "\r" not in output and "it/s" not in output
    epochs = [line for line in output.splitlines() if " epoch " in line]
    assert [line.split(" val_acc")[0].split(" train_loss")[0] for line in epochs] == [
        f"member {m}/2 epoch {e}/3" for m in (1, 2) for e in (1, 2, 3)]


def test_trainer_logger_and_callbacks_from_the_config(tmp_path: Path) -> None:
    extra = tmp_path / "tensorboard_like"
    train(compose_train(
        tmp_path, "trainer.max_epochs=2", "trainer.check_val_every_n_epoch=1",
        f"+trainer.logger={{_target_: pytorch_lightning.loggers.CSVLogger, save_dir: {extra}, "
        "name: extra}",
        "+trainer.callbacks={lr: {_target_: pytorch_lightning.callbacks.LearningRateMonitor}}"))
    curves = sorted(extra.glob("extra/version_*/metrics.csv"))
    assert len(curves) == 2  # one per member, next to the run's own learning curves
    assert "lr-SGD" in pd.read_csv(curves[0]).columns
    own = tmp_path / "results" / "test" / "logs" / "member_00" / "metrics.csv"
    assert "lr-SGD" in pd.read_csv(own).columns and "val_acc" in pd.read_csv(own).columns


def test_a_bad_trainer_logger_is_one_usage_error(tmp_path: Path, capsys) -> None:
    from fairens.errors import UsageError
    with pytest.raises(UsageError, match=r"^trainer.logger is not allowed: "):
        train(compose_train(tmp_path, "+trainer.logger={_target_: no.such.Logger}"))
    assert not (tmp_path / "results").exists()


def test_help_loads_neither_pytorch_nor_fairlearn() -> None:
    """The command's help needs only the flags' choices: it answers at once."""
    code = ("import sys, fairens.cli; fairens.cli.build_parser(); "
            "print(sorted(m for m in ('torch', 'fairlearn', 'sklearn') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0 and done.stdout.strip() == "[]", done.stderr


def test_report_renders_only_the_formats_asked(tmp_path: Path) -> None:
    make_run(tmp_path, n_members=3, n=60)
    main(["report", str(tmp_path), "--format", "md", "--min-group-size", "1"])
    assert (tmp_path / "report.md").is_file() and not (tmp_path / "report.html").exists()
    assert list((tmp_path / "plots").glob("*.png"))
    main(["report", str(tmp_path), "--format", "json", "--min-group-size", "1"])
    assert (tmp_path / "fairness.json").is_file() and (tmp_path / "groups.csv").is_file()
    # the earlier Markdown report would contradict the new analysis: it is gone
    assert not (tmp_path / "report.md").exists() and not list(tmp_path.rglob("*.png"))
