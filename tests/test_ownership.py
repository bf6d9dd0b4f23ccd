"""Ownership: every command writes, replaces and removes only what fairens created there
(docs/run-directory.md, "Ownership"), and a refusal names the file and changes nothing."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from fairens.cli import main
from fairens.errors import FairensError
from fairens.ownership import MANIFEST, open_folder, read_manifest
from fairens.rundir import load_fairness, open_run

from conftest import REPO, foreign_groups, make_run, output_files

USER = b"a user's own bytes"


def _snapshot(root: Path) -> dict[Path, bytes]:
    """Every file under ``root`` but lock files (which record their last holder)."""
    return {p: p.read_bytes() for p in output_files(root) if not p.name.endswith(".lock")}


def _refused(argv: list[str], capsys) -> str:
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code in (1, 2)
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1, lines
    return lines[0]


def _copy_export(exported_run: Path, tmp_path: Path) -> Path:
    root = tmp_path / "copy"
    shutil.copytree(exported_run, root, symlinks=True)
    return root


def _quick() -> list[str]:
    return ["--no-int8", "--no-ort", "--sizes", "2", "--exporter", "torchscript"]


def test_report_keeps_a_users_report_and_plots_in_a_foreign_run(tmp_path: Path,
                                                                 capsys) -> None:
    run = make_run(tmp_path / "run")
    (run / "plots").mkdir()
    (run / "plots" / "training_curve.png").write_bytes(USER)
    (run / "report.md").write_bytes(USER)
    before = _snapshot(tmp_path)
    line = _refused(["report", str(run)], capsys)
    assert line == (f"error: {run}/report.md: a file fairens did not write; it is left as it "
                    "is: move it away, or choose another folder")
    assert {p: b for p, b in _snapshot(tmp_path).items() if p.name != MANIFEST} == before
    (run / "report.md").rename(tmp_path / "my-report.md")
    main(["report", str(run)])
    main(["report", str(run), "--k", "1"])  # replaces its own outputs
    assert (run / "plots" / "training_curve.png").read_bytes() == USER
    assert (tmp_path / "my-report.md").read_bytes() == USER
    owned = read_manifest(run)["files"]
    assert "plots/training_curve.png" not in owned and "test_groups.csv" not in owned
    assert {"fairness.json", "report.md", "report.html"} <= set(owned)


def test_a_report_never_replaces_a_file_changed_since_fairens_wrote_it(tmp_path: Path,
                                                                      capsys) -> None:
    run = make_run(tmp_path / "run")
    main(["report", str(run)])
    (run / "report.md").write_text("my edits of the report")
    line = _refused(["report", str(run)], capsys)
    assert line == (f"error: {run}/report.md: changed since fairens wrote it; it is left as "
                    "it is: move it away to keep it, then run the command again")
    assert (run / "report.md").read_text() == "my edits of the report"


@pytest.mark.slow
def test_reexport_keeps_measured_latency_and_the_users_notes(exported_run: Path,
                                                            tmp_path: Path) -> None:
    root = _copy_export(exported_run, tmp_path)
    export = root / "export" / "test"
    phone = json.loads((export / "device" / "graphs.json").read_text())
    results = [{"graph": g["name"], "kind": g["kind"], "members": g["members"],
                "precision": g["precision"], "format": "ort", "threads": 1, "p50_ms": 2.0,
                "p90_ms": 2.5} for g in phone["graphs"]]
    (tmp_path / "latency-pixel7.json").write_text(json.dumps(
        {"device": "pixel7", "run": "test", "results": results}))
    main(["bench", "ingest", str(tmp_path / "latency-pixel7.json"), "--into", str(export)])
    (export / "latency-host.json").write_text(json.dumps(  # as fairens bench would
        {"device": "host", "run": "test", "results": results}))
    open_folder(export, "export").settle(["latency-host.json"], by="bench")
    (export / "NOTES.md").write_bytes(USER)
    kept = {name: (export / name).read_bytes()
            for name in ("latency-pixel7.json", "latency-host.json", "NOTES.md")}
    main(["export", str(root / "results" / "test"), "--models", str(root / "models" / "test"),
          "--out", str(export), *_quick()])
    assert {name: (export / name).read_bytes() for name in kept} == kept
    assert (export / "export.json").is_file()
    graphs = json.loads((export / "export.json").read_text())["graphs"]
    assert {g["name"] for g in graphs} == {"member_00", "member_01", "ensemble_02"}


@pytest.mark.slow
def test_exporting_a_copy_of_a_run_never_touches_the_originals_export(exported_run: Path,
                                                                      tmp_path: Path) -> None:
    root = _copy_export(exported_run, tmp_path)
    results = root / "results"
    meta = json.loads((results / "test" / "run.json").read_text())
    meta["config"]["paths"] = {key: str(root / key) for key in ("results", "models", "export")}
    (results / "test" / "run.json").write_text(json.dumps(meta))  # the copy's own folders
    original = _snapshot(root / "export" / "test")
    shutil.copytree(results / "test", results / "test_k1")  # cp -r, as a user would
    main(["report", str(results / "test_k1"), "--k", "1"])
    main(["export", str(results / "test_k1"), *_quick()])
    assert (root / "export" / "test_k1" / "export.json").is_file()
    assert _snapshot(root / "export" / "test") == original


def test_an_export_folder_of_another_run_is_refused(exported_run: Path, tmp_path: Path,
                                                    capsys) -> None:
    root = _copy_export(exported_run, tmp_path)
    shutil.copytree(root / "results" / "test", root / "results" / "other")
    export = root / "export" / "test"
    before = _snapshot(export)
    line = _refused(["export", str(root / "results" / "other"), "--models",
                     str(root / "models" / "test"), "--out", str(export), *_quick()], capsys)
    assert line == (f"error: {export}: the export of ../../results/test, not of "
                    "../../results/other; choose another folder")
    assert _snapshot(export) == before


def test_devices_whose_names_differ_get_their_own_latency_files(exported_run: Path,
                                                                 tmp_path: Path) -> None:
    export = _copy_export(exported_run, tmp_path) / "export" / "test"
    graph = json.loads((export / "device" / "graphs.json").read_text())["graphs"][0]
    files = []
    for device in ("pixel 7", "pixel-7"):
        path = tmp_path / f"{device}.json"
        path.write_text(json.dumps({"device": device, "run": "test", "results": [
            {"graph": graph["name"], "precision": graph["precision"], "format": "onnx",
             "threads": 1, "p50_ms": 1.0, "p90_ms": 1.5}]}))
        files.append(str(path))
    main(["bench", "ingest", *files, "--into", str(export)])
    devices = {json.loads(p.read_text())["device"] for p in export.glob("latency-*.json")}
    assert devices == {"pixel 7", "pixel-7"}


BAD_LATENCY = {
    "an unknown graph": ({"graph": "ensemble_99"}, "results[0] measures graph 'ensemble_99'"),
    "an unknown precision": ({"precision": "int4"}, "in 'int4', which the export does not hold"),
    "a text p50": ({"p50_ms": "fast"}, "results[0].p50_ms must be a non-negative number of ms, "
                                       "got 'fast'"),
    "a list of threads": ({"threads": [1, 2]}, "results[0].threads must be a positive integer, "
                                               "got [1, 2]"),
}


@pytest.mark.parametrize("case", sorted(BAD_LATENCY))
def test_a_bad_latency_file_is_refused_before_it_is_saved(exported_run: Path, tmp_path: Path,
                                                          capsys, case: str) -> None:
    export = _copy_export(exported_run, tmp_path) / "export" / "test"
    graph = json.loads((export / "device" / "graphs.json").read_text())["graphs"][0]
    result = {"graph": graph["name"], "precision": graph["precision"], "format": "onnx",
              "threads": 1, "p50_ms": 1.0, "p90_ms": 1.5, **BAD_LATENCY[case][0]}
    path = tmp_path / "latency-phone.json"
    path.write_text(json.dumps({"device": "phone", "run": "test", "results": [result]}))
    before = _snapshot(export)
    line = _refused(["bench", "ingest", str(path), "--into", str(export)], capsys)
    assert line.startswith(f"error: {path}: ") and BAD_LATENCY[case][1] in line, line
    assert _snapshot(export) == before
    main(["frontier", str(export), "--out", str(tmp_path / "frontier")])  # still readable


@pytest.mark.parametrize("command", ["compare", "frontier"])
def test_out_folders_with_a_users_files_are_refused(exported_run: Path, tmp_path: Path,
                                                    capsys, command: str) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / f"{command}.md").write_bytes(USER)
    if command == "compare":
        argv = ["compare", str(make_run(tmp_path / "a")), str(make_run(tmp_path / "b")),
                "--out", str(out)]
    else:
        argv = ["frontier", str(exported_run / "export" / "test"), "--out", str(out)]
    line = _refused(argv, capsys)
    kind = {"compare": "comparison", "frontier": "frontier"}[command]
    assert line == (f"error: {out}: holds files fairens did not write ({command}.md), so it "
                    f"writes no {kind} here; choose a new or empty folder")
    assert sorted(p.name for p in out.iterdir()) == [f"{command}.md"]
    assert (out / f"{command}.md").read_bytes() == USER


def _foreign_files(folder: Path) -> dict[Path, bytes]:
    """A user's files in ``folder``, under names fairens never writes."""
    files = {folder / "NOTES.md": USER, folder / "plots" / "mine.png": USER,
             folder / "data" / "keep.csv": USER}
    for path, content in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
    return files


