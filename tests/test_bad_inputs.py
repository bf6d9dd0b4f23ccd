"""Bad input: one clear message, a non-zero exit, and earlier outputs untouched.

Table-driven: training settings (nothing may be written), and run directories handed to
the ``fairens`` command (an earlier report stays as it was).
"""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnx
import pandas as pd
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from onnx import TensorProto, helper

from fairens.cli import main
from fairens.errors import FairensError
from fairens.export.folder import sha256
from fairens.models import list_models
from fairens.pipeline import train
from fairens.rundir import load_run

from conftest import REPO, foreign_predictions, make_run, output_files

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
    ("ensemble.seed=-1", "ensemble.seed=-1 is not allowed: a non-negative integer"),
    ("ensemble.member=[0,5]", "ensemble.member=[0, 5] is not allowed: member indices from 0 to 1 "
                              "(ensemble.size=2), or null for all"),
    ("run_name=null ensemble.member=[0]", "run_name=None is not allowed: a name shared by every "
                                          "job when ensemble.member trains only some members "
                                          "(e.g. run_name=digits_k10)"),
    ("model.name=resnet1000", "model='resnet1000' is not allowed: known names are "
                              + ", ".join(list_models())),
    ("model.checkpoint=/nowhere/weights.pth", "model.checkpoint='/nowhere/weights.pth' is not "
                                              "allowed: a local state dict file (no such file)"),
    ("model=levit_128s data.image_size=40", "model=levit_128s cannot run at 40x40 inputs: it "
                                            "supports sides >= 16 and a multiple of 16; set "
                                            "data.image_size=48 to upsample the images"),
    ("data.name=mnist", "data='mnist' is not allowed: known names are celeba, cifar10, "
                        "cifar100, cifar10s, digits, imagefolder, manifest, utkface"),
    ("data.imbalance_ratio=0.5", "data.imbalance_ratio=0.5 is not allowed: a number >= 1 (1 keeps "
                                 "the split as is)"),
    ("+data.colour=red", "data=digits has no setting colour; its settings are image_size, "
                         "imbalance_ratio, intersections, max_train_per_class, seed, "
                         "test_per_class, val_per_class"),
    ("data.max_train_per_class=0", "data.max_train_per_class=0 is not allowed: a positive "
                                   "integer, or null for all"),
    ("data.image_size=4 model=resnet9", "model=resnet9 cannot run at 4x4 inputs: it supports "
                                        "sides >= 8; set data.image_size=8 to upsample the images"),
    ("run_name=../escape", "run_name='../escape' is not allowed: 1 to 200 letters, digits and "
                           ". _ = + - (no path separators or control characters), starting with "
                           "a letter or digit"),
    ("num_threads=0", "num_threads=0 is not allowed: a positive integer, or null for PyTorch's "
                      "default"),
    ("resume_interval=-1", "resume_interval=-1 is not allowed: seconds (>= 0; 0: after every "
                           "epoch)"),
    ("report.combine=median", "report.combine='median' is not allowed: one of mean_prob, "
                              "mean_logit, vote"),
    ("report.ranking=test", "report.ranking='test' is not allowed: one of auto, validation, "
                            "crossfit, same_data"),
    ("report.scale=log", "report.scale='log' is not allowed: one of gain, rel_gain, "
                         "error_reduction"),
    ("report.min_group_size=0", "report.min_group_size=0 is not allowed: a positive integer"),
    ("+report.level=0.9", "report has no setting level; its settings are combine, "
                          "crosscheck, intervals, max_subsets, min_group_size, ranking, "
                          "scale, split_seed"),
    ("report.split_seed=-1", "report.split_seed=-1 is not allowed: a non-negative integer"),
    ("trainer.max_epochs=-5", "trainer.max_epochs=-5 is not allowed: a positive integer"),
    ("trainer.max_epochs=abc", "trainer.max_epochs='abc' is not allowed: a positive integer"),
    ("trainer.limit_train_batches=0", "trainer.limit_train_batches=0 is not allowed: a fraction "
                                      "in (0, 1] or a positive number of batches"),
    ("+trainer.foo=1", "trainer settings are not allowed: Lightning's Trainer rejects them "
                       "(Trainer.__init__() got an unexpected keyword argument 'foo')"),
    ("+trainer.max_steps=0", "a member would take no optimisation step: 421 training images in "
                             "batches of data.batch_size=64, trainer.limit_train_batches=1.0, "
                             "trainer.max_steps=0; allow at least one batch per epoch"),
    ("data.batch_size=100000 trainer.limit_train_batches=0.5",
     "a member would take no optimisation step: 421 training images in batches of "
     "data.batch_size=100000, trainer.limit_train_batches=0.5, trainer.max_steps=-1; allow at "
     "least one batch per epoch"),
    ("model.optimizer.lr=-1", "model.optimizer settings are not allowed: Invalid learning rate: "
                              "-1"),
    ("trainer.select=newest", "trainer.select='newest' is not allowed: one of last, best_val, "
                              "worst_group_val"),
    ("model.label_smoothing=5", "model.label_smoothing=5.0 is not allowed: a number from 0 to 1 "
                                "(exclusive)"),
    ("data.seed=-1", "data.seed=-1 is not allowed: a non-negative integer"),
    ("ensemble.vary=5", "ensemble.vary=5 is not allowed: a list of sources, a subset of ['init', "
                        "'batch_order', 'augmentation']"),
    ("resume_interval=nan", "resume_interval=nan is not allowed: seconds (>= 0; 0: after every "
                            "epoch)"),
    ("data.image_size=100000", "data.image_size=100000 is not allowed: a number of pixels from 1 "
                               "to 2048, or null"),
    ("data.image_size=0", "data.image_size=0 is not allowed: a number of pixels from 1 to 2048, "
                          "or null"),
    *([("trainer.accelerator=gpu", "trainer settings are not allowed: Lightning's Trainer rejects "
                                   "them (No supported gpu backend found!)")]
      if not torch.cuda.is_available() else []),
]


