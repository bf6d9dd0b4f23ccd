"""Cascade ensembles of a trained, exported run: accuracy, a grouping's worst group and the
members run for a sweep of thresholds, with the cascade's latency measured by the device
bundle's runner (ONNX Runtime, batch 1, image by image on test images) against the full
ensemble in the same run: one graph of all members, and the members one after another.

    python benchmarks/cascade.py results/utkface_resnet9_w16_k10 export/utkface_resnet9_w16_k10 \
        [--grouping race&gender] [--images 1000] [--threads 1]

The accuracies are the export's own (compression.json: the members' ONNX Runtime
probabilities on every test image); latency uses a fixed sample of ``--images`` test images.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import numpy as np
from omegaconf import OmegaConf

from fairens.export import bench_device
from fairens.export.folder import graph_file, read_compression, read_manifest
from fairens.models import get_spec
from fairens.rundir import load_meta
from fairens.settings import load_data


def test_images(run_dir: Path, count: int) -> np.ndarray:
    """A fixed random sample of the run's test images, float32 [n, C, H, W] in [0, 255]."""
    meta = load_meta(run_dir)
    data = load_data(OmegaConf.create(meta["config"]), get_spec(meta["model"]["name"]))
    images = data.test.images.numpy().astype(np.float32)
    index = np.sort(np.random.default_rng(0).choice(len(images), min(count, len(images)),
                                                    replace=False))
    return images[index]


def ensemble_latency(path: Path, threads: int, runs: int = 300) -> dict:
    """The full ensemble graph at batch 1 (its time does not depend on the image)."""
    return bench_device.measure(str(path), threads, runs, warmup=20)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("export_dir", type=Path)
    parser.add_argument("--grouping", default=None, help="default: the worst group's lowest")
    parser.add_argument("--images", type=int, default=1000)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    manifest = read_manifest(args.export_dir)
    accuracy = read_compression(args.export_dir).accuracy
    graphs = {(g["name"], g["precision"]): g for g in manifest["graphs"]}
    members = [graph_file(args.export_dir, g) for (name, precision), g in graphs.items()
               if g["kind"] == "member" and precision == "fp32"]
    k = len(members)
    full = accuracy[f"ensemble_{k:02d}"]["fp32"]
    cascades = [name for name in accuracy if name.startswith("cascade_")]
    if not cascades:
        raise SystemExit(f"{args.export_dir}: no cascades; export the run again "
                         "(fairens export) to evaluate them")
    grouping = args.grouping or min(
        (g for g in full.groupings if full.groupings[g].worst_group is not None),
        key=lambda g: full.groupings[g].worst_group.accuracy)
    images = test_images(args.run_dir, args.images)
    print(f"{manifest['run']}: {k} members, {len(images)} timed test images, "
          f"{args.threads} thread(s); worst group of {grouping} as the analysis chose it")
    graph = ensemble_latency(graph_file(args.export_dir, graphs[f"ensemble_{k:02d}", "fp32"]),
                             args.threads)
    start = time.perf_counter()
    sequential = bench_device.measure_cascade([str(m) for m in members], 2.0, images,
                                              args.threads, warmup=20)
    print(f"(timing the sequential members took {time.perf_counter() - start:.0f} s)")
    worst = full.groupings[grouping].worst_group
    header = (f"{'predictor':<26} {'accuracy':>8} {'worst ' + grouping:>28} {'members':>8} "
              f"{'on worst':>8} {'p50 ms':>7} {'p90 ms':>7} {'mean ms':>8} {'x ens.':>6}")
    print(header)
    reference = graph["mean_ms"]
    print(f"{'ensemble graph (all)':<26} {100 * full.overall:8.2f} "
          f"{worst.group + f' {100 * worst.accuracy:.1f}':>28} {k:8d} {k:8d} "
          f"{graph['p50_ms']:7.3f} {graph['p90_ms']:7.3f} {reference:8.3f} {1:6.2f}")
    print(f"{'members in sequence (all)':<26} {100 * full.overall:8.2f} {'':>28} {k:8d} "
          f"{k:8d} {sequential['p50_ms']:7.3f} {sequential['p90_ms']:7.3f} "
          f"{sequential['mean_ms']:8.3f} {sequential['mean_ms'] / reference:6.2f}")
    rows = []
    for name in sorted(cascades):
        result = accuracy[name]["fp32"]
        threshold = float(name.removeprefix("cascade_"))
        timing = bench_device.measure_cascade([str(m) for m in members], threshold, images,
                                              args.threads, warmup=20)
        entry = result.groupings[grouping]
        on_worst = entry.members[worst.group]
        rows.append({"threshold": threshold, "accuracy": result.overall,
                     "worst": entry.worst_group.accuracy, "members": result.members,
                     "members_worst": on_worst, **timing,
                     "ratio": timing["mean_ms"] / reference})
        print(f"{'cascade ' + f'{threshold:.2f}':<26} {100 * result.overall:8.2f} "
              f"{f'{100 * entry.worst_group.accuracy:.1f}':>28} {result.members:8.2f} "
              f"{on_worst:8.2f} {timing['p50_ms']:7.3f} {timing['p90_ms']:7.3f} "
              f"{timing['mean_ms']:8.3f} {timing['mean_ms'] / reference:6.2f}", flush=True)
    within = [r for r in rows if full.overall - r["accuracy"] <= 0.003]
    if within:
        best = min(within, key=lambda r: r["ratio"])
        print(f"cheapest cascade within 0.3 points of the ensemble: threshold "
              f"{best['threshold']:.2f}, {100 * best['accuracy']:.2f}% at "
              f"{best['ratio']:.2f}x the ensemble graph's mean latency "
              f"({best['members']:.2f} members; {best['members_worst']:.2f} on {worst.group}; "
              f"worst group {100 * best['worst']:.1f}% vs {100 * worst.accuracy:.1f}%)")
    print(json.dumps({"ensemble_graph": graph, "sequential": sequential, "cascades": rows,
                      "median_ratio": statistics.median(r["ratio"] for r in rows)}))


if __name__ == "__main__":
    main()
