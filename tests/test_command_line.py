"""The command-line contract: help, version, exit status, JSON output, Hydra's errors in
one line, and what training prints when its output is not a terminal."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from fairens import __version__
from fairens.cli import build_parser, main
from fairens.pipeline import train

from conftest import REPO, compose_train, make_run


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
        tmp_path, "trainer.max_epochs=2",
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
