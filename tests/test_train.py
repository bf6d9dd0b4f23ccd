"""Tiny end-to-end trainings through the composed config, as ``python train.py`` runs them."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from fairens.data import load_dataset
from fairens.ensemble import load_member, member_seeds
from fairens.ensemble.fit import build_member
from fairens.pipeline import train
from fairens.settings import recipe_from

from conftest import output_files

# validated at the second of three epochs (trainer.check_val_every_n_epoch)
TWO_MEMBER_RUN = ("trainer.max_epochs=3", "trainer.check_val_every_n_epoch=2")

FAST = ("trainer.limit_train_batches=3", "trainer.limit_val_batches=1")


@pytest.fixture(scope="module")
def two_member_run(tmp_path_factory) -> Path:
    from conftest import compose_train
    root = tmp_path_factory.mktemp("run")
    train(compose_train(root, *TWO_MEMBER_RUN))
    return root


def test_run_directory_follows_the_contract(two_member_run: Path) -> None:
    results = two_member_run / "results" / "test"
    groups = pd.read_csv(results / "test_groups.csv")
    assert list(groups.columns) == ["sample_id", "label", "source", "class",
                                   "train_frequency"]
    assert len(groups) == 500 and groups["label"].value_counts().eq(50).all()
    # provenance: each row's index into scikit-learn's digits, and the whole split
    assert groups["source"].str.fullmatch(r"sklearn\.datasets\.load_digits:\d+").all()
    split = pd.read_csv(results / "data_split.csv", dtype=str, keep_default_na=False)
    assert len(split) == 1797 and split["source"].is_unique
    assert set(split.loc[split["split"] == "test", "source"]) == set(groups["source"])
    assert set(split["reason"]) == {"", "not sampled (data.max_train_per_class or the long tail)"}
    for member in (0, 1):
        with np.load(results / "predictions" / f"member_{member:02d}.npz") as npz:
            assert set(npz.files) == {"logits", "sample_id"}
            assert npz["logits"].dtype == np.float32 and npz["logits"].shape == (500, 10)
            assert npz["sample_id"].dtype == np.int64
            assert npz["sample_id"].tolist() == groups["sample_id"].tolist()
        assert (two_member_run / "models" / "test" / f"member_{member:02d}.ckpt").is_file()


def test_validation_predictions_are_kept_and_rank_the_groups(two_member_run: Path) -> None:
    results = two_member_run / "results" / "test"
    val = pd.read_csv(results / "val_groups.csv")
    assert list(val.columns) == ["sample_id", "label", "source", "class",
                                   "train_frequency"]
    assert len(val) == 200 and val["label"].value_counts().eq(20).all()  # val_per_class=20
    assert not set(val["sample_id"]) & set(pd.read_csv(results / "test_groups.csv")["sample_id"])
    module = load_member(two_member_run / "models" / "test" / "member_01.ckpt")
    data = load_dataset("digits", imbalance_ratio=10)
    with torch.inference_mode():
        expected = module(data.val.images).numpy()
    with np.load(results / "predictions" / "val" / "member_01.npz") as npz:
        assert npz["sample_id"].tolist() == val["sample_id"].tolist()
        np.testing.assert_allclose(npz["logits"], expected, atol=1e-5)
    fairness = json.loads((results / "fairness.json").read_text())
    assert fairness["ranking"]["method"] == "validation"


def test_run_json_records_config_seeds_versions_and_cost(two_member_run: Path) -> None:
    meta = json.loads((two_member_run / "results" / "test" / "run.json").read_text())
    assert meta["ensemble"] == {"size": 2, "seed": 0,
                                "vary": ["init", "batch_order", "augmentation"], "k": 3}
    assert [s["member"] for s in meta["seeds"]] == [0, 1]
    assert meta["seeds"][1]["init"] == member_seeds(0, meta["ensemble"]["vary"], 1).init
    assert meta["model"]["name"] == "small_cnn" and meta["model"]["params"] == 65834
    assert meta["model"]["macs"] > 0 and meta["model"]["input"] == [1, 8, 8]
    counts = meta["data"]["train_class_counts"]
    assert counts[-1] == counts[0] // 10 and counts == sorted(counts, reverse=True)
    assert {"torch", "pytorch-lightning", "hydra-core"} <= set(meta["versions"])
    assert meta["config"]["trainer"]["max_epochs"] == 3


def test_fairness_json_and_report_are_written(two_member_run: Path) -> None:
    results = two_member_run / "results" / "test"
    fairness = json.loads((results / "fairness.json").read_text())
    assert fairness["members"] == 2 and set(fairness["groupings"]) == {"class", "train_frequency"}
    assert fairness["groupings"]["train_frequency"]["groups"].keys() == {"minority", "majority"}
    report = (results / "report.md").read_text()
    assert report.startswith("# digits (scikit-learn), an ensemble of 2 small CNNs: test\n")
    assert "## By digit" in report and "| group | n | one model (%) | ensemble (%) |" in report


def test_checkpoint_rebuilds_the_member(two_member_run: Path) -> None:
    results = two_member_run / "results" / "test"
    module = load_member(two_member_run / "models" / "test" / "member_01.ckpt")
    data = load_dataset("digits", imbalance_ratio=10)
    with torch.no_grad():
        logits = module(data.test.images[:20]).numpy()
    with np.load(results / "predictions" / "member_01.npz") as npz:
        np.testing.assert_allclose(logits, npz["logits"][:20], rtol=1e-5, atol=1e-5)


def test_rerun_skips_finished_members(two_member_run: Path, capsys) -> None:
    from conftest import compose_train
    before = {p: p.stat().st_mtime_ns for p in output_files(two_member_run / "models")}
    train(compose_train(two_member_run, *TWO_MEMBER_RUN))
    assert capsys.readouterr().out.count("already trained: skipped") == 2
    assert before == {p: p.stat().st_mtime_ns for p in output_files(two_member_run / "models")}


def _predictions(root: Path, member: int) -> np.ndarray:
    with np.load(root / "results" / "test" / "predictions" / f"member_{member:02d}.npz") as npz:
        return npz["logits"]


def test_vary_nothing_gives_bit_identical_members(train_config, tmp_path: Path) -> None:
    train(train_config("ensemble.vary=[]", *FAST))
    assert np.array_equal(_predictions(tmp_path, 0), _predictions(tmp_path, 1))


def test_vary_batch_order_changes_only_the_order(train_config, tmp_path: Path) -> None:
    cfg = train_config("ensemble.vary=[batch_order]", *FAST)
    first, second = (member_seeds(0, ["batch_order"], m) for m in (0, 1))
    data = load_dataset("digits", imbalance_ratio=10)
    recipe = recipe_from(cfg)
    weights = [build_member(data, recipe, s).state_dict() for s in (first, second)]
    assert all(torch.equal(weights[0][key], weights[1][key]) for key in weights[0])
    assert first.augmentation == second.augmentation and first.batch_order != second.batch_order
    train(cfg)
    assert not np.array_equal(_predictions(tmp_path, 0), _predictions(tmp_path, 1))


def test_member_setting_trains_only_the_listed_members(train_config, tmp_path: Path,
                                                       capsys) -> None:
    train(train_config("ensemble.member=[1]", *FAST))
    results = tmp_path / "results" / "test"
    assert sorted(p.name for p in (results / "predictions").iterdir()) == ["member_01.npz", "val"]
    assert not (results / "fairness.json").exists()
    assert "members [0] still to train" in capsys.readouterr().out


def test_a_run_trained_before_validation_predictions_gets_them(train_config, tmp_path: Path,
                                                                capsys) -> None:
    train(train_config("ensemble.size=1", "report.intervals=false", *FAST))
    results = tmp_path / "results" / "test"
    kept = (results / "predictions" / "val" / "member_00.npz").read_bytes()
    (results / "val_groups.csv").unlink()
    (results / "predictions" / "val" / "member_00.npz").unlink()
    train(train_config("ensemble.size=1", "report.intervals=false", *FAST))
    assert "already trained: skipped" in capsys.readouterr().out
    assert (results / "val_groups.csv").is_file()
    with np.load(results / "predictions" / "val" / "member_00.npz") as now, \
            np.load(io.BytesIO(kept)) as before:
        np.testing.assert_array_equal(now["logits"], before["logits"])


class _Snapshots:
    """A callback that records the member's weights at each validation."""

    def __new__(cls, snapshots: list):
        import pytorch_lightning as pl

        class Record(pl.Callback):
            def on_validation_end(self, trainer, pl_module) -> None:
                snapshots.append({k: v.clone() for k, v in pl_module.state_dict().items()})
        return Record()