@pytest.mark.parametrize(("override", "message"), BAD_SETTINGS)
def test_bad_setting_is_refused_before_anything_is_written(train_config, tmp_path: Path,
                                                           override: str, message: str) -> None:
    with pytest.raises(FairensError) as error:
        train(train_config(*override.split()))
    assert str(error.value) == message
    assert output_files(tmp_path) == []


def test_unwritable_output_folder_is_refused(train_config, tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the results folder should be")
    with pytest.raises(FairensError) as error:
        train(train_config(f"paths.results={blocker}/results"))
    assert str(error.value) == (f"paths.results='{blocker}/results' is not allowed: a folder "
                                f"fairens can write (Not a directory: {blocker}/results/test)")
    assert output_files(tmp_path) == [blocker]


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


def _edit_groups(run: Path, edit: Callable[[pd.DataFrame], pd.DataFrame]) -> None:
    table = pd.read_csv(run / "test_groups.csv")
    edit(table).to_csv(run / "test_groups.csv", index=False)


def _unknown_id(table: pd.DataFrame) -> pd.DataFrame:
    table.loc[3, "sample_id"] = 5
    return table


def _label_out_of_range(table: pd.DataFrame) -> pd.DataFrame:
    table.loc[0, "label"] = 9
    return table


def _truncate(run: Path) -> None:
    npz = run / "predictions" / "member_01.npz"
    npz.write_bytes(npz.read_bytes()[:100])


def _no_predictions(run: Path) -> None:
    for path in (run / "predictions").iterdir():
        path.unlink()


def _missing_member(run: Path) -> None:
    (run / "run.json").write_text('{"ensemble": {"size": 5}}')


def _edit_text(run: Path, name: str, old: str, new: str) -> None:
    path = run / name
    path.write_text(path.read_text().replace(old, new, 1))


def _second_name_for_member_1(run: Path) -> None:
    shutil.copy(run / "predictions" / "member_01.npz", run / "predictions" / "member_1.npz")


def _short_name(run: Path) -> None:
    (run / "predictions" / "member_02.npz").rename(run / "predictions" / "member_2.npz")


def _linked_predictions(run: Path) -> None:
    outside = run.parent / "elsewhere.npz"
    (run / "predictions" / "member_01.npz").rename(outside)
    (run / "predictions" / "member_01.npz").symlink_to(outside)


def _fifo(path: Path) -> None:
    path.unlink()
    os.mkfifo(path)


def _lying_header(run: Path) -> None:
    """An npz whose logits header claims 10^13 rows (80 TB): refused before allocating."""
    path = run / "predictions" / "member_01.npz"
    with zipfile.ZipFile(path, "w") as archive:
        for key, shape, dtype in (("logits", (10**13, 10), "<f8"), ("sample_id", (10**13,), "<i8")):
            stream = io.BytesIO()
            np.lib.format.write_array_header_2_0(
                stream, {"descr": dtype, "fortran_order": False, "shape": shape})
            archive.writestr(f"{key}.npy", stream.getvalue())


def _huge_float64_logits(run: Path) -> None:
    logits = np.zeros((12, 4))
    logits[3, 1] = 1e300
    np.savez(run / "predictions" / "member_01.npz", logits=logits, sample_id=np.arange(1000, 1012))


def _with_meta(meta: str) -> Callable[[Path], None]:
    return lambda run: (run / "run.json").write_text(meta)


BAD_RUNS = {
    "test_groups.csv without the class column": (
        lambda run: _edit_groups(run, lambda t: t.drop(columns="class")),
        "test_groups.csv: missing required column(s) class; found sample_id, label, site"),
    "unknown sample ids": (
        lambda run: _edit_groups(run, _unknown_id),
        "member_00.npz: predictions do not cover the samples of test_groups.csv: unknown "
        "sample ids, e.g. [1003]"),
    "truncated predictions file": (_truncate, "member_01.npz: not a readable .npz file"),
    "members with different class counts": (
        lambda run: foreign_predictions(run, 1, np.zeros((12, 5)), np.arange(1000, 1012)),
        "member_01.npz: has 5 classes where member_00.npz has 4"),
    "members with different test sets": (
        lambda run: foreign_predictions(run, 1, np.zeros((11, 4)), np.arange(1000, 1011)),
        "member_01.npz: predictions do not cover the samples of test_groups.csv: 11 samples "
        "where test_groups.csv has 12"),
    "NaN logits": (
        lambda run: foreign_predictions(run, 1, np.full((12, 4), np.nan), np.arange(1000, 1012)),
        "member_01.npz: logits hold NaN or infinite values"),
    "label out of range": (
        lambda run: _edit_groups(run, _label_out_of_range),
        "test_groups.csv: labels must be class indices in 0..3 (the logits have 4 columns), "
        "found 0..9"),
    "no predictions": (_no_predictions, "predictions: no member predictions (expected "
                                        "predictions/member_00.npz, ...)"),
    "members still missing": (_missing_member, "members 3, 4 of 5 have no predictions yet"),
    "two files for one member": (
        _second_name_for_member_1,
        "member_1.npz: and member_01.npz both hold the predictions of member 1: keep exactly "
        "one, named member_01.npz"),
    "member file named unlike the contract": (
        _short_name, "member_2.npz: must be named member_02.npz (the predictions of member 2, "
                     "two digits at least)"),
    "predictions linked from outside the run": (
        _linked_predictions, "member_01.npz: leads outside the run folder (to "),
    "a FIFO in place of predictions": (
        lambda run: _fifo(run / "predictions" / "member_01.npz"),
        "member_01.npz: not a regular file; expected an .npz file of logits and sample_id"),
    "a FIFO in place of test_groups.csv": (
        lambda run: _fifo(run / "test_groups.csv"),
        "test_groups.csv: not a regular file; expected test_groups.csv, a CSV file"),
    "npz header claiming 10^13 rows": (
        _lying_header, "member_01.npz: predictions do not cover the samples of test_groups.csv: "
                       "10000000000000 samples where test_groups.csv has 12"),
    "float64 logits beyond float32": (
        _huge_float64_logits, "member_01.npz: logits exceed the float32 range (largest "
                              "magnitude 1e+300)"),
    "a label of inf": (
        lambda run: _edit_text(run, "test_groups.csv", "\n1001,1,", "\n1001,inf,"),
        "test_groups.csv: column label must hold integers of at most 18 digits (line 3: 'inf')"),
    "a sample_id of 11.5": (
        lambda run: _edit_text(run, "test_groups.csv", "\n1001,", "\n11.5,"),
        "test_groups.csv: column sample_id must hold integers of at most 18 digits (line 3: "
        "'11.5')"),
    "a 20-digit sample_id": (
        lambda run: _edit_text(run, "test_groups.csv", "\n1000,", "\n12345678901234567890,"),
        "test_groups.csv: column sample_id must hold integers of at most 18 digits (line 2: "
        "'12345678901234567890')"),
    "run.json with ensemble 'x'": (
        _with_meta('{"ensemble": "x"}'), "run.json: ensemble must be a JSON object, got 'x'"),
    "run.json with ensemble.size 1e10": (
        _with_meta('{"ensemble": {"size": 1e10}}'),
        "run.json: ensemble.size must be an integer from 1 to 10000, got 10000000000.0"),
    "run.json with minority {class: 5}": (
        _with_meta('{"data": {"minority": {"class": 5}}}'),
        "run.json: data.minority must be an object mapping each grouping to a list of group "
        "names, got "
        "{'class': 5}"),
}


@pytest.mark.parametrize("case", sorted(BAD_RUNS))
def test_bad_run_directory_keeps_the_earlier_report(tmp_path: Path, capsys, case: str) -> None:
    run = make_run(tmp_path / "run")
    main(["report", str(run)])
    reports = {p: p.read_bytes() for p in output_files(run) if p.suffix in (".json", ".md",
                                                                            ".html", ".png")}
    capsys.readouterr()
    breaker, message = BAD_RUNS[case]
    breaker(run)
    with pytest.raises(SystemExit) as exit_info:
        main(["report", str(run)])
    assert exit_info.value.code == 1  # a file that cannot be used, not a usage error
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], lines
    assert {p: p.read_bytes() for p in reports if p.exists()} == reports


