"""Writing outputs without ever damaging what fairens did not create.

* Atomic writes: each writer writes to a temporary name in the destination folder, flushes
  it to disk and renames it over the destination (``os.replace`` is atomic on POSIX and
  Windows), so a crash never leaves a half-written output that a later step reads. A write
  that fails (disk full, read-only folder) names the file and keeps the earlier one.
* Containment: a command writes only inside its own output folder (``root``). A path that
  leads outside it through a symbolic link (a linked ``plots/`` folder, a linked file) is
  refused before anything is written; links are replaced by ``os.replace``, never followed.
* Leftovers: a process killed mid-write leaves its temporary file (``.<name>.XXXXXXXX.tmp``)
  or staging folder behind; the next writer of the same outputs removes exactly those.
"""

from __future__ import annotations

import contextlib
import fnmatch
import json
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import IO, Any

from pandas.api.types import is_numeric_dtype

from .errors import bad_file

STAGING_MARKER = ".fairens-staging"
_RANDOM = "[a-z0-9_]{8}"  # what tempfile puts between prefix and suffix
_SPREADSHEET_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


def inside(root: str | Path, path: str | Path) -> Path:
    """``path``, after checking that it stays inside ``root`` once symbolic links are
    followed (``root`` itself may be a link: it is the user's folder)."""
    root, path = Path(root), Path(path)
    real_root = root.resolve()
    if path.resolve().is_relative_to(real_root):
        return path
    link = path  # name the outermost component that leads outside, e.g. a linked folder
    for depth in range(1, len(path.relative_to(root).parts) + 1):
        prefix = root.joinpath(*path.relative_to(root).parts[:depth])
        if not prefix.resolve().is_relative_to(real_root):
            link = prefix
            break
    raise bad_file(link, f"leads outside {root} (to {link.resolve()}) through a symbolic "
                         "link; fairens writes only inside its own folders and never through "
                         "links: remove the link")


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_path(path: str | Path, *, root: str | Path | None = None) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; on success it is renamed to ``path``.

    With ``root``, ``path`` must lie inside it (see :func:`inside`). An ``OSError`` while
    writing becomes one message naming ``path``; the earlier file is kept.
    """
    path = Path(path)
    if root is not None:
        inside(root, path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise bad_file(path.parent, f"cannot write here ({exc.strerror})") from exc
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        with open(tmp_path, "rb+") as f:
            os.fsync(f.fileno())
        os.chmod(tmp_path, 0o666 & ~_umask())  # mkstemp's 0600 would hide outputs from the group
        os.replace(tmp_path, path)
    except OSError as exc:
        kept = "the earlier file is kept" if path.exists() else "nothing was written"
        raise bad_file(path, f"cannot write ({exc.strerror or exc}); {kept}") from exc
    finally:
        tmp_path.unlink(missing_ok=True)


def _write(path: str | Path, mode: str, write: Callable[[IO[Any]], None],
           root: str | Path | None) -> None:
    with atomic_path(path, root=root) as tmp, \
            open(tmp, mode, encoding=None if "b" in mode else "utf-8") as f:
        write(f)


def write_text(path: str | Path, text: str, *, root: str | Path | None = None) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    _write(path, "w", lambda f: f.write(text), root)


def write_bytes(path: str | Path, data: bytes, *, root: str | Path | None = None) -> None:
    """Write ``data`` to ``path`` atomically."""
    _write(path, "wb", lambda f: f.write(data), root)


def spreadsheet_safe(value: Any) -> Any:
    """A text cell a spreadsheet would run as a formula (``=``, ``+``, ``-``, ``@``, tab,
    carriage return first) gets a leading ``'``, as OWASP advises; other values pass."""
    if isinstance(value, str) and value.startswith(_SPREADSHEET_TRIGGERS):
        return "'" + value
    return value


def csv_text(frame: Any, *, raw: bool = False) -> str:
    """A pandas DataFrame as CSV (no index, ``\\n`` line ends); text cells are made
    spreadsheet-safe unless ``raw`` (files that are read back, such as test_groups.csv)."""
    if not raw:
        frame = frame.copy()
        for column in frame.columns:
            if not is_numeric_dtype(frame[column]):
                frame[column] = frame[column].map(spreadsheet_safe)
        frame.columns = [spreadsheet_safe(str(c)) for c in frame.columns]
    return frame.to_csv(index=False, lineterminator="\n")


