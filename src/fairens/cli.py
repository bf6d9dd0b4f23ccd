"""The fairens command: report, compare, zoo, export, bench, frontier."""

from __future__ import annotations

import argparse
import functools
import json
import re
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from . import __version__
from .errors import FairensError, UsageError, exit_status

DESCRIPTION = """\
Analyse, compare, export and benchmark homogeneous deep ensembles trained by
`python train.py` (or any framework that writes a run directory, docs/run-directory.md).
"""

EXAMPLES = """\
examples:
  python train.py ensemble.size=10                     train and report a run
  fairens report results/digits_small_cnn_k10          recompute fairness.json and the reports
  fairens report RUN --k 5 --json                      the same, with bottom-5, summary as JSON
  fairens compare results/vary_*/ --out results/ablation
  fairens export RUN && fairens bench export/RUN       ONNX graphs, then their latency
  fairens bench ingest latency-pixel7.json             add a phone's latency to its export
  fairens frontier export/* --out results/frontier     accuracy/fairness against latency

exit status: 0 done; 1 a file, folder or data that cannot be used (outputs written
before it are kept); 2 a flag or setting that is not allowed (nothing is written).
The statistics are defined in docs/statistics.md.
"""


def exit_on_error(func: Callable[..., Any]) -> Callable[..., Any]:
    """Run ``func``; on :class:`FairensError` print its one-line message and exit with 2
    (a usage error) or 1 (any other); an ``OSError`` that no stage explained (a disk that
    filled up under a library's own write) is printed on one line too, naming its file,
    and exits with 1."""
    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except FairensError as exc:
            print(f"error: {exc}", file=sys.stderr, flush=True)
            sys.exit(exit_status(exc))
        except OSError as exc:
            where = f"{exc.filename}: " if exc.filename else ""
            print(f"error: {where}{exc.strerror or exc}; outputs written before it are kept",
                  file=sys.stderr, flush=True)
            sys.exit(1)
        except (MemoryError, RuntimeError) as exc:
            if not isinstance(exc, MemoryError) and not _OUT_OF_MEMORY.search(str(exc)):
                raise
            print("error: out of memory (the images, model or analysis asked are too large for "
                  "this machine: choose smaller sizes); outputs written before it are kept",
                  file=sys.stderr, flush=True)
            sys.exit(1)
    return wrapper


# how PyTorch's CPU and CUDA allocators say that an allocation failed
_OUT_OF_MEMORY = re.compile(r"can't allocate memory|out of memory|not enough memory", re.I)


def _options(args: argparse.Namespace, run_dir: str) -> Any:
    """The analysis options of the flags; a flag not given takes the setting the run was
    trained with (run.json), else the default of :class:`fairens.fairness.AnalysisOptions`."""
    from .fairness import option_fields, run_options
    from .rundir import load_meta
    meta = load_meta(run_dir) if Path(run_dir).is_dir() else {}
    return run_options(meta, **{f.name: getattr(args, f.name) for f in option_fields()})


def _print_json(data: Any) -> None:
    from .files import json_text
    print(json_text(data), end="")


def _report(args: argparse.Namespace) -> None:
    from .report import summary_lines, write_report
    from .report.publish import FORMATS
    from .rundir import report_file
    formats = FORMATS if args.format == "all" else (args.format,)
    analysis = write_report(args.run_dir, _options(args, args.run_dir), formats)
    report = report_file(args.run_dir)
    if args.json:
        _print_json({"run_dir": args.run_dir, "report": report, **analysis.fairness.summary_json()})
        return
    print("\n".join(summary_lines(analysis)))
    print(f"report: {report}")


def _compare(args: argparse.Namespace) -> None:
    from .report import write_comparison
    from .report.compare import gains_table
    out = args.out or str(Path(args.run_dirs[0]).resolve().parent / "comparison")
    comparison = write_comparison(args.run_dirs, out, options=_options(args, args.run_dirs[0]),
                                  grouping=args.grouping, reference=args.reference)
    table = gains_table(comparison)
    if args.json:
        _print_json({"out": out, "report": f"{out}/compare.md", "grouping": args.grouping,
                     "reference": comparison.runs[comparison.reference].label,
                     "runs": json.loads(table.to_json(orient="records"))})
        return
    print(table.to_string(index=False, float_format=lambda v: f"{v:.4f}"))
    print(f"comparison: {out}/compare.md")


def _zoo(args: argparse.Namespace) -> None:
    from .models import describe_zoo, get_spec
    for name in args.models or []:
        get_spec(name)  # an unknown name lists the known ones
    entries = describe_zoo(args.models or None, size=args.size, num_classes=args.classes,
                           in_chans=args.channels, canonical=not args.no_canonical)
    if args.json:
        _print_json(entries)
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
    from .bench import bench_export, parse_threads, write_frontier
    bench_export(args.export_dir, threads=parse_threads(args.threads), runs=args.runs,
                 warmup=args.warmup, eager=not args.no_eager)
    write_frontier([args.export_dir], args.export_dir)
    print(f"latency: {args.export_dir}/latency-host.json; frontier: "
          f"{args.export_dir}/frontier.md")


