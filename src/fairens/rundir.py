"""The run directory: the contract between training and analysis (see DESIGN.md).

``results/<run>/`` holds ``test_groups.csv`` (one row per test sample) and
``predictions/member_XX.npz`` (``logits`` float32 [N, C], ``sample_id`` int64 [N]). This
module writes and reads exactly that, so that predictions made by any framework can be
analysed, and refuses anything else with one clear message.
"""

from __future__ import annotations

import io
import json
import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .errors import FairensError, bad_file
from .files import write_bytes, write_csv, write_json

PREDICTIONS_DIR = "predictions"
TEST_GROUPS = "test_groups.csv"
RUN_JSON = "run.json"
FAIRNESS_JSON = "fairness.json"
RESERVED_COLUMNS = ("sample_id", "label", "pair_id")
_MEMBER_FILE = re.compile(r"^member_(\d+)\.npz$")


def member_name(member: int) -> str:
    """``member_03`` for member 3: the stem of its checkpoint and predictions files."""
    return f"member_{member:02d}"


def predictions_path(run_dir: str | Path, member: int) -> Path:
    """Where member ``member``'s test predictions live."""
    return Path(run_dir) / PREDICTIONS_DIR / f"{member_name(member)}.npz"


def save_predictions(run_dir: str | Path, member: int, logits: np.ndarray,
                     sample_ids: np.ndarray) -> Path:
    """Write one member's test logits (float32 [N, C]) and sample ids (int64 [N]) atomically."""
    buffer = io.BytesIO()
    np.savez(buffer, logits=np.asarray(logits, dtype=np.float32),
             sample_id=np.asarray(sample_ids, dtype=np.int64))
    path = predictions_path(run_dir, member)
    write_bytes(path, buffer.getvalue())
    return path


def write_test_groups(run_dir: str | Path, frame: pd.DataFrame) -> Path:
    """Write ``test_groups.csv``; ``frame`` has sample_id, label, [pair_id], class, ..."""
    missing = [c for c in ("sample_id", "label", "class") if c not in frame.columns]
    if missing:
        raise FairensError(f"test groups lack the required columns {missing}")
    path = Path(run_dir) / TEST_GROUPS
    write_csv(path, frame)
    return path


def write_run_json(run_dir: str | Path, meta: dict[str, Any]) -> Path:
    """Write ``run.json`` atomically."""
    path = Path(run_dir) / RUN_JSON
    write_json(path, meta)
    return path


@dataclass(frozen=True)
class RunPredictions:
    """Everything the analysis reads from a run directory, checked for consistency.

    Attributes:
        logits: float32 [K, N, C], members in ``members`` order, samples in test_groups order.
        members: the member indices found, ascending.
        labels: int64 [N], class index of each test sample (= logits column).
        sample_ids: int64 [N].
        groups: one string column per grouping (``class`` first), N rows.
        pair_ids: int64 [N] counterfactual pair of each sample, or None.
        meta: the content of ``run.json``, or an empty dict where there is none.
        missing_members: members that ``run.json`` announces but that have no predictions.
    """

    logits: np.ndarray
    members: tuple[int, ...]
    labels: np.ndarray
    sample_ids: np.ndarray
    groups: pd.DataFrame
    pair_ids: np.ndarray | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    missing_members: tuple[int, ...] = ()

    @property
    def class_names(self) -> list[str]:
        """Name of each class index, from the ``class`` column (``str(index)`` if unseen)."""
        names = dict(zip(self.labels.tolist(), self.groups["class"], strict=True))
        return [names.get(c, str(c)) for c in range(self.logits.shape[2])]


