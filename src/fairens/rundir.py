"""The run directory: the contract between training and analysis (docs/run-directory.md).

``results/<run>/`` holds ``test_groups.csv`` (one row per test sample) and
``predictions/member_XX.npz`` (``logits`` float32 [N, C], ``sample_id`` int64 [N]), and,
for runs that keep them, the validation split alike: ``val_groups.csv`` and
``predictions/val/member_XX.npz`` (they rank the groups without being measured). This
module writes and reads exactly that, so that predictions made by any framework can be
analysed, and refuses anything else with one clear message.
"""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from .errors import FairensError, bad_file, is_int, name_list
from .fairness.inputs import RankingData
from .fairness.result import FairnessResult
from .files import csv_text, json_text, read_json_object, regular_file, remove_leftovers
from .ownership import OwnedFolder, open_folder, publish_pending, referenced_files

if TYPE_CHECKING:  # the analysis is loaded when a run is analysed, not when it is read
    from .fairness import Analysis, AnalysisOptions, Choice

PREDICTIONS_DIR = "predictions"
TEST_GROUPS = "test_groups.csv"
VAL_GROUPS = "val_groups.csv"
SPLITS = {"test": (TEST_GROUPS, PREDICTIONS_DIR), "val": (VAL_GROUPS, f"{PREDICTIONS_DIR}/val")}
RUN_JSON = "run.json"
FAIRNESS_JSON = "fairness.json"
GROUPS_CSV = "groups.csv"
METRICFRAME_CSV = "groups_metricframe.csv"
REPORT = "report"  # report.md and report.html
PLOTS_DIR = "plots"
MEMBERS_DIR = "members"
LOGS_DIR = "logs"
LOG_FILES = ("metrics.csv", "hparams.yaml")  # what Lightning's CSV logger writes
RESERVED_COLUMNS = ("sample_id", "label", "pair_id", "source")
DATA_SPLIT = "data_split.csv"
MAX_MEMBERS = 10_000  # more members than any ensemble trains: a larger count is a broken file
MAX_CLASSES = 100_000
_MEMBER_FILE = re.compile(r"^member_(\d+)\.npz$")
_INTEGER = re.compile(r"^\s*[+-]?\d{1,18}(\.0*)?\s*$")  # 18 digits always fit int64


RUN_LOCK = ".lock"


def run_lock(run_dir: str | Path) -> Path:
    """The lock file held while a process writes a run's shared files (run.json,
    test_groups.csv, the analysis and reports)."""
    return Path(run_dir) / RUN_LOCK


def member_lock(run_dir: str | Path, member: int) -> Path:
    """The lock file held while a process trains one member of a run."""
    return Path(run_dir) / f".{member_name(member)}.lock"


def open_run(run_dir: str | Path, *, create: bool = True) -> OwnedFolder:
    """A run folder for writing (docs/run-directory.md, "Ownership"): created and marked
    where needed; a folder of predictions made elsewhere is marked by its first report,
    which owns none of the files already there."""
    return open_folder(run_dir, "run", adopt=_adopt_run, create=create)


def open_models(models_dir: str | Path, run_name: str) -> OwnedFolder:
    """A run's checkpoint folder for writing, marked as the models of ``run_name``."""
    return open_folder(models_dir, "models", identity={"run": run_name}, adopt=_adopt_models)


def _is_fairens_json(path: Path, keys: tuple[str, ...]) -> bool:
    try:
        content = read_json_object(path, "a JSON file")
    except FairensError:
        return False
    return all(key in content for key in keys)


def _matching(folder: Path, patterns: tuple[str, ...]) -> list[str]:
    return sorted({p.relative_to(folder).as_posix() for pattern in patterns
                   for p in folder.glob(pattern) if p.is_file() and not p.is_symlink()})


