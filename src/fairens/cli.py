"""The ``fairens`` command: report, compare, zoo, export, bench, frontier."""

from __future__ import annotations

import argparse
import functools
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from .errors import FairensError


def exit_on_error(func: Callable[..., Any]) -> Callable[..., Any]:
    """Run ``func``; on :class:`FairensError` print its one-line message and exit with 2;
    an ``OSError`` that no stage explained (a disk that filled up under a library's own
    write) is printed on one line too, naming its file."""
    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except FairensError as exc:
            print(f"error: {exc}", file=sys.stderr, flush=True)
            sys.exit(2)
        except OSError as exc:
            where = f"{exc.filename}: " if exc.filename else ""
            print(f"error: {where}{exc.strerror or exc}; outputs written before it are kept",
                  file=sys.stderr, flush=True)
            sys.exit(2)
    return wrapper


def _options(args: argparse.Namespace, run_dir: str) -> Any:
    """The analysis options of the flags; ``--k`` and ``--seed`` default to the run's
    ``ensemble.k`` and ``ensemble.seed`` (else 3 and 0)."""
    from .fairness import AnalysisOptions
    from .rundir import load_meta
    ensemble = load_meta(run_dir).get("ensemble", {}) if Path(run_dir).is_dir() else {}
    return AnalysisOptions(
        k=args.k if args.k is not None else ensemble.get("k", 3),
        seed=args.seed if args.seed is not None else ensemble.get("seed", 0),
        combine=args.combine, max_subsets=args.max_subsets, ranking=args.ranking,
        scale=args.scale, min_group_size=args.min_group_size, intervals=not args.no_intervals,
        split_seed=args.split_seed, bootstrap=args.bootstrap, bootstrap_seed=args.bootstrap_seed)


def _report(args: argparse.Namespace) -> None:
    from .report import summary_lines, write_report
    analysis = write_report(args.run_dir, _options(args, args.run_dir))
    print("\n".join(summary_lines(analysis)))
    print(f"report: {args.run_dir.rstrip('/')}/report.md")


def _compare(args: argparse.Namespace) -> None:
    from .report import write_comparison
    from .report.compare import gains_table
    out = args.out or str(Path(args.run_dirs[0]).resolve().parent / "comparison")
    comparison = write_comparison(args.run_dirs, out, options=_options(args, args.run_dirs[0]),
                                  grouping=args.grouping, reference=args.reference)
    table = gains_table(comparison)
    print(table.to_string(index=False, float_format=lambda v: f"{v:.4f}"))
    print(f"comparison: {out}/compare.md")


def _zoo(args: argparse.Namespace) -> None:
    from .models import describe_zoo, get_spec
    for name in args.models or []:
        get_spec(name)  # an unknown name lists the known ones
    entries = describe_zoo(args.models or None, size=args.size, num_classes=args.classes,
                           in_chans=args.channels, canonical=not args.no_canonical)
    if args.json:
        print(json.dumps(entries, indent=2))
        return
    print(f"{'model':24s} {'source':7s} {'family':6s} "
          f"{'params@' + str(args.size):>11s} {'MMACs@' + str(args.size):>10s} "
          f"{'ImageNet params':>17s} {'deploy':>8s} {'paper':>7s} {'MMACs':>8s}  input sides")
    for e in entries:
        at = e["at_size"]
        small = (f"{at['deploy_params'] / 1e6:10.3f}M {at['deploy_macs'] / 1e6:10.1f}" if at
                 else f"{'(cannot run)':>22s}")
        line = f"{e['name']:24s} {e['source']:7s} {e['family']:6s} {small}"
        if "canonical" in e:
            c = e["canonical"]
            paper = f"{e['paper_params'] / 1e6:6.2f}M" if e["paper_params"] else f"{'':7s}"
            line += (f" {c['params'] / 1e6:8.3f}M@{e['canonical_size']:<3d}"
                     f" {c['deploy_params'] / 1e6:7.3f}M {paper} {c['deploy_macs'] / 1e6:8.1f}")
        else:
            line += f" {'':45s}"
        print(f"{line}  {e['sizes']}")


def _export(args: argparse.Namespace) -> None:
    from .export import ExportOptions, export_run
    sizes = None if args.sizes is None else tuple(_int_list(args.sizes, "--sizes"))
    options = ExportOptions(sizes=sizes, int8=not args.no_int8, ort=not args.no_ort,
                            quantize_members=args.quantize_members,
                            calibration=args.calibration, exporter=args.exporter)
    out = export_run(args.run_dir, out=args.out, models=args.models, options=options)
    print(f"export: {out} (compression report: {out}/compression.md; device bundle: "
          f"{out}/device/)")


def _bench(args: argparse.Namespace) -> None:
    from .bench import bench_export, ingest, parse_threads, write_frontier
    if args.target == "ingest":
        if not args.files:
            raise FairensError("fairens bench ingest needs latency files "
                               "(latency-<device>.json from bench_device.py)")
        for export_dir in ingest(args.files, into=args.into, export_root=args.export_root):
            write_frontier([export_dir], export_dir)
            print(f"ingested into {export_dir}; frontier: {export_dir}/frontier.md")
        return
    if args.files:
        raise FairensError(f"fairens bench takes one export folder, got extra arguments "
                           f"{args.files}")
    bench_export(args.target, threads=parse_threads(args.threads), runs=args.runs,
                 warmup=args.warmup, eager=not args.no_eager)
    write_frontier([args.target], args.target)
    print(f"latency: {args.target}/latency-host.json; frontier: {args.target}/frontier.md")


