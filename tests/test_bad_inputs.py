"""Bad input: one clear message, a non-zero exit, and nothing written (table-driven)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from fairens.errors import FairensError
from fairens.models import list_models
from fairens.pipeline import train

from conftest import REPO, output_files

BAD_SETTINGS = [
    ("ensemble.size=0", "ensemble.size=0 is not allowed: a positive integer (the number of "
                        "members)"),
    ("ensemble.size=-3", "ensemble.size=-3 is not allowed: a positive integer (the number of "
                         "members)"),
    ("ensemble.size=abc", "ensemble.size='abc' is not allowed: a positive integer (the number "
                          "of members)"),
    ("ensemble.size=2.5", "ensemble.size=2.5 is not allowed: a positive integer (the number of "
                          "members)"),
    ("ensemble.vary=[init,colour]", "ensemble.vary=['init', 'colour'] is not allowed: a subset "
                                    "of ['init', 'batch_order', 'augmentation'] (unknown: colour)"),
    ("ensemble.k=0", "ensemble.k=0 is not allowed: a positive integer (size of the bottom-k and "
                     "top-k sets)"),
    ("ensemble.k=11", "ensemble.k=11 is not allowed: an integer from 1 to 10, the number of "
                      "classes of data=digits"),
    ("ensemble.seed=-1", "ensemble.seed=-1 is not allowed: a non-negative integer"),
    ("ensemble.member=[0,5]", "ensemble.member=[0, 5] is not allowed: member indices from 0 to 1 "
                              "(ensemble.size=2), or null for all"),
    ("model.name=resnet1000", "model='resnet1000' is not allowed: known names are "
                              + ", ".join(list_models())),
    ("model.checkpoint=/nowhere/weights.pth", "model.checkpoint='/nowhere/weights.pth' is not "
                                              "allowed: a local state dict file (no such file)"),
    ("model=levit_128s data.image_size=40", "model=levit_128s cannot run at 40x40 inputs: it "
                                            "supports sides >= 16 and a multiple of 16; set "
                                            "data.image_size=48 to upsample the images"),
    ("data.name=mnist", "data='mnist' is not allowed: known names are celeba, cifar10, "
                        "cifar100, cifar10s, digits, imagefolder, manifest"),
    ("data.imbalance_ratio=0.5", "data.imbalance_ratio=0.5 is not allowed: a number >= 1 (1 keeps "
                                 "the split as is)"),
    ("+data.colour=red", "data=digits has no setting colour; its settings are image_size, "
                         "imbalance_ratio, max_train_per_class, seed, test_per_class, "
                         "val_per_class"),
    ("data.max_train_per_class=0", "data.max_train_per_class=0 is not allowed: a positive "
                                   "integer, or null for all"),
    ("data.image_size=4 model=resnet9", "model=resnet9 cannot run at 4x4 inputs: it supports "
                                        "sides >= 8; set data.image_size=8 to upsample the images"),
    ("run_name=../escape", "run_name='../escape' is not allowed: letters, digits and . _ = + - "
                           "(no path separators), starting with a letter or digit"),
]


@pytest.mark.parametrize(("override", "message"), BAD_SETTINGS)
def test_bad_setting_is_refused_before_anything_is_written(train_config, tmp_path: Path,
                                                           override: str, message: str) -> None:
    with pytest.raises(FairensError) as error:
        train(train_config(*override.split()))
    assert str(error.value) == message
    assert output_files(tmp_path) == []


def _train_py(tmp_path: Path, *overrides: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(REPO / "train.py"), f"paths.results={tmp_path}/results",
         f"paths.models={tmp_path}/models", *overrides],
        cwd=tmp_path, capture_output=True, text=True, timeout=300)


def test_train_py_exits_non_zero_with_one_line(tmp_path: Path) -> None:
    done = _train_py(tmp_path, "ensemble.size=0")
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "error: ensemble.size=0 is not allowed: a positive integer (the number of members)"]
    assert output_files(tmp_path) == []


def test_unknown_model_config_lists_the_known_ones(tmp_path: Path) -> None:
    done = _train_py(tmp_path, "model=resnet1000")
    assert done.returncode != 0
    assert "Could not find 'model/resnet1000'" in done.stderr
    assert "small_cnn" in done.stderr and "resnet9" in done.stderr
    assert output_files(tmp_path) == []