def _adopt_run(folder: Path) -> dict[str, str]:
    """The files an earlier version of fairens wrote in a run folder without a manifest:
    what training writes, where run.json is fairens's, and the analysis and reports, where
    fairness.json is fairens's (the plots: those its reports link to)."""
    adopted = {}
    if _is_fairens_json(folder / RUN_JSON, ("run_name", "seeds", "versions")):
        adopted |= dict.fromkeys(_matching(folder, (
            RUN_JSON, TEST_GROUPS, VAL_GROUPS, f"{PREDICTIONS_DIR}/member_*.npz",
            f"{SPLITS['val'][1]}/member_*.npz", f"{MEMBERS_DIR}/member_*.json",
            *(f"{LOGS_DIR}/member_*/{name}" for name in LOG_FILES))), "train")
    if _is_fairens_json(folder / FAIRNESS_JSON, ("members", "combine", "groupings")):
        documents = [f"{REPORT}.md", f"{REPORT}.html"]
        adopted |= dict.fromkeys(_matching(folder, (
            FAIRNESS_JSON, GROUPS_CSV, METRICFRAME_CSV, *documents)), "report")
        adopted |= dict.fromkeys(referenced_files(folder, documents, PLOTS_DIR), "report")
    return adopted


def _adopt_models(folder: Path) -> dict[str, str]:
    """Member checkpoints and resume points an earlier version of fairens wrote."""
    return dict.fromkeys(_matching(folder, ("member_*.ckpt", "member_*.partial/last.ckpt",
                                            "member_*.partial/best.ckpt")), "train")


def load_meta(run_dir: str | Path) -> dict[str, Any]:
    """The checked content of a run's ``run.json`` (empty if it has none)."""
    return _read_meta(Path(run_dir) / RUN_JSON)


def load_fairness(run_dir: str | Path) -> FairnessResult:
    """The checked content of a run's ``fairness.json`` (its latest analysis)."""
    publish_pending(run_dir, lambda: open_run(run_dir, create=False))
    path = Path(run_dir) / FAIRNESS_JSON
    if not path.exists():
        raise bad_file(path, f"missing: run `fairens report {run_dir}` first")
    return FairnessResult.from_json(read_json_object(path, "fairness.json, a JSON file"),
                                    where=str(path))


def load_member_summaries(run_dir: str | Path) -> list[dict[str, Any]]:
    """The members' summaries (``members/member_XX.json``: seeds, accuracies, epochs,
    seconds) that can be read, in member order; none for runs trained elsewhere."""
    folder = Path(run_dir) / MEMBERS_DIR
    out = []
    for path in sorted(folder.glob("member_*.json")) if folder.is_dir() else []:
        try:
            out.append(read_json_object(path, "a member summary"))
        except FairensError:
            continue  # informational only: the analysis never reads it
    return out


def member_name(member: int) -> str:
    """``member_03`` for member 3: the stem of its checkpoint and predictions files."""
    return f"member_{member:02d}"


def checkpoint_file(member: int) -> str:
    """Member ``member``'s trained checkpoint, relative to the run's models folder."""
    return f"{member_name(member)}.ckpt"


def checkpoint_path(models_dir: str | Path, member: int) -> Path:
    """Member ``member``'s trained checkpoint in a run's models folder."""
    return Path(models_dir) / checkpoint_file(member)


def resume_file(member: int, which: str) -> str:
    """A member's in-progress checkpoints, relative to the models folder:
    ``member_XX.partial/last.ckpt`` (the resume point) or ``best.ckpt`` (the best epoch)."""
    return f"{member_name(member)}.partial/{which}.ckpt"


def log_dir(member: int) -> str:
    """The member's folder of Lightning CSV learning curves, relative to the run folder."""
    return f"{LOGS_DIR}/{member_name(member)}"


def log_files(member: int) -> list[str]:
    """The member's Lightning CSV learning curves, relative to the run folder."""
    return [f"{log_dir(member)}/{name}" for name in LOG_FILES]


def report_file(run_dir: str | Path, kind: str = "md") -> str:
    """Where a run's report is (``report.md``, or ``report.html`` for kind ``html``)."""
    return f"{str(run_dir).rstrip('/')}/{REPORT}.{kind}"


def predictions_file(member: int, split: str = "test") -> str:
    """Member ``member``'s predictions on ``split`` (test or val), relative to the run."""
    return f"{SPLITS[split][1]}/{member_name(member)}.npz"


def predictions_path(run_dir: str | Path, member: int, split: str = "test") -> Path:
    """Where member ``member``'s predictions on ``split`` (test or val) live."""
    return Path(run_dir) / predictions_file(member, split)


