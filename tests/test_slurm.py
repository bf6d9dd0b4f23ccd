"""fairens on a real one-node SLURM cluster (scripts/slurm_local.sh), and on machines that
only look like cluster nodes. ``python -m pytest -m slurm`` runs the cluster tests alone;
where SLURM is not installed they are skipped with the reason."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from fairens.settings import thread_count

from conftest import REPO, compose_train

SCRIPT = REPO / "scripts" / "slurm_local.sh"
# a small digits run: members of a few seconds, one thread, so that runs compare bit for bit
RUN = ("ensemble.size=3", "trainer.max_epochs=6", "num_threads=1", "resume_interval=0",
       "trainer.enable_progress_bar=false", "run_name=slurm")
LAUNCHER = ("hydra/launcher=submitit_slurm", "hydra.launcher.partition=local",
            "hydra.launcher.cpus_per_task=1", "hydra.launcher.mem_gb=2",
            "hydra.launcher.timeout_min=30")


def _train(root: Path, *overrides: str, env: dict[str, str] | None = None,
           background: bool = False) -> subprocess.CompletedProcess | subprocess.Popen:
    """``python train.py`` of RUN under ``root``; with ``-m`` first among ``overrides`` a
    sweep."""
    flags = [o for o in overrides if o.startswith("-")]
    overrides = tuple(o for o in overrides if not o.startswith("-"))
    command = [sys.executable, str(REPO / "train.py"), *flags, f"paths.results={root}/results",
               f"paths.models={root}/models", *RUN, *overrides]
    if background:
        return subprocess.Popen(command, env=env, cwd=root, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True)
    return subprocess.run(command, env=env, cwd=root, capture_output=True, text=True,
                          timeout=900)


def _installed() -> bool:
    return all(shutil.which(name) or Path("/usr/sbin", name).exists()
               for name in ("munged", "slurmctld", "slurmd", "sbatch"))


@pytest.fixture(scope="session")
def slurm(tmp_path_factory) -> Iterator[dict[str, str]]:
    """The environment of a client of a one-node cluster started for this test session;
    the cluster is stopped (only its own daemons) at the end."""
    if not _installed():
        pytest.skip("SLURM is not installed: apt-get install slurm-wlm munge "
                    "(or scripts/slurm_local.sh start --install)")
    if os.geteuid() != 0:
        pytest.skip("the local SLURM cluster's slurmd runs as root; run the tests as root")
    folder = tmp_path_factory.mktemp("slurm")
    started = subprocess.run([str(SCRIPT), "start", "--dir", str(folder)], capture_output=True,
                             text=True, timeout=120)
    assert started.returncode == 0, started.stdout + started.stderr
    try:
        yield {**os.environ, "SLURM_CONF": str(folder / "slurm.conf")}
    finally:
        subprocess.run([str(SCRIPT), "stop", "--dir", str(folder)], timeout=60, check=True)


@pytest.fixture(scope="session")
def one_process(tmp_path_factory) -> Path:
    """The same run trained in one process, without SLURM."""
    root = tmp_path_factory.mktemp("one_process")
    done = _train(root)
    assert done.returncode == 0, done.stderr[-2000:]
    return root / "results" / "slurm" / "fairness.json"


def _jobs(env: dict[str, str]) -> list[tuple[str, str]]:
    listed = subprocess.run(["squeue", "-h", "-o", "%i %T"], env=env, capture_output=True,
                            text=True, timeout=30, check=True).stdout
    return [tuple(line.split()) for line in listed.splitlines()]


@pytest.mark.slurm
@pytest.mark.slow
def test_members_as_slurm_jobs_match_one_process(slurm, one_process, tmp_path: Path) -> None:
    done = _train(tmp_path, "-m", "ensemble.member=0,1,2", *LAUNCHER, env=slurm)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    run = tmp_path / "results" / "slurm"
    assert (run / "fairness.json").read_bytes() == one_process.read_bytes()
    # one job per member, each with its own log in the sweep's .submitit folder
    logs = sorted((tmp_path / "results" / "multirun").glob("*/.submitit/*/*_log.out"))
    assert len(logs) == 3
    assert sum("member 3/3" in log.read_text() for log in logs) == 1


@pytest.mark.slurm
@pytest.mark.slow
def test_a_requeued_member_resumes_and_the_run_matches(slurm, one_process,
                                                       tmp_path: Path) -> None:
    sweep = _train(tmp_path, "-m", "ensemble.member=0,1,2", *LAUNCHER, env=slurm,
                   background=True)
    resume_point = tmp_path / "models" / "slurm" / "member_01.partial" / "last.ckpt"
    deadline = time.monotonic() + 600
    while not resume_point.exists() and sweep.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert resume_point.exists(), "member 1's job wrote a resume point while it trained"
    member_job = next(job for job, state in _jobs(slurm) if job.endswith("_1"))
    subprocess.run(["scontrol", "requeue", member_job], env=slurm, check=True, timeout=30)
    # SLURM holds a requeued job back for about two minutes (its begin time); release it
    while dict(_jobs(slurm)).get(member_job) not in ("PENDING", None):
        time.sleep(0.2)
    subprocess.run(["scontrol", "update", f"JobId={member_job}", "StartTime=now"], env=slurm,
                   check=True, timeout=30)
    output, _ = sweep.communicate(timeout=900)
    assert sweep.returncode == 0, output[-3000:]
    logs = "".join(log.read_text() for log in (tmp_path / "results" / "multirun").glob(
        f"*/.submitit/{member_job}/*_log.out"))
    assert "member 2/3: resuming from" in logs, logs[-3000:]
    assert (tmp_path / "results" / "slurm" / "fairness.json").read_bytes() == \
        one_process.read_bytes()


def _cluster_node(cluster: str, tmp_path: Path) -> dict[str, str]:
    """The environment of a process on a cluster node: a (fake) ``srun`` on PATH, the
    variables of a SLURM job, or both."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "srun").write_text("#!/bin/sh\nexit 1\n")
    (bin_dir / "srun").chmod(0o755)
    env = dict(os.environ)
    if cluster != "SLURM variables":
        env["PATH"] = f"{bin_dir}{os.pathsep}{env['PATH']}"
    if cluster != "srun on PATH":
        env |= {"SLURM_NTASKS": "1", "SLURM_JOB_ID": "7", "SLURM_JOB_NAME": "fairens",
                "SLURM_PROCID": "0", "SLURM_LOCALID": "0", "SLURM_NODEID": "0"}
    return env


