"""The export manifest (``export.json``): what an export folder holds, read back checked.

It lists every graph with its path inside the export folder and the SHA-256 of its file,
so ``fairens bench`` measures exactly the graphs that ``fairens export`` checked, and a
folder is recognised as an export (the only kind of folder an export may replace).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from ..errors import bad_file
from ..files import regular_file

MANIFEST = "export.json"
DEVICE_DIR = "device"
FORMAT = "fairens-export/1"
_GRAPH_KEYS = ("name", "kind", "members", "precision", "onnx")


def sha256(path: str | Path) -> str:
    """Hex SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _load(path: Path) -> Any:
    regular_file(path, f"{MANIFEST}, the manifest that fairens export writes")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise bad_file(path, f"not valid JSON ({exc})") from exc


def is_export(folder: str | Path) -> bool:
    """Whether ``folder`` holds an export of fairens (a manifest listing its graphs)."""
    path = Path(folder) / MANIFEST
    if not path.is_file():
        return False
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return False
    return isinstance(manifest, dict) and isinstance(manifest.get("graphs"), list) and \
        isinstance(manifest.get("run"), str)


def read_manifest(export_dir: str | Path) -> dict[str, Any]:
    """The export's manifest, checked: a folder without one, or a manifest without its
    fields, is refused in one line."""
    export_dir = Path(export_dir)
    path = export_dir / MANIFEST
    if not path.exists() or not (export_dir / DEVICE_DIR / "graphs.json").is_file():
        raise bad_file(export_dir, "no exported graphs here (expected export.json and device/"
                                   "graphs.json); run `fairens export RUN_DIR` first")
    manifest = _load(path)
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
