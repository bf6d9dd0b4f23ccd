"""``fairens export RUN_DIR``: every member and ensemble of a run as checked ONNX graphs,
int8 variants, ORT-format files, a device bundle and the compression report."""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from omegaconf import OmegaConf
from tqdm.auto import tqdm

from ..ensemble import load_member
from ..errors import UsageError, bad_file
from ..files import (
    STAGING_MARKER,
    remove_staging_leftovers,
    staging_dir,
    write_json,
    write_text,
)
from ..locks import hold
from ..models import get_spec
from ..report.write import write_document
from ..rundir import (
    TEST_GROUPS,
    RunPaths,
    checkpoint_path,
    grouping_columns,
    load_fairness,
    load_groups,
    load_meta,
    member_name,
)
from ..settings import load_data
from .evaluate import (
    chosen_groups,
    compression_document,
    compression_summary,
    grouped_accuracy,
    groupings_of,
)
from .graphs import ProbabilityGraph, deploy_form, export_onnx, open_session, parity, run_session
from .manifest import DEVICE_DIR, FORMAT, MANIFEST, is_export, sha256
from .quantize import quantize, to_ort_format

DEVICE_SCRIPT = Path(__file__).with_name("bench_device.py")


@dataclass(frozen=True)
class ExportOptions:
    """What ``fairens export`` produces.

    Attributes:
        sizes: ensemble sizes m exported as one graph of the first m members (None: 2..K).
        int8: whether to write the int8 variants.
        quantize_members: ``first`` (member_00 only) or ``all`` members get int8 variants;
            ensemble graphs always do.
        ort: whether to write ORT-format files.
        calibration: training images for static quantization.
        parity_images: test images of the parity check.
        exporter: ``dynamo`` (torch's default) or ``torchscript`` (faster, deprecated).
    """

    sizes: tuple[int, ...] | None = None
    int8: bool = True
    quantize_members: str = "first"
    ort: bool = True
    calibration: int = 256
    parity_images: int = 256
    exporter: str = "dynamo"


def _read_meta(run_dir: Path) -> dict[str, Any]:
    """run.json of a run trained by fairens (its config rebuilds the data and models)."""
    meta = load_meta(run_dir)
    missing = [key for key in ("run_name", "ensemble", "model", "config") if key not in meta]
    if missing:
        raise bad_file(run_dir, "no run.json of a fairens run here (export needs one: its config "
                                "rebuilds the data and the models)" if not meta else
                       f"run.json lacks {', '.join(missing)}: export needs a run trained by "
                       "fairens")
    return meta


def _check_out(out: Path) -> None:
    """An export may only replace a folder that is itself an earlier export (or is empty)."""
    if out.is_symlink():
        raise bad_file(out, "is a symbolic link; give the export folder itself (an export never "
                            "replaces or writes through links)")
    if not out.exists():
        return
    if not out.is_dir():
        raise bad_file(out, "is a file, not an export folder; choose a new folder for --out")
    if any(out.iterdir()) and not is_export(out):
        raise bad_file(out, "holds files that are not an earlier fairens export (no export.json "
                            "listing its graphs), so it is not replaced; choose a new or empty "
                            "folder for --out")


def _member_checkpoints(meta: dict[str, Any], models: Path) -> list[Path]:
    size = meta["ensemble"]["size"]
    paths = [checkpoint_path(models, m) for m in range(size)]
    missing = [p.name for p in paths if not p.is_file()]
    if len(missing) == size:
        raise bad_file(models, f"no checkpoints of run {meta['run_name']!r} (expected "
                               f"{paths[0].name} ... {paths[-1].name}); train the run first")
    if missing:
        raise bad_file(models, f"checkpoints {', '.join(missing)} of run {meta['run_name']!r} "
                               "are missing; train those members first")
    return paths


def _sizes(options: ExportOptions, n_members: int) -> list[int]:
    sizes = list(range(2, n_members + 1)) if options.sizes is None else sorted(set(options.sizes))
    bad = [m for m in sizes if not 1 <= m <= n_members]
    if bad:
        raise UsageError(f"--sizes {','.join(map(str, bad))} is not allowed: ensemble sizes "
                         f"from 1 to {n_members}")
    return [m for m in sizes if m > 1]


def _images(split, count: int | None = None, seed: int = 0) -> np.ndarray:
    index = np.arange(len(split)) if count is None or count >= len(split) else np.sort(
        np.random.default_rng(seed).choice(len(split), count, replace=False))
    return split.images[torch.from_numpy(index)].float().numpy()