def _copy(exported_run: Path, tmp_path: Path) -> Path:
    root = tmp_path / "copy"
    shutil.copytree(exported_run, root)
    return root


def _bogus_graph(path: Path) -> None:
    node = helper.make_node("Bogus", ["images"], ["probs"], domain="fairens.test")
    images = helper.make_tensor_value_info("images", TensorProto.FLOAT, ["b", 1, 8, 8])
    probs = helper.make_tensor_value_info("probs", TensorProto.FLOAT, ["b", 10])
    graph = helper.make_graph([node], "bogus", [images], [probs])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18),
                                                     helper.make_opsetid("fairens.test", 1)]),
              str(path))


def _bogus_graph_recorded(export: Path) -> None:
    """A graph ONNX Runtime cannot run, recorded in the manifest as if exported so."""
    _bogus_graph(export / "device" / "member_00.onnx")
    manifest = json.loads((export / "export.json").read_text())
    for graph in manifest["graphs"]:
        if graph["name"] == "member_00" and graph["precision"] == "fp32":
            graph["sha256"] = sha256(export / "device" / "member_00.onnx")
    (export / "export.json").write_text(json.dumps(manifest))


def _corrupt(path: Path) -> None:
    path.write_bytes(path.read_bytes()[:1000])


def _edit_manifest(root: Path, edit: Callable[[dict], object]) -> None:
    path = root / "export" / "test" / "export.json"
    manifest = json.loads(path.read_text())
    edit(manifest)
    path.write_text(json.dumps(manifest))


