"""A user's files come first: links, concurrent writers, killed writers, full disks,
spreadsheet formulas and invisible characters in group names."""

from __future__ import annotations

import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from fairens.cli import main
from fairens.ensemble import Recipe, member_seeds, train_member
from fairens.errors import FairensError
from fairens.export import export_run
from fairens.pipeline import train
from fairens.rundir import open_models
from fairens.settings import load_data, recipe_from

from conftest import REPO, compose_train, foreign_groups, make_run, output_files


def _snapshot(root: Path) -> dict[Path, bytes]:
    """Every file under ``root`` but the lock files (which record who last held them)."""
    return {p: p.read_bytes() for p in output_files(root) if not p.name.endswith(".lock")}


def _report(run: Path, capsys) -> tuple[int, list[str]]:
    with pytest.raises(SystemExit) as exit_info:
        main(["report", str(run)])
    return exit_info.value.code, capsys.readouterr().err.strip().splitlines()


def test_report_refuses_a_plots_folder_linked_outside(tmp_path: Path, capsys) -> None:
    run = make_run(tmp_path / "run")
    main(["report", str(run)])
    capsys.readouterr()
    photos = tmp_path / "photos"
    photos.mkdir()
    (photos / "photo.png").write_bytes(b"a user's photo")
    shutil.rmtree(run / "plots")
    (run / "plots").symlink_to(photos)
    before = _snapshot(tmp_path)
    code, lines = _report(run, capsys)
    assert code == 1 and len(lines) == 1
    assert lines[0] == (f"error: {run}/plots: leads outside {run} (to {photos}) through a "
                        "symbolic link; fairens writes only inside its own folders and never "
                        "through links: remove the link")
    assert _snapshot(tmp_path) == before


def test_report_refuses_an_output_file_linked_outside(tmp_path: Path, capsys) -> None:
    run = make_run(tmp_path / "run")
    main(["report", str(run)])
    capsys.readouterr()
    precious = tmp_path / "precious.html"
    precious.write_text("mine")
    (run / "report.html").unlink()
    (run / "report.html").symlink_to(precious)
    before = _snapshot(tmp_path)
    code, lines = _report(run, capsys)
    assert code == 1 and len(lines) == 1 and "report.html: leads outside" in lines[0]
    assert _snapshot(tmp_path) == before and precious.read_text() == "mine"


def test_a_run_folder_that_is_itself_a_link_is_the_users_choice(tmp_path: Path) -> None:
    run = make_run(tmp_path / "elsewhere")
    (tmp_path / "run").symlink_to(run)
    main(["report", str(tmp_path / "run")])
    assert (run / "fairness.json").is_file() and (run / "plots").is_dir()


def _reported_with_sites(root: Path, north: str, south: str) -> Path:
    """A foreign run whose ``site`` groups are named ``north`` and ``south``, reported."""
    run = make_run(root)
    table = pd.read_csv(run / "test_groups.csv", dtype=str)
    table["site"] = table["site"].map({"north": north, "south": south})
    foreign_groups(run, table)
    main(["report", str(run), "--no-intervals"])
    return run


def test_group_names_that_are_formulas_are_neutralised_in_csv_only(tmp_path: Path) -> None:
    run = _reported_with_sites(tmp_path, "=HYPERLINK(\"http://x\")", "+1")
    groups = pd.read_csv(run / "groups.csv", dtype=str, keep_default_na=False)
    assert sorted(groups.loc[groups.grouping == "site", "group"]) == [
        "'+1", "'=HYPERLINK(\"http://x\")"]
    fairness = json.loads((run / "fairness.json").read_text())
    assert sorted(fairness["groupings"]["site"]["groups"]) == ["+1", "=HYPERLINK(\"http://x\")"]


def test_control_characters_in_group_names_are_shown_escaped(tmp_path: Path) -> None:
    run = _reported_with_sites(tmp_path, "evil\u202eLTR", "tab\there")
    for name in ("report.md", "report.html"):
        text = (run / name).read_text(encoding="utf-8")
        assert "\u202e" not in text and "\t" not in text, name
        assert "evil\\u202eLTR" in text.replace("\\\\", "\\"), name
        assert "tab\\u0009here" in text.replace("\\\\", "\\"), name


def _train_py(root: Path, *overrides: str) -> list[str]:
    return [sys.executable, str(REPO / "train.py"), f"paths.results={root}/results",
            f"paths.models={root}/models", "run_name=shared", "ensemble.size=1",
            "trainer.enable_progress_bar=false", *overrides]