def _ingest(args: argparse.Namespace) -> None:
    from .bench import ingest, write_frontier
    for export_dir in ingest(args.files, into=args.into, export_root=args.export_root):
        write_frontier([export_dir], export_dir)
        print(f"ingested into {export_dir}; frontier: {export_dir}/frontier.md")


def _frontier(args: argparse.Namespace) -> None:
    from .bench import write_frontier
    table = write_frontier(args.export_dirs, args.out, args.grouping)
    if args.json:
        _print_json({"out": args.out, "report": f"{args.out}/frontier.md",
                     "grouping": args.grouping,
                     "points": json.loads(table.to_json(orient="records"))})
        return
    print(f"{len(table)} points; frontier: {args.out}/frontier.md")


def _int_list(text: str, key: str) -> list[int]:
    try:
        return [int(part) for part in text.split(",")]
    except ValueError:
        raise UsageError(f"{key}={text!r} is not allowed: comma-separated integers") from None


def _analysis_options(parser: argparse.ArgumentParser) -> None:
    """One flag per field of AnalysisOptions (``--min-group-size``; ``--no-intervals`` for
    a setting that is on by default), with the field's help and default."""
    from .fairness import option_fields
    group = parser.add_argument_group("analysis (docs/statistics.md); a flag not given "
                                      "takes the run's setting")
    for f in option_fields():
        meta, flag = f.metadata, f"--{f.name.replace('_', '-')}"
        if isinstance(f.default, bool):
            state = "on" if f.default else "off"
            group.add_argument(f"--no-{flag[2:]}" if f.default else flag, dest=f.name,
                               action="store_const", const=not f.default,
                               help=f"turn {'off' if f.default else 'on'} {meta['help']} "
                                    f"(default: the run's {meta['setting']}, else {state})")
            continue
        default = f"(default: the run's {meta['setting']}, else {f.default})"
        if meta["choices"] is not None:
            group.add_argument(flag, choices=meta["choices"], help=f"{meta['help']} {default}")
        else:
            parse = _positive_int if meta["low"] == 1 else _non_negative_int
            group.add_argument(flag, type=parse, metavar=meta["metavar"],
                               help=f"{meta['help']} {default}")


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


def _int_range(low: int, high: int) -> Callable[[str], int]:
    at_least = _int_at_least(low, f"an integer from {low} to {high}")

    def parse(text: str) -> int:
        value = at_least(text)
        if value > high:
            raise argparse.ArgumentTypeError(f"{text!r} is not an integer from {low} to {high}")
        return value
    return parse


_positive_int = _int_at_least(1, "a positive integer")
_non_negative_int = _int_at_least(0, "a non-negative integer")


def _command(commands: Any, name: str, func: Callable[[argparse.Namespace], None],
             summary: str, description: str | None = None) -> argparse.ArgumentParser:
    parser = commands.add_parser(name, help=summary, description=description or summary,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.set_defaults(func=func)
    return parser


def _json_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true",
                        help="print a machine-readable summary (JSON) instead of text")


def _add_report(commands: Any) -> None:
    report = _command(commands, "report", _report,
                      "(re)compute fairness.json and the reports of a run directory")
    report.add_argument("run_dir", help="a folder holding test_groups.csv and predictions/ "
                                        "(results/<run> of python train.py)")
    report.add_argument("--format", choices=["html", "md", "json", "all"], default="all",
                        help="what to render besides fairness.json and groups.csv (json: "
                             "nothing more); a report in another format from an earlier "
                             "run is removed, as it would not match (default: all)")
    _json_flag(report)
    _analysis_options(report)


def _add_compare(commands: Any) -> None:
    compare = _command(commands, "compare", _compare,
                       "one report comparing runs on the same test set (e.g. vary ablations)")
    compare.add_argument("run_dirs", nargs="+", help="run directories to compare")
    compare.add_argument("--out", help="output folder (default: <runs' parent>/comparison)")
    compare.add_argument("--grouping", default="class",
                         help="grouping compared (default: class)")
    compare.add_argument("--reference", help="the run the others are compared with, whose "
                                             "groups they are measured on (default: the run "
                                             "that varies every source, else the first)")
    _json_flag(compare)
    _analysis_options(compare)


