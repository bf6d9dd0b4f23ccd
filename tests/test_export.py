"""ONNX export, parity, int8, ORT format, the device bundle, latency and the frontier."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pandas as pd
import pytest
import torch

from fairens.cli import main
from fairens.ensemble import MemberModule
from fairens.export import ProbabilityGraph, export_onnx, open_session
from fairens.export.cascade import THRESHOLDS, cascade_name, run_cascade, running_means
from fairens.export.graphs import deploy_form, parity, run_session
from fairens.export.quantize import quantize
from fairens.models import list_models


def _export(root: Path) -> Path:
    return root / "export" / "test"


def test_export_writes_every_graph(exported_run: Path) -> None:
    manifest = json.loads((_export(exported_run) / "export.json").read_text())
    names = {(g["name"], g["precision"]) for g in manifest["graphs"]}
    assert names == {("member_00", "fp32"), ("member_01", "fp32"), ("ensemble_02", "fp32"),
                     ("member_00", "int8_dynamic"), ("member_00", "int8_static"),
                     ("ensemble_02", "int8_dynamic"), ("ensemble_02", "int8_static")}
    for graph in manifest["graphs"]:
        path = _export(exported_run) / graph["onnx"]
        model = onnx.load(str(path))
        assert max(o.version for o in model.opset_import if o.domain in ("", "ai.onnx")) >= 17
        batch = model.graph.input[0].type.tensor_type.shape.dim[0]
        assert batch.dim_param and not batch.dim_value  # a dynamic batch axis
        if graph["precision"] == "fp32":
            assert graph["parity_max_abs_diff"] <= 1e-4
        ort_file = _export(exported_run) / graph["ort"]
        assert ort_file.suffix == ".ort" and open_session(ort_file) is not None


def test_ensemble_graph_is_the_mean_of_its_members(exported_run: Path) -> None:
    device = _export(exported_run) / "device"
    images = np.random.default_rng(0).uniform(0, 255, (64, 1, 8, 8)).astype(np.float32)
    members = [run_session(open_session(device / f"member_0{m}.onnx"), images) for m in (0, 1)]
    ensemble = run_session(open_session(device / "ensemble_02.onnx"), images)
    np.testing.assert_allclose(ensemble, np.mean(members, axis=0), rtol=0, atol=1e-6)
    np.testing.assert_allclose(ensemble.sum(axis=1), 1.0, atol=1e-5)


def test_int8_graphs_run_and_report_accuracy(exported_run: Path) -> None:
    compression = json.loads((_export(exported_run) / "compression.json").read_text())
    for family in ("member_00", "ensemble_02"):
        fp32 = compression["accuracy"][family]["fp32"]["overall"]
        for precision in ("int8_dynamic", "int8_static"):
            result = compression["accuracy"][family][precision]
            assert 0 <= result["overall"] <= 1 and abs(result["overall"] - fp32) < 0.2
            assert set(result["groupings"]) == {"class", "train_frequency"}
            change = compression["change"][f"{family}:{precision}"]
            assert change["overall"] == pytest.approx(result["overall"] - fp32)
    assert (_export(exported_run) / "compression.html").is_file()


def test_compression_measures_the_groups_the_analysis_chose(exported_run: Path,
                                                             tmp_path: Path) -> None:
    """The export reads k and the chosen groups from fairness.json, so a later
    `fairens report --k 1` changes the compression report too."""
    run = tmp_path / "run"
    shutil.copytree(exported_run / "results" / "test", run)
    fairness = json.loads((run / "fairness.json").read_text())
    compression = json.loads((_export(exported_run) / "compression.json").read_text())
    for name, summary in fairness["groupings"].items():
        measured = compression["accuracy"]["member_00"]["fp32"]["groupings"][name]
        assert measured["bottom_k"]["groups"] == summary["bottom_k"]["groups"]
        assert measured["worst_group"]["group"] == summary["worst_group"]["group"]
    main(["report", str(run), "--k", "1"])
    out = tmp_path / "export"
    main(["export", str(run), "--out", str(out), "--models", str(exported_run / "models" / "test"),
          "--sizes", "2", "--no-int8", "--no-ort", "--exporter", "torchscript"])
    again = json.loads((out / "compression.json").read_text())
    groups = again["accuracy"]["ensemble_02"]["fp32"]["groupings"]["class"]
    assert len(groups["bottom_k"]["groups"]) == 1
    assert json.loads((out / "export.json").read_text())["k"] == 1


@pytest.mark.parametrize("name", list_models())
def test_every_model_exports_with_parity_and_quantizes_at_32(name: str, tmp_path: Path,
                                                             monkeypatch) -> None:
    (tmp_path / "cwd").mkdir()
    monkeypatch.chdir(tmp_path / "cwd")
    torch.manual_seed(0)
    member = MemberModule(model=name, num_classes=10, in_chans=3, img_size=32,
                          mean=[0.5] * 3, std=[0.25] * 3, optimizer={})
    module = ProbabilityGraph([deploy_form(member)]).eval()
    images = np.random.default_rng(1).uniform(0, 255, (8, 3, 32, 32)).astype(np.float32)
    path = export_onnx(module, tmp_path / f"{name}.onnx", torch.from_numpy(images[:2]))
    assert parity(path, module, images, name) <= 1e-4
    for precision, quantized in quantize(path, images).items():
        probabilities = run_session(open_session(quantized), images)
        assert probabilities.shape == (8, 10), precision
        assert np.allclose(probabilities.sum(axis=1), 1, atol=0.05), precision  # int8 outputs
    assert not list((tmp_path / "cwd").iterdir()), "nothing is left in the working directory"


def test_bench_measures_ort_and_eager_and_draws_the_frontier(exported_run: Path,
                                                              tmp_path: Path, capsys) -> None:
    export = tmp_path / "export"
    shutil.copytree(_export(exported_run), export)
    main(["bench", str(export), "--threads", "1", "--runs", "50", "--warmup", "2"])
    report = json.loads((export / "latency-host.json").read_text())
    onnx_rows = [r for r in report["results"] if r["format"] == "onnx"]
    torch_rows = [r for r in report["results"] if r["format"] == "torch"]
    cascades = [r for r in onnx_rows if r["kind"] == "cascade"]
    assert len(onnx_rows) == 7 + len(THRESHOLDS) and len(torch_rows) == 3  # eager: fp32 graphs
    for row in onnx_rows:
        assert 0 < row["p50_ms"] <= row["p90_ms"] <= row["p99_ms"]
        assert row["load_ms"] > 0 and row["peak_mb"] > 0
    assert all(r["runs"] == 50 for r in onnx_rows if r["kind"] != "cascade")
    assert all(r["runs"] == 500 and 1 <= r["members_mean"] <= 2 for r in cascades)  # test images
    frontier = pd.read_csv(export / "frontier.csv")
    assert "pareto_worst_group" in frontier and (export / "frontier.html").is_file()
    on_frontier = frontier[frontier["kind"] == "cascade"].set_index("graph")
    assert sorted(on_frontier.index) == [cascade_name(t) for t in THRESHOLDS]
    assert on_frontier["members"].between(1, 2).all()
    main(["frontier", str(export), "--out", str(tmp_path / "by_frequency"),
          "--grouping", "train_frequency"])
    assert "The best worst train frequency group: " in \
        (tmp_path / "by_frequency" / "frontier.md").read_text()
    capsys.readouterr()
    main(["frontier", str(export), "--out", str(tmp_path / "as_json"), "--json"])
    points = json.loads(capsys.readouterr().out)["points"]
    assert len(points) == len(pd.read_csv(tmp_path / "as_json" / "frontier.csv"))
    assert {"graph", "precision", "p50_ms", "accuracy", "bottom_k"} <= set(points[0])
    with pytest.raises(SystemExit) as exit_info:
        main(["frontier", str(export), "--out", str(tmp_path / "bad"), "--grouping", "race"])
    assert exit_info.value.code == 2
    assert capsys.readouterr().err.strip() == (f"error: --grouping race is not a grouping of "
                                               f"{export}: its groupings are class, "
                                               "train_frequency")
    assert not (tmp_path / "bad").exists()


BLOCKER = '''
import importlib.abc, sys
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {"torch", "fairens", "pandas", "timm", "sklearn", "scipy",
                                  "pytorch_lightning", "lightning", "hydra", "matplotlib"}:
            raise ImportError("bench_device.py may use numpy and onnxruntime only: " + name)
sys.meta_path.insert(0, Block())
'''


def test_device_script_needs_only_numpy_and_onnxruntime(exported_run: Path,
                                                        tmp_path: Path) -> None:
    bundle = tmp_path / "phone"
    shutil.copytree(_export(exported_run) / "device", bundle)
    (tmp_path / "site").mkdir()
    (tmp_path / "site" / "sitecustomize.py").write_text(BLOCKER)
    done = subprocess.run([sys.executable, "bench_device.py", "--device", "pixel", "--threads",
                           "1", "--graphs", "member_00", "--runs", "5", "--warmup", "1",
                           "--format", "ort"],
                          cwd=bundle, capture_output=True, text=True, timeout=300,
                          env={"PYTHONPATH": str(tmp_path / "site"), "PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, done.stderr
    report = json.loads((bundle / "latency-pixel.json").read_text())
    assert report["device"] == "pixel" and len(report["results"]) == 3  # fp32 and two int8
    assert all("p50_ms" in r and r["format"] == "ort" for r in report["results"])
    import ast
    ast.parse((bundle / "bench_device.py").read_text(), feature_version=(3, 8))


def test_ingest_merges_device_files(exported_run: Path, tmp_path: Path, capsys) -> None:
    export = tmp_path / "export" / "test"
    shutil.copytree(_export(exported_run), export)
    files = []
    for device, p50 in (("pixel-7", 2.0), ("raspberry pi", 9.0)):
        graphs = json.loads((export / "device" / "graphs.json").read_text())["graphs"]
        results = [{"graph": g["name"], "kind": g["kind"], "members": g["members"],
                    "precision": g["precision"], "format": "ort", "file": g["ort"], "threads": 1,
                    "p50_ms": p50 * g["members"], "p90_ms": p50 * 1.1, "p99_ms": p50 * 1.2,
                    "mean_ms": p50, "load_ms": 3.0, "peak_mb": 4.0, "runs": 50} for g in graphs]
        path = tmp_path / f"latency-{device}.json"
        path.write_text(json.dumps({"device": device, "run": "test", "model": "small_cnn",
                                    "input": [1, 8, 8], "results": results}))
        files.append(str(path))
    main(["bench", "ingest", *files, "--export-root", str(tmp_path / "export")])
    # a device name that is not a safe file name keeps a hash of itself: one file per name
    assert {p.name for p in export.glob("latency-*.json")} == {
        "latency-pixel-7.json", "latency-raspberry-pi-d74d4887.json"}
    frontier = (export / "frontier.md").read_text()
    assert "## pixel-7, 1 thread(s), ort" in frontier
    assert "## raspberry pi, 1 thread(s), ort" in frontier


def _bundle_script(device: Path):
    import importlib.util
    spec = importlib.util.spec_from_file_location("bench_device_bundle", device / "bench_device.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_bundle_cascade_runner_matches_the_python_cascade(exported_run: Path) -> None:
    """The device bundle's runner, image by image at batch 1, predicts what the Python
    cascade predicts from the members' probabilities, and its accuracy is the one the
    compression report lists."""
    export = _export(exported_run)
    graphs = json.loads((export / "device" / "graphs.json").read_text())
    images = np.load(export / "device" / graphs["cascade_images"]).astype(np.float32)
    labels = pd.read_csv(exported_run / "results" / "test" / "test_groups.csv")["label"].to_numpy()
    assert len(images) == len(labels) == 500  # every digits test image, in order
    script = _bundle_script(export / "device")
    compression = json.loads((export / "compression.json").read_text())["accuracy"]
    for cascade in graphs["cascades"]:
        sessions = [script.open_session(str(export / "device" / name), 1)
                    for name in cascade["graphs"]]
        steps = [script.cascade_step(sessions, image, cascade["threshold"]) for image in images]
        probs = np.stack([run_session(s, images) for s in sessions])
        python = run_cascade(running_means(probs), cascade["threshold"])
        assert [p for p, _ in steps] == python.predictions.tolist()
        assert [m for _, m in steps] == python.members.tolist()
        result = compression[cascade["name"]]["fp32"]
        assert result["overall"] == pytest.approx(float(np.mean(python.predictions == labels)))
        assert result["members"] == pytest.approx(float(python.members.mean()))
    report = (export / "compression.md").read_text()
    assert "## Cascades: stop once the running ensemble is confident" in report
    assert "The cheapest cascade within 0.3 points of the full ensemble" in report or \
        "No threshold comes within 0.3 points" in report


def test_cascade_ends_of_the_sweep_and_its_member_counts() -> None:
    """Threshold 0: the first member; above 1: the whole ensemble (mean probability); the
    per-group mean members, weighted by group size, give the overall mean."""
    from fairens.export.cascade import evaluate_cascades
    from fairens.export.evaluate import ChosenGroups
    from fairens.fairness.combine import softmax64
    from fairens.fairness.groups import Grouping
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(5, 400, 4)) * 2
    probs = softmax64(logits)
    means = running_means(probs)
    first, everyone = run_cascade(means, 0.0), run_cascade(means, 1.01)
    assert np.array_equal(first.predictions, logits[0].argmax(axis=1))
    assert (first.members == 1).all() and (everyone.members == 5).all()
    assert np.array_equal(everyone.predictions, probs.mean(axis=0).argmax(axis=1))
    labels = rng.integers(0, 4, 400)
    grouping = Grouping.from_column("colour", pd.Series(rng.choice(["red", "blue", "green"],
                                                                    400)), None)
    chosen = {"colour": ChosenGroups(["red"], "red", ["green"])}
    results = evaluate_cascades(probs, labels, [grouping], chosen, (0.0, 0.5, 0.8, 1.01))
    for threshold, result in zip((0.0, 0.5, 0.8, 1.01), results.values(), strict=True):
        members = result.groupings["colour"].members
        weighted = sum(members[g] * n for g, n in zip(grouping.names, grouping.counts,
                                                      strict=True)) / 400
        assert weighted == pytest.approx(result.members)
        run = run_cascade(means, threshold)
        assert result.overall == pytest.approx(float(np.mean(run.predictions == labels)))
        assert result.members == pytest.approx(run.members.mean())
    assert list(results) == ["cascade_0.00", "cascade_0.50", "cascade_0.80", "cascade_1.01"]
    assert [r.members for r in results.values()] == sorted(r.members for r in results.values())
