"""Speed of the fairness analysis: K=20 members, N=10,000 samples, C=100 classes (100
groups), max_subsets=100 (groups chosen by cross-fitting, as for predictions without a
validation split).

Measures, in one run:
  * the whole analysis (``fairens.fairness.analyse``, every statistic, intervals and the
    MetricFrame cross-check): target < 10 s on 2 cores;
  * the per-group accuracies of every curve subset, by fairens' vectorised path and by the
    obvious reference: per subset, average the members' probabilities, take the argmax,
    and compute accuracy by group with fairlearn's ``MetricFrame`` (identical numbers are
    checked); target: fairens >= 50x faster;
  * how the analysis scales with N and with the number of subsets (should be linear);
  * with --memory, the time and peak memory of the whole analysis (K=10 members, C=10
    classes) at N = 1e5, 1e6 and 2e6 test samples, each in a fresh process, next to the
    size of its input logits: targets <= 100 s and <= 2 GB at 1e6, <= 4 GB at 2e6.

    python benchmarks/aggregate_speed.py [--quick] [--memory] [--whole N]
"""

from __future__ import annotations

import argparse
import functools
import json
import subprocess
import sys
import time
from dataclasses import replace

import numpy as np
import pandas as pd
from fairlearn.metrics import MetricFrame
from sklearn.metrics import accuracy_score

from fairens.fairness import AnalysisOptions, analyse
from fairens.fairness.combine import SubsetPredictor, member_scores
from fairens.fairness.groups import Grouping
from fairens.fairness.subsets import curve_subsets

from common import seconds


