"""Copy a run, or a comparison with its runs, into results/examples/ so that it re-runs:
its inputs (run.json, test_groups.csv, val_groups.csv, data_split.csv, members/, and
predictions/ with every .npz re-saved compressed: the same arrays, byte for byte once loaded)
and what
fairens wrote from them (fairness.json, groups*.csv, the report and its plots). Logs,
checkpoints, locks and the ownership manifest stay behind. tests/test_examples.py checks
that `fairens report` (or `fairens compare`) on the copy rewrites the same fairness.json
(compare.json).

    python scripts/curate_example.py run results/examples/cifar10_resnet9_w16_k5 \
        results/cifar10_resnet9_w16_k5
    python scripts/curate_example.py compare results/examples/ablation_digits_small_cnn_k10 \
        results/ablation_digits_small_cnn_k10_{vary-all,init,batch_order,augmentation,none}

A comparison is made anew from the copied runs (under runs/, in the order given, with the
default analysis settings) into comparison/ beside them, so that its folders point at them
(fairens writes no comparison into a folder holding files it did not write).
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

import numpy as np

from fairens.cli import main as fairens

INPUTS = ("run.json", "test_groups.csv", "val_groups.csv", "data_split.csv")
OUTPUTS = ("fairness.json", "groups.csv", "groups_metricframe.csv", "report.md",
           "report.html")
LEFT_BEHIND = (".fairens-manifest.json", ".fairens-manifest.lock", ".lock")


def _predictions(source: Path, destination: Path) -> None:
    for npz in sorted(source.rglob("*.npz")):
        target = destination / npz.relative_to(source)
        target.parent.mkdir(parents=True, exist_ok=True)
        with np.load(npz) as data:
            arrays = {key: data[key] for key in data.files}
        np.savez_compressed(target, **arrays)


def _copy(source: Path, destination: Path, names: tuple[str, ...], folders: tuple[str, ...]
          ) -> None:
    destination.mkdir(parents=True, exist_ok=True)
    for name in names:
        if (source / name).is_file():
            shutil.copy2(source / name, destination / name)
    for folder in folders:
        if (source / folder).is_dir():
            shutil.copytree(source / folder, destination / folder, dirs_exist_ok=True)


def curate_run(source: Path, destination: Path, report: bool = True) -> None:
    """The run's inputs, compressed predictions and (``report``) its outputs."""
    _copy(source, destination, INPUTS + (OUTPUTS if report else ()),
          ("members",) + (("plots",) if report else ()))
    _predictions(source / "predictions", destination / "predictions")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("kind", choices=["run", "compare"])
    parser.add_argument("destination", type=Path)
    parser.add_argument("sources", nargs="+", type=Path,
                        help="the run; or the runs compared, reference first")
    args = parser.parse_args()
    if args.destination.exists():
        sys.exit(f"error: {args.destination} exists; remove it first")
    if args.kind == "run":
        curate_run(args.sources[0], args.destination)
        return
    copies = [args.destination / "runs" / run.name for run in args.sources]
    for run, copy in zip(args.sources, copies, strict=True):
        curate_run(run, copy, report=False)
    out = args.destination / "comparison"
    fairens(["compare", *map(str, copies), "--out", str(out)])
    for name in LEFT_BEHIND:
        (out / name).unlink(missing_ok=True)


if __name__ == "__main__":
    main()