def _edit_compression(root: Path) -> None:
    path = root / "export" / "test" / "compression.json"
    report = json.loads(path.read_text())
    report["accuracy"]["member_00"]["fp32"]["overall"] = "high"
    path.write_text(json.dumps(report))


def _first_graph(manifest: dict, key: str, value: object) -> None:
    manifest["graphs"][0][key] = value


BENCH = lambda root: ["bench", str(root / "export" / "test"), "--threads", "1"]  # noqa: E731

BAD_EXPORTS = {
    "run without checkpoints": (
        lambda root: shutil.rmtree(root / "models" / "test") or (root / "models" / "test").mkdir(),
        lambda root: ["export", str(root / "results" / "test"), "--models",
                      str(root / "models" / "test"), "--out", str(root / "export" / "test")],
        "no checkpoints of run 'test' (expected member_00.ckpt ... member_01.ckpt); train the "
        "run first"),
    "corrupted checkpoint": (
        lambda root: _corrupt(root / "models" / "test" / "member_01.ckpt"),
        lambda root: ["export", str(root / "results" / "test"), "--models",
                      str(root / "models" / "test"), "--out", str(root / "export" / "test")],
        "member_01.ckpt: not a readable fairens member checkpoint"),
    "ensemble size out of range": (
        lambda root: None,
        lambda root: ["export", str(root / "results" / "test"), "--sizes", "2,9", "--models",
                      str(root / "models" / "test"), "--out", str(root / "export" / "test")],
        "--sizes 9 is not allowed: ensemble sizes from 1 to 2"),
    "export folder without graphs": (
        lambda root: (root / "empty").mkdir(),
        lambda root: ["bench", str(root / "empty")],
        "empty: no exported graphs here (expected export.json and device/graphs.json); run "
        "`fairens export RUN_DIR` first"),
    "operator ONNX Runtime cannot run": (
        lambda root: _bogus_graph_recorded(root / "export" / "test"),
        lambda root: ["bench", str(root / "export" / "test"), "--threads", "1"],
        "member_00.onnx: ONNX Runtime cannot run operator fairens.test:Bogus of model=small_cnn"),
    "unknown thread setting": (
        lambda root: None,
        lambda root: ["bench", str(root / "export" / "test"), "--threads", "two"],
        "--threads='two' is not allowed: comma-separated positive integers (ONNX Runtime's "
        "intra_op_num_threads), e.g. 1,2"),
    "zero threads": (
        lambda root: None,
        lambda root: ["bench", str(root / "export" / "test"), "--threads", "1,0"],
        "--threads='1,0' is not allowed: comma-separated positive integers"),
    "export.json that is not JSON": (
        lambda root: (root / "export" / "test" / "export.json").write_text("{"), BENCH,
        "export.json: not valid JSON"),
    "export.json without graphs": (
        lambda root: _edit_manifest(root, lambda m: m.pop("graphs")), BENCH,
        "export.json: not an export manifest: missing graphs"),
    "graph path leaving the export": (
        lambda root: _edit_manifest(root, lambda m: _first_graph(m, "onnx",
                                                                 "../../outside/x.onnx")),
        BENCH, "export.json: graph 'member_00' points at '../../outside/x.onnx', outside the "
               "export folder"),
    "graph changed since it was exported": (
        lambda root: shutil.copy(root / "export" / "test" / "device" / "member_01.onnx",
                                 root / "export" / "test" / "device" / "member_00.onnx"),
        BENCH, "member_00.onnx: its checksum differs from the one export.json recorded"),
    "compression report with a wrong type": (
        lambda root: _edit_compression(root),
        lambda root: ["frontier", str(root / "export" / "test"), "--out",
                      str(root / "frontier")],
        "compression.json: not the compression report of fairens export: "
        "accuracy.member_00.fp32.overall should be a number, got 'high'"),
    "latency file of another run": (
        lambda root: (root / "other.json").write_text(
            '{"device": "phone", "run": "elsewhere", "results": []}'),
        lambda root: ["bench", "ingest", str(root / "other.json"), "--into",
                      str(root / "export" / "test")],
        "other.json: measures run 'elsewhere', not 'test' exported in"),
}


