"""Shared fixtures: tiny composed configs writing into temporary folders."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hydra import compose, initialize_config_dir
from hypothesis import settings
from omegaconf import DictConfig

# the same examples on every run, so that CI cannot fail on an example no one has seen
settings.register_profile("fairens", derandomize=True, deadline=None)
settings.load_profile("fairens")

REPO = Path(__file__).resolve().parents[1]
CONFIGS = REPO / "configs"
# curated examples made by an earlier version whose runs were not kept: not re-runnable,
# in their earlier layout (results/examples/README.md)
STALE_EXAMPLES = ("zoo_cifar10", "frontier_cifar10", "cifar10s_small_cnn_k5")


def compose_train(tmp_path: Path, *overrides: str) -> DictConfig:
    """``configs/train.yaml`` with a tiny, quiet, CPU training and outputs under tmp_path."""
    base = [f"paths.results={tmp_path}/results", f"paths.models={tmp_path}/models",
            f"paths.export={tmp_path}/export", "run_name=test", "trainer.max_epochs=1",
            "trainer.accelerator=cpu", "trainer.enable_progress_bar=false", "ensemble.size=2"]
    with initialize_config_dir(config_dir=str(CONFIGS), version_base="1.3"):
        return compose(config_name="train", overrides=[*base, *overrides])


@pytest.fixture(scope="session")
def exported_run(tmp_path_factory) -> Path:
    """A tiny trained 2-member digits run and its export (fp32, int8, ORT format), shared
    by the tests that read exports; tests that break things work on a copy."""
    from fairens.export import export_run
    from fairens.pipeline import train
    root = tmp_path_factory.mktemp("exported")
    train(compose_train(root, "trainer.max_epochs=2"))
    export_run(root / "results" / "test")
    return root


@pytest.fixture
def train_config(tmp_path: Path) -> Callable[..., DictConfig]:
    """``train_config(*overrides)``: a composed tiny training config in a temp folder."""
    return lambda *overrides: compose_train(tmp_path, *overrides)


def assert_close(actual, expected, path: str = "", subset: bool = False) -> None:
    """Nested dicts and lists equal, floats to 1e-12; with ``subset``, only the keys of
    ``expected`` are compared."""
    if isinstance(expected, dict):
        if not subset:
            assert actual.keys() == expected.keys(), path
        for key, value in expected.items():
            assert_close(actual[key], value, f"{path}.{key}", subset)
    elif isinstance(expected, list):
        assert len(actual) == len(expected), path
        for i, (a, e) in enumerate(zip(actual, expected, strict=True)):
            assert_close(a, e, f"{path}[{i}]", subset)
    elif isinstance(expected, float):
        assert actual == pytest.approx(expected, abs=1e-12), path
    else:
        assert actual == expected, path


def output_files(root: Path) -> list[Path]:
    """Every file under ``root`` (empty when it does not exist)."""
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


def foreign_groups(root: Path, table: pd.DataFrame) -> None:
    """``test_groups.csv`` as another framework writes it (pandas, no fairens)."""
    root.mkdir(parents=True, exist_ok=True)
    table.to_csv(root / "test_groups.csv", index=False)


def foreign_predictions(root: Path, member: int, logits: np.ndarray,
                        sample_ids: np.ndarray) -> None:
    """``predictions/member_XX.npz`` as another framework writes it (numpy, no fairens)."""
    (root / "predictions").mkdir(parents=True, exist_ok=True)
    np.savez(root / "predictions" / f"member_{member:02d}.npz",
             logits=np.asarray(logits, dtype=np.float32),
             sample_id=np.asarray(sample_ids, dtype=np.int64))


def write_foreign_run(root: Path, groups: pd.DataFrame,
                      members: dict[int, tuple[np.ndarray, np.ndarray]]) -> Path:
    """A run directory as another framework writes it: ``test_groups.csv`` and
    ``predictions/member_XX.npz`` (logits, sample ids), no fairens."""
    foreign_groups(root, groups)
    for member, (logits, sample_ids) in members.items():
        foreign_predictions(root, member, logits, sample_ids)
    return root


def make_run(root: Path, n_members: int = 3, n: int = 12, n_classes: int = 4,
             seed: int = 0) -> Path:
    """A run directory holding only test_groups.csv and predictions/ (no run.json)."""
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % n_classes
    ids = np.arange(1000, 1000 + n)
    members = {}
    for member in range(n_members):
        logits = rng.normal(size=(n, n_classes)) + 2 * np.eye(n_classes)[labels]
        order = rng.permutation(n)  # another framework may write samples in any order
        members[member] = (logits[order], ids[order])
    return write_foreign_run(root, pd.DataFrame({
        "sample_id": ids, "label": labels, "class": [f"c{c}" for c in labels],
        "site": np.where(np.arange(n) % 3 == 0, "north", "south")}), members)