@pytest.mark.parametrize(("select", "epoch"), [("best_val", 2), ("worst_group_val", 1),
                                               ("last", None)])
def test_select_keeps_the_chosen_epoch(tmp_path: Path, monkeypatch, select: str,
                                       epoch: int | None) -> None:
    from fairens.ensemble import MemberModule, train_member
    from fairens.rundir import open_models
    from fairens.settings import load_data

    from conftest import compose_train
    script = [0.2, 0.9, 0.5, 0.3]  # validation accuracy; worst-group accuracy is 1 - it

    def scripted(module: MemberModule) -> None:
        value = torch.tensor(script[module.current_epoch])
        module.log("val_acc", value)
        module.log("val_worst_group_acc", 1 - value)
    monkeypatch.setattr(MemberModule, "on_validation_epoch_end", scripted)
    cfg = compose_train(tmp_path, "trainer.max_epochs=4", f"trainer.select={select}",
                        "trainer.limit_train_batches=2", "trainer.check_val_every_n_epoch=1")
    recipe, data = recipe_from(cfg), load_data(cfg)
    snapshots: list = []
    result = train_member(data, recipe, member_seeds(0, ("init",), 0), member=0,
                          label="member 1/1", models=open_models(tmp_path, "test"),
                          callbacks=[_Snapshots(snapshots)])
    assert result.selected_epoch == epoch
    kept = load_member(tmp_path / "member_00.ckpt").state_dict()
    expected = snapshots[(epoch or 4) - 1]
    assert all(torch.equal(kept[k], expected[k]) for k in expected)
    assert not any(torch.equal(kept[k], snapshots[3][k]) for k in expected
                   if "weight" in k) or epoch is None  # the last epoch's weights differ
    assert not (tmp_path / "member_00.partial").exists()


