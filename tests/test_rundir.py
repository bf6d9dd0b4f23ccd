"""Reading run directories written by fairens or by any other framework."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from fairens.errors import FairensError
from fairens.rundir import load_run, save_predictions

from conftest import make_run


def test_load_run_reorders_to_test_groups(tmp_path: Path) -> None:
    run = load_run(make_run(tmp_path))
    assert run.logits.shape == (3, 12, 4) and run.logits.dtype == np.float32
    assert run.members == (0, 1, 2) and run.sample_ids.tolist() == list(range(1000, 1012))
    assert list(run.groups.columns) == ["class", "site"]
    assert run.class_names == ["c0", "c1", "c2", "c3"]
    # the stored rows were permuted; load_run undoes it
    with np.load(tmp_path / "predictions" / "member_00.npz") as npz:
        stored = dict(zip(npz["sample_id"].tolist(), npz["logits"], strict=True))
    np.testing.assert_array_equal(run.logits[0, 5], stored[1005])


def test_group_names_stay_strings(tmp_path: Path) -> None:
    make_run(tmp_path)
    table = pd.read_csv(tmp_path / "test_groups.csv")
    table["site"] = ["NA", "007"] * 6
    table.to_csv(tmp_path / "test_groups.csv", index=False)
    assert set(load_run(tmp_path).groups["site"]) == {"NA", "007"}


def _break(path: Path, what: str) -> None:
    groups = path / "test_groups.csv"
    npz = path / "predictions" / "member_01.npz"
    if what == "no class column":
        pd.read_csv(groups).drop(columns="class").to_csv(groups, index=False)
    elif what == "unknown sample id":
        table = pd.read_csv(groups)
        table.loc[3, "sample_id"] = 5
        table.to_csv(groups, index=False)
    elif what == "truncated npz":
        npz.write_bytes(npz.read_bytes()[:100])
    elif what == "other class count":
        save_predictions(path, 1, np.zeros((12, 5)), np.arange(1000, 1012))
    elif what == "other test set":
        save_predictions(path, 1, np.zeros((11, 4)), np.arange(1000, 1011))
    elif what == "nan logits":
        save_predictions(path, 1, np.full((12, 4), np.nan), np.arange(1000, 1012))
    elif what == "label out of range":
        table = pd.read_csv(groups)
        table.loc[0, "label"] = 9
        table.to_csv(groups, index=False)
    elif what == "no predictions":
        for p in (path / "predictions").iterdir():
            p.unlink()


@pytest.mark.parametrize(("what", "message"), [
    ("no class column", "test_groups.csv: missing required column(s) class; found sample_id, "
                        "label, site"),
    ("unknown sample id", "member_00.npz: predictions do not cover the test set of "
                          "test_groups.csv: unknown sample ids, e.g. [1003]"),
    ("truncated npz", "member_01.npz: not a readable .npz file"),
    ("other class count", "member_01.npz: has 5 classes where member_00.npz has 4"),
    ("other test set", "member_01.npz: predictions do not cover the test set of test_groups.csv: "
                       "11 samples where test_groups.csv has 12"),
    ("nan logits", "member_01.npz: logits hold NaN or infinite values"),
    ("label out of range", "test_groups.csv: labels must be class indices in 0..3 (the logits "
                           "have 4 columns), found 0..9"),
    ("no predictions", "predictions: no member predictions (expected predictions/member_00.npz, "
                       "...)"),
])
def test_bad_run_directories_get_one_clear_message(tmp_path: Path, what: str,
                                                   message: str) -> None:
    _break(make_run(tmp_path), what)
    with pytest.raises(FairensError) as error:
        load_run(tmp_path)
    assert message in str(error.value)
    assert "\n" not in str(error.value)