def _wait_for_lock(lock: Path, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and process.poll() is None:
        if lock.is_file() and str(process.pid) in lock.read_text(errors="replace"):
            return
        time.sleep(0.02)
    raise AssertionError(f"{lock} was never taken by PID {process.pid}")


@pytest.mark.slow
def test_a_second_process_on_the_same_run_is_refused(tmp_path: Path) -> None:
    # this process trains member 0 (it holds the member's lock, as a training job does);
    # holding it here rather than in a timed first job keeps the test independent of load
    from fairens.locks import hold
    from fairens.rundir import member_lock
    results = tmp_path / "results" / "shared"
    with hold(member_lock(results, 0), "member 0 of run 'shared'"):
        second = subprocess.run(_train_py(tmp_path, "trainer.max_epochs=3"),
                                capture_output=True, text=True, timeout=300)
    assert second.returncode == 1
    lines = second.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(
        f"error: member 0 of run 'shared' is in use by PID {os.getpid()} on "), lines
    assert not (results / "predictions").exists() and not (results / "logs").exists()
    done = subprocess.run(_train_py(tmp_path, "trainer.max_epochs=3"), capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    metrics = pd.read_csv(results / "logs" / "member_00" / "metrics.csv")
    assert sorted(metrics["epoch"].unique()) == list(range(3))


@pytest.mark.slow
def test_after_kill_9_the_next_run_removes_only_its_own_leftovers(tmp_path: Path) -> None:
    process = subprocess.Popen(_train_py(tmp_path, "trainer.max_epochs=40"),
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    results, models = tmp_path / "results" / "shared", tmp_path / "models" / "shared"
    _wait_for_lock(results / ".member_00.lock", process)
    process.send_signal(signal.SIGKILL)
    process.wait()
    # what a process killed in the middle of its atomic writes leaves behind
    leftovers = [results / "predictions" / ".member_00.npz.k9x_ab12.tmp",
                 models / ".member_00.ckpt.q1w2e3r4.tmp",
                 results / "members" / ".member_00.json.zzzzzzzz.tmp",
                 # a report staged but not published
                 results / ".fairens-staging-abcdefgh" / ".fairens-staging.lock",
                 results / ".fairens-staging-abcdefgh" / "fairness.json"]
    kept = [results / "notes.tmp", results / ".fairness.json.mine.tmp", models / "README"]
    for path in leftovers + kept:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("partial")
    rerun = subprocess.run(_train_py(tmp_path, "trainer.max_epochs=40"), capture_output=True,
                           text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    assert [p for p in leftovers if p.exists()] == []
    assert all(p.read_text() == "partial" for p in kept)
    assert (results / "report.html").is_file()


def test_an_export_removes_staging_folders_a_killed_export_left(exported_run: Path,
                                                                tmp_path: Path) -> None:
    root = tmp_path / "copy"
    shutil.copytree(exported_run, root)
    export = root / "export" / "test"
    killed = export / ".fairens-staging-ab12cd34"
    killed.mkdir()
    (killed / ".fairens-staging.lock").touch()
    (killed / "member_00.onnx").write_bytes(b"half")
    foreign = export / ".fairens-staging-userdata"  # no lock file: not a staging folder
    foreign.mkdir()
    (foreign / "keep.txt").write_text("not fairens's")
    export_run(root / "results" / "test", out=export, models=root / "models" / "test",
               options=_quick())
    assert not killed.exists()
    assert (foreign / "keep.txt").read_text() == "not fairens's"


def _quick():
    from fairens.export import ExportOptions
    return ExportOptions(int8=False, ort=False, sizes=(2,))


def _limited(limit: int):
    def apply() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    return apply


def test_a_full_disk_during_report_is_one_line_and_keeps_earlier_outputs(tmp_path: Path) -> None:
    run = make_run(tmp_path / "run")
    main(["report", str(run)])
    before = _snapshot(run)
    assert any(len(content) > 20_000 for content in before.values())
    done = subprocess.run([sys.executable, "-m", "fairens", "report", str(run)],
                          capture_output=True, text=True, timeout=300,
                          preexec_fn=_limited(20_000))
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {run}/"), lines
    assert "cannot write (File too large); the earlier outputs are kept" in lines[0]
    assert _snapshot(run) == before


@pytest.mark.slow
def test_a_full_disk_during_training_is_one_line(tmp_path: Path) -> None:
    done = subprocess.run(_train_py(tmp_path, "trainer.max_epochs=2", "resume_interval=0"),
                          capture_output=True, text=True, timeout=300,
                          preexec_fn=_limited(30_000))
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "File too large" in lines[0]


def test_a_rerun_with_another_recipe_is_refused(train_config, tmp_path: Path) -> None:
    train(train_config("ensemble.size=1", "report.intervals=false"))
    run_json = tmp_path / "results" / "test" / "run.json"
    before = run_json.read_bytes()
    for override, difference in (
            ("trainer.max_epochs=2", "trainer.max_epochs=1 in run.json where this run asks "
                                     "for 2"),
            ("model.optimizer.lr=0.5", "model.optimizer.lr=0.05 in run.json where this run asks "
                                       "for 0.5")):
        with pytest.raises(FairensError) as error:
            train(train_config("ensemble.size=1", "report.intervals=false", override))
        assert str(error.value) == (
            f"{run_json}: run 'test' was trained with other settings ({difference}); members "
            "of one run share one recipe: choose another run_name, or delete that run "
            f"({tmp_path}/results/test and {tmp_path}/models/test) to start it again")
    assert run_json.read_bytes() == before
    # display settings may differ between jobs of one run
    train(train_config("ensemble.size=1", "report.intervals=false",
                       "trainer.enable_progress_bar=true"))


class _StopBeforeTheFirstStep:
    """A callback that ends training before any batch (as a too-eager early stop would)."""

    def __new__(cls):
        import pytorch_lightning as pl

        class Stop(pl.Callback):
            def on_train_start(self, trainer, pl_module) -> None:
                trainer.should_stop = True
        return Stop()


def test_a_member_that_takes_no_step_is_an_error(tmp_path: Path) -> None:
    cfg = compose_train(tmp_path)
    recipe: Recipe = recipe_from(cfg)
    data = load_data(cfg)
    with pytest.raises(FairensError) as error:
        train_member(data, recipe, member_seeds(0, ("init",), 0), member=0, label="member 1/2",
                     models=open_models(tmp_path / "models", "test"),
                     callbacks=[_StopBeforeTheFirstStep()])
    assert str(error.value).startswith("member 1/2 took no optimisation step (421 training "
                                       "images, data.batch_size=64")
    assert not (tmp_path / "models" / "member_00.ckpt").exists()


def test_sixteen_bit_png_keeps_its_grey_levels(tmp_path: Path) -> None:
    from PIL import Image

    from fairens.data.decode import decode_file
    levels = (np.arange(144, dtype=np.uint32) * 65535 // 143).astype(np.uint16).reshape(12, 12)
    Image.fromarray(levels).save(tmp_path / "gray16.png")
    decoded = decode_file(tmp_path / "gray16.png", size=None).numpy()
    assert decoded.shape == (3, 12, 12)
    expected = np.rint(levels * (255 / 65535)).astype(np.uint8)
    assert np.array_equal(decoded[0], expected) and np.array_equal(decoded[2], expected)
    assert decoded[0, 0, 0] == 0 and decoded[0, -1, -1] == 255
    assert len(np.unique(decoded)) == 144  # Pillow's own conversion left 2: {0, 255}


def _png_header(width: int, height: int) -> bytes:
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IEND", b"")


@pytest.mark.parametrize(("side", "message"), [
    (50_000, "cannot read or decode this image (Image size (2500000000 pixels) exceeds limit"),
    (9_000, "image of 9000x9000 pixels: fairens decodes images of at most 64,000,000 pixels")])
def test_huge_image_headers_are_refused_before_decoding(tmp_path: Path, side: int,
                                                        message: str) -> None:
    from fairens.data.decode import decode_file
    path = tmp_path / "bomb.png"
    path.write_bytes(_png_header(side, side))
    with pytest.raises(FairensError) as error:
        decode_file(path, size=32)
    assert str(error.value).startswith(f"{path}: {message}")


def test_lock_message_names_the_holder(tmp_path: Path) -> None:
    from fairens.locks import hold
    lock = tmp_path / ".lock"
    holder = subprocess.Popen([sys.executable, "-c", (
        "import sys, time\n"
        "from fairens.locks import hold\n"
        f"with hold({str(lock)!r}, 'x'):\n"
        "    print('held', flush=True)\n"
        "    time.sleep(60)\n")], stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "held"
    try:
        with pytest.raises(FairensError) as error, hold(lock, "run 'demo'"):
            pass
        assert str(error.value).startswith(f"run 'demo' is in use by PID {holder.pid} on "
                                           f"{os.uname().nodename} (since ")
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    with hold(lock, "run 'demo'"):  # the killed holder's lock is free again at once
        assert json.loads(lock.read_text())["pid"] == os.getpid()