def write_csv(path: str | Path, frame: Any, *, root: str | Path | None = None,
              raw: bool = False) -> None:
    """Write a pandas DataFrame as CSV (see :func:`csv_text`) to ``path`` atomically."""
    write_text(path, csv_text(frame, raw=raw), root=root)


def json_text(obj: Any) -> str:
    """Indented JSON (NaN is refused: use None)."""
    return json.dumps(obj, indent=2, allow_nan=False) + "\n"


def write_json(path: str | Path, obj: Any, *, root: str | Path | None = None) -> None:
    """Write ``obj`` as indented JSON to ``path`` atomically."""
    write_text(path, json_text(obj), root=root)


def check_outputs(root: str | Path, relatives: Iterable[str]) -> None:
    """Refuse, before anything is written, any of ``root/<relative>`` (or its folder) that
    leads outside ``root``."""
    root = Path(root)
    for relative in relatives:
        inside(root, root / relative)
        inside(root, (root / relative).parent)


def write_outputs(root: str | Path, outputs: Mapping[str, str | bytes]) -> None:
    """Write ``root/<relative path>`` for each entry (text as UTF-8), each atomically, after
    checking every path first, so a refused path leaves every earlier output as it was."""
    root = Path(root)
    check_outputs(root, outputs)
    for relative, content in outputs.items():
        path = root / relative
        if isinstance(content, bytes):
            write_bytes(path, content, root=root)
        else:
            write_text(path, content, root=root)


def remove_stale(root: str | Path, folder: str | Path, pattern: str, keep: Iterable[str]) -> None:
    """Delete the files of ``folder`` (inside ``root``) matching ``pattern`` whose names are
    not in ``keep``, then the folder itself if it is left empty; links are removed, never
    followed."""
    folder = inside(root, folder)
    if not folder.is_dir():
        return
    keep = set(keep)
    for stale in folder.glob(pattern):
        if stale.name not in keep and (stale.is_symlink() or stale.is_file()):
            stale.unlink()
    if not any(folder.iterdir()):
        folder.rmdir()


def remove_leftovers(folder: str | Path, names: Iterable[str]) -> None:
    """Delete the temporary files that writes of ``folder/<name>`` left behind when their
    process was killed (``.<name>.XXXXXXXX.tmp``); ``names`` may be glob patterns such as
    ``*.png``. Call only while no other process may be writing those names (the caller
    holds their lock)."""
    folder = Path(folder)
    if not folder.is_dir() or folder.is_symlink():
        return
    for name in names:
        stem = fnmatch.translate(name).removesuffix("\\Z")
        pattern = re.compile(rf"^\.{stem}\.{_RANDOM}\.tmp$")
        for entry in folder.glob(f".{name}.*.tmp"):
            if pattern.match(entry.name) and not entry.is_symlink() and entry.is_file():
                entry.unlink()


def staging_dir(path: str | Path) -> Path:
    """A new empty folder next to ``path``, with the usual permissions (mkdtemp's are 0700)
    and a marker that identifies it as fairens's, to be filled and renamed over ``path``."""
    path = Path(path)
    try:
        folder = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
        os.chmod(folder, 0o777 & ~_umask())
        (folder / STAGING_MARKER).touch()
    except OSError as exc:
        raise bad_file(path.parent, f"cannot write here ({exc.strerror})") from exc
    return folder


def remove_staging_leftovers(path: str | Path) -> None:
    """Delete staging folders of ``path`` (see :func:`staging_dir`) that a killed process
    left behind; only folders carrying the marker are touched. The caller holds the lock
    of ``path``."""
    path = Path(path)
    pattern = re.compile(rf"^\.{re.escape(path.name)}\.{_RANDOM}$")
    if not path.parent.is_dir():
        return
    for entry in path.parent.glob(f".{path.name}.*"):
        if (pattern.match(entry.name) and not entry.is_symlink() and entry.is_dir()
                and (entry / STAGING_MARKER).is_file()):
            shutil.rmtree(entry)


def regular_file(path: str | Path, what: str) -> Path:
    """``path`` if it is a regular file (links are followed); a FIFO, device or folder would
    block or mislead a reader and is refused, naming ``what`` is expected there."""
    path = Path(path)
    try:
        is_regular = path.is_file()
    except OSError as exc:
        raise bad_file(path, f"cannot read ({exc.strerror})") from exc
    if not is_regular:
        raise bad_file(path, f"not a regular file; expected {what}" if path.exists()
                       else f"missing; expected {what}")
    return path