def _every_command(root: Path, out: dict[str, Path]) -> None:
    run, export = root / "results" / "test", root / "export" / "test"
    subprocess.run([sys.executable, str(REPO / "train.py"), f"paths.results={root}/results",
                    f"paths.models={root}/models", f"paths.export={root}/export",
                    "run_name=test", "trainer.max_epochs=2", "trainer.accelerator=cpu",
                    "trainer.enable_progress_bar=false", "ensemble.size=2"], check=True,
                   capture_output=True, timeout=600)
    main(["report", str(run), "--k", "1"])
    main(["export", str(run), "--models", str(root / "models" / "test"), "--out", str(export),
          *_quick()])
    main(["bench", str(export), "--threads", "1", "--no-eager"])
    main(["compare", str(run), str(run), "--out", str(out["cmp"])])
    main(["frontier", str(export), "--out", str(out["frontier"])])


@pytest.mark.slow
def test_every_command_changes_only_files_its_manifest_lists(exported_run: Path,
                                                             tmp_path: Path) -> None:
    """Run every command into folders that fairens wrote and a user then added files to:
    afterwards each file that changed, appeared or went is one the folder's manifest lists
    (or fairens's own bookkeeping), and every user file is as it was."""
    root = _copy_export(exported_run, tmp_path)
    out = {name: tmp_path / name for name in ("cmp", "frontier")}
    _every_command(root, out)
    folders = [root / "results" / "test", root / "export" / "test", root / "models" / "test",
               *out.values()]
    user = {}
    for folder in folders:
        user |= _foreign_files(folder)
    before = _snapshot(tmp_path)
    _every_command(root, out)
    after = _snapshot(tmp_path)
    assert all(after[path] == content for path, content in user.items())
    changed = {p for p in set(before) | set(after) if before.get(p) != after.get(p)}
    assert changed  # the commands did write
    for path in changed:
        folder = next(f for f in folders if path.is_relative_to(f))
        relative = path.relative_to(folder).as_posix()
        listed = {**read_manifest(folder)["files"]}
        assert relative in listed or relative.startswith(".fairens-") or \
            relative in _listed_before(before, folder), path