def save_predictions(run: OwnedFolder, member: int, logits: np.ndarray,
                     sample_ids: np.ndarray, split: str = "test") -> Path:
    """Write one member's logits (float32 [N, C]) and sample ids (int64 [N]) on ``split``
    atomically."""
    buffer = io.BytesIO()
    np.savez(buffer, logits=np.asarray(logits, dtype=np.float32),
             sample_id=np.asarray(sample_ids, dtype=np.int64))
    return run.write(predictions_file(member, split), buffer.getvalue(), by="train")


def write_test_groups(run: OwnedFolder, frame: pd.DataFrame, split: str = "test") -> Path:
    """Write ``test_groups.csv`` (or ``val_groups.csv``); ``frame`` has sample_id, label,
    [pair_id], class, then one column per grouping."""
    missing = [c for c in ("sample_id", "label", "class") if c not in frame.columns]
    if missing:
        raise FairensError(f"{split} groups lack the required columns {missing}")
    return run.write(SPLITS[split][0], csv_text(frame, raw=True), by="train")


def write_data_split(run: OwnedFolder, files: pd.DataFrame) -> Path:
    """Write ``data_split.csv``: every image the dataset read (source), its split (train,
    val, test, or dropped) and why it was dropped (reason), its sample_id, and its
    near-duplicate set (duplicate_set, empty for an image alone)."""
    return run.write(DATA_SPLIT, csv_text(files, raw=True), by="train")


def write_run_json(run: OwnedFolder, meta: dict[str, Any]) -> Path:
    """Write ``run.json`` atomically."""
    return run.write(RUN_JSON, json_text(meta), by="train")


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
        validation: the same members' validation predictions (logits [K, N_val, C],
            labels, groups), or None where the run has no ``val_groups.csv``.
        sources: object [N], where each test image came from (``source``), or None.
    """

    logits: np.ndarray
    members: tuple[int, ...]
    labels: np.ndarray
    sample_ids: np.ndarray
    groups: pd.DataFrame
    pair_ids: np.ndarray | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    missing_members: tuple[int, ...] = ()
    validation: RankingData | None = None
    sources: np.ndarray | None = None

    @property
    def class_names(self) -> list[str]:
        """Name of each class index, from the ``class`` column (``str(index)`` if unseen)."""
        names = dict(zip(self.labels.tolist(), self.groups["class"], strict=True))
        return [names.get(c, str(c)) for c in range(self.logits.shape[2])]

    def analyse(self, options: AnalysisOptions | None = None,
                chosen: dict[str, Choice] | None = None) -> Analysis:
        """The analysis of these predictions, with the minorities, pairs and validation
        predictions the run has; without ``options``, the settings the run was trained with
        (run.json), else the defaults; ``chosen``: measure on another run's groups."""
        from .fairness import analyse, run_options
        analysis = analyse(logits=self.logits, labels=self.labels, groups=self.groups,
                           options=options or run_options(self.meta),
                           minority=self.meta.get("data", {}).get("minority") or None,
                           pair_ids=self.pair_ids, validation=self.validation, chosen=chosen)
        return replace(analysis, fairness=replace(analysis.fairness,
                                                  member_ids=list(self.members)))


