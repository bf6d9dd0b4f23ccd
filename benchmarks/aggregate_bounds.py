"""The analysis bounded in classes and in members (docs/run-directory.md, "What is refused,
and the limits").

Measures, in one run, each case in a fresh process (time and peak memory):
  * wide: 20,000 test samples x 1,000 classes, 2 members, the class grouping and one
    grouping of people (equalized-odds gaps per class): target < 30 s. Next to it, the
    per-class equalized-odds gaps of the 3 predictors by fairens' one-pass function and by
    the obvious reference, one fairlearn ``equalized_odds_difference`` call per class and
    predictor, on the same data (numbers checked equal), with the ratio;
  * many members: 20 test samples, 4 classes, K = 1,000, 2,000 and 10,000 members (the
    documented maximum): time and memory should grow about linearly in K.

    python benchmarks/aggregate_bounds.py [--quick]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time

import numpy as np
import pandas as pd
from fairlearn.metrics import equalized_odds_difference

from fairens.fairness import AnalysisOptions, analyse
from fairens.fairness.subpop import equalized_odds_gaps


def wide(n: int = 20_000, n_classes: int = 1_000, n_members: int = 2, seed: int = 0):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, n_classes, n)
    logits = (4.0 * np.eye(n_classes, dtype=np.float32)[labels])[None] + \
        rng.standard_normal((n_members, n, n_classes), dtype=np.float32)
    groups = pd.DataFrame({"class": [f"c{c:04d}" for c in labels],
                           "site": np.where(rng.random(n) < 0.3, "north", "south")})
    return logits, labels, groups


def many(n_members: int, n: int = 20, n_classes: int = 4, seed: int = 0):
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % n_classes
    logits = (1.5 * np.eye(n_classes, dtype=np.float32)[labels])[None] + \
        rng.standard_normal((n_members, n, n_classes), dtype=np.float32)
    return logits, labels, pd.DataFrame({"class": [f"c{c}" for c in labels]})


def _peak_mb() -> float:
    with open("/proc/self/status") as status:
        fields = dict(line.split(":", 1) for line in status if ":" in line)
    return int(fields["VmHWM"].split()[0]) / 1024


def _child(case: str, size: int) -> None:
    logits, labels, groups = wide() if case == "wide" else many(size)
    with open("/proc/self/clear_refs", "w") as refs:
        refs.write("5")  # the generator's temporaries are not the analysis'
    start = time.perf_counter()
    analyse(logits=logits, labels=labels, groups=groups, options=AnalysisOptions())
    print(json.dumps({"seconds": time.perf_counter() - start, "peak_mb": _peak_mb()}))


def _measure(case: str, size: int = 0) -> dict:
    done = subprocess.run([sys.executable, __file__, "--child", case, str(size)],
                          capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def _equalized_odds_ratio(classes: int) -> None:
    logits, labels, groups = wide()
    codes = (groups["site"] == "north").to_numpy().astype(np.int64)
    predictions = np.vstack([logits.argmax(axis=2), logits.mean(axis=0).argmax(axis=1)[None]])
    usable = {c: [g for g in (0, 1) if 0 < ((labels == c) & (codes == g)).sum()
                  < (codes == g).sum()] for c in range(classes)}
    usable = {c: groups_ for c, groups_ in usable.items() if len(groups_) == 2}
    start = time.perf_counter()
    ours = equalized_odds_gaps(labels, predictions, codes, usable)
    ours_time = time.perf_counter() - start
    start = time.perf_counter()
    theirs = [max(equalized_odds_difference(labels == c, p == c, sensitive_features=codes)
                  for c in usable) for p in predictions]
    theirs_time = time.perf_counter() - start
    difference = float(np.abs(ours - np.array(theirs)).max())
    print(f"equalized-odds gaps of {len(predictions)} predictors over {len(usable)} classes: "
          f"fairens {ours_time:.3f} s, one fairlearn call per class {theirs_time:.1f} s: "
          f"{theirs_time / ours_time:.0f}x faster; largest difference {difference:.1e}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="fairlearn on 100 classes, members up to 2,000 only")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return _child(args.child[0], int(args.child[1]))
    row = _measure("wide")
    print(f"wide (20,000 samples x 1,000 classes, 2 members): {row['seconds']:.1f} s "
          f"(target < 30 s), peak {row['peak_mb'] / 1024:.2f} GB")
    _equalized_odds_ratio(100 if args.quick else 1_000)
    for k in (1_000, 2_000) if args.quick else (1_000, 2_000, 10_000):
        row = _measure("many", k)
        print(f"K={k:>6,} members, 20 samples: {row['seconds']:6.1f} s, peak "
              f"{row['peak_mb'] / 1024:.2f} GB ({1e3 * row['seconds'] / k:.1f} ms per member)")


if __name__ == "__main__":
    main()