def _listed_before(snapshot: dict[Path, bytes], folder: Path) -> set[str]:
    """The files the manifest listed before the commands ran (a file removed since, such as
    a figure a report no longer draws, was listed then)."""
    manifest = snapshot.get(folder / MANIFEST)
    return set(json.loads(manifest)["files"]) if manifest else set()


def test_a_killed_publish_is_finished_by_the_next_reader(tmp_path: Path, monkeypatch) -> None:
    run = make_run(tmp_path / "run")
    main(["report", str(run)])
    old = {name: (run / name).read_bytes() for name in ("fairness.json", "report.md")}
    from fairens import ownership

    def killed(self, manifest, journal) -> None:  # the journal is written, nothing moved
        raise KeyboardInterrupt
    monkeypatch.setattr(ownership.OwnedFolder, "_apply", killed)
    with pytest.raises(KeyboardInterrupt):
        main(["report", str(run), "--combine", "vote"])
    monkeypatch.undo()
    assert (run / ".fairens-publish.json").is_file()
    assert {name: (run / name).read_bytes() for name in old} == old  # all old so far
    assert load_fairness(run).combine == "vote"  # the reader finished it: all new
    assert "combined by their majority vote" in (run / "report.md").read_text()
    assert not (run / ".fairens-publish.json").exists()
    assert not list(run.glob(".fairens-staging-*"))