def load_run(run_dir: str | Path) -> RunPredictions:
    """Read and check ``test_groups.csv`` and ``predictions/`` of a run directory, and its
    validation predictions where it has them."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise bad_file(run_dir, "no such run directory")
    publish_pending(run_dir, lambda: open_run(run_dir, create=False))
    meta = _read_meta(run_dir / RUN_JSON)
    table, files, logits, labels = _load_split(run_dir, "test")
    validation = None
    if (run_dir / VAL_GROUPS).exists():
        val_table, val_files, val_logits, val_labels = _load_split(run_dir, "val",
                                                                   logits.shape[2])
        if tuple(val_files) != tuple(files):
            raise bad_file(run_dir / SPLITS["val"][1], f"holds validation predictions of members "
                                                       f"{name_list(val_files)} where the test "
                                                       f"predictions are of {name_list(files)}")
        validation = RankingData(val_logits, val_labels, grouping_columns(val_table))
    expected = meta.get("ensemble", {}).get("size")
    missing = tuple(sorted(set(range(expected)) - set(files))) if expected is not None else ()
    pair_ids = table["pair_id"].to_numpy(np.int64) if "pair_id" in table.columns else None
    return RunPredictions(
        logits=logits, members=tuple(files), labels=labels,
        sample_ids=table["sample_id"].to_numpy(np.int64), groups=grouping_columns(table),
        pair_ids=pair_ids, meta=meta, missing_members=missing, validation=validation,
        sources=table["source"].to_numpy(dtype=object) if "source" in table.columns else None)


@dataclass(frozen=True)
class RunPaths:
    """Where a run's outputs go: ``results/<run>/``, ``models/<run>/`` and the default
    ``export/<run>/``."""

    name: str
    results: Path
    models: Path
    export: Path

    @classmethod
    def of(cls, paths: Mapping[str, Any], name: str) -> RunPaths:
        """The folders of run ``name`` under the config's ``paths`` (``results``,
        ``models``, ``export``; relative to the working directory)."""
        return cls(name, *(Path(str(paths.get(key, key))) / name
                           for key in ("results", "models", "export")))

    def checkpoint(self, member: int) -> Path:
        """The member's trained checkpoint."""
        return checkpoint_path(self.models, member)

    def member_json(self, member: int) -> str:
        """The member's summary (seeds, accuracies, training time), relative to results."""
        return f"{MEMBERS_DIR}/{member_name(member)}.json"

    def remove_member_leftovers(self, member: int) -> None:
        """Temporary files a killed process left while writing this member's outputs."""
        name = member_name(member)
        remove_leftovers(self.models, [checkpoint_file(member)])
        remove_leftovers(self.models / f"{name}.partial", ["last.ckpt", "best.ckpt"])
        for split in SPLITS:
            remove_leftovers(predictions_path(self.results, member, split).parent,
                             [f"{name}.npz"])
        remove_leftovers(self.results / MEMBERS_DIR, [f"{name}.json"])
        remove_leftovers(self.results / log_dir(member), ["metrics.csv"])


def load_groups(run_dir: str | Path, split: str = "test") -> pd.DataFrame:
    """The checked groups table of ``split`` (``test_groups.csv`` or ``val_groups.csv``):
    ``sample_id`` and ``label`` (and ``pair_id``) as int64, the groupings as text."""
    return _read_test_groups(Path(run_dir) / SPLITS[split][0])


def grouping_columns(table: pd.DataFrame) -> pd.DataFrame:
    """The groupings of a groups table: ``class`` first, without the reserved columns."""
    groupings = [c for c in table.columns if c not in RESERVED_COLUMNS and c != "class"]
    return table[["class", *groupings]].reset_index(drop=True)


def _load_split(run_dir: Path, split: str, n_classes: int | None = None
                ) -> tuple[pd.DataFrame, dict[int, Path], np.ndarray, np.ndarray]:
    """One split's groups table, member files, logits [K, N, C] and labels, checked."""
    groups_file, folder = SPLITS[split]
    if (run_dir / groups_file).exists():
        _check_link(run_dir, run_dir / groups_file)
    table = _read_test_groups(run_dir / groups_file)
    files = _member_files(run_dir, folder)
    sample_ids = table["sample_id"].to_numpy(np.int64)
    first = next(iter(files.values()))
    logits = None
    for index, path in enumerate(files.values()):
        member_logits = _read_member(path, sample_ids, first,
                                     n_classes if logits is None else logits.shape[2],
                                     groups_file)
        if logits is None:  # filled in place: no second copy of every member's logits
            logits = np.empty((len(files), *member_logits.shape), dtype=np.float32)
        logits[index] = member_logits
    n_classes = logits.shape[2]
    labels = table["label"].to_numpy(np.int64)
    if labels.min() < 0 or labels.max() >= n_classes:
        raise bad_file(run_dir / groups_file,
                       f"labels must be class indices in 0..{n_classes - 1} "
                       f"(the logits have {n_classes} columns), "
                       f"found {labels.min()}..{labels.max()}")
    return table, files, logits, labels


def _read_test_groups(path: Path) -> pd.DataFrame:
    if not path.exists():
        raise bad_file(path, f"missing: a run directory needs {path.name} (one row per sample: "
                             "sample_id, label, class, then one column per grouping)")
    regular_file(path, f"{path.name}, a CSV file")
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
            table[column] = _integer_column(path, table[column], column)
    duplicated = table["sample_id"][table["sample_id"].duplicated()]
    if len(duplicated):
        raise bad_file(path, f"sample_id {int(duplicated.iloc[0])} appears more than once")
    return table