def _frontier(args: argparse.Namespace) -> None:
    from .bench import write_frontier
    table = write_frontier(args.export_dirs, args.out, args.grouping)
    print(f"{len(table)} points; frontier: {args.out}/frontier.md")


def _int_list(text: str, key: str) -> list[int]:
    try:
        return [int(part) for part in text.split(",")]
    except ValueError:
        raise FairensError(f"{key}={text!r} is not allowed: comma-separated integers") from None


def _analysis_options(parser: argparse.ArgumentParser) -> None:
    from .fairness import COMBINES, RANKINGS, SCALES
    parser.add_argument("--k", type=_positive_int, default=None,
                        help="bottom-k/top-k size (default: the run's ensemble.k, else 3)")
    parser.add_argument("--seed", type=_non_negative_int, default=None,
                        help="draws curve subsets (default: the run's ensemble.seed, else 0)")
    parser.add_argument("--combine", choices=COMBINES, default="mean_prob",
                        help="how members are combined (mean_prob)")
    parser.add_argument("--max-subsets", type=_positive_int, default=64,
                        help="subsets averaged per ensemble size on the curve (64)")
    parser.add_argument("--ranking", choices=RANKINGS, default="auto",
                        help="which data choose the bottom-k, top-k and worst groups: "
                             "validation predictions, cross-fitted halves of the test set, or "
                             "the measured test set itself (biased); auto: validation where "
                             "the run has it, else crossfit")
    parser.add_argument("--scale", choices=SCALES, default="gain",
                        help="scale of the verdicts (gain: points)")
    parser.add_argument("--min-group-size", type=_positive_int, default=10,
                        help="groups with fewer test samples are never chosen (10)")
    parser.add_argument("--no-intervals", action="store_true",
                        help="point estimates only: no intervals, p-values or verdicts")
    parser.add_argument("--split-seed", type=_non_negative_int, default=0,
                        help="seeds the cross-fitting halves and member parts (0)")
    parser.add_argument("--bootstrap", type=_int_at_least(2, "an integer >= 2"), default=1000,
                        help="resamples measuring how cross-fitted halves correlate (1000)")
    parser.add_argument("--bootstrap-seed", type=_non_negative_int, default=0)


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
    report.set_defaults(func=_report)
    compare = commands.add_parser(
        "compare", help="one report comparing runs on the same test set (e.g. vary ablations)")
    compare.add_argument("run_dirs", nargs="+", help="run directories to compare")
    compare.add_argument("--out", help="output folder (default: <runs' parent>/comparison)")
    compare.add_argument("--grouping", default="class", help="grouping compared (class)")
    compare.add_argument("--reference", help="the run the others are compared with, whose "
                                             "groups they are measured on (default: the run "
                                             "that varies every source, else the first)")
    _analysis_options(compare)
    compare.set_defaults(func=_compare)
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
    export = commands.add_parser("export", help="ONNX (fp32, int8, ORT format) of a run's "
                                                "members and ensembles, and a device bundle")
    export.add_argument("run_dir", help="a run trained by fairens (results/<run>)")
    export.add_argument("--out", help="export folder (default: paths.export/<run>)")
    export.add_argument("--models", help="checkpoint folder (default: paths.models/<run>)")
    export.add_argument("--sizes", help="ensemble sizes to export as one graph, e.g. 2,5,10 "
                                        "(default: every size 2..K)")
    export.add_argument("--no-int8", action="store_true", help="skip the int8 variants")
    export.add_argument("--quantize-members", choices=["first", "all"], default="first",
                        help="which members get int8 variants (ensembles always do)")
    export.add_argument("--no-ort", action="store_true", help="skip the ORT-format files")
    export.add_argument("--calibration", type=_positive_int, default=256,
                        help="training images that calibrate static int8 (256)")
    export.add_argument("--exporter", choices=["dynamo", "torchscript"], default="dynamo",
                        help="torch.onnx exporter (dynamo: torch's default; torchscript: "
                             "deprecated, ~10x faster)")
    export.set_defaults(func=_export)
    bench = commands.add_parser("bench", help="ONNX Runtime latency of an export; "
                                              "`bench ingest FILE...` adds device files")
    bench.add_argument("target", help="an export folder, or `ingest`")
    bench.add_argument("files", nargs="*", help="with ingest: latency-<device>.json files")
    bench.add_argument("--threads", default="1,2", help="intra_op_num_threads values (1,2)")
    bench.add_argument("--runs", type=_positive_int, default=50, help="timed runs (>= 50)")
    bench.add_argument("--warmup", type=_non_negative_int, default=10)
    bench.add_argument("--no-eager", action="store_true", help="skip PyTorch eager timing")
    bench.add_argument("--into", help="with ingest: the export folder (default: "
                                      "<export-root>/<run of the file>)")
    bench.add_argument("--export-root", default="export")
    bench.set_defaults(func=_bench)
    frontier = commands.add_parser("frontier", help="accuracy/fairness-latency frontier of "
                                                    "several exports (e.g. the zoo)")
    frontier.add_argument("export_dirs", nargs="+")
    frontier.add_argument("--out", required=True)
    frontier.add_argument("--grouping", default="class",
                          help="grouping whose bottom-k and worst group are plotted (class; "
                               "e.g. class&race for the worst race x gender group)")
    frontier.set_defaults(func=_frontier)
    return parser


@exit_on_error
def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of the ``fairens`` console script."""
    args = build_parser().parse_args(argv)
    args.func(args)