USAGE_ERRORS = {"ensemble size out of range", "unknown thread setting", "zero threads"}


@pytest.mark.parametrize("case", sorted(BAD_EXPORTS))
def test_bad_export_input_keeps_earlier_exports(exported_run: Path, tmp_path: Path, capsys,
                                                case: str) -> None:
    root = _copy(exported_run, tmp_path)
    breaker, command, message = BAD_EXPORTS[case]
    breaker(root)
    before = {p: p.read_bytes() for p in output_files(root / "export")}
    with pytest.raises(SystemExit) as exit_info:
        main(command(root))
    # a flag that is not allowed exits with 2, a file or folder that cannot be used with 1
    assert exit_info.value.code == (2 if case in USAGE_ERRORS else 1)
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], lines
    assert {p: p.read_bytes() for p in output_files(root / "export")} == before


@st.composite
def npz_contents(draw) -> dict:
    """Arrays a foreign or broken predictions file might hold."""
    keys = draw(st.lists(st.sampled_from(["logits", "sample_id", "probs", "ids"]), unique=True))
    contents = {}
    for key in keys:
        dtype = draw(st.sampled_from([np.float32, np.float64, np.int64, np.int8, np.bool_,
                                     np.complex64]))
        shape = draw(hnp.array_shapes(min_dims=0, max_dims=3, max_side=14))
        contents[key] = draw(hnp.arrays(dtype, shape))
    return contents


