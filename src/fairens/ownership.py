"""Ownership: fairens writes, replaces and removes only what it created.

Every folder fairens writes into carries a manifest, ``.fairens-manifest.json``: the kind of
folder (:data:`KINDS`), for an export the run it exports, and every file fairens wrote
there with the producer that wrote it (``train``, ``report``, ``export``, ...), its size,
modification time and SHA-256. The rule, which every writer of the package goes through:

1. A command writes only into a folder that is absent, empty, or marked as its own kind
   (an export: of the same run). A folder of predictions made elsewhere is marked by the
   first ``fairens report`` on it, owning none of the files already there.
2. It creates a file only where nothing is; it replaces or removes only a file its
   manifest lists, written by the same producer and unchanged since (same size and time,
   else the same SHA-256). Anything else is left as it is, or the command refuses, naming
   the file, before it writes anything.
3. Each file is written under a temporary name and renamed. Outputs that belong together
   (an analysis with its tables and reports, an export) are staged in a hidden folder and
   published as one step through a journal: a kill leaves the old outputs, or a journal
   that the next command on the folder completes.
4. Manifests, journals and locks are opened without following links; a hard-linked one is
   refused (writing into it would change another file).
5. Folders written by versions before manifests are recognised by their files and adopted
   once (:mod:`fairens.adoption` says what each kind adopts).

docs/run-directory.md ("Ownership") lists what each command may touch.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import os
import re
import shutil
import stat
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import FairensError, bad_file, name_list
from .files import atomic_path, inside, json_text, parse_json, umask, write_files

MANIFEST = ".fairens-manifest.json"
FORMAT = "fairens-folder/1"
_LOCK = ".fairens-manifest.lock"
_JOURNAL = ".fairens-publish.json"
_STAGING = ".fairens-staging-"
_STAGING_LOCK = ".fairens-staging.lock"
_MAX_MANIFEST_BYTES = 256 << 20

# which producers may write into each kind of folder
KINDS: dict[str, tuple[str, ...]] = {
    "run": ("train", "report"),
    "models": ("train",),
    "export": ("export", "bench", "ingest", "frontier"),
    "comparison": ("compare",),
    "frontier": ("frontier",),
    "zoo": ("zoo",),
    "cache": ("cache",),
    "sweep": ("sweep",),
}
# kinds that may be marked over files already there (which stay the user's): a folder of
# predictions made elsewhere, a cache folder (whose files have unmistakable names) and a
# job folder of a Hydra sweep (Hydra's, where fairens adds one file)
_OVER_FOREIGN = ("run", "cache", "sweep")
# kinds whose folder may itself be a link the user made (a run, checkpoints or a cache kept
# on another disk); outputs such as an export are written only into the folder itself
_LINKED = ("run", "models", "cache", "sweep")


def open_no_follow(path: Path, flags: int, what: str) -> int:
    """A file descriptor of ``path`` opened without following a link; a file that is not a
    regular file, or that has another name (a hard link), is refused: writing into it would
    change a file fairens did not create."""
    try:
        fd = os.open(path, flags | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0), 0o666)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise bad_file(path, f"is a symbolic link where fairens keeps its {what}; "
                                 "fairens never writes through links: remove it") from exc
        raise bad_file(path, f"cannot open the {what} ({exc.strerror})") from exc
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode) or info.st_nlink != 1:
        os.close(fd)
        problem = ("has another name (a hard link)" if stat.S_ISREG(info.st_mode)
                   else "is not a regular file")
        raise bad_file(path, f"{problem} where fairens keeps its {what}; fairens never "
                             "writes into such a file: remove it")
    return fd


@contextlib.contextmanager
def _flock(path: Path, what: str, *, blocking: bool = True) -> Iterator[bool]:
    fd = open_no_follow(path, os.O_RDWR | os.O_CREAT, what)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
        except BlockingIOError:
            yield False
            return
        yield True
    finally:
        os.close(fd)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _stamp(path: Path) -> dict[str, Any]:
    """What identifies a file's content: size, modification time and SHA-256."""
    info = path.lstat()
    return {"size": info.st_size, "mtime_ns": info.st_mtime_ns, "sha256": _sha256(path)}


