"""``fairens export RUN_DIR``: every member and ensemble of a run as checked ONNX graphs,
int8 variants, ORT-format files, a device bundle and the compression report."""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from omegaconf import OmegaConf
from tqdm.auto import tqdm

from ..ensemble import load_member
from ..errors import UsageError, bad_file, name_list
from ..fairness.result import FairnessResult
from ..files import json_text, write_files
from ..locks import hold
from ..models import get_spec
from ..report.publish import document_outputs
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
from .cascade import THRESHOLDS, cascade_name, cascade_section, evaluate_cascades
from .evaluate import (
    CompressionReport,
    GraphAccuracy,
    chosen_groups,
    compression_document,
    compression_summary,
    grouped_accuracy,
    groupings_of,
)
from .folder import (
    CASCADE_IMAGES,
    COMPRESSION,
    DEVICE_DIR,
    DEVICE_SCRIPT_NAME,
    FORMAT,
    GRAPHS_JSON,
    LOCK,
    MANIFEST,
    open_export,
    sha256,
)
from .graphs import ProbabilityGraph, deploy_form, export_onnx, open_session, parity, run_session
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
        cascades: thresholds of the cascades of the fp32 members (export/cascade.py),
            evaluated and listed for the device bundle's cascade runner; none where ().
    """

    sizes: tuple[int, ...] | None = None
    int8: bool = True
    quantize_members: str = "first"
    ort: bool = True
    calibration: int = 256
    parity_images: int = 256
    exporter: str = "dynamo"
    cascades: tuple[float, ...] = THRESHOLDS


def _trained_meta(run_dir: Path) -> dict[str, Any]:
    """run.json of a run trained by fairens (its config rebuilds the data and models)."""
    meta = load_meta(run_dir)
    missing = [key for key in ("run_name", "ensemble", "model", "config") if key not in meta]
    if missing:
        raise bad_file(run_dir, "no run.json of a fairens run here (export needs one: its config "
                                "rebuilds the data and the models)" if not meta else
                       f"run.json lacks {', '.join(missing)}: export needs a run trained by "
                       "fairens")
    return meta


def _member_checkpoints(meta: dict[str, Any], models: Path) -> list[Path]:
    size = meta["ensemble"]["size"]
    paths = [checkpoint_path(models, m) for m in range(size)]
    missing = [p.name for p in paths if not p.is_file()]
    if len(missing) == size:
        raise bad_file(models, f"no checkpoints of run {meta['run_name']!r} (expected "
                               f"{paths[0].name} ... {paths[-1].name}); train the run first")
    if missing:
        raise bad_file(models, f"checkpoints {name_list(missing)} of run "
                               f"{meta['run_name']!r} are missing; train those members first")
    return paths


def _load_members(checkpoints: list[Path], meta: dict[str, Any]) -> list[torch.nn.Module]:
    """Each member in its deploy form; a checkpoint of another model than run.json's (name,
    input, classes, options) is refused: it would be exported into a mixed ensemble."""
    model = meta["model"]
    expected = {"model": model["name"], "input": list(model.get("input") or []),
                "options": {k: v for k, v in (model.get("options") or {}).items()
                            if k != "checkpoint"}}
    members = []
    for path in checkpoints:
        member = load_member(path)
        hparams = member.hparams
        found = {"model": hparams["model"],
                 "input": [hparams["in_chans"], hparams["img_size"], hparams["img_size"]],
                 "options": dict(hparams.get("model_options") or {})}
        if not expected["input"]:
            found["input"] = []
        if found != expected:
            raise bad_file(path, f"a checkpoint of {found['model']} (input {found['input']}, "
                                 f"options {found['options']}) where run.json names "
                                 f"{expected['model']} (input {expected['input']}, options "
                                 f"{expected['options']}): it is not exported into this run's "
                                 "ensemble")
        members.append(deploy_form(member))
    return members


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


CASCADE_SAMPLE = 1000  # test images the device bundle's cascade runner times


def _cascade_sample(n: int) -> np.ndarray:
    """A fixed random sample of the test images (all of them up to CASCADE_SAMPLE), in order."""
    return np.arange(n) if n <= CASCADE_SAMPLE else np.sort(
        np.random.default_rng(3).choice(n, CASCADE_SAMPLE, replace=False))


def _npy(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array.astype(np.uint8), allow_pickle=False)
    return buffer.getvalue()


def export_run(run_dir: str | Path, *, out: str | Path | None = None,
               models: str | Path | None = None,
               options: ExportOptions = ExportOptions()) -> Path:
    """Export a trained run; returns the export folder (``paths.export/<run folder name>``
    by default: a copy of a run folder exports into its own folder).

    The export folder is marked as the export of this run folder. Everything is staged and
    published in one step when the whole export succeeded: a failure leaves an earlier
    export untouched, and the latency files and anything else fairens export did not write
    there stay.
    """
    run_dir = Path(run_dir)
    meta = _trained_meta(run_dir)
    fairness = load_fairness(run_dir)
    config = OmegaConf.create(meta["config"])
    paths = meta["config"].get("paths") or {}
    models = Path(models) if models is not None else RunPaths.of(paths, meta["run_name"]).models
    out = Path(out) if out is not None else RunPaths.of(paths, run_dir.resolve().name).export
    checkpoints = _member_checkpoints(meta, models)
    sizes = _sizes(options, len(checkpoints))
    members = _load_members(checkpoints, meta)
    spec = get_spec(meta["model"]["name"])
    data = load_data(config, spec)
    groups = load_groups(run_dir)
    if groups["sample_id"].tolist() != data.test.sample_ids.tolist():
        raise bad_file(run_dir / TEST_GROUPS, "its samples are not the test split the run's "
                                              "config loads now; was the dataset changed?")
    folder = open_export(out, run_dir)
    folder.check([MANIFEST, GRAPHS_JSON, DEVICE_SCRIPT_NAME], "export")
    with hold(folder.path / LOCK, f"export folder {out}"), \
            folder.publishing(by="export") as staging:
        manifest = _export_all(_Trained(members, data, groups, meta, fairness), sizes, staging,
                               options, out.resolve().name)
        (staging / MANIFEST).write_text(json_text({
            **manifest, "run_dir": str(run_dir.resolve()),
            "models_dir": str(models.resolve())}), encoding="utf-8")
    return out


def _graph_plan(n_members: int, sizes: list[int], options: ExportOptions) -> list[dict]:
    plan = [{"name": member_name(m), "kind": "member", "members": [m],
             "int8": options.int8 and (options.quantize_members == "all" or m == 0)}
            for m in range(n_members)]
    plan += [{"name": f"ensemble_{m:02d}", "kind": "ensemble", "members": list(range(m)),
              "int8": options.int8} for m in sizes]
    return plan


@dataclass(frozen=True)
class _Trained:
    """The trained run being exported: its members, data, test groups (test_groups.csv),
    run.json and latest analysis."""

    members: list
    data: Any
    groups: pd.DataFrame
    meta: dict[str, Any]
    fairness: FairnessResult


@dataclass(frozen=True)
class _Images:
    """The images graphs are run on: the test set, the parity check's and calibration's."""

    test: np.ndarray
    check: np.ndarray
    calibration: np.ndarray


def _export_graph(entry: dict[str, Any], trained: _Trained, images: _Images, device: Path,
                  options: ExportOptions) -> dict[str, tuple[Path, float | None]]:
    """One graph of the plan in fp32 (checked against PyTorch) and, where planned, int8:
    per precision, its file and the parity difference (fp32 only)."""
    model = trained.meta["model"]["name"]
    module = ProbabilityGraph([trained.members[m] for m in entry["members"]]).eval()
    fp32 = export_onnx(module, device / f"{entry['name']}.onnx",
                       torch.from_numpy(images.check[:2]), options.exporter)
    files = {"fp32": (fp32, parity(fp32, module, images.check, model))}
    if entry["int8"]:
        files |= {precision: (path, None) for precision, path in
                  quantize(fp32, images.calibration).items()}
    return files


def _export_all(trained: _Trained, sizes: list[int], folder: Path, options: ExportOptions,
                run: str) -> dict[str, Any]:
    """Every graph, its int8 and ORT variants, the compression report and the device
    bundle, written into the staging ``folder``; returns the content of export.json."""
    device = folder / DEVICE_DIR
    data, meta, fairness = trained.data, trained.meta, trained.fairness
    images = _Images(_images(data.test), _images(data.test, options.parity_images, seed=1),
                     _images(data.train, options.calibration, seed=2))
    test, check = images.test, images.check
    labels = data.test.labels.numpy()
    k = fairness.k  # of the latest analysis: `fairens report --k 5` changes it here too
    chosen = chosen_groups(fairness)
    groupings = [g for g in groupings_of(grouping_columns(trained.groups), labels)
                 if g.name in chosen]
    model = meta["model"]["name"]
    graphs, accuracy, member_probs = [], {}, []
    plan = _graph_plan(len(trained.members), sizes, options)
    # disable=None: no bar where output is not a terminal (a log file, a batch job)
    for entry in tqdm(plan, desc="exporting", unit="graph",
                      disable=True if len(plan) < 3 else None):
        accuracy[entry["name"]] = {}
        for precision, (path, difference) in _export_graph(entry, trained, images, device,
                                                           options).items():
            probs = run_session(open_session(path, model=model), test)
            correct = probs.argmax(axis=1) == labels
            accuracy[entry["name"]][precision] = GraphAccuracy(
                float(correct.mean()),
                {g.name: grouped_accuracy(correct, g, chosen[g.name]) for g in groupings},
                len(correct))
            record = {"name": entry["name"], "kind": entry["kind"],
                      "members": len(entry["members"]), "precision": precision,
                      "onnx": f"{DEVICE_DIR}/{path.name}", "parity_max_abs_diff": difference,
                      "bytes": path.stat().st_size, "sha256": sha256(path)}
            if options.ort:
                ort_file = to_ort_format(path, check[:16])
                record |= {"ort": f"{DEVICE_DIR}/{ort_file.name}", "ort_sha256": sha256(ort_file)}
            graphs.append(record)
            if entry["kind"] == "member" and precision == "fp32":
                member_probs.append(probs)
    cascades = []
    if len(member_probs) > 1:
        for name, result in evaluate_cascades(np.stack(member_probs), labels, groupings,
                                              chosen, options.cascades).items():
            accuracy[name] = {"fp32": result}
        members = [g["onnx"] for g in graphs if g["kind"] == "member"
                   and g["precision"] == "fp32"]
        cascades = [{"name": cascade_name(t), "kind": "cascade", "threshold": t,
                     "members": len(members), "precision": "fp32", "graphs": members}
                    for t in options.cascades]
    summary = compression_summary(accuracy)
    doc = compression_document(accuracy, summary, f"fairens compression report: {run}")
    cascade_section(doc, accuracy, cascades)
    bundle = {"run": run, "model": model, "input": [int(d) for d in test.shape[1:]],
              "classes": len(data.classes)}
    outputs = document_outputs(COMPRESSION, doc, {
        f"{COMPRESSION}.json": json_text(CompressionReport(accuracy, summary).to_json()),
        # the device bundle names files relative to itself
        GRAPHS_JSON: json_text({**bundle, "graphs": [
            {key: Path(g[key]).name if key in ("onnx", "ort") else g[key]
             for key in ("name", "kind", "members", "precision", "onnx", "sha256", "ort",
                         "ort_sha256") if key in g}
            for g in graphs], **({"cascades": [
                {**c, "graphs": [Path(f).name for f in c["graphs"]]} for c in cascades],
                "cascade_images": Path(CASCADE_IMAGES).name} if cascades else {})}),
        **({CASCADE_IMAGES: _npy(test[_cascade_sample(len(test))])} if cascades else {}),
        DEVICE_SCRIPT_NAME: DEVICE_SCRIPT.read_text(encoding="utf-8")})
    write_files(folder, outputs)
    return {"format": FORMAT, **bundle, "graphs": graphs,
            **({"cascades": cascades} if cascades else {}), "model_profile": meta["model"],
            "k": k, "options": {**options.__dict__, "sizes": sizes}}