def _add_zoo(commands: Any) -> None:
    zoo = _command(commands, "zoo", _zoo, "the model registry: sizes, parameters, MACs")
    zoo.add_argument("models", nargs="*", help="models to describe (default: all)")
    zoo.add_argument("--size", type=_int_range(1, 2048), default=32,
                     help="input side of the training-size counts, 1 to 2048 (default: 32)")
    zoo.add_argument("--classes", type=_int_range(1, 100_000), default=10,
                     help="classes of the counted head, 1 to 100000 (default: 10)")
    zoo.add_argument("--channels", type=_int_range(1, 64), default=3,
                     help="input channels, 1 to 64 (default: 3)")
    zoo.add_argument("--no-canonical", action="store_true",
                     help="skip the counts at each paper's ImageNet setting")
    _json_flag(zoo)


def _add_export(commands: Any) -> None:
    export = _command(commands, "export", _export,
                      "ONNX (fp32, int8, ORT format) of a run's members and ensembles, a "
                      "device bundle and the compression report")
    export.add_argument("run_dir", help="a run trained by fairens (results/<run>)")
    export.add_argument("--out", help="export folder (default: paths.export/<run>)")
    export.add_argument("--models", help="checkpoint folder (default: paths.models/<run>)")
    export.add_argument("--sizes", help="ensemble sizes to export as one graph, e.g. 2,5,10 "
                                        "(default: every size 2..K)")
    export.add_argument("--no-int8", action="store_true", help="skip the int8 variants")
    export.add_argument("--quantize-members", choices=["first", "all"], default="first",
                        help="which members get int8 variants; ensembles always do "
                             "(default: first)")
    export.add_argument("--no-ort", action="store_true", help="skip the ORT-format files")
    export.add_argument("--calibration", type=_positive_int, default=256, metavar="N",
                        help="training images that calibrate static int8 (default: 256)")
    export.add_argument("--exporter", choices=["dynamo", "torchscript"], default="dynamo",
                        help="torch.onnx exporter (dynamo: torch's default; torchscript: "
                             "deprecated, ~10x faster) (default: dynamo)")


def _add_bench(commands: Any) -> None:
    bench = commands.add_parser(
        "bench", help="ONNX Runtime latency of an export (bench [run] EXPORT_DIR), or add a "
                      "device's measurements to it (bench ingest FILE...)",
        description="Latency of exported graphs. `fairens bench EXPORT_DIR` is short for "
                    "`fairens bench run EXPORT_DIR`.")
    steps = bench.add_subparsers(dest="step", required=True, metavar="{run,ingest}")
    run = _command(steps, "run", _bench,
                   "measure every graph of an export on this machine, in fresh processes")
    run.add_argument("export_dir", help="an export folder (fairens export)")
    run.add_argument("--threads", default="1,2",
                     help="intra_op_num_threads values, comma-separated (default: 1,2)")
    run.add_argument("--runs", type=_positive_int, default=50,
                     help="timed runs per graph, at least 50 (default: 50)")
    run.add_argument("--warmup", type=_non_negative_int, default=10,
                     help="untimed runs before them (default: 10)")
    run.add_argument("--no-eager", action="store_true", help="skip PyTorch eager timing")
    ingest = _command(steps, "ingest", _ingest,
                      "add latency files measured on a device by the bundle's "
                      "bench_device.py to their export, and redraw its frontier")
    ingest.add_argument("files", nargs="+", help="latency-<device>.json files")
    ingest.add_argument("--into", help="the export folder (default: "
                                       "<export-root>/<run named in the file>)")
    ingest.add_argument("--export-root", default="export",
                        help="where exports live (default: export)")


def _add_frontier(commands: Any) -> None:
    frontier = _command(commands, "frontier", _frontier,
                        "accuracy/fairness-latency frontier of several exports (e.g. the zoo)")
    frontier.add_argument("export_dirs", nargs="+", help="export folders with latency files")
    frontier.add_argument("--out", required=True, help="output folder")
    frontier.add_argument("--grouping", default="class",
                          help="grouping whose bottom-k and worst group are plotted (default: "
                               "class; e.g. class&race for the worst race x gender group)")
    _json_flag(frontier)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every subcommand."""
    parser = argparse.ArgumentParser(prog="fairens", description=DESCRIPTION, epilog=EXAMPLES,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"fairens {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add in (_add_report, _add_compare, _add_zoo, _add_export, _add_bench, _add_frontier):
        add(commands)
    return parser


def _with_default_step(argv: list[str]) -> list[str]:
    """``bench EXPORT_DIR ...`` is ``bench run EXPORT_DIR ...``."""
    if len(argv) >= 2 and argv[0] == "bench" and argv[1] not in ("run", "ingest", "-h",
                                                                   "--help"):
        return ["bench", "run", *argv[1:]]
    return argv


@exit_on_error
def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of the ``fairens`` console script."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(_with_default_step(argv))
    args.func(args)