@settings(max_examples=120, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(contents=npz_contents(), raw=st.one_of(st.none(), st.binary(max_size=300)))
def test_predictions_loader_on_malformed_files(tmp_path: Path, contents: dict,
                                               raw: bytes | None) -> None:
    run = make_run(tmp_path / f"run{abs(hash((str(contents), raw))) % 10**9}")
    path = run / "predictions" / "member_01.npz"
    if raw is not None:
        path.write_bytes(raw)
    else:
        np.savez(path, **contents)
    try:
        loaded = load_run(run)
    except FairensError as error:
        assert "\n" not in str(error)
        return
    assert loaded.logits.dtype == np.float32 and np.isfinite(loaded.logits).all()
    assert loaded.logits.shape == (3, 12, 4)


EXPORT_OUT = {
    "a results folder with other runs": (
        lambda root: root / "results",
        "results: holds files fairens did not write (notes.md, test), so it writes no export "
        "here; choose a new or empty folder"),
    "the run's own folder": (
        lambda root: root / "results" / "test",
        "test: a run folder of fairens, where no export is written; choose another folder"),
    "a file": (
        lambda root: root / "notes.txt",
        "notes.txt: is a file, not a folder; fairens writes an export folder here: choose "
        "another path"),
    "a link to an earlier export": (
        lambda root: (root / "link").symlink_to(root / "export" / "test") or root / "link",
        "link: is a symbolic link; fairens writes an export only into the folder itself "
        "(never through links): give that folder"),
}


@pytest.mark.parametrize("case", sorted(EXPORT_OUT))
def test_export_never_replaces_what_is_not_an_export(exported_run: Path, tmp_path: Path,
                                                     capsys, case: str) -> None:
    root = _copy(exported_run, tmp_path)
    (root / "notes.txt").write_text("a user's notes")
    (root / "results" / "notes.md").write_text("more notes")
    out = EXPORT_OUT[case][0](root)
    before = {p: p.read_bytes() for p in output_files(root)}
    with pytest.raises(SystemExit) as exit_info:
        main(["export", str(root / "results" / "test"), "--models", str(root / "models" / "test"),
              "--out", str(out), "--no-int8", "--no-ort"])
    assert exit_info.value.code == 1
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and EXPORT_OUT[case][1] in lines[0], lines
    assert {p: p.read_bytes() for p in output_files(root)} == before
    assert sorted(p.name for p in root.iterdir()) == sorted(["export", "models", "results",
                                                             "notes.txt"] + (
        ["link"] if case == "a link to an earlier export" else []))
