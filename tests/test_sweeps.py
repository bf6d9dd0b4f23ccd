"""Hydra multiruns: the vary ablation, the zoo, and members trained in parallel."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from conftest import REPO

TINY = ("ensemble.size=2", "trainer.max_epochs=1", "trainer.limit_train_batches=2",
        "trainer.limit_val_batches=1", "trainer.enable_progress_bar=false")


def train_py(tmp_path: Path, *overrides: str) -> subprocess.CompletedProcess:
    """``python train.py`` with outputs under ``tmp_path``."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    flags = [o for o in overrides if o.startswith("-")]  # Hydra's flags precede overrides
    done = subprocess.run(
        [sys.executable, str(REPO / "train.py"), *flags, f"paths.results={tmp_path}/results",
         f"paths.models={tmp_path}/models", *[o for o in overrides if o not in flags]],
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


@pytest.mark.slow
def test_zoo_experiment_writes_one_table(tmp_path: Path) -> None:
    from formats import write_imagefolder
    write_imagefolder(tmp_path / "tree", per_class=12)
    done = train_py(tmp_path, "experiment=zoo", f"data.root={tmp_path}/tree",
                    f"data.cache_dir={tmp_path}/cache", "data.batch_size=8",
                    "model=small_cnn,mobilenetv3_small_050", *TINY[1:])
    table = pd.read_csv(tmp_path / "results" / "zoo_imagefolder" / "zoo.csv")
    assert table[["model", "members"]].values.tolist() == [
        *[["small_cnn", m] for m in range(1, 6)], ["mobilenetv3_small_050", 1]]
    assert (table["params"].iloc[1] == 2 * table["params"].iloc[0])
    assert {"accuracy", "k", "bottom_k", "worst_group", "macs"} <= set(table.columns)
    assert "zoo table of 2 runs" in done.stdout


PARALLEL = ("run_name=par", "ensemble.size=3", "trainer.max_epochs=2",
            "trainer.enable_progress_bar=false", "num_threads=1")


@pytest.mark.slow
def test_parallel_members_give_the_sequential_fairness_json(tmp_path: Path) -> None:
    train_py(tmp_path / "sequential", *PARALLEL)
    for launcher in ("joblib", "submitit_local"):
        extra = ["hydra.launcher.n_jobs=2"] if launcher == "joblib" else []
        done = train_py(tmp_path / launcher, "-m", "ensemble.member=0,1,2",
                        f"hydra/launcher={launcher}", *extra, *PARALLEL)
        assert done.returncode == 0
    expected = (tmp_path / "sequential" / "results" / "par" / "fairness.json").read_bytes()
    for launcher in ("joblib", "submitit_local"):
        run = tmp_path / launcher / "results" / "par"
        assert sorted(p.name for p in (run / "predictions").iterdir()) == [
            "member_00.npz", "member_01.npz", "member_02.npz", "val"]
        assert (run / "fairness.json").read_bytes() == expected, launcher
