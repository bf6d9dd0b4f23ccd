"""Reading run directories written by fairens or by any other framework."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import numpy as np
import pandas as pd

from fairens.ownership import open_folder
from fairens.rundir import load_run

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


def test_atomic_writes_leave_the_usual_permissions_and_no_temporary(tmp_path: Path) -> None:
    mask = os.umask(0o022)
    try:
        folder = open_folder(tmp_path / "out", "comparison")
        folder.write("compare.json", "{}", by="compare")
        written = stat.S_IMODE((tmp_path / "out" / "compare.json").stat().st_mode)
        with folder.publishing(by="compare") as staging:
            staged_mode = stat.S_IMODE(staging.stat().st_mode)
            (staging / "compare.md").write_text("# x")
    finally:
        os.umask(mask)
    assert written == 0o644 and staged_mode == 0o755
    assert stat.S_IMODE((tmp_path / "out" / "compare.md").stat().st_mode) == 0o644
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        ".fairens-manifest.json", ".fairens-manifest.lock", "compare.md"]