def _integer_column(path: Path, text: pd.Series, column: str) -> pd.Series:
    """A column of integer text (``12``, ``-3``, ``7.0``) as int64; the first other value is
    named with its line."""
    valid = text.map(lambda value: bool(_INTEGER.match(value)))
    if not valid.all():
        row = int((~valid).to_numpy().argmax())
        raise bad_file(path, f"column {column} must hold integers of at most 18 digits "
                             f"(line {row + 2}: {text.iloc[row]!r})")
    return text.str.strip().str.replace(r"\.0*$", "", regex=True).astype(np.int64)


def _member_files(run_dir: Path, relative: str) -> dict[int, Path]:
    """Each member's predictions file in ``run_dir/relative``: exactly one per member index,
    named as the contract says (``member_07.npz``), inside the run folder."""
    folder = run_dir / relative
    found: dict[int, Path] = {}
    for path in sorted(folder.glob("member_*.npz")):
        match = _MEMBER_FILE.match(path.name)
        if match is None:
            raise bad_file(path, "not a member predictions file name (expected member_00.npz, "
                                 "member_01.npz, ...)")
        member = int(match.group(1))
        canonical = folder / f"{member_name(member)}.npz"
        if path.name != canonical.name:
            if canonical.exists():
                raise bad_file(path, f"and {canonical.name} both hold the predictions of member "
                                     f"{member}: keep exactly one, named {canonical.name}")
            raise bad_file(path, f"must be named {canonical.name} (the predictions of member "
                                 f"{member}, two digits at least)")
        if member >= MAX_MEMBERS:
            raise bad_file(path, f"member index {member} is not allowed: at most "
                                 f"{MAX_MEMBERS - 1}")
        _check_link(run_dir, path)
        found[member] = regular_file(path, "an .npz file of logits and sample_id")
    if not found:
        raise bad_file(folder, f"no member predictions (expected {relative}/member_00.npz, ...)")
    return found


def _check_link(run_dir: Path, path: Path) -> None:
    target, root = path.resolve(), run_dir.resolve()
    if not target.is_relative_to(root):
        raise bad_file(path, f"leads outside the run folder (to {target}) through a symbolic "
                             "link; a run's tables and predictions must lie inside it")


def _npz_headers(path: Path) -> dict[str, tuple[tuple[int, ...], np.dtype]]:
    """Shape and dtype of each array of an .npz file, read from the headers only."""
    headers = {}
    with zipfile.ZipFile(path) as archive:
        for name in archive.namelist():
            if not name.endswith(".npy"):
                continue
            with archive.open(name) as stream:
                version = np.lib.format.read_magic(stream)
                read = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                        else np.lib.format.read_array_header_2_0)
                shape, _, dtype = read(stream)
            headers[name[:-4]] = (tuple(int(d) for d in shape), dtype)
    return headers


def _read_member(path: Path, sample_ids: np.ndarray, first: Path, n_classes: int | None,
                 groups_file: str = TEST_GROUPS) -> np.ndarray:
    """Logits of one member as float32 [N, C], reordered to ``sample_ids``; shapes are
    checked from the file's headers before anything is allocated."""
    try:
        headers = _npz_headers(path)
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, KeyError) as exc:
        raise bad_file(path, f"not a readable .npz file ({exc})") from exc
    for key in ("logits", "sample_id"):
        if key not in headers:
            raise bad_file(path, f"has no '{key}' array (expected keys: logits, sample_id)")
    (shape, dtype), (id_shape, id_dtype) = headers["logits"], headers["sample_id"]
    if len(shape) != 2 or not np.issubdtype(dtype, np.floating):
        raise bad_file(path, f"logits must be a float array [N, C], got {dtype} {list(shape)}")
    if id_shape != shape[:1] or not np.issubdtype(id_dtype, np.integer):
        raise bad_file(path, f"sample_id must be an integer array of the {shape[0]} rows "
                             f"of logits, got {id_dtype} {list(id_shape)}")
    if shape[0] != len(sample_ids):
        raise bad_file(path, f"predictions do not cover the samples of {groups_file}: "
                             f"{shape[0]} samples where {groups_file} has {len(sample_ids)}")
    if not 1 <= shape[1] <= MAX_CLASSES:
        raise bad_file(path, f"logits have {shape[1]} classes; allowed: 1 to {MAX_CLASSES}")
    if n_classes is not None and shape[1] != n_classes:
        raise bad_file(path, f"has {shape[1]} classes where {first.name} has {n_classes}")
    try:
        with np.load(path, allow_pickle=False) as npz:
            logits, ids = npz["logits"], npz["sample_id"]
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, KeyError) as exc:
        raise bad_file(path, f"not a readable .npz file ({exc})") from exc
    if not np.isfinite(logits).all():
        raise bad_file(path, "logits hold NaN or infinite values")
    largest = float(np.abs(logits).max())
    if largest > float(np.finfo(np.float32).max):
        raise bad_file(path, f"logits exceed the float32 range (largest magnitude {largest:.3g})")
    if not np.array_equal(np.sort(ids), np.sort(sample_ids)):
        unknown = np.setdiff1d(ids, sample_ids)
        detail = (f"unknown sample ids, e.g. {unknown[:3].tolist()}" if len(unknown)
                  else "sample_id holds duplicates")
        raise bad_file(path, f"predictions do not cover the samples of {groups_file}: {detail}")
    by_id = np.argsort(ids)
    order = by_id[np.searchsorted(ids, sample_ids, sorter=by_id)]
    return logits[order].astype(np.float32, copy=False)