def _unchanged(path: Path, entry: Mapping[str, Any]) -> bool:
    """Whether ``path`` still holds what fairens wrote (an entry without a stamp is a file a
    library was writing when fairens recorded it: any content is fairens's)."""
    if entry.get("sha256") is None:
        return True
    if path.is_symlink() or not path.is_file():
        return False
    info = path.lstat()
    if info.st_size != entry["size"]:
        return False
    return info.st_mtime_ns == entry["mtime_ns"] or _sha256(path) == entry["sha256"]


def _check_manifest(path: Path, manifest: Any) -> dict[str, Any]:
    files = manifest.get("files") if isinstance(manifest, dict) else None
    if not (isinstance(manifest, dict) and manifest.get("format") == FORMAT
            and manifest.get("kind") in KINDS and isinstance(files, dict)
            and all(isinstance(name, str) and isinstance(entry, dict)
                    and isinstance(entry.get("by"), str) for name, entry in files.items())):
        raise bad_file(path, f"not a manifest of this version of fairens ({FORMAT}); it "
                             "lists what fairens wrote in this folder: restore it, or move "
                             "the folder's files elsewhere")
    return manifest


def read_manifest(folder: str | Path) -> dict[str, Any] | None:
    """The manifest of ``folder``, checked, or None where it has none."""
    path = Path(folder) / MANIFEST
    if not os.path.lexists(path):
        return None
    fd = open_no_follow(path, os.O_RDONLY, "manifest")
    with os.fdopen(fd, "rb") as f:
        data = f.read(_MAX_MANIFEST_BYTES + 1)
    if len(data) > _MAX_MANIFEST_BYTES:
        raise bad_file(path, f"larger than {_MAX_MANIFEST_BYTES >> 20} MB: not a manifest")
    return _check_manifest(path, parse_json(path, data))


