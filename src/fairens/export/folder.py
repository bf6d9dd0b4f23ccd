"""The export folder: its one owner. Every name in it is spelled here (``export.json``, the
device bundle's ``graphs.json``, the compression report, ``latency-<device>.json``), and
the files that other stages read back are read and checked here: ``export.json`` lists
what an export holds, the latency files what was measured.

``export.json`` lists every graph with its path inside the export folder and the SHA-256 of
its file, so ``fairens bench`` measures exactly the graphs that ``fairens export`` checked.
The folder is an owned folder of kind ``export`` (:mod:`fairens.ownership`), marked as the
export of one run folder: ``fairens export`` replaces only what it wrote there, ``fairens
bench`` and ``bench ingest`` add latency files, which a re-export keeps.
"""

from __future__ import annotations

import hashlib
import math
import os
import re
from pathlib import Path
from typing import Any

from ..errors import FairensError, bad_file, is_int
from ..files import json_text, read_json, read_json_object, regular_file
from ..ownership import OwnedFolder, open_folder, referenced_files
from .evaluate import CompressionReport

MANIFEST = "export.json"
DEVICE_DIR = "device"
GRAPHS_JSON = f"{DEVICE_DIR}/graphs.json"
DEVICE_SCRIPT_NAME = f"{DEVICE_DIR}/bench_device.py"
CASCADE_IMAGES = f"{DEVICE_DIR}/cascade_images.npy"  # test images the cascade runner times
COMPRESSION = "compression"  # compression.json, .md, .html
LATENCY_FILES = "latency-*.json"
HOST = "host"
LOCK = ".export.lock"
FORMAT = "fairens-export/1"
_GRAPH_KEYS = ("name", "kind", "members", "precision", "onnx")
_DEVICE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


def latency_file(device: str) -> str:
    """``latency-<device>.json``: one file per device name, never two names in one file
    (a name that is not already safe gets a short hash of itself: ``pixel 7`` and
    ``pixel-7`` are two devices)."""
    if _DEVICE_NAME.match(device):
        return f"latency-{device}.json"
    safe = re.sub(r"[^A-Za-z0-9._-]+", "-", device).strip("-.")[:48] or "device"
    return f"latency-{safe}-{hashlib.sha256(device.encode('utf-8')).hexdigest()[:8]}.json"


def open_export(out: str | Path, run_dir: str | Path | None = None) -> OwnedFolder:
    """The export folder ``out`` for writing: created and marked as the export of the run
    folder ``run_dir`` (None: an existing export, whichever run it exports); a folder
    marked as another run's export, or holding files fairens did not write, is refused.

    A run is identified by where its folder lies relative to its export's (a tree of
    results and exports copied or moved together stays one run and its export; a run
    folder copied beside the original is another run)."""
    identity = None if run_dir is None else {
        "run_dir": os.path.relpath(Path(run_dir).resolve(), Path(out).resolve())}
    return open_folder(out, "export", identity=identity, create=run_dir is not None,
                       adopt=lambda folder: _adopt_export(folder, run_dir))


def _adopt_export(folder: Path, run_dir: str | Path | None) -> dict[str, str]:
    """The files an earlier version of fairens wrote in an export folder without an
    ownership manifest: the graphs its export.json lists, the bundle, the compression and
    frontier reports with their figures, and the latency files (``fairens bench`` wrote
    latency-host.json; the others were ingested). An export of a run folder of another
    name is another run's."""
    if not is_export(folder):
        return {}
    manifest = read_json_object(folder / MANIFEST, "export.json")
    recorded = manifest.get("run_dir")
    if run_dir is not None and isinstance(recorded, str) and \
            Path(recorded).name != Path(run_dir).resolve().name:
        raise bad_file(folder, f"the export of {recorded}, not of {Path(run_dir).resolve()}; "
                               "choose another --out")
    graphs = [g for g in manifest["graphs"] if isinstance(g, dict)]
    files = {MANIFEST: "export", GRAPHS_JSON: "export", DEVICE_SCRIPT_NAME: "export",
             **{f"{COMPRESSION}.{ext}": "export" for ext in ("json", "md", "html")},
             **{str(g[key]): "export" for g in graphs for key in ("onnx", "ort")
                if isinstance(g.get(key), str)},
             **{f"frontier.{ext}": "frontier" for ext in ("csv", "md", "html")}}
    files |= dict.fromkeys(referenced_files(folder, [f"{COMPRESSION}.md"], "plots"), "export")
    files |= dict.fromkeys(referenced_files(folder, ["frontier.md"], "plots"), "frontier")
    for path in folder.glob(LATENCY_FILES):
        files[path.name] = "bench" if path.name == latency_file(HOST) else "ingest"
    return {name: by for name, by in files.items()
            if (folder / name).is_file() and not (folder / name).is_symlink()}