def test_a_report_that_fails_halfway_leaves_every_earlier_output(tmp_path: Path,
                                                                capsys) -> None:
    run = make_run(tmp_path / "run")
    main(["report", str(run)])
    before = _snapshot(run)
    (run / "plots").rename(tmp_path / "plots")
    (run / "plots").write_bytes(USER)  # a file where the report keeps its figures
    line = _refused(["report", str(run), "--k", "1"], capsys)
    assert line.startswith(f"error: {run}/plots: a file where fairens keeps a folder of its "
                           "outputs")
    assert {p: b for p, b in _snapshot(run).items() if "plots" not in p.parts} == \
        {p: b for p, b in before.items() if "plots" not in p.parts}


def test_long_grouping_names_get_usable_figure_names(tmp_path: Path) -> None:
    run = make_run(tmp_path / "run")
    table = pd.read_csv(run / "test_groups.csv", dtype=str)
    table = table.rename(columns={"site": "s" * 300})
    foreign_groups(run, table)
    main(["report", str(run)])
    assert all(len(p.name) <= 120 for p in (run / "plots").iterdir())


def test_markers_and_locks_are_never_written_through_links(tmp_path: Path) -> None:
    run = make_run(tmp_path / "run")
    victim = tmp_path / "victim.txt"
    victim.write_bytes(USER)
    os.link(victim, run / ".lock")  # a hard link where the run's lock goes
    with pytest.raises(FairensError, match=r"\.lock: has another name \(a hard link\)"):
        main_report = __import__("fairens.report", fromlist=["write_report"]).write_report
        main_report(run)
    assert victim.read_bytes() == USER
    (run / ".lock").unlink()
    (run / MANIFEST).unlink(missing_ok=True)
    (run / MANIFEST).symlink_to(victim)
    with pytest.raises(FairensError, match="is a symbolic link where fairens keeps its "
                                           "manifest"):
        open_run(run)
    assert victim.read_bytes() == USER


def test_a_folder_of_an_earlier_version_is_adopted_once(tmp_path: Path) -> None:
    run = make_run(tmp_path / "run")
    main(["report", str(run)])
    (run / MANIFEST).unlink()  # as an earlier version of fairens left it
    (run / "NOTES.md").write_bytes(USER)
    main(["report", str(run), "--k", "1"])
    owned = read_manifest(run)["files"]
    assert {"fairness.json", "report.md", "groups.csv"} <= set(owned)
    assert "NOTES.md" not in owned and (run / "NOTES.md").read_bytes() == USER


def test_group_names_with_markup_are_escaped_in_markdown(tmp_path: Path) -> None:
    run = make_run(tmp_path / "run")
    table = pd.read_csv(run / "test_groups.csv", dtype=str)
    table["site"] = table["site"].map({"north": '"><img src=x onerror=alert(1)>',
                                       "south": "<script>x</script>"})
    foreign_groups(run, table)
    main(["report", str(run)])
    markdown = (run / "report.md").read_text()
    for tag in ("<img", "<script", "</script"):
        assert markdown.count(tag) == markdown.count("\\" + tag), tag


