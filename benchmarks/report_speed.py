"""Time of the report on a run (the main job's, by default), in fresh processes: this
checkout against a baseline checkout (e.g. a worktree of the previous commit), in adjacent
pairs, alternating which goes first. Two numbers per side: the report step (analysis and
rendering, timed inside the process after its imports: what `train.py` spends on the
report) and the whole `fairens report` command (interpreter start and imports included).
Each side reports its own copy of the run's inputs (predictions, groups, run.json), so
neither reads the other's outputs. Prints the median and range of each, and the median of
the per-pair ratios (baseline / this).

    python train.py ensemble.size=10 run_name=digits_k10          # the main job's run
    git worktree add /tmp/base HEAD~1
    python benchmarks/report_speed.py results/digits_k10 --baseline /tmp/base [--repeats 5]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
INPUTS = ("run.json", "test_groups.csv", "val_groups.csv", "predictions", "members")


def _copy_inputs(run: Path, into: Path) -> Path:
    into.mkdir(parents=True)
    for name in INPUTS:
        source = run / name
        if source.is_dir():
            shutil.copytree(source, into / name)
        elif source.is_file():
            shutil.copy2(source, into / name)
    return into


STEP = """
import sys, time
from fairens.report.publish import write_report
start = time.perf_counter()
write_report(sys.argv[1])
print(time.perf_counter() - start)
"""


def _time(tree: Path, run: Path, extra: list[str]) -> tuple[float, float]:
    """(the report step, the whole command) in seconds."""
    environment = {**os.environ, "PYTHONPATH": str(tree / "src")}
    step = float(subprocess.run([sys.executable, "-c", STEP, str(run)], check=True,
                                env=environment, capture_output=True, text=True, cwd=tree
                                ).stdout.split()[-1])
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "fairens", "report", str(run), *extra], check=True,
                   env=environment, stdout=subprocess.DEVNULL, cwd=tree)
    return step, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path)
    parser.add_argument("--baseline", type=Path, required=True,
                        help="another fairens checkout (its src/ is imported)")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--format", default=None,
                        help="this checkout's --format (the baseline may not have it)")
    args = parser.parse_args()
    extra = [] if args.format is None else ["--format", args.format]
    with tempfile.TemporaryDirectory() as scratch:
        sides = {"baseline": (args.baseline.resolve(), []), "this": (REPO, extra)}
        copies = {name: _copy_inputs(args.run, Path(scratch) / name) for name in sides}
        times: dict[str, list[tuple[float, float]]] = {name: [] for name in sides}
        for repeat in range(args.repeats):
            order = list(sides) if repeat % 2 == 0 else list(reversed(sides))
            for name in order:
                tree, flags = sides[name]
                times[name].append(_time(tree, copies[name], flags))
    for index, what in enumerate(("report step", "whole command")):
        print(what)
        for name, pairs in times.items():
            values = [pair[index] for pair in pairs]
            print(f"  {name:9s} median {statistics.median(values):.2f} s  range "
                  f"{min(values):.2f}-{max(values):.2f} s  ({len(values)} runs)")
        ratios = [b[index] / t[index] for b, t in zip(times["baseline"], times["this"],
                                                      strict=True)]
        print(f"  speed ratio baseline / this: median {statistics.median(ratios):.2f} "
              f"(range {min(ratios):.2f}-{max(ratios):.2f})")


if __name__ == "__main__":
    main()