def test_training_on_a_cluster_node_prints_nothing_to_stderr(tmp_path: Path) -> None:
    env = _cluster_node("both", tmp_path)
    done = _train(tmp_path, "ensemble.size=1", "trainer.max_epochs=1", env=env)
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""


@pytest.mark.parametrize("cluster", ["srun on PATH", "SLURM variables", "both"])
def test_errors_stay_one_line_on_cluster_nodes(cluster: str, tmp_path: Path) -> None:
    env = _cluster_node(cluster, tmp_path)
    users = tmp_path / "results" / "slurm" / "run.json"
    users.parent.mkdir(parents=True)
    users.write_text("mine")
    done = _train(tmp_path, env=env)  # a run.json fairens did not write: refused
    assert done.returncode != 0
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert "run.json" in done.stderr
    assert users.read_text() == "mine"


def test_stop_signals_only_the_daemons_it_started(tmp_path: Path) -> None:
    """A PID file naming another process (a reused PID, a daemon of another cluster) does
    not make ``stop`` kill it."""
    decoy = subprocess.Popen(["bash", "-c", "exec -a slurmd sleep 300"])
    try:
        (tmp_path / "slurmd.pid").write_text(f"{decoy.pid}\n")
        stopped = subprocess.run([str(SCRIPT), "stop", "--dir", str(tmp_path)],
                                 capture_output=True, text=True, timeout=60)
        assert stopped.returncode == 0, stopped.stderr
        assert decoy.poll() is None, "stop killed a process it did not start"
    finally:
        decoy.kill()
        decoy.wait()


def test_threads_follow_the_cpus_of_a_slurm_job(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setenv("SLURM_CPUS_PER_TASK", "3")
    assert thread_count(compose_train(tmp_path)) == 3
    assert thread_count(compose_train(tmp_path, "num_threads=1")) == 1  # given: kept
    monkeypatch.delenv("SLURM_CPUS_PER_TASK")
    assert thread_count(compose_train(tmp_path)) is None