def test_a_test_groups_table_linked_outside_the_run_is_refused(tmp_path: Path,
                                                              capsys) -> None:
    run = make_run(tmp_path / "run")
    (run / "test_groups.csv").rename(tmp_path / "elsewhere.csv")
    (run / "test_groups.csv").symlink_to(tmp_path / "elsewhere.csv")
    line = _refused(["report", str(run)], capsys)
    assert line.startswith(f"error: {run}/test_groups.csv: leads outside the run folder")


def test_a_run_json_announcing_many_members_gives_a_short_message(tmp_path: Path,
                                                                  capsys) -> None:
    run = make_run(tmp_path / "run", n_members=2)
    (run / "run.json").write_text(json.dumps({"ensemble": {"size": 10_000}}))
    line = _refused(["report", str(run)], capsys)
    assert line == (f"error: {run}: members 2, 3, 4, 5, 6 and 9,993 more of 10000 have no "
                    "predictions yet; train them (python train.py ensemble.member=... "
                    "run_name=...) before reporting")


DEEP = "[" * 100_000 + "]" * 100_000


@pytest.mark.parametrize("name", ["run.json", "fairness.json"])
def test_json_nested_too_deeply_is_one_line(tmp_path: Path, capsys, name: str) -> None:
    run = make_run(tmp_path / "run")
    (run / name).write_text(DEEP)
    argv = ["report", str(run)] if name == "run.json" else ["export", str(run)]
    line = _refused(argv, capsys)
    assert "nested too deeply to be a file fairens reads" in line or \
        "no run.json of a fairens run" in line, line


BAD_META = {
    "vary of numbers": ({"ensemble": {"vary": [1, 2]}}, "ensemble.vary must be a list of "
                                                         "source names, got [1, 2]"),
    "seeds as text": ({"seeds": "abc"}, "seeds must be a list of JSON objects, got 'abc'"),
    "versions as a list": ({"versions": ["torch"]}, "versions must be an object mapping each "
                                                    "library to its version"),
    "trainer as a list": ({"config": {"trainer": [1]}}, "config.trainer must be a JSON object"),
}


@pytest.mark.parametrize("case", sorted(BAD_META))
def test_run_json_fields_of_the_wrong_type_are_one_line(tmp_path: Path, capsys,
                                                        case: str) -> None:
    run = make_run(tmp_path / "run")
    (run / "run.json").write_text(json.dumps(BAD_META[case][0]))
    line = _refused(["report", str(run)], capsys)
    assert line.startswith(f"error: {run}/run.json: {BAD_META[case][1]}"), line


def test_a_one_sample_test_set_is_one_line(tmp_path: Path, capsys) -> None:
    run = make_run(tmp_path / "run", n=1)
    line = _refused(["report", str(run)], capsys)
    assert line == ("error: the test set has 1 sample: an analysis compares groups of samples "
                    "and needs at least 2")
    assert sorted(p.name for p in run.iterdir()) == [MANIFEST, ".fairens-manifest.lock",
                                                     "predictions", "test_groups.csv"]


BAD_NAMES = {
    "run_name=a\nb": "run_name='a\\nb' is not allowed",
    "run_name=" + "r" * 250: "run_name='" + "r" * 250 + "' is not allowed: 1 to 200",
    "paths.results=null": "paths.results=None is not allowed: a folder (a non-empty path)",
}


@pytest.mark.parametrize("override", sorted(BAD_NAMES))
def test_unusable_names_are_refused_before_anything_is_written(train_config, tmp_path: Path,
                                                               override: str) -> None:
    from fairens.pipeline import train
    key, value = override.split("=", 1)
    cfg = train_config()
    cfg[key.split(".")[0]] = value if key == "run_name" else cfg[key.split(".")[0]]
    if key == "paths.results":
        cfg.paths.results = None
    with pytest.raises(FairensError) as error:
        train(cfg)
    assert str(error.value).startswith(BAD_NAMES[override])
    assert output_files(tmp_path) == []
    assert not (Path.cwd() / "None").exists()