def sha256(path: str | Path) -> str:
    """Hex SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def is_export(folder: str | Path) -> bool:
    """Whether ``folder`` holds an export of fairens (a manifest listing its graphs)."""
    path = Path(folder) / MANIFEST
    if not path.is_file() or path.is_symlink():
        return False
    try:
        manifest = read_json(path, MANIFEST)
    except FairensError:
        return False
    return isinstance(manifest, dict) and isinstance(manifest.get("graphs"), list) and \
        isinstance(manifest.get("run"), str)


def read_manifest(export_dir: str | Path) -> dict[str, Any]:
    """The export's manifest, checked: a folder without one, or a manifest without its
    fields, is refused in one line."""
    export_dir = Path(export_dir)
    path = export_dir / MANIFEST
    if not path.exists() or not (export_dir / GRAPHS_JSON).is_file():
        raise bad_file(export_dir, "no exported graphs here (expected export.json and device/"
                                   "graphs.json); run `fairens export RUN_DIR` first")
    manifest = read_json(path, f"{MANIFEST}, the manifest that fairens export writes")
    if not isinstance(manifest, dict):
        raise bad_file(path, "not an export manifest (it must hold a JSON object)")
    missing = [key for key in ("run", "model", "input", "graphs") if key not in manifest]
    if missing:
        raise bad_file(path, f"not an export manifest: missing {', '.join(missing)}")
    graphs = manifest["graphs"]
    if not isinstance(graphs, list) or not all(
            isinstance(g, dict) and all(k in g for k in _GRAPH_KEYS) for g in graphs):
        raise bad_file(path, f"graphs must be a list of entries with {', '.join(_GRAPH_KEYS)}")
    return manifest


def graph_file(export_dir: str | Path, graph: dict[str, Any], key: str = "onnx") -> Path:
    """The file of one graph entry, which must lie inside the export folder and match the
    checksum the export recorded."""
    export_dir = Path(export_dir)
    relative = str(graph[key])
    path = export_dir / relative
    if Path(relative).is_absolute() or not path.resolve().is_relative_to(export_dir.resolve()):
        raise bad_file(export_dir / MANIFEST, f"graph {graph['name']!r} points at {relative!r}, "
                                              "outside the export folder")
    regular_file(path, f"the graph {graph['name']!r} of {MANIFEST}")
    expected = graph.get(f"{key}_sha256" if key != "onnx" else "sha256")
    if expected is not None and sha256(path) != expected:
        raise bad_file(path, f"its checksum differs from the one {MANIFEST} recorded: the "
                             "graph changed since it was exported and checked; export again")
    return path


def read_compression(export_dir: str | Path) -> CompressionReport:
    """The compression report's data (``compression.json``), checked: per graph and
    precision, the accuracy overall and per grouping, and what int8 changed."""
    path = Path(export_dir) / f"{COMPRESSION}.json"
    return CompressionReport.from_json(
        read_json(path, "the compression report of fairens export"), str(path))


def latency_reports(export_dir: str | Path, manifest: dict[str, Any]) -> list[dict[str, Any]]:
    """Every ``latency-<device>.json`` of the export, checked against its manifest, in file
    name order."""
    return [read_latency_file(path, manifest)
            for path in sorted(Path(export_dir).glob(LATENCY_FILES))]


def write_latency(export_dir: str | Path, report: dict[str, Any], by: str) -> Path:
    """Write a checked latency report into the export as ``latency-<device>.json`` (``by``:
    the command that measured or brought it); returns its path."""
    return open_export(export_dir).write(latency_file(report["device"]), json_text(report),
                                         by=by)


_FORMATS = ("onnx", "ort", "torch")
_TIMES = ("p50_ms", "p90_ms", "p99_ms", "mean_ms", "load_ms", "peak_mb")


def _is_count(value: Any) -> bool:
    return is_int(value) and value >= 1


def _is_time(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and \
        math.isfinite(value) and value >= 0


def _check_result(path: Path, index: int, result: Any,
                  graphs: dict[tuple[str, str], dict[str, Any]] | None) -> None:
    """One measurement of a latency file: of a graph (and precision) the export holds, with
    thread counts and times of the right types, or an error message."""
    where = f"results[{index}]"
    if not isinstance(result, dict):
        raise bad_file(path, f"{where} must be a JSON object")
    for key in ("graph", "precision"):
        if not isinstance(result.get(key), str):
            raise bad_file(path, f"{where}.{key} must be a string, got {result.get(key)!r:.60}")
    if graphs is not None and (result["graph"], result["precision"]) not in graphs:
        known = sorted({name for name, _ in graphs})
        raise bad_file(path, f"{where} measures graph {result['graph']!r} in "
                             f"{result['precision']!r}, which the export does not hold (its "
                             f"graphs: {', '.join(known[:5])}{', ...' if len(known) > 5 else ''})")
    if result.get("format") not in _FORMATS:
        raise bad_file(path, f"{where}.format must be one of {', '.join(_FORMATS)}, got "
                             f"{result.get('format')!r:.60}")
    if not _is_count(result.get("threads")):
        raise bad_file(path, f"{where}.threads must be a positive integer, got "
                             f"{result.get('threads')!r:.60}")
    if "error" in result and result.get("p50_ms") is None:
        if not isinstance(result["error"], str):
            raise bad_file(path, f"{where}.error must be a message (a string)")
        return
    for key in _TIMES:
        required = key in ("p50_ms", "p90_ms")
        value = result.get(key)
        if (value is not None or required) and not _is_time(value):
            raise bad_file(path, f"{where}.{key} must be a non-negative number of "
                                 f"{'MB' if key == 'peak_mb' else 'ms'}, got {value!r:.60}")


def read_latency_file(path: str | Path, manifest: dict[str, Any] | None = None
                      ) -> dict[str, Any]:
    """A ``latency-<device>.json`` from ``bench_device.py`` or ``fairens bench``, checked in
    full (against the export's ``manifest`` where given) before anything uses it."""
    path = Path(path)
    report = read_json_object(path, "a latency file of bench_device.py")
    if not {"device", "run", "results"} <= set(report):
        raise bad_file(path, "not a latency file of bench_device.py (needs device, run, results)")
    for key in ("device", "run"):
        if not isinstance(report[key], str) or not report[key] or len(report[key]) > 200:
            raise bad_file(path, f"{key} must be a name of 1 to 200 characters, got "
                                 f"{report[key]!r:.60}")
    if not isinstance(report["results"], list):
        raise bad_file(path, "results must be a list of measurements")
    check_latency_results(path, report, manifest)
    return report


def check_latency_results(path: str | Path, report: dict[str, Any],
                          manifest: dict[str, Any] | None) -> None:
    """Every measurement of a latency report read from ``path``: of a graph the export's
    ``manifest`` holds (where given), with thread counts and times of the right types."""
    graphs = None if manifest is None else {(g["name"], g["precision"]): g for g in
                                            [*manifest["graphs"], *manifest.get("cascades", [])]}
    for index, result in enumerate(report["results"]):
        _check_result(Path(path), index, result, graphs)