def test_learning_curves_hold_every_groups_validation_accuracy(two_member_run: Path) -> None:
    """The validation accuracy per group of the tracked grouping, and the worst of them,
    at each validated epoch (every trainer.check_val_every_n_epoch-th: 2 of 3 here), next to
    the loss and overall accuracy (docs/datasets.md, "Model selection")."""
    curves = pd.read_csv(two_member_run / "results" / "test" / "logs" / "member_00" /
                         "metrics.csv")
    per_group = [c for c in curves.columns if c.startswith("val_acc/")]
    assert len(per_group) == 10  # the ten digits
    assert sorted(curves.dropna(subset=per_group)["epoch"].unique()) == [1]
    assert sorted(curves.dropna(subset=["val_acc"])["epoch"].unique()) == [1]
    assert sorted(curves.dropna(subset=["train_loss"])["epoch"].unique()) == [0, 1, 2]
    worst = curves.dropna(subset=["val_worst_group_acc"]).set_index("epoch")
    lowest = curves.dropna(subset=per_group).set_index("epoch")[per_group].min(axis=1)
    np.testing.assert_allclose(worst["val_worst_group_acc"], lowest.loc[worst.index],
                               atol=1e-6)


def test_epoch_lines_show_each_epochs_loss_and_validation_where_it_ran(tmp_path: Path,
                                                                       capsys) -> None:
    """Off a terminal, one line per epoch: that epoch's training loss (not the previous
    one's), and validation accuracy on validated epochs only; the member's val_acc is its
    kept weights' accuracy on the validation predictions it saved."""
    from conftest import compose_train
    train(compose_train(tmp_path, "ensemble.size=1", "trainer.max_epochs=3",
                        "trainer.check_val_every_n_epoch=2", "trainer.enable_progress_bar=true"))
    lines = [line for line in capsys.readouterr().out.splitlines() if " epoch " in line]
    assert [line.split(" (")[0].split(" val_acc=")[0].split(" train_loss=")[0]
            for line in lines] == [f"member 1/1 epoch {e}/3" for e in (1, 2, 3)]
    assert all("train_loss=" in line for line in lines)
    assert ["val_acc=" in line for line in lines] == [False, True, False]
    results = tmp_path / "results" / "test"
    member = json.loads((results / "members" / "member_00.json").read_text())
    with np.load(results / "predictions" / "val" / "member_00.npz") as npz:
        logits, ids = npz["logits"], npz["sample_id"]
    labels = pd.read_csv(results / "val_groups.csv").set_index("sample_id").loc[ids, "label"]
    assert member["val_acc"] == pytest.approx(float((logits.argmax(1) == labels.to_numpy()).mean()))
