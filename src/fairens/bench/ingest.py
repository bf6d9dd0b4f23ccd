"""``fairens bench ingest FILE...``: bring latency files measured on devices into exports."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from ..errors import bad_file
from ..export.manifest import read_manifest
from ..files import regular_file, write_json

_RESULT_KEYS = ("graph", "precision", "threads", "format")


def read_latency_file(path: str | Path) -> dict[str, Any]:
    """A ``latency-<device>.json`` from ``bench_device.py``, checked."""
    path = regular_file(path, "a latency file of bench_device.py")
    try:
        report = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise bad_file(path, f"not a readable latency file ({exc})") from exc
    if not isinstance(report, dict) or not {"device", "run", "results"} <= set(report):
        raise bad_file(path, "not a latency file of bench_device.py (needs device, run, results)")
    if not isinstance(report["results"], list) or not all(isinstance(r, dict)
                                                          for r in report["results"]):
        raise bad_file(path, "results must be a list of measurements")
    for result in report["results"]:
        missing = [key for key in _RESULT_KEYS if key not in result]
        if missing:
            raise bad_file(path, f"a result lacks {', '.join(missing)}")
    return report


def ingest(files: list[str | Path], *, into: str | Path | None = None,
           export_root: str | Path = "export") -> list[Path]:
    """Copy each device's latency file into its run's export (``into``, or
    ``<export_root>/<run>``) as ``latency-<device>.json``; returns the exports touched."""
    touched = []
    for file in files:
        report = read_latency_file(file)
        target = Path(into) if into is not None else Path(export_root) / report["run"]
        manifest = read_manifest(target)
        if manifest["run"] != report["run"]:
            raise bad_file(file, f"measures run {report['run']!r}, not {manifest['run']!r} "
                                 f"exported in {target}")
        device = re.sub(r"[^A-Za-z0-9._-]+", "-", str(report["device"])) or "device"
        write_json(target / f"latency-{device}.json", report, root=target)
        touched.append(target)
    return list(dict.fromkeys(touched))
