"""Files: atomic writes, containment, the one JSON reader, CSV and JSON text.

* Atomic writes: each writer writes to a temporary name in the destination folder, flushes
  it to disk and renames it over the destination (``os.replace`` is atomic on POSIX and
  Windows), so a crash never leaves a half-written output that a later step reads. A write
  that fails (disk full, read-only folder) names the file and keeps the earlier one.
* Containment: a path that leads outside its folder through a symbolic link (a linked
  ``plots/`` folder, a linked file) is refused; links are replaced by ``os.replace``, never
  followed.
* Leftovers: a process killed mid-write leaves its temporary file (``.<name>.XXXXXXXX.tmp``);
  the next writer of the same outputs removes exactly those.

Which files a command may write, replace or remove is :mod:`fairens.ownership`'s rule:
every writer of the package goes through it.
"""

from __future__ import annotations

import contextlib
import fnmatch
import json
import os
import re
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from pandas.api.types import is_numeric_dtype

from .errors import bad_file

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


def umask() -> int:
    """The process's file-creation mask."""
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; on success it is renamed to ``path``. An
    ``OSError`` while writing becomes one message naming ``path``; the earlier file is kept.
    """
    path = Path(path)
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
        os.chmod(tmp_path, 0o666 & ~umask())  # mkstemp's 0600 would hide outputs from the group
        os.replace(tmp_path, path)
    except OSError as exc:
        kept = "the earlier file is kept" if path.exists() else "nothing was written"
        raise bad_file(path, f"cannot write ({exc.strerror or exc}); {kept}") from exc
    finally:
        tmp_path.unlink(missing_ok=True)


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


def json_text(obj: Any) -> str:
    """Indented JSON (NaN is refused: use None)."""
    return json.dumps(obj, indent=2, allow_nan=False) + "\n"


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


def write_files(folder: str | Path, outputs: Mapping[str, str | bytes]) -> None:
    """Write ``folder/<relative path>`` for each entry (text as UTF-8), plainly: for a
    staging folder, which is published as a whole (:mod:`fairens.ownership`); an error names
    the output as it would be published, next to the staging folder."""
    for relative, content in outputs.items():
        path = Path(folder) / relative
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(content.encode("utf-8") if isinstance(content, str) else content)
        except OSError as exc:
            raise bad_file(Path(folder).parent / relative, f"cannot write "
                           f"({exc.strerror or exc}); the earlier outputs are kept") from exc


def parse_json(path: str | Path, data: bytes | str) -> Any:
    """The JSON value in ``data``, read from ``path`` (named in errors): invalid JSON and
    JSON nested too deeply for Python's parser are refused in one line."""
    try:
        return json.loads(data)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise bad_file(path, f"not valid JSON ({exc})") from exc
    except RecursionError:
        raise bad_file(path, "nested too deeply to be a file fairens reads") from None


def read_json(path: str | Path, what: str) -> Any:
    """The JSON value of the regular file ``path``; ``what`` says what is expected there."""
    path = regular_file(path, what)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise bad_file(path, f"cannot read ({exc.strerror})") from exc
    return parse_json(path, data)


def read_json_object(path: str | Path, what: str) -> dict[str, Any]:
    """:func:`read_json`, which must hold a JSON object."""
    content = read_json(path, what)
    if not isinstance(content, dict):
        raise bad_file(path, f"must hold a JSON object ({what})")
    return content


def read_csv_text(path: str | Path, what: str, *, unique: str | None = None) -> Any:
    """A CSV file as a pandas DataFrame of text cells (``NA`` stays the text ``NA``); a
    file that is not readable UTF-8 CSV, or (with ``unique``) that repeats a value of that
    column, is refused in one line naming the lines."""
    import pandas as pd
    path = regular_file(path, what)
    try:
        table = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (OSError, ValueError, pd.errors.ParserError, pd.errors.EmptyDataError,
            UnicodeDecodeError) as exc:
        raise bad_file(path, f"not a readable CSV of UTF-8 text ({exc})") from exc
    if unique is not None and unique in table.columns:
        repeated = table[unique].duplicated(keep=False)
        if repeated.any():
            lines = (table.index[repeated] + 2).tolist()
            raise bad_file(path, f"{unique} {table[unique][repeated].iloc[0]!r} appears on more "
                                 f"than one line (lines {lines[0]} and {lines[1]}); each "
                                 f"{unique} may appear once")
    return table


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

