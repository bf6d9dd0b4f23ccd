"""Hydra multiruns: the vary ablation and its comparison report."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from conftest import REPO

TINY = ("ensemble.size=2", "trainer.max_epochs=1", "trainer.limit_train_batches=2",
        "trainer.limit_val_batches=1", "trainer.enable_progress_bar=false",
        "report.bootstrap=20")


def train_py(tmp_path: Path, *overrides: str) -> subprocess.CompletedProcess:
    """``python train.py`` with outputs under ``tmp_path``."""
    done = subprocess.run(
        [sys.executable, str(REPO / "train.py"), f"paths.results={tmp_path}/results",
         f"paths.models={tmp_path}/models", *overrides],
        cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return done


@pytest.mark.slow
def test_vary_ablation_runs_five_settings_and_compares_them(tmp_path: Path) -> None:
    done = train_py(tmp_path, "experiment=vary_ablation", *TINY)
    results = tmp_path / "results"
    names = ["vary-all", "vary-init", "vary-batch-order", "vary-augmentation", "vary-none"]
    for name in names:
        assert (results / f"ablation_digits_small_cnn_k2_{name}" / "fairness.json").is_file()
    comparison = results / "ablation_digits_small_cnn_k2"
    table = pd.read_csv(comparison / "compare.csv")
    assert table["run"].tolist() == ["vary=init+batch_order+augmentation", "vary=init",
                                     "vary=batch_order", "vary=augmentation", "vary=none"]
    assert table.loc[4, "overall_single"] == table.loc[4, "overall_ensemble"]  # identical members
    assert f"comparison of 5 runs: {comparison}/compare.md" in done.stdout
