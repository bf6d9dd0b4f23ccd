"""ONNX Runtime latency against PyTorch eager, ensembles against their members, int8
against fp32: batch 1, one thread, in one process, at 32x32 and at each model's ImageNet
resolution.

Targets: ORT fp32 p50 <= 0.5x PyTorch eager for every zoo model at 32x32; a K-member
ensemble graph <= 1.0x the sum of its K members run as separate sessions; static int8
(QDQ, quant_pre_process first) <= 0.8x fp32 for ResNet/MobileNet at 224. Models with a
deploy form are re-parameterised before export.

    python benchmarks/latency.py [--models NAME ...] [--runs 100]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path

import numpy as np
import torch

from fairens.bench.latency import eager_latency
from fairens.ensemble import MemberModule
from fairens.export import ProbabilityGraph, export_onnx
from fairens.export.bench_device import measure
from fairens.export.graphs import deploy_form
from fairens.export.quantize import quantize
from fairens.models import get_spec, list_models

INT8_MODELS = ("resnet9", "mobilenetv3_small_050", "mobilenetv4_conv_small")


def member(name: str, size: int, classes: int, seed: int = 0) -> MemberModule:
    torch.manual_seed(seed)
    module = MemberModule(model=name, num_classes=classes, in_chans=3, img_size=size,
                          mean=[0.5] * 3, std=[0.25] * 3, optimizer={})
    return deploy_form(module)


def eager_p50(module: torch.nn.Module, size: int, runs: int) -> float:
    return eager_latency(module, torch.rand(1, 3, size, size) * 255, 1, runs, 5)["p50_ms"]


def ort_p50(path: Path, runs: int) -> float:
    return measure(str(path), 1, runs, 10)["p50_ms"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="*", default=list_models())
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--members", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    torch.set_num_threads(1)
    print(f"torch {torch.__version__}, 1 thread, batch 1, p50 of {args.runs} runs")
    folder = Path(tempfile.mkdtemp())
    worst = {}
    for name in args.models:
        spec = get_spec(name)
        sizes = {32: 10, spec.canonical_size: 1000} | ({224: 1000} if name in INT8_MODELS else {})
        for size, classes in sizes.items():
            if not spec.supports(size):
                print(f"{name:24s} {size:3d}: cannot run at this size")
                continue
            module = ProbabilityGraph([member(name, size, classes)]).eval()
            sample = torch.rand(2, 3, size, size) * 255
            path = export_onnx(module, folder / f"{name}_{size}.onnx", sample)
            eager, fp32 = eager_p50(module, size, max(20, args.runs // 2)), ort_p50(path, args.runs)
            line = (f"{name:24s} {size:3d}: eager {eager:8.3f} ms  ORT fp32 {fp32:8.3f} ms  "
                    f"ORT/eager {fp32 / eager:.2f}")
            if size == 32:
                worst[name] = fp32 / eager
            if name in INT8_MODELS and size >= 224:
                calibration = np.random.default_rng(0).uniform(0, 255, (32, 3, size, size))
                static = quantize(path, calibration.astype(np.float32))["int8_static"]
                int8 = ort_p50(static, args.runs)
                line += f"  static int8 {int8:8.3f} ms  int8/fp32 {int8 / fp32:.2f} (<= 0.8)"
            print(line, flush=True)
    print(f"largest ORT/eager ratio at 32x32: {max(worst.values()):.2f} "
          f"({max(worst, key=worst.get)}; target <= 0.5)")
    for name in ("small_cnn", "resnet9"):
        members = [member(name, 32, 10, seed) for seed in range(args.members)]
        sample = torch.rand(2, 3, 32, 32) * 255
        parts = [export_onnx(ProbabilityGraph([m]).eval(), folder / f"{name}_member{i}.onnx",
                             sample) for i, m in enumerate(members)]
        whole = export_onnx(ProbabilityGraph(members).eval(), folder / f"{name}_ensemble.onnx",
                            sample)
        # alternate the two in rounds: this shared machine drifts between measurements
        rounds = [(ort_p50(whole, args.runs), sum(ort_p50(p, args.runs) for p in parts))
                  for _ in range(args.rounds)]
        ratio = statistics.median(w / s for w, s in rounds)
        print(f"{name} x{args.members} at 32x32: ensemble graph "
              f"{statistics.median(w for w, _ in rounds):.3f} ms, members as separate sessions "
              f"{statistics.median(s for _, s in rounds):.3f} ms, ratio {ratio:.2f} (median of "
              f"{args.rounds} rounds; <= 1.0)")


if __name__ == "__main__":
    main()