@dataclass(frozen=True)
class OwnedFolder:
    """A folder fairens may write into under the ownership rule; every write, replacement
    and removal of the package goes through one of these.

    Attributes:
        path: the folder (it may itself be a link: the user's choice of folder).
        kind: one of :data:`KINDS`.
    """

    path: Path
    kind: str

    # -- the manifest -----------------------------------------------------------------

    @contextlib.contextmanager
    def _manifest(self) -> Iterator[dict[str, Any]]:
        """The manifest, read under the folder's manifest lock and written back (atomically)
        if the block changed it."""
        with _flock(self.path / _LOCK, "manifest lock"):
            manifest = read_manifest(self.path)
            if manifest is None:
                raise bad_file(self.path / MANIFEST, "missing: the folder's manifest was removed "
                                                     "while fairens was writing here")
            before = json_text(manifest)
            yield manifest
            if json_text(manifest) != before:
                with atomic_path(self.path / MANIFEST) as tmp:
                    tmp.write_text(json_text(manifest), encoding="utf-8")

    def owns(self, relative: str, by: str | None = None) -> bool:
        """Whether the manifest lists ``relative`` (written by ``by``, if given)."""
        entry = (read_manifest(self.path) or {}).get("files", {}).get(relative)
        return entry is not None and (by is None or entry["by"] == by)

    def files(self, by: str) -> list[str]:
        """The files ``by`` wrote here, as the manifest lists them."""
        return sorted(name for name, entry in (read_manifest(self.path) or {})["files"].items()
                      if entry["by"] == by)

    def _target(self, relative: str) -> Path:
        path = self.path / relative
        if Path(relative).is_absolute() or ".." in Path(relative).parts:
            raise FairensError(f"{relative!r} is not a path inside {self.path}: a bug in fairens")
        inside(self.path, path.parent)
        inside(self.path, path)
        for parent in list(Path(relative).parents)[-2::-1]:  # plots, then plots/x, ...
            folder = self.path / parent
            if os.path.lexists(folder) and not folder.is_dir():
                raise bad_file(folder, f"a file where fairens keeps a folder of its outputs "
                                       f"({relative}); it is left as it is: move it away")
        return path

    def _check_replaceable(self, manifest: dict[str, Any], relative: str, by: str) -> None:
        """Refuse ``relative`` unless nothing is there or fairens's ``by`` wrote it as it is."""
        if by not in KINDS[self.kind]:
            raise FairensError(f"{self.path}: a {self.kind} folder, where {by} does not write")
        path = self._target(relative)
        entry = manifest["files"].get(relative)
        if not os.path.lexists(path):
            return
        if entry is None:
            kind = "folder" if path.is_dir() and not path.is_symlink() else "file"
            raise bad_file(path, f"a {kind} fairens did not write; it is left as it is: move it "
                                 "away, or choose another folder")
        if entry["by"] != by:
            raise bad_file(path, f"written by fairens {entry['by']}, which {by} never replaces")
        if not _unchanged(path, entry):
            raise bad_file(path, "changed since fairens wrote it; it is left as it is: move it "
                                 "away to keep it, then run the command again")

    def check(self, relatives: Iterable[str], by: str) -> None:
        """Refuse, before any work, outputs of ``by`` that cannot be written here."""
        with self._manifest() as manifest:
            for relative in relatives:
                self._check_replaceable(manifest, relative, by)

    # -- single files -----------------------------------------------------------------

    @contextlib.contextmanager
    def writing(self, relative: str, *, by: str) -> Iterator[Path]:
        """Yield a temporary path for ``relative``; on success it is renamed into place and
        recorded. The file is claimed first, so that a kill leaves no file of fairens's
        that the manifest does not list."""
        with self._manifest() as manifest:
            self._check_replaceable(manifest, relative, by)
            # any content is fairens's until settled: a kill before the rename keeps the old
            # file, a kill after it the new one, and either is still recognised as its own
            manifest["files"][relative] = {"by": by}
        with atomic_path(self.path / relative) as tmp:
            yield tmp
        self.settle([relative], by=by)

    def write(self, relative: str, content: str | bytes, *, by: str) -> Path:
        """Write ``content`` (text as UTF-8) to ``relative`` atomically."""
        with self.writing(relative, by=by) as tmp:
            tmp.write_bytes(content.encode("utf-8") if isinstance(content, str) else content)
        return self.path / relative

    def claim(self, relatives: Iterable[str], *, by: str) -> None:
        """Record files a library writes itself (Lightning's learning curves) before it
        writes them; :meth:`settle` records their content once written."""
        with self._manifest() as manifest:
            for relative in relatives:
                self._check_replaceable(manifest, relative, by)
                manifest["files"][relative] = {"by": by}

    def settle(self, relatives: Iterable[str], *, by: str) -> None:
        """Record the content of claimed files as it is now (missing ones are dropped)."""
        with self._manifest() as manifest:
            for relative in relatives:
                path = self.path / relative
                if path.is_file() and not path.is_symlink():
                    manifest["files"][relative] = {"by": by, **_stamp(path)}
                else:
                    manifest["files"].pop(relative, None)

    def remove(self, relatives: Iterable[str], *, by: str) -> None:
        """Remove files ``by`` wrote here (and folders left empty by that); a file changed
        since is left in place and no longer listed."""
        with self._manifest() as manifest:
            for relative in relatives:
                self._remove(manifest, relative, by)

    def _remove(self, manifest: dict[str, Any], relative: str, by: str) -> None:
        entry = manifest["files"].get(relative)
        if entry is None or entry["by"] != by:
            return
        path = self._target(relative)
        if os.path.lexists(path) and _unchanged(path, entry):
            path.unlink()
            self._prune(path.parent)
        del manifest["files"][relative]

    def _prune(self, folder: Path) -> None:
        """Remove ``folder`` and its parents inside this folder while they are empty."""
        root = self.path.absolute()
        folder = folder.absolute()
        while folder != root and folder.is_relative_to(root):
            try:
                folder.rmdir()
            except OSError:
                return
            folder = folder.parent

    # -- outputs published together ---------------------------------------------------

    @contextlib.contextmanager
    def publishing(self, *, by: str, keep: Callable[[str], bool] = lambda _: False
                   ) -> Iterator[Path]:
        """Yield an empty staging folder; when the block succeeds, its files replace
        ``by``'s outputs here in one step, and ``by``'s earlier files that the staging
        folder lacks are removed (except those ``keep`` names). On failure the staging
        folder goes and every earlier output stays."""
        with contextlib.ExitStack() as held:
            # made and locked under the manifest lock, under which recover() looks for
            # staging folders whose process is gone: it never sees this one unlocked
            with _flock(self.path / _LOCK, "manifest lock"):
                staging = Path(tempfile.mkdtemp(prefix=_STAGING, dir=self.path))
                held.enter_context(_flock(staging / _STAGING_LOCK, "staging lock"))
            try:
                os.chmod(staging, 0o777 & ~umask())
                yield staging
                self._publish(staging, by, keep)
            finally:
                if not self._journaled(staging):  # else the next command finishes it
                    shutil.rmtree(staging, ignore_errors=True)

    def publish(self, outputs: Mapping[str, str | bytes], *, by: str,
                keep: Callable[[str], bool] = lambda _: False) -> None:
        """Write ``outputs`` (relative path -> content) as one step (see
        :meth:`publishing`)."""
        self.check(outputs, by)
        with self.publishing(by=by, keep=keep) as staging:
            write_files(staging, outputs)

    def _publish(self, staging: Path, by: str, keep: Callable[[str], bool]) -> None:
        staged = sorted(p.relative_to(staging).as_posix() for p in staging.rglob("*")
                        if p.is_file() and p.name != _STAGING_LOCK)
        for relative in staged:
            with open(staging / relative, "rb+") as f:
                os.fsync(f.fileno())
        with self._manifest() as manifest:
            for relative in staged:
                self._check_replaceable(manifest, relative, by)
            new = set(staged)
            stale = [name for name, entry in manifest["files"].items()
                     if entry["by"] == by and name not in new and not keep(name)]
            journal = {"staging": staging.name, "by": by, "files": staged, "remove": stale}
            with atomic_path(self.path / _JOURNAL) as tmp:
                tmp.write_text(json_text(journal), encoding="utf-8")
            self._apply(manifest, journal)

    def _apply(self, manifest: dict[str, Any], journal: dict[str, Any]) -> None:
        """Move a journal's staged files into place, remove its stale files, record both,
        then drop the journal: running it again after a kill finishes the same step."""
        staging, by = self.path / journal["staging"], journal["by"]
        for relative in journal["files"]:
            source, target = staging / relative, self.path / relative
            if source.is_file():
                target.parent.mkdir(parents=True, exist_ok=True)
                os.replace(source, target)
            if target.is_file() and not target.is_symlink():
                manifest["files"][relative] = {"by": by, **_stamp(target)}
        for relative in journal["remove"]:
            self._remove(manifest, relative, by)
        with atomic_path(self.path / MANIFEST) as tmp:  # before the journal goes
            tmp.write_text(json_text(manifest), encoding="utf-8")
        (self.path / _JOURNAL).unlink()

    def _journaled(self, staging: Path) -> bool:
        """Whether the publish journal names ``staging`` (a publish that was interrupted
        after its journal was written: its staged files are what the journal moves in)."""
        try:
            fd = open_no_follow(self.path / _JOURNAL, os.O_RDONLY, "publish journal")
        except FairensError:
            return False
        with os.fdopen(fd, "rb") as f:
            journal = parse_json(self.path / _JOURNAL, f.read())
        return isinstance(journal, dict) and journal.get("staging") == staging.name

    def recover(self) -> None:
        """Finish a publish that a killed process left half done, and remove staging
        folders whose process is gone."""
        journal_path = self.path / _JOURNAL
        if not os.path.lexists(journal_path) and not any(self.path.glob(f"{_STAGING}*")):
            return
        with self._manifest() as manifest:
            if os.path.lexists(journal_path):
                fd = open_no_follow(journal_path, os.O_RDONLY, "publish journal")
                with os.fdopen(fd, "rb") as f:
                    self._apply(manifest, parse_json(journal_path, f.read()))
            for staging in self.path.glob(f"{_STAGING}*"):
                lock = staging / _STAGING_LOCK
                if staging.is_dir() and not staging.is_symlink() and lock.is_file() \
                        and not lock.is_symlink():
                    with _flock(lock, "staging lock", blocking=False) as free:
                        if free:
                            shutil.rmtree(staging, ignore_errors=True)


