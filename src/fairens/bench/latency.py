"""``fairens bench EXPORT_DIR``: ONNX Runtime latency of every exported graph on this
machine, next to PyTorch eager latency of the same model, with load time and memory."""

from __future__ import annotations

import platform
from pathlib import Path
from typing import Any

import torch

from ..ensemble import load_member
from ..errors import bad_setting
from ..export import ProbabilityGraph, bench_device
from ..export.folder import (
    CASCADE_IMAGES,
    HOST,
    graph_file,
    latency_file,
    open_export,
    read_manifest,
    write_latency,
)
from ..export.graphs import deploy_form, describe_session_error
from ..rundir import checkpoint_path


def parse_threads(text: str) -> list[int]:
    """``"1,2"`` -> [1, 2]; anything else is refused."""
    try:
        threads = [int(part) for part in str(text).split(",")]
    except ValueError:
        threads = []
    if not threads or min(threads) < 1:
        raise bad_setting("--threads", text, "comma-separated positive integers (ONNX Runtime's "
                                             "intra_op_num_threads), e.g. 1,2")
    return threads


def eager_latency(module: torch.nn.Module, images: torch.Tensor, threads: int, runs: int,
                  warmup: int) -> dict[str, Any]:
    """PyTorch eager latency of ``module`` on ``images`` with ``threads`` intra-op threads:
    p50/p90/p99/mean in ms over ``runs`` timed runs after ``warmup``."""
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        with torch.inference_mode():
            timing = bench_device.time_runs(lambda: module(images), runs, warmup)
    finally:
        torch.set_num_threads(previous)
    return {**timing, "load_ms": None, "peak_mb": None}


def _eager(manifest: dict[str, Any], graph: dict[str, Any], threads: int, runs: int,
           warmup: int, cache: dict[int, torch.nn.Module]) -> dict[str, Any]:
    """PyTorch eager latency (batch 1) of the same graph: its members' deploy form, softmax
    and mean."""
    for m in range(graph["members"]):
        if m not in cache:
            path = checkpoint_path(manifest["models_dir"], m)
            cache[m] = deploy_form(load_member(path))
    module = ProbabilityGraph([cache[m] for m in range(graph["members"])]).eval()
    return eager_latency(module, torch.rand(1, *manifest["input"]) * 255, threads, runs, warmup)


def _cascades(export_dir: Path, manifest: dict[str, Any], threads: list[int], runs: int,
              warmup: int) -> list[dict[str, Any]]:
    """Each cascade of the export (export/cascade.py) timed image by image on the bundle's
    test images, in a fresh process per thread count, as bench_device.py does."""
    graphs = {g["onnx"]: g for g in manifest["graphs"]}
    results = []
    for cascade in manifest.get("cascades", []):
        paths = [str(graph_file(export_dir, graphs[name])) for name in cascade["graphs"]]
        for count in threads:
            result = bench_device.measure_in_child(
                paths[0], count, runs, warmup,
                (cascade["threshold"], paths, str(export_dir / CASCADE_IMAGES)))
            if "error" in result:
                raise describe_session_error(Path(paths[0]), result["error"], manifest["model"])
            results.append({"graph": cascade["name"], "kind": "cascade",
                            "members": cascade["members"], "precision": cascade["precision"],
                            "file": None, "threads": count, "format": "onnx", **result})
            print(f"{cascade['name']:14s} {cascade['precision']:13s} threads={count} "
                  f"ORT p50 {result['p50_ms']:.3f} ms, {result['members_mean']:.2f} members",
                  flush=True)
    return results


def bench_export(export_dir: str | Path, *, threads: list[int] = (1, 2), runs: int = 50,
                 warmup: int = 10, eager: bool = True) -> Path:
    """Measure every graph of an export at batch 1 for each thread count, each in a fresh
    process (load time, p50/p90/p99/mean, peak memory), and PyTorch eager for the fp32
    graphs; writes ``latency-host.json`` into the export and returns its path."""
    if runs < 50:
        raise bad_setting("--runs", runs, "at least 50 timed runs")
    export_dir = Path(export_dir)
    manifest = read_manifest(export_dir)
    open_export(export_dir).check([latency_file(HOST)], "bench")  # before minutes of timing
    results, cache = [], {}
    for graph in manifest["graphs"]:
        for count in threads:
            path = graph_file(export_dir, graph)
            result = bench_device.measure_in_child(str(path), count, runs, warmup)
            if "error" in result:
                raise describe_session_error(path, result["error"], manifest["model"])
            entry = {"graph": graph["name"], "kind": graph["kind"], "members": graph["members"],
                     "precision": graph["precision"], "file": Path(graph["onnx"]).name,
                     "threads": count}
            results.append({**entry, "format": "onnx", **result})
            if eager and graph["precision"] == "fp32":
                results.append({**entry, "format": "torch",
                                **_eager(manifest, graph, count, runs, warmup, cache)})
            print(f"{graph['name']:14s} {graph['precision']:13s} threads={count} "
                  f"ORT p50 {result['p50_ms']:.3f} ms", flush=True)
    results += _cascades(export_dir, manifest, threads, runs, warmup)
    report = {"device": HOST, "run": manifest["run"], "model": manifest["model"],
              "input": manifest["input"], "python": platform.python_version(),
              "platform": {"system": platform.system(), "machine": platform.machine(),
                           "processor": platform.processor()},
              "torch": torch.__version__, "runs": runs, "warmup": warmup, "results": results}
    return write_latency(export_dir, report, by="bench")
