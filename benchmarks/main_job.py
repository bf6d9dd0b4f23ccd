"""Wall time of the main job, ``python train.py ensemble.size=10``, against a baseline commit.

Each run is a fresh process, as a new user meets it, writing into its own temporary
folders; the baseline is a ``git worktree`` of ``--baseline`` (default: the previous
commit) run with its own sources, after one untimed run of each (byte-compiling). Runs
alternate baseline/candidate, because this shared 2-core machine drifts; the median and
range of ``--repeats`` runs each are printed, wall and CPU seconds (user + system: less
moved by other tenants and by shared libraries read again from disk), with their ratios,
and whether the two print the same summary (the README quotes it).

One more run of each under cProfile gives the breakdown: imports (before ``main``),
Trainer set-up, training steps, validation and its curves, test/val predictions, the
analysis, and rendering the report (the report step minus the analysis). Profiled
seconds are slower than real ones; read them as shares.

A reference for the machine's speed is printed first: one small_cnn training step
(batch 64, 8x8) in a bare PyTorch loop. Main-job times scale with it.

    python benchmarks/main_job.py [--baseline REF] [--repeats 3] [--no-profile]
"""

from __future__ import annotations

import argparse
import os
import pstats
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
COMMAND = ["train.py", "ensemble.size=10", "run_name=main_job"]
SUMMARY_PREFIXES = ("overall:", "class:", "train_frequency:")

# (label, file suffix, function): cumulative profile time of the first match
STAGES = [
    ("Trainer set-up", "pytorch_lightning/trainer/trainer.py", "__init__"),
    ("training loop", "pytorch_lightning/loops/fit_loop.py", "run"),
    ("validation and curves", "pytorch_lightning/loops/evaluation_loop.py", "run"),
    ("predictions", "fairens/ensemble/fit.py", "predict_logits"),
    ("report step", "fairens/report/publish.py", "write_report"),
    ("analysis", "fairens/fairness/analysis.py", "analyse"),
    ("main", "train.py", "main"),
]


def step_ms() -> float:
    """Median milliseconds of one small_cnn training step, batch 64 of 8x8, bare PyTorch."""
    from fairens.models.cnn import SmallCNN

    torch.manual_seed(0)
    net = SmallCNN(10, 1, 32)
    optimizer = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9, nesterov=True)
    images, labels = torch.randn(64, 1, 8, 8), torch.randint(0, 10, (64,))

    def step() -> None:
        optimizer.zero_grad()
        torch.nn.functional.cross_entropy(net(images), labels).backward()
        optimizer.step()

    for _ in range(10):
        step()
    times = []
    for _ in range(5):
        start = time.perf_counter()
        for _ in range(40):
            step()
        times.append((time.perf_counter() - start) / 40 * 1000)
    return statistics.median(times)


def run_job(tree: Path, profile: Path | None = None) -> tuple[float, float, list[str]]:
    """Wall and CPU (user + system) seconds of one main job in ``tree`` (fresh folders),
    and its summary lines."""
    with tempfile.TemporaryDirectory() as folder:
        args = [f"paths.results={folder}/results", f"paths.models={folder}/models",
                f"paths.export={folder}/export"]
        prefix = [sys.executable] + (["-m", "cProfile", "-o", str(profile)] if profile else [])
        env = {**os.environ, "PYTHONPATH": str(tree / "src")}
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        done = subprocess.run([*prefix, *COMMAND, *args], cwd=tree, env=env,
                              capture_output=True, text=True)
        seconds = time.perf_counter() - start
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        sys.exit(f"{tree}: the main job failed:\n{done.stdout[-2000:]}{done.stderr[-2000:]}")
    summary = [line for line in done.stdout.splitlines() if line.startswith(SUMMARY_PREFIXES)]
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    return seconds, cpu, summary


def breakdown(profile: Path) -> dict[str, float]:
    """Profiled seconds by stage (see STAGES)."""
    stats = pstats.Stats(str(profile)).stats  # {(file, line, name): (cc, nc, tt, ct, callers)}
    found: dict[str, float] = {}
    for label, suffix, name in STAGES:
        times = [value[3] for (file, _, func), value in stats.items()
                 if func == name and file.endswith(suffix)]
        found[label] = max(times, default=0.0)
    total = max(value[3] for value in stats.values())
    rows = {"imports (before main)": total - found["main"],
            "Trainer set-up": found["Trainer set-up"],
            "training steps": found["training loop"] - found["validation and curves"],
            "validation and curves": found["validation and curves"],
            "predictions": found["predictions"],
            "analysis": found["analysis"],
            "rendering": found["report step"] - found["analysis"]}
    rows["other"] = total - sum(rows.values())
    rows["total (profiled)"] = total
    return rows


def _worktree(ref: str, folder: Path) -> Path:
    tree = folder / "baseline"
    subprocess.run(["git", "worktree", "add", "--detach", str(tree), ref], cwd=REPO,
                   check=True, capture_output=True)
    return tree


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", default="HEAD~1", help="git ref to compare with")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--no-profile", action="store_true", help="skip the breakdown")
    args = parser.parse_args()
    print(f"machine: one small_cnn training step (batch 64, 8x8, {torch.get_num_threads()} "
          f"threads) {step_ms():.1f} ms")
    folder = Path(tempfile.mkdtemp(prefix="main_job_"))
    try:
        trees = {"baseline": _worktree(args.baseline, folder), "candidate": REPO}
        times: dict[str, list[float]] = {name: [] for name in trees}
        cpus: dict[str, list[float]] = {name: [] for name in trees}
        summaries: dict[str, list[str]] = {}
        for tree in trees.values():  # not timed: byte-compiles a fresh worktree
            run_job(tree)
        for repeat in range(args.repeats):
            order = list(trees) if repeat % 2 == 0 else list(reversed(trees))
            for name in order:
                seconds, cpu, summaries[name] = run_job(trees[name])
                times[name].append(seconds)
                cpus[name].append(cpu)
                print(f"  {name} run {repeat + 1}: {seconds:.1f} s ({cpu:.1f} s CPU)",
                      flush=True)
        for name, values in times.items():
            print(f"{name:>9} ({args.baseline if name == 'baseline' else 'working tree'}): "
                  f"median {statistics.median(values):.1f} s, range {min(values):.1f}-"
                  f"{max(values):.1f} s over {len(values)} runs; CPU median "
                  f"{statistics.median(cpus[name]):.1f} s")
        def ratio(values: dict[str, list[float]]) -> float:
            return statistics.median(values["baseline"]) / statistics.median(values["candidate"])
        print(f"speed ratio (baseline / candidate, medians): wall {ratio(times):.2f}, "
              f"CPU {ratio(cpus):.2f}")
        same = summaries["baseline"] == summaries["candidate"]
        print("summary lines: " + ("identical" if same else "DIFFERENT"))
        if not same:
            for name, lines in summaries.items():
                print(f"  {name}:", *lines, sep="\n    ")
        if args.no_profile:
            return
        rows = {}
        for name, tree in trees.items():
            run_job(tree, profile=folder / f"{name}.prof")
            rows[name] = breakdown(folder / f"{name}.prof")
        print(f"\nbreakdown under cProfile (s)      {'baseline':>9} {'candidate':>10}")
        for label in rows["baseline"]:
            print(f"  {label:<30} {rows['baseline'][label]:9.1f} {rows['candidate'][label]:10.1f}")
    finally:
        subprocess.run(["git", "worktree", "remove", "--force", str(folder / "baseline")],
                       cwd=REPO, capture_output=True)
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