def export_run(run_dir: str | Path, *, out: str | Path | None = None,
               models: str | Path | None = None,
               options: ExportOptions = ExportOptions()) -> Path:
    """Export a trained run; returns the export folder (``export/<run>`` by default).

    Everything is written into a new folder that replaces the previous export only when
    the whole export succeeded, so a failure leaves an earlier export untouched.
    """
    run_dir = Path(run_dir)
    meta = _read_meta(run_dir)
    fairness = load_fairness(run_dir)
    config = OmegaConf.create(meta["config"])
    name = meta["run_name"]
    folders = RunPaths.of(meta["config"].get("paths") or {}, name)
    models = Path(models) if models is not None else folders.models
    out = Path(out) if out is not None else folders.export
    _check_out(out)
    checkpoints = _member_checkpoints(meta, models)
    sizes = _sizes(options, len(checkpoints))
    members = [deploy_form(load_member(p)) for p in checkpoints]
    spec = get_spec(meta["model"]["name"])
    data = load_data(config, spec)
    groups = load_groups(run_dir)
    if groups["sample_id"].tolist() != data.test.sample_ids.tolist():
        raise bad_file(run_dir / TEST_GROUPS, "its samples are not the test split the run's "
                                              "config loads now; was the dataset changed?")
    out.parent.mkdir(parents=True, exist_ok=True)
    with hold(out.parent / f".{out.name}.lock", f"export folder {out}"):
        _check_out(out)  # another export may have finished while this one loaded
        remove_staging_leftovers(out)
        staging = staging_dir(out)
        try:
            manifest = _export_all(members, sizes, data, groups, meta, fairness, staging,
                                   options)
            write_json(staging / MANIFEST, {**manifest, "run_dir": str(run_dir.resolve()),
                                            "models_dir": str(models.resolve())})
            _replace(staging, out)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return out


def _replace(staging: Path, out: Path) -> None:
    """Swap the new export in for the old one (renames only); the old one first moves to a
    marked staging name, so a crash between the renames leaves nothing unrecognisable."""
    backup = None
    if out.exists():
        backup = staging_dir(out)
        (backup / STAGING_MARKER).unlink()  # an empty folder, which the rename replaces
        os.replace(out, backup)
        (backup / STAGING_MARKER).touch()
    os.replace(staging, out)
    if backup is not None:
        shutil.rmtree(backup)


def _graph_plan(n_members: int, sizes: list[int], options: ExportOptions) -> list[dict]:
    plan = [{"name": member_name(m), "kind": "member", "members": [m],
             "int8": options.int8 and (options.quantize_members == "all" or m == 0)}
            for m in range(n_members)]
    plan += [{"name": f"ensemble_{m:02d}", "kind": "ensemble", "members": list(range(m)),
              "int8": options.int8} for m in sizes]
    return plan


def _export_all(members: list, sizes: list[int], data, groups: pd.DataFrame,
                meta: dict[str, Any], fairness: dict[str, Any], folder: Path,
                options: ExportOptions) -> dict[str, Any]:
    device = folder / DEVICE_DIR
    test = _images(data.test)
    check = _images(data.test, options.parity_images, seed=1)
    calibration = _images(data.train, options.calibration, seed=2)
    labels = data.test.labels.numpy()
    k = fairness["k"]  # of the latest analysis: `fairens report --k 5` changes it here too
    chosen = chosen_groups(fairness)
    groupings = [g for g in groupings_of(grouping_columns(groups), labels) if g.name in chosen]
    sample = torch.from_numpy(check[:2])
    model = meta["model"]["name"]
    graphs, accuracy = [], {}
    plan = _graph_plan(len(members), sizes, options)
    # disable=None: no bar where output is not a terminal (a log file, a batch job)
    for entry in tqdm(plan, desc="exporting", unit="graph",
                      disable=True if len(plan) < 3 else None):
        module = ProbabilityGraph([members[m] for m in entry["members"]]).eval()
        fp32 = export_onnx(module, device / f"{entry['name']}.onnx", sample, options.exporter)
        files = {"fp32": fp32}
        difference = parity(fp32, module, check, model)
        if entry["int8"]:
            files |= quantize(fp32, calibration)
        accuracy[entry["name"]] = {}
        for precision, path in files.items():
            probs = run_session(open_session(path, model=model), test)
            correct = probs.argmax(axis=1) == labels
            accuracy[entry["name"]][precision] = {
                "overall": float(correct.mean()),
                "groupings": {g.name: grouped_accuracy(correct, g, chosen[g.name])
                              for g in groupings}}
            record = {"name": entry["name"], "kind": entry["kind"],
                      "members": len(entry["members"]), "precision": precision,
                      "onnx": f"{DEVICE_DIR}/{path.name}",
                      "parity_max_abs_diff": difference if precision == "fp32" else None,
                      "bytes": path.stat().st_size, "sha256": sha256(path)}
            if options.ort:
                ort_file = to_ort_format(path, check[:16])
                record |= {"ort": f"{DEVICE_DIR}/{ort_file.name}", "ort_sha256": sha256(ort_file)}
            graphs.append(record)
    summary = compression_summary(accuracy)
    doc = compression_document(accuracy, summary, f"fairens compression report: {meta['run_name']}")
    write_json(folder / "compression.json", {"accuracy": accuracy, "change": summary})
    write_document(folder, "compression", doc)
    bundle = {"run": meta["run_name"], "model": model, "input": [int(d) for d in test.shape[1:]],
              "classes": len(data.classes)}
    # the device bundle names files relative to itself
    write_json(device / "graphs.json", {**bundle, "graphs": [
        {key: Path(g[key]).name if key in ("onnx", "ort") else g[key]
         for key in ("name", "kind", "members", "precision", "onnx", "sha256", "ort",
                     "ort_sha256") if key in g}
        for g in graphs]})
    write_text(device / "bench_device.py", DEVICE_SCRIPT.read_text(encoding="utf-8"))
    return {"format": FORMAT, **bundle, "graphs": graphs, "model_profile": meta["model"], "k": k,
            "options": {**options.__dict__, "sizes": sizes}}
