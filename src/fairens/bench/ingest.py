"""``fairens bench ingest FILE...``: bring latency files measured on devices into exports."""

from __future__ import annotations

from pathlib import Path

from ..errors import bad_file
from ..export.folder import (
    check_latency_results,
    read_latency_file,
    read_manifest,
    write_latency,
)


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
        check_latency_results(file, report, manifest)
        write_latency(target, report, by="ingest")
        touched.append(target)
    return list(dict.fromkeys(touched))