def _visible(folder: Path) -> list[str]:
    """The entries of ``folder`` other than fairens's own bookkeeping (its manifest, lock,
    journal and staging folders, and the temporary files of their atomic writes, which
    another process marking the folder at the same time may have there)."""
    return sorted(p.name for p in folder.iterdir()
                  if not p.name.startswith((".fairens-", "..fairens-")))


def open_folder(path: str | Path, kind: str, *, identity: Mapping[str, Any] | None = None,
                adopt: Callable[[Path], dict[str, str]] | None = None,
                create: bool = True) -> OwnedFolder:
    """The folder ``path`` as an :class:`OwnedFolder` of ``kind``, created and marked where
    needed; refused in one line where fairens may not write into it.

    Args:
        kind: one of :data:`KINDS`.
        identity: what the folder belongs to (an export: the run folder it exports); a
            folder marked for another is refused.
        adopt: for an unmarked folder with files, the files an earlier version of fairens
            wrote there (relative path -> producer); they are recorded as fairens's.
        create: create the folder if it is absent (else it must exist).
    """
    path = Path(path)
    what = f"{'an' if kind[0] in 'aeiou' else 'a'} {kind}"
    if path.is_symlink() and kind not in _LINKED:
        raise bad_file(path, f"is a symbolic link; fairens writes {what} only into the folder "
                             "itself (never through links): give that folder")
    if os.path.lexists(path) and not path.is_dir():
        raise bad_file(path, f"is a file, not a folder; fairens writes {what} folder here: "
                             "choose another path")
    if not path.exists():
        if not create:
            raise bad_file(path, "no such folder")
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise bad_file(path, f"cannot create this folder ({exc.strerror})") from exc
    manifest = read_manifest(path)
    if manifest is None:
        adopted = _adoptable(path, kind, adopt)  # refused before anything is created
        with _flock(path / _LOCK, "manifest lock"):
            manifest = read_manifest(path)  # another process may have marked it meanwhile
            if manifest is None:
                _mark(path, kind, identity, adopted)
    if manifest is not None:
        _check_mark(path, manifest, kind, identity)
    folder = OwnedFolder(path, kind)
    folder.recover()
    return folder