def _read_meta(path: Path) -> dict[str, Any]:
    if not path.exists():
        return {}
    meta = read_json_object(path, "run.json, a JSON file")
    _check_meta(path, meta)
    return meta



def _is_str_list(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


def _is_mapping_of(check: Any) -> Any:
    return lambda value: isinstance(value, dict) and all(map(check, value.values()))


def _optional_dict(value: Any) -> bool:
    return value is None or isinstance(value, dict)


# the fields of run.json that fairens reads back, and the types it writes
_META_FIELDS: tuple[tuple[tuple[str, ...], Any, str], ...] = (
    (("run_name",), lambda v: isinstance(v, str), "a string"),
    (("created",), lambda v: isinstance(v, str), "a string"),
    (("ensemble",), lambda v: isinstance(v, dict), "a JSON object"),
    (("ensemble", "size"), lambda v: is_int(v) and 1 <= v <= MAX_MEMBERS,
     f"an integer from 1 to {MAX_MEMBERS}"),
    (("ensemble", "seed"), lambda v: is_int(v) and v >= 0, "a non-negative integer"),
    (("ensemble", "k"), lambda v: is_int(v) and v >= 0, "a non-negative integer"),
    (("ensemble", "vary"), _is_str_list, "a list of source names"),
    (("seeds",), lambda v: isinstance(v, list) and all(isinstance(s, dict) for s in v),
     "a list of JSON objects"),
    (("data",), lambda v: isinstance(v, dict), "a JSON object"),
    (("data", "minority"), _is_mapping_of(_is_str_list),
     "an object mapping each grouping to a list of group names"),
    (("model",), lambda v: isinstance(v, dict), "a JSON object"),
    (("model", "name"), lambda v: isinstance(v, str), "a string"),
    (("model", "params"), is_int, "an integer"),
    (("model", "macs"), lambda v: is_int(v) or isinstance(v, float), "a number"),
    (("model", "input"), lambda v: isinstance(v, list) and all(map(is_int, v)),
     "a list of integers"),
    (("config",), lambda v: isinstance(v, dict), "a JSON object"),
    *((("config", key), _optional_dict, "a JSON object")
      for key in ("model", "data", "trainer", "paths", "ensemble", "report")),
    (("config", "model", "optimizer"), _optional_dict, "a JSON object"),
    (("config", "model", "scheduler"), _optional_dict, "a JSON object or null"),
    (("versions",), _is_mapping_of(lambda v: isinstance(v, str)),
     "an object mapping each library to its version"),
)


def _check_meta(path: Path, meta: dict[str, Any]) -> None:
    """The fields of run.json that fairens reads back have the types it writes."""
    for keys, valid, allowed in _META_FIELDS:
        value, present = meta, True
        for key in keys:
            if not isinstance(value, dict) or key not in value:
                present = False
                break
            value = value[key]
        if present and not valid(value):
            raise bad_file(path, f"{'.'.join(keys)} must be {allowed}, got {value!r:.60}")