def load_run(run_dir: str | Path) -> RunPredictions:
    """Read and check ``test_groups.csv`` and ``predictions/`` of a run directory."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise bad_file(run_dir, "no such run directory")
    table = _read_test_groups(run_dir / TEST_GROUPS)
    files = _member_files(run_dir)
    sample_ids = table["sample_id"].to_numpy(np.int64)
    per_member = [_read_member(path, sample_ids) for path in files.values()]
    n_classes = per_member[0].shape[1]
    for path, member_logits in zip(files.values(), per_member, strict=True):
        if member_logits.shape[1] != n_classes:
            raise bad_file(path, f"has {member_logits.shape[1]} classes where "
                                 f"{next(iter(files.values())).name} has {n_classes}")
    logits = np.stack(per_member)
    labels = table["label"].to_numpy(np.int64)
    if labels.min() < 0 or labels.max() >= n_classes:
        raise bad_file(run_dir / TEST_GROUPS,
                       f"labels must be class indices in 0..{n_classes - 1} "
                       f"(the logits have {n_classes} columns), "
                       f"found {labels.min()}..{labels.max()}")
    meta = _read_meta(run_dir / RUN_JSON)
    expected = meta.get("ensemble", {}).get("size")
    missing = tuple(sorted(set(range(expected)) - set(files))) if isinstance(expected, int) else ()
    groupings = [c for c in table.columns if c not in RESERVED_COLUMNS]
    groupings.remove("class")
    pair_ids = table["pair_id"].to_numpy(np.int64) if "pair_id" in table.columns else None
    return RunPredictions(
        logits=logits, members=tuple(files), labels=labels, sample_ids=sample_ids,
        groups=table[["class", *groupings]].reset_index(drop=True), pair_ids=pair_ids,
        meta=meta, missing_members=missing)


def _read_test_groups(path: Path) -> pd.DataFrame:
    if not path.is_file():
        raise bad_file(path, "missing: a run directory needs test_groups.csv (one row per test "
                             "sample: sample_id, label, class, then one column per grouping)")
    try:
        table = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise bad_file(path, f"not a readable CSV ({exc})") from exc
    missing = [c for c in ("sample_id", "label", "class") if c not in table.columns]
    if missing:
        raise bad_file(path, f"missing required column(s) {', '.join(missing)}; "
                             f"found {', '.join(table.columns)}")
    if table.empty:
        raise bad_file(path, "has no rows")
    for column in ("sample_id", "label", "pair_id"):
        if column in table.columns:
            values = pd.to_numeric(table[column], errors="coerce")
            if values.isna().any() or (values != values.round()).any():
                row = int(values.isna().to_numpy().argmax()) + 2
                raise bad_file(path, f"column {column} must hold integers (line {row}: "
                                     f"{table[column].iloc[row - 2]!r})")
            table[column] = values.astype(np.int64)
    duplicated = table["sample_id"][table["sample_id"].duplicated()]
    if len(duplicated):
        raise bad_file(path, f"sample_id {int(duplicated.iloc[0])} appears more than once")
    return table


def _member_files(run_dir: Path) -> dict[int, Path]:
    folder = run_dir / PREDICTIONS_DIR
    found = sorted((int(m.group(1)), p) for p in folder.glob("member_*.npz")
                   if (m := _MEMBER_FILE.match(p.name)))
    if not found:
        raise bad_file(folder, "no member predictions (expected predictions/member_00.npz, ...)")
    return dict(found)


def _read_member(path: Path, sample_ids: np.ndarray) -> np.ndarray:
    """Logits of one member as float32 [N, C], reordered to ``sample_ids``."""
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {key: npz[key] for key in ("logits", "sample_id") if key in npz.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, KeyError) as exc:
        raise bad_file(path, f"not a readable .npz file ({exc})") from exc
    for key in ("logits", "sample_id"):
        if key not in arrays:
            raise bad_file(path, f"has no '{key}' array (expected keys: logits, sample_id)")
    logits, ids = arrays["logits"], arrays["sample_id"]
    if logits.ndim != 2 or not np.issubdtype(logits.dtype, np.floating):
        raise bad_file(path, f"logits must be a float array [N, C], got {logits.dtype} "
                             f"{list(logits.shape)}")
    if ids.ndim != 1 or not np.issubdtype(ids.dtype, np.integer) or len(ids) != len(logits):
        raise bad_file(path, f"sample_id must be an integer array of the {len(logits)} rows "
                             f"of logits, got {ids.dtype} {list(ids.shape)}")
    if not np.isfinite(logits).all():
        raise bad_file(path, "logits hold NaN or infinite values")
    if len(ids) != len(sample_ids) or not np.array_equal(np.sort(ids), np.sort(sample_ids)):
        unknown = np.setdiff1d(ids, sample_ids)
        detail = (f"unknown sample ids, e.g. {unknown[:3].tolist()}" if len(unknown)
                  else f"{len(ids)} samples where test_groups.csv has {len(sample_ids)}")
        raise bad_file(path, f"predictions do not cover the test set of test_groups.csv: {detail}")
    if len(np.unique(ids)) != len(ids):
        raise bad_file(path, "sample_id holds duplicates")
    by_id = np.argsort(ids)
    order = by_id[np.searchsorted(ids, sample_ids, sorter=by_id)]
    return logits[order].astype(np.float32, copy=False)


def _read_meta(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise bad_file(path, f"not valid JSON ({exc})") from exc
    if not isinstance(meta, dict):
        raise bad_file(path, "must hold a JSON object")
    return meta
