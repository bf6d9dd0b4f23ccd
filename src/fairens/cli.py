"""The ``fairens`` command: report, and the commands of later stages."""

from __future__ import annotations

import argparse
import functools
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from .errors import FairensError


def exit_on_error(func: Callable[..., Any]) -> Callable[..., Any]:
    """Run ``func``; on :class:`FairensError` print its one-line message and exit with 2."""
    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except FairensError as exc:
            print(f"error: {exc}", file=sys.stderr, flush=True)
            sys.exit(2)
    return wrapper


def _report(args: argparse.Namespace) -> None:
    from .report import summary_lines, write_report
    analysis = write_report(args.run_dir, k=args.k, combine=args.combine,
                            max_subsets=args.max_subsets, seed=args.seed, n_boot=args.bootstrap,
                            boot_seed=args.bootstrap_seed)
    print("\n".join(summary_lines(analysis)))
    print(f"report: {args.run_dir.rstrip('/')}/report.md")


def _compare(args: argparse.Namespace) -> None:
    from .report import write_comparison
    out = args.out or str(Path(args.run_dirs[0]).resolve().parent / "comparison")
    table = write_comparison(args.run_dirs, out, grouping=args.grouping, k=args.k,
                             combine=args.combine, max_subsets=args.max_subsets,
                             n_boot=args.bootstrap, boot_seed=args.bootstrap_seed)
    print(table.to_string(index=False, float_format=lambda v: f"{v:.4f}"))
    print(f"comparison: {out}/compare.md")


def _zoo(args: argparse.Namespace) -> None:
    import json

    from .models import describe_zoo, get_spec
    for name in args.models or []:
        get_spec(name)  # an unknown name lists the known ones
    entries = describe_zoo(args.models or None, size=args.size, num_classes=args.classes,
                           in_chans=args.channels, canonical=not args.no_canonical)
    if args.json:
        print(json.dumps(entries, indent=2))
        return
    print(f"{'model':24s} {'source':7s} {'family':6s} {'sizes':16s} "
          f"{'params@' + str(args.size):>11s} {'MMACs@' + str(args.size):>10s} "
          f"{'ImageNet params':>17s} {'deploy':>8s} {'paper':>7s} {'MMACs':>8s}")
    for e in entries:
        at = e["at_size"]
        small = (f"{at['deploy_params'] / 1e6:10.3f}M {at['deploy_macs'] / 1e6:10.1f}" if at
                 else f"{'(cannot run)':>22s}")
        line = f"{e['name']:24s} {e['source']:7s} {e['family']:6s} {e['sizes'][:16]:16s} {small}"
        if "canonical" in e:
            c = e["canonical"]
            paper = f"{e['paper_params'] / 1e6:6.2f}M" if e["paper_params"] else f"{'':7s}"
            line += (f" {c['params'] / 1e6:8.3f}M@{e['canonical_size']:<3d}"
                     f" {c['deploy_params'] / 1e6:7.3f}M {paper} {c['deploy_macs'] / 1e6:8.1f}")
        print(line)


def _analysis_options(parser: argparse.ArgumentParser) -> None:
    from .fairness import COMBINES
    parser.add_argument("--k", type=_positive_int, default=3, help="bottom-k/top-k size (3)")
    parser.add_argument("--combine", choices=COMBINES, default="mean_prob")
    parser.add_argument("--max-subsets", type=_positive_int, default=64,
                        help="subsets averaged per ensemble size on the curve (64)")
    parser.add_argument("--bootstrap", type=_non_negative_int, default=1000,
                        help="bootstrap resamples for 95%% intervals (1000; 0: none)")
    parser.add_argument("--bootstrap-seed", type=int, default=0)


def _int_at_least(low: int, what: str) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = low - 1
        if value < low:
            raise argparse.ArgumentTypeError(f"{text!r} is not {what}")
        return value
    return parse


_positive_int = _int_at_least(1, "a positive integer")
_non_negative_int = _int_at_least(0, "a non-negative integer")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every subcommand."""
    parser = argparse.ArgumentParser(prog="fairens", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    report = commands.add_parser(
        "report", help="(re)compute fairness.json and the reports of a run directory")
    report.add_argument("run_dir", help="a folder holding test_groups.csv and predictions/")
    _analysis_options(report)
    report.add_argument("--seed", type=int, default=None,
                        help="draws curve subsets (default: the run's ensemble.seed, else 0)")
    report.set_defaults(func=_report)
    compare = commands.add_parser(
        "compare", help="one report comparing runs on the same test set (e.g. vary ablations)")
    compare.add_argument("run_dirs", nargs="+", help="run directories to compare")
    compare.add_argument("--out", help="output folder (default: <runs' parent>/comparison)")
    compare.add_argument("--grouping", default="class", help="grouping of the curves (class)")
    _analysis_options(compare)
    compare.set_defaults(func=_compare, seed=None)
    zoo = commands.add_parser("zoo", help="the model registry: sizes, parameters, MACs")
    zoo.add_argument("models", nargs="*", help="models to describe (default: all)")
    zoo.add_argument("--size", type=_positive_int, default=32,
                     help="input side of the training-size counts (32)")
    zoo.add_argument("--classes", type=_positive_int, default=10)
    zoo.add_argument("--channels", type=_positive_int, default=3)
    zoo.add_argument("--no-canonical", action="store_true",
                     help="skip the counts at each paper's ImageNet setting")
    zoo.add_argument("--json", action="store_true", help="print JSON")
    zoo.set_defaults(func=_zoo)
    return parser


@exit_on_error
def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of the ``fairens`` console script."""
    args = build_parser().parse_args(argv)
    args.func(args)
