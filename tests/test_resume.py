"""Crash and resume, determinism, and divergence."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from fairens.errors import FairensError
from fairens.pipeline import train

from conftest import REPO

RUN = ("run_name=resume", "ensemble.size=3", "model=resnet9", "model.options.width=8",
       "data.image_size=16", "trainer.max_epochs=8", "trainer.enable_progress_bar=false",
       "resume_interval=0")


def _command(root: Path) -> list[str]:
    return [sys.executable, str(REPO / "train.py"), f"paths.results={root}/results",
            f"paths.models={root}/models", *RUN]


@pytest.mark.slow
def test_killed_run_resumes_to_the_same_fairness_json(tmp_path: Path) -> None:
    reference = subprocess.run(_command(tmp_path / "reference"), capture_output=True, text=True,
                               timeout=600)
    assert reference.returncode == 0, reference.stderr[-2000:]

    crashed = tmp_path / "crashed"
    process = subprocess.Popen(_command(crashed), stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    resume_point = crashed / "models" / "resume" / "member_01.partial" / "last.ckpt"
    deadline = time.monotonic() + 300
    while not resume_point.exists() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert resume_point.exists(), "the run was killed while its second member was training"
    predictions = crashed / "results" / "resume" / "predictions"
    assert sorted(p.name for p in predictions.iterdir()) == ["member_00.npz", "val"]
    assert [p.name for p in (predictions / "val").iterdir()] == ["member_00.npz"]

    rerun = subprocess.run(_command(crashed), capture_output=True, text=True, timeout=600)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    assert "member 1/3 " in rerun.stdout and "already trained: skipped" in rerun.stdout
    assert f"member 2/3: resuming from {resume_point}" in rerun.stdout
    assert not resume_point.parent.exists()
    for member in range(3):
        name = f"member_{member:02d}.npz"
        with np.load(predictions / name) as a, \
                np.load(tmp_path / "reference" / "results" / "resume" / "predictions" / name) as b:
            assert np.array_equal(a["logits"], b["logits"]), name
    curves = [(root / "results" / "resume" / "logs" / "member_01" / "metrics.csv").read_text()
              for root in (crashed, tmp_path / "reference")]
    assert curves[0] == curves[1], "the resumed member keeps its learning curves from before"
    assert (crashed / "results" / "resume" / "fairness.json").read_bytes() == \
        (tmp_path / "reference" / "results" / "resume" / "fairness.json").read_bytes()


def test_same_config_gives_byte_identical_predictions(train_config, tmp_path: Path) -> None:
    for folder in ("first", "second"):
        train(train_config(f"paths.results={tmp_path}/{folder}",
                           f"paths.models={tmp_path}/m{folder}", "ensemble.size=1",
                           "report.intervals=false"))
    first, second = (tmp_path / f / "test" / "predictions" / "member_00.npz"
                     for f in ("first", "second"))
    assert first.read_bytes() == second.read_bytes()


def test_a_diverging_member_stops_with_its_name_and_seeds(train_config, tmp_path: Path) -> None:
    with pytest.raises(FairensError) as error:
        train(train_config("model.optimizer.lr=1e12", "ensemble.size=1", "trainer.max_epochs=3"))
    assert str(error.value).startswith(
        "member 1/1 seeds(init=4088532484, batch_order=3953331965, augmentation=1961512366) "
        "diverged at epoch 0: the training loss is ")
    results = tmp_path / "results" / "test"
    assert not (results / "predictions").exists() and not (results / "fairness.json").exists()
    assert json.loads((results / "run.json").read_text())["ensemble"]["size"] == 1
