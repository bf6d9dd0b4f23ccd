"""Does the main job's thread count hold up on a shared machine?

Wall time of ``python train.py ensemble.size=10`` (fresh process each time, outputs in a
temporary folder) at ``num_threads`` = default (null: PyTorch's, one per core) and 1, on an
idle machine and with other CPU-bound processes running (busy loops, one per core), as on
a shared login node or a SLURM node whose other jobs use the cores. The settings run in
adjacent rounds (each round runs every setting once, in a rotated order), so that drift of
this shared machine hits all of them alike. Prints median and range per setting and the
ratio of each thread count to the default under the same load.

    python benchmarks/threads_under_load.py [--repeats 3] [--busy 2] [--threads null,1]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


@contextmanager
def busy(count: int):
    """``count`` processes spinning on a core each, stopped on exit."""
    spinners = [subprocess.Popen([sys.executable, "-c", "while True: pass"])
                for _ in range(count)]
    try:
        time.sleep(0.5)
        yield
    finally:
        for spinner in spinners:
            spinner.kill()
            spinner.wait()


def main_job(threads: str) -> float:
    """Seconds of one ``python train.py ensemble.size=10`` in a fresh process."""
    with tempfile.TemporaryDirectory() as folder:
        command = [sys.executable, str(REPO / "train.py"), "ensemble.size=10",
                   f"num_threads={threads}", f"paths.results={folder}/results",
                   f"paths.models={folder}/models", "trainer.enable_progress_bar=false",
                   "run_name=threads"]
        start = time.perf_counter()
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL, cwd=folder)
        return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--busy", type=int, default=os.cpu_count() or 2,
                        help="CPU-bound processes in the loaded rounds (default: one per core)")
    parser.add_argument("--threads", default="null,1", help="num_threads values to compare")
    args = parser.parse_args()
    settings = [(load, threads) for load in (0, args.busy)
                for threads in args.threads.split(",")]
    times: dict[tuple[int, str], list[float]] = {setting: [] for setting in settings}
    for round_ in range(args.repeats):
        for load in (0, args.busy):
            group = [s for s in settings if s[0] == load]
            shift = round_ % len(group)
            with busy(load):
                for setting in group[shift:] + group[:shift]:
                    times[setting].append(main_job(setting[1]))
                    print(f"round {round_ + 1}: {load} busy, num_threads={setting[1]}: "
                          f"{times[setting][-1]:.1f} s", flush=True)
    print(f"python train.py ensemble.size=10, {os.cpu_count()} cores, median of "
          f"{args.repeats} (range)")
    for load, threads in settings:
        values = times[(load, threads)]
        default = statistics.median(times[(load, args.threads.split(",")[0])])
        median = statistics.median(values)
        print(f"  {'idle' if load == 0 else f'{load} busy processes':18s} num_threads="
              f"{threads:5s} {median:6.1f} s ({min(values):.1f}-{max(values):.1f})  "
              f"x{median / default:.2f} of the default")


if __name__ == "__main__":
    main()
