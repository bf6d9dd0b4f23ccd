"""``fairens bench ingest FILE...``: bring latency files measured on devices into exports."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from ..errors import bad_file
from ..export.manifest import latency_file, open_export, read_manifest
from ..files import json_text, read_json_object

_FORMATS = ("onnx", "ort", "torch")
_TIMES = ("p50_ms", "p90_ms", "p99_ms", "mean_ms", "load_ms", "peak_mb")


def _is_count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1


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
    graphs = None if manifest is None else {(g["name"], g["precision"]): g
                                            for g in manifest["graphs"]}
    for index, result in enumerate(report["results"]):
        _check_result(path, index, result, graphs)
    return report


def ingest(files: list[str | Path], *, into: str | Path | None = None,
           export_root: str | Path = "export") -> list[Path]:
    """Copy each device's latency file into its run's export (``into``, or
    ``<export_root>/<run>``) as ``latency-<device>.json`` (one file per device name),
    after checking all of it against that export; returns the exports touched."""
    touched = []
    for file in files:
        report = read_latency_file(file)
        target = Path(into) if into is not None else Path(export_root) / report["run"]
        manifest = read_manifest(target)
        if manifest["run"] != report["run"]:
            raise bad_file(file, f"measures run {report['run']!r}, not {manifest['run']!r} "
                                 f"exported in {target}")
        read_latency_file(file, manifest)
        open_export(target).write(latency_file(report["device"]), json_text(report),
                                  by="ingest")
        touched.append(target)
    return list(dict.fromkeys(touched))