def synthetic(n_members: int, n: int, n_classes: int, seed: int = 0):
    """Logits of a plausible ensemble: members share a per-sample confusion and add their
    own noise; single members are right about 70% of the time."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, n_classes, n)
    shared = 5.0 * np.eye(n_classes, dtype=np.float32)[labels]
    shared += 1.5 * rng.standard_normal((n, n_classes), dtype=np.float32)
    logits = shared[None] + rng.standard_normal((n_members, n, n_classes), dtype=np.float32)
    names = np.array([f"class{c:03d}" for c in range(n_classes)])
    groups = pd.DataFrame({"class": names[labels],
                           "train_frequency": np.where(labels < n_classes // 2, "majority",
                                                       "minority")})
    return logits, labels, groups


def all_subsets(n_members: int, max_subsets: int) -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    return [curve_subsets(n_members, m, max_subsets, rng) for m in range(1, n_members + 1)]


def fairens_subset_accuracy(logits, labels, grouping, subsets) -> list[np.ndarray]:
    predictor = SubsetPredictor(member_scores(logits, "mean_prob"), "mean_prob")
    return [grouping.accuracy(predictor.predict(s) == labels) for s in subsets]


def metricframe_subset_accuracy(logits, labels, groups, subsets) -> list[np.ndarray]:
    probs = np.exp(logits - logits.max(axis=2, keepdims=True), dtype=np.float64)
    probs /= probs.sum(axis=2, keepdims=True)
    out = []
    for size in subsets:
        rows = []
        for subset in size:
            predicted = probs[subset].mean(axis=0).argmax(axis=1)
            frame = MetricFrame(metrics=accuracy_score, y_true=labels, y_pred=predicted,
                                sensitive_features=groups["class"])
            rows.append(frame.by_group.to_numpy())
        out.append(np.array(rows))
    return out


def _peak_mb() -> float:
    with open("/proc/self/status") as status:
        fields = dict(line.split(":", 1) for line in status if ":" in line)
    return int(fields["VmHWM"].split()[0]) / 1024


def _memory_child(n: int) -> None:
    """One analysis of N samples in this process; prints its peak memory as JSON."""
    logits, labels, groups = synthetic(10, n, 10)
    with open("/proc/self/clear_refs", "w") as refs:
        refs.write("5")  # restart the peak counter: the generator's temporaries are not ours
    start = time.perf_counter()
    analyse(logits=logits, labels=labels, groups=groups)
    print(json.dumps({"n": n, "seconds": time.perf_counter() - start, "peak_mb": _peak_mb(),
                      "logits_mb": logits.nbytes / 2**20}))


def memory_table() -> None:
    """Peak memory of the whole analysis in a fresh process per size."""
    print("peak memory of the whole analysis (K=10, C=10, 2 groupings, "
          "MetricFrame cross-check on):")
    for n in (100_000, 1_000_000, 2_000_000):
        done = subprocess.run([sys.executable, __file__, "--memory-child", str(n)],
                              capture_output=True, text=True, check=True)
        row = json.loads(done.stdout.strip().splitlines()[-1])
        ratio = row["peak_mb"] / row["logits_mb"]
        print(f"N={n:>9,}: peak {row['peak_mb'] / 1024:5.2f} GB ({ratio:4.1f}x its "
              f"{row['logits_mb']:.0f} MB of float32 logits), {row['seconds']:.1f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="skip the scaling runs")
    parser.add_argument("--whole", type=int, metavar="N",
                        help="only the whole analysis, timed N times (median and range)")
    parser.add_argument("--memory", action="store_true", help="only the peak-memory table")
    parser.add_argument("--memory-child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.memory_child:
        return _memory_child(args.memory_child)
    if args.memory:
        return memory_table()
    n_members, n, n_classes, max_subsets = 20, 10_000, 100, 100
    logits, labels, groups = synthetic(n_members, n, n_classes)
    options = AnalysisOptions(k=3, max_subsets=max_subsets)
    analyse(logits=logits[:3, :500], labels=labels[:500], groups=groups[:500],
            options=AnalysisOptions(k=1))
    if args.whole:
        times = sorted(seconds(functools.partial(analyse, logits=logits, labels=labels,
                                                 groups=groups, options=options))
                       for _ in range(args.whole))
        print(f"whole analysis, {args.whole} runs: median {times[len(times) // 2]:.2f} s "
              f"(range {times[0]:.2f}-{times[-1]:.2f})")
        return None
    start = time.perf_counter()
    result = analyse(logits=logits, labels=labels, groups=groups, options=options)
    whole = time.perf_counter() - start
    curve = result.fairness.groupings["class"].curve
    print(f"K={n_members} N={n} C={n_classes} groups={n_classes} max_subsets={max_subsets} "
          f": {sum(curve.subsets)} subsets; single accuracy "
          f"{result.fairness.overall.single_mean:.3f}, ensemble "
          f"{result.fairness.overall.ensemble:.3f}")
    print(f"whole analysis: {whole:.2f} s (target < 10 s)")

    grouping = Grouping.from_column("class", groups["class"], labels)
    subsets = all_subsets(n_members, max_subsets)
    ours_start = time.perf_counter()
    ours = fairens_subset_accuracy(logits, labels, grouping, subsets)
    ours_time = time.perf_counter() - ours_start
    theirs_start = time.perf_counter()
    theirs = metricframe_subset_accuracy(logits, labels, groups, subsets)
    theirs_time = time.perf_counter() - theirs_start
    difference = max(np.abs(a - b).max() for a, b in zip(ours, theirs, strict=True))
    print(f"per-group accuracy of all {sum(len(s) for s in subsets)} subsets: fairens "
          f"{ours_time:.2f} s, MetricFrame loop {theirs_time:.1f} s: "
          f"{theirs_time / ours_time:.0f}x faster (target >= 50x); largest difference "
          f"{difference:.1e}")
    if args.quick:
        return
    for size in (5_000, 10_000, 20_000):
        big_logits, big_labels, big_groups = synthetic(n_members, size, n_classes, seed=1)
        t = seconds(functools.partial(analyse, logits=big_logits, labels=big_labels,
                                      groups=big_groups, options=options))
        print(f"N={size:6d}: {t:.2f} s ({1e6 * t / size:.0f} us per sample)")
    for budget in (25, 50, 100, 200):
        count = sum(len(s) for s in all_subsets(n_members, budget))
        t = seconds(functools.partial(analyse, logits=logits, labels=labels, groups=groups,
                                      options=replace(options, max_subsets=budget)))
        print(f"max_subsets={budget:3d} ({count:4d} subsets): {t:.2f} s")


if __name__ == "__main__":
    main()