def test_a_bad_checkpoint_setting_is_refused_before_anything_is_written(
        train_config, tmp_path: Path) -> None:
    from fairens.pipeline import train
    junk = tmp_path / "weights.pth"
    junk.write_bytes(b"not a state dict")
    with pytest.raises(FairensError, match=r"weights\.pth: cannot load it into SmallCNN"):
        train(train_config(f"model.checkpoint={junk}"))
    assert output_files(tmp_path) == [junk]
    train(train_config())  # the corrected command runs


def test_a_run_none_of_whose_members_trained_takes_new_settings(train_config,
                                                                 tmp_path: Path) -> None:
    from fairens.pipeline import train
    from fairens.rundir import open_run, write_run_json
    train_config()  # compose once, to create the folders' parents
    results = tmp_path / "results" / "test"
    write_run_json(open_run(results), {"run_name": "test", "ensemble": {"size": 2},
                                       "config": {"trainer": {"max_epochs": 99}}})
    train(train_config())
    assert json.loads((results / "run.json").read_text())["config"]["trainer"][
        "max_epochs"] == 1


def test_checkpoints_of_another_model_are_not_exported(exported_run: Path, tmp_path: Path,
                                                       capsys) -> None:
    import torch
    root = _copy_export(exported_run, tmp_path)
    checkpoint = root / "models" / "test" / "member_01.ckpt"
    from fairens.ensemble import MemberModule
    state = torch.load(checkpoint, map_location="cpu", weights_only=True)
    wider = {**state["hyper_parameters"], "model_options": {"width": 16}}
    state |= {"hyper_parameters": wider, "state_dict": MemberModule(**wider).state_dict()}
    torch.save(state, checkpoint)  # a member of another width, as another run trained it
    line = _refused(["export", str(root / "results" / "test"), "--models",
                     str(root / "models" / "test"), "--out", str(tmp_path / "out"), *_quick()],
                    capsys)
    assert line.startswith(f"error: {checkpoint}: a checkpoint of small_cnn") and \
        "it is not exported into this run's ensemble" in line, line
    assert not (tmp_path / "out").exists()


def test_equalized_odds_gaps_equal_fairlearns_on_many_classes() -> None:
    from fairlearn.metrics import equalized_odds_difference

    from fairens.fairness.subpop import equalized_odds_gaps
    rng = np.random.default_rng(3)
    labels, codes = rng.integers(0, 30, 3000), rng.integers(0, 3, 3000)
    predictions = np.where(rng.random((4, 3000)) < 0.6, labels, rng.integers(0, 30, (4, 3000)))
    usable = {c: [g for g in range(3) if 0 < ((labels == c) & (codes == g)).sum()
                  < (codes == g).sum()] for c in range(30)}
    ours = equalized_odds_gaps(labels, predictions, codes, usable)
    for index, predicted in enumerate(predictions):
        theirs = max(equalized_odds_difference(labels == c, predicted == c,
                                               sensitive_features=codes) for c in range(30))
        assert ours[index] == pytest.approx(theirs, abs=1e-15)


def test_only_the_ownership_module_removes_or_renames_files() -> None:
    """The rule is code, not cases: no other module of the package deletes, renames or
    moves a file (``bench_device.py`` runs on phones, outside fairens's folders)."""
    import ast
    source = REPO / "src" / "fairens"
    allowed = {"ownership.py", "files.py", "export/bench_device.py"}
    functions = {("os", "replace"), ("os", "remove"), ("os", "rename"), ("os", "unlink"),
                 ("os", "rmdir"), ("shutil", "rmtree"), ("shutil", "move")}
    methods = {"unlink", "rmdir", "rename"}
    found = []
    for path in sorted(source.rglob("*.py")):
        relative = path.relative_to(source).as_posix()
        if relative in allowed:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
                owner = node.func.value
                if (isinstance(owner, ast.Name) and (owner.id, node.func.attr) in functions) \
                        or node.func.attr in methods:
                    found.append(f"{relative}:{node.lineno} {node.func.attr}")
    assert found == []
