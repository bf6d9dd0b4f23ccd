"""One writer at a time: advisory locks on lock files, with the holder named.

A lock is ``flock`` on a small file that records who holds it (PID, host, start time). The
kernel releases it when the holder's process ends however it ends (``kill -9`` included),
so a crashed holder never leaves a stale lock: the next process takes it over at once. On
Linux, ``flock`` also works across machines on NFS (v4), which is what a SLURM cluster
sharing a results folder uses. The files are left in place (removing them would race with
a process that has just opened one).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

from .errors import FairensError, bad_file
from .ownership import open_no_follow

# Seconds a process waits while another writes a run's shared files (run.json, the
# report): those writes take seconds, so a longer wait means the holder is stuck.
RUN_LOCK_WAIT = 600.0


def _holder(fd: int) -> str:
    try:
        info = json.loads(os.pread(fd, 4096, 0).decode("utf-8") or "{}")
        return f"PID {info['pid']} on {info['host']} (since {info['since']})"
    except (OSError, ValueError, KeyError, TypeError):
        return "another process"


def _is_lock_record(data: bytes) -> bool:
    try:
        record = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return False
    return isinstance(record, dict) and set(record) == {"pid", "host", "since"}


def _acquire(fd: int, wait: float, what: str, path: Path) -> None:
    deadline = time.monotonic() + wait
    announced = False
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            holder = _holder(fd)
            if time.monotonic() >= deadline:
                raise FairensError(
                    f"{what} is in use by {holder} (lock {path}); wait for that process to "
                    "finish, or stop it; a process that crashed releases its lock by "
                    "itself") from None
            if not announced:
                print(f"waiting for {holder}, which holds {what} (lock {path})", flush=True)
                announced = True
            time.sleep(0.2)


@contextlib.contextmanager
def hold(path: str | Path, what: str, *, wait: float = 0.0) -> Iterator[None]:
    """Hold the lock file ``path`` (created if needed) for ``what``, e.g. ``member 3 of run
    'digits_k10'``; if another process holds it for longer than ``wait`` seconds, refuse
    with one message naming the holder."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise bad_file(path, f"cannot create the lock file ({exc.strerror})") from exc
    fd = open_no_follow(path, os.O_RDWR | os.O_CREAT, "lock file")
    try:
        if os.fstat(fd).st_size and not _is_lock_record(os.pread(fd, 4096, 0)):
            raise bad_file(path, "holds something other than a lock record of fairens; it is "
                                 "left as it is: move it away")
        _acquire(fd, wait, what, path)
        record = {"pid": os.getpid(), "host": socket.gethostname(),
                  "since": datetime.now().isoformat(timespec="seconds")}
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(record).encode("utf-8"), 0)
        yield
    finally:
        os.close(fd)  # releases the lock