def _adoptable(path: Path, kind: str,
               adopt: Callable[[Path], dict[str, str]] | None) -> dict[str, str]:
    """The files of an unmarked folder that fairens may record as its own (see
    :func:`open_folder`); a folder holding anything else is refused where ``kind`` is not
    marked over a user's files."""
    present = _visible(path)
    adopted = adopt(path) if adopt is not None and present else {}
    if present and not adopted and kind not in _OVER_FOREIGN:
        raise bad_file(path, f"holds files fairens did not write ({name_list(present)}), so "
                             f"it writes no {kind} here; choose a new or empty folder")
    return adopted


def _mark(path: Path, kind: str, identity: Mapping[str, Any] | None,
          adopted: dict[str, str]) -> None:
    files = {}
    for relative, by in sorted(adopted.items()):
        target = path / relative
        if target.is_file() and not target.is_symlink():
            files[relative] = {"by": by, **_stamp(target)}
    manifest = {"format": FORMAT, "kind": kind, **({"identity": dict(identity)} if identity
                                                   else {}), "files": files}
    try:
        with atomic_path(path / MANIFEST) as tmp:
            tmp.write_text(json_text(manifest), encoding="utf-8")
    except FairensError as exc:
        raise bad_file(path, f"cannot mark this folder as fairens's ({exc})") from exc


def _check_mark(path: Path, manifest: dict[str, Any], kind: str,
                identity: Mapping[str, Any] | None) -> None:
    if manifest["kind"] != kind:
        raise bad_file(path, f"a {manifest['kind']} folder of fairens, where no {kind} is "
                             "written; choose another folder")
    recorded = manifest.get("identity")
    if identity is not None and recorded is not None and recorded != dict(identity):
        theirs, ours = (", ".join(map(str, i.values())) for i in (recorded, identity))
        raise bad_file(path, f"the {kind} of {theirs}, not of {ours}; choose another folder")


def publish_pending(folder: str | Path, reopen: Callable[[], OwnedFolder]) -> None:
    """Before reading ``folder``: if a killed process left a publish half done there, let
    ``reopen`` (which opens the folder for writing) finish it, so that a reader sees all old
    or all new outputs."""
    if os.path.lexists(Path(folder) / _JOURNAL):
        reopen()


def referenced_files(folder: Path, documents: Iterable[str], subfolder: str) -> list[str]:
    """The files of ``folder/subfolder`` that the text of ``documents`` (Markdown or HTML
    in ``folder``) names: the figures a report of an earlier version linked to."""
    named = set()
    for document in documents:
        path = folder / document
        if path.is_file() and not path.is_symlink():
            text = path.read_text(encoding="utf-8", errors="replace")
            named |= set(re.findall(rf"{re.escape(subfolder)}/([^/\s\"')<>]+)", text))
    return sorted(f"{subfolder}/{name}" for name in named
                  if (folder / subfolder / name).is_file()
                  and not (folder / subfolder / name).is_symlink())


__all__ = ["KINDS", "MANIFEST", "OwnedFolder", "open_folder", "open_no_follow", "publish_pending",
           "read_manifest", "referenced_files"]
