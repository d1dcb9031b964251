"""Files on disk: validation on open, the writer lock, atomic replacement and segment files.

Crash safety rests on three rules. Finished runs go to immutable *segment* files in
``<file>.segments/``, each written under a temporary name, fsynced and renamed. The main file is
changed in place only behind the rollback journal of :mod:`.journal` (readers read around an
uncommitted change; the next writer rolls it back). A whole new main file (a new file, a
compaction, a merge) is written to a temporary name, fsynced and renamed over the old one, so it
is always either the old or the new complete file. Readers see the main file plus every segment
the main file has not folded in yet.

A killed writer can leave three kinds of debris, all invisible to readers and removed by the next
writer (under the lock): temporary files (``.<name>.<pid>.tmp``, ``.<name>.journal.<pid>.tmp``),
a journal (rolled back), and segments that the main file already lists as folded (the kill came
between the commit and their deletion).

**One file, one writer.** Everything here is named after the *real* path of the main file
(:func:`real_path`: symlinks resolved), so writers that reach one file through different symlinks
share one lock, one segment folder and one rewrite target, and writing through a symlink updates
the file it points to instead of replacing the link. A file with several hard links is refused for
writing: the names would not share a lock or a journal, and a whole-file rewrite would give it a
new inode under one name only (see :class:`WriterLock`).
"""

from __future__ import annotations

import contextlib
import errno
import glob
import json
import os
import re
import shutil
import stat
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Final, NamedTuple

import filelock
import h5py

from pypet_rebuild.errors import FileFormatError, FileLockedError, PypetRebuildError, StorageError
from pypet_rebuild.storage.hdf5.attributes import read_attribute
from pypet_rebuild.storage.hdf5.journal import FileView, JournalView, journal_path

__all__ = [
    "FOLDED_ATTR",
    "FORMAT_ATTR",
    "FORMAT_VERSION",
    "OpenedFile",
    "WriterLock",
    "folded_segments",
    "fsync_directory",
    "list_segments",
    "new_staging_path",
    "open_checked",
    "open_reading",
    "real_path",
    "remove_leftovers",
    "remove_staging",
    "remove_stale_staging",
    "renamed_into_place",
    "segment_directory",
    "segment_path",
]

FORMAT_VERSION = 2
FORMAT_ATTR = "pypet_rebuild_format_version"
FOLDED_ATTR = "pypet_rebuild_folded_segments"
_SEGMENT_NAME = re.compile(r"^(?P<trajectory>[^/]+)\.(?P<seq>\d{8})\.h5$")
_SEGMENT_TEMPORARY = re.compile(r"^\..+\.\d{8}\.h5\.\d+\.tmp$")


def real_path(path: Path) -> Path:
    """``path`` with every symlink resolved (also when the file does not exist yet).

    The lock, the segment folder and the rewrite target are named after it, so two names of one
    file (through symlinks) are one file to writers.
    """
    return Path(os.path.realpath(path))


def segment_directory(path: Path) -> Path:
    """The folder holding the segment files of ``path`` (beside the real file)."""
    path = real_path(path)
    return path.with_name(path.name + ".segments")


def segment_path(path: Path, trajectory: str, seq: int) -> Path:
    """The file name of segment ``seq`` of ``trajectory``."""
    return segment_directory(path) / f"{trajectory}.{seq:08d}.h5"


def list_segments(path: Path, trajectory: str | None = None) -> list[tuple[str, int, Path]]:
    """Every complete segment file as ``(trajectory, seq, path)``, in write order."""
    found: list[tuple[str, int, Path]] = []
    for entry in _entries(segment_directory(path)):
        match = _SEGMENT_NAME.match(entry.name)
        if match and (trajectory is None or match["trajectory"] == trajectory):
            found.append((match["trajectory"], int(match["seq"]), entry))
    return sorted(found, key=lambda item: (item[0], item[1]))


# What follows ``.<name>.`` in a temporary main file's or journal's name. A fixed pattern: one
# built around each file's name would be compiled anew for every new file a process writes.
_TEMPORARY_TAIL: Final = re.compile(r"(journal\.)?\d+\.tmp$")


def _temporary_name(target: Path, pid: int) -> Path:
    return target.with_name(f".{target.name}.{pid}.tmp")


def remove_leftovers(path: Path) -> list[Path]:
    """Delete the temporary files that killed writers of ``path`` left behind.

    Only call this while holding the writer lock: then no temporary file is in use. Readers
    never look at temporary files (they are not segments and not the main file), so leftovers
    are harmless until then.

    Returns
    -------
    list of Path
        The files removed.
    """
    path = real_path(path)
    # Temporary main files and journals (``.<name>.<pid>.tmp``, ``.<name>.journal.<pid>.tmp``).
    prefix = f".{path.name}."
    candidates = [
        entry
        for entry in _entries(path.parent)
        if entry.name.startswith(prefix)
        and _TEMPORARY_TAIL.match(entry.name, len(prefix)) is not None
    ]
    candidates += [
        entry for entry in _entries(segment_directory(path)) if _SEGMENT_TEMPORARY.match(entry.name)
    ]
    removed = []
    for entry in candidates:
        with contextlib.suppress(FileNotFoundError):
            entry.unlink()
            removed.append(entry)
    return removed


def _entries(directory: Path) -> list[Path]:
    """The entries of ``directory``; none if it does not exist (or a writer just removed it)."""
    try:
        return list(directory.iterdir())
    except (FileNotFoundError, NotADirectoryError):
        return []


def folded_segments(file: h5py.File) -> dict[str, int]:
    """The highest segment number already folded into the main file, by trajectory."""
    raw = file.attrs.get(FOLDED_ATTR)
    if raw is None:
        return {}
    folded: dict[str, int] = json.loads(raw)
    return folded


def fsync_directory(directory: Path) -> None:
    """Make a rename inside ``directory`` durable."""
    if sys.platform == "win32":
        return  # directories cannot be opened there; NTFS journals the rename itself
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_file(path: Path) -> None:
    """Flush a closed file's data to disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_h5(target: Path) -> Iterator[h5py.File]:
    """Write a new HDF5 file that appears at ``target`` complete or not at all.

    A symlink ``target`` stays a symlink: the file it points to is replaced.

    Raises
    ------
    StorageError
        If writing fails (disk full, file size limit, I/O error), naming the first failure:
        the temporary file is closed and removed, and ``target`` is left as it was.
    """
    target = real_path(target)
    temporary = _temporary_name(target, os.getpid())

    def create() -> h5py.File:
        # Free space is tracked in the file (fs_persist), so that later in-place changes (see
        # .journal) reuse what earlier ones freed instead of growing the file.
        return h5py.File(
            temporary, "w", libver=("v110", "latest"), fs_strategy="fsm", fs_persist=True
        )

    with renamed_into_place(target, temporary, create) as file:
        yield file


@contextlib.contextmanager
def renamed_into_place(
    target: Path, temporary: Path, open_file: Callable[[], h5py.File]
) -> Iterator[h5py.File]:
    """Yield the file ``open_file`` opens at ``temporary``; it replaces ``target`` at the end.

    At the end of the block the file is closed, made durable, renamed over ``target`` (the
    commit point) and the folder synced; a kill before the rename leaves ``target`` as it was and
    a temporary file :func:`remove_leftovers` removes.

    Raises
    ------
    StorageError
        If opening, writing or syncing fails (disk full, file size limit, I/O error), naming
        the first failure: the temporary file is closed and removed, ``target`` left as it was.
    """
    try:
        try:
            file = open_file()
        except OSError as exc:
            raise write_failed(target, exc) from exc
        try:
            yield file
        except BaseException as exc:
            # Closing a file whose writes failed fails again (HDF5 flushes on close); that second
            # error must not hide the first, and the file must be closed now, not by a finalizer
            # at interpreter exit (where a half-closed HDF5 file can crash the process).
            _close_quietly(file)
            # h5py reports HDF5 failures as OSError, some (a failed object copy) as RuntimeError.
            if isinstance(exc, OSError | RuntimeError) and not isinstance(exc, PypetRebuildError):
                raise write_failed(target, exc) from exc
            raise
        try:
            file.close()
            fsync_file(temporary)
            os.replace(temporary, target)
            fsync_directory(target.parent)
        except OSError as exc:
            _close_quietly(file)
            raise write_failed(target, exc) from exc
    finally:
        with contextlib.suppress(OSError):
            temporary.unlink()


_FULL = (errno.ENOSPC, errno.EFBIG, errno.EDQUOT)


def _close_quietly(file: h5py.File) -> None:
    """Close ``file`` after a failure, however the close goes (a second failure adds nothing)."""
    with contextlib.suppress(Exception):
        file.close()
    if file.id.valid:  # the close failed half way: drop the handle HDF5 still keeps
        with contextlib.suppress(Exception):
            file.id.close()


def write_failed(target: Path, exc: OSError | RuntimeError) -> StorageError:
    """The error for a failed write of ``target``, naming the cause (the first failure)."""
    code = getattr(exc, "errno", None)
    text = str(exc).lower()
    if code in _FULL or any(f"errno = {full}," in text for full in _FULL) or "too large" in text:
        cause = "the disk is full or a file size limit was reached"
    else:
        cause = "a write failed"
    detail = " ".join(str(exc).split())
    if len(detail) > 300:
        detail = detail[:297] + "..."
    return StorageError(
        f"cannot write {str(target)!r}: {cause} ({detail}); the file is as it was before this "
        "write, and runs already stored are kept"
    )


def open_checked(path: Path) -> h5py.File:
    """Open an existing file read-only, refusing anything that is not a pypet_rebuild file.

    Raises
    ------
    FileFormatError
        If the file is missing, not HDF5, truncated or corrupted, or not written by this library.
    """
    return open_reading(path).file


class OpenedFile(NamedTuple):
    """A file opened by :func:`open_reading`, with the view it reads through."""

    file: h5py.File
    """The file, open read-only."""
    view: FileView | None
    """The plain view the file reads through; ``None`` when it reads through a journal view
    (a writer was changing the file in place when it was opened)."""


def open_reading(path: Path, *, real: Path | None = None) -> OpenedFile:
    """:func:`open_checked`, also returning the view the file reads through.

    Parameters
    ----------
    path
        The file.
    real
        ``real_path(path)``, if the caller has it already.

    Raises
    ------
    FileFormatError
        If the file is missing, not HDF5, truncated or corrupted, or not written by this library.
    """
    # One ``stat`` says both whether it exists and whether it is a folder.
    try:
        mode = os.stat(path).st_mode
    except OSError:
        if path.exists():  # what ``exists`` does not count as missing (it raises the same)
            raise
        raise FileFormatError(
            f"no such file: {str(path)!r}; check the path (cwd: {Path.cwd()})"
        ) from None
    if stat.S_ISDIR(mode):
        raise FileFormatError(f"{str(path)!r} is a directory, not an HDF5 file")
    try:
        file, view = _open_consistent(path, real_path(path) if real is None else real)
    except OSError as exc:
        # Only now look for the signature, to say why (a good file is not opened twice).
        try:
            is_hdf5 = h5py.is_hdf5(path)
        except OSError as again:
            raise FileFormatError(f"cannot read {str(path)!r}: {again}") from again
        if not is_hdf5:
            raise FileFormatError(
                f"{str(path)!r} is not an HDF5 file (no HDF5 signature); was it written by "
                "pypet_rebuild, and is the path right?"
            ) from None
        raise FileFormatError(
            f"{str(path)!r} is truncated or corrupted and cannot be opened as HDF5 ({exc}); "
            "if a sweep was killed, its finished runs are in the .segments folder beside it"
        ) from exc
    version = read_attribute(file, FORMAT_ATTR, None)
    if version is None:
        file.close()
        raise FileFormatError(
            f"{str(path)!r} is an HDF5 file but was not written by pypet_rebuild (no "
            f"{FORMAT_ATTR!r} attribute) nor by the original pypet (no trajectory group with "
            "pypet's SRVC_* attributes); check the path"
        )
    if int(version) > FORMAT_VERSION:
        file.close()
        raise FileFormatError(
            f"{str(path)!r} has format version {int(version)}, newer than this pypet_rebuild "
            f"reads ({FORMAT_VERSION}); upgrade pypet_rebuild"
        )
    return OpenedFile(file, view)


_OPEN_ATTEMPTS = 20


def _identity(path: str) -> tuple[int, int, int]:
    info = os.stat(path)
    return (info.st_ino, info.st_size, info.st_mtime_ns)


def _open_consistent(path: Path, real: Path) -> tuple[h5py.File, FileView | None]:
    """Open ``path`` (real path ``real``) read-only as it was last committed, never half changed.

    While a writer changes the file in place (its journal exists), the file is read through a
    :class:`~.journal.JournalView` that shows it as it was before (returned with ``None``).
    Otherwise it is read through a :class:`~.journal.FileView` (so that no other handle of this
    process shares its metadata cache), returned with the file, and opened again if a writer
    began changing it meanwhile (the journal appeared or the file changed under the open).
    """
    # Strings, built once: the loop asks about both names twice.
    journal, name = str(journal_path(real)), str(real)
    for _ in range(_OPEN_ATTEMPTS):
        if os.path.exists(journal):
            try:
                return h5py.File(JournalView(real), "r"), None
            except FileNotFoundError:
                continue  # the writer committed meanwhile: open the file itself
        before = _identity(name)
        view = FileView(real)
        file = h5py.File(view, "r")
        if not os.path.exists(journal) and _identity(name) == before:
            return file, view
        file.close()
    raise StorageError(
        f"{str(path)!r} changed {_OPEN_ATTEMPTS} times while being opened; a writer is "
        "committing changes quickly: try again"
    )


_STAGING = ".merge-"


def new_staging_path(path: Path) -> Path:
    """A fresh, unused name next to ``path`` for a file built before it replaces a trajectory."""
    handle, name = tempfile.mkstemp(prefix=f".{path.name}{_STAGING}", suffix=".h5", dir=path.parent)
    os.close(handle)
    staging = Path(name)
    staging.unlink()
    return staging


def remove_staging(staging: Path) -> None:
    """Delete a staging file with its lock file and segment folder."""
    for leftover in (staging, staging.with_name(staging.name + ".lock")):
        leftover.unlink(missing_ok=True)
    shutil.rmtree(segment_directory(staging), ignore_errors=True)


def remove_stale_staging(path: Path) -> None:
    """Delete what staging writers into ``path`` that were killed left behind.

    Called while holding ``path``'s writer lock: a staging file (and its lock file, segment
    folder and temporary files, all named after it) exists only while its builder holds that
    lock, so every staging file left is debris.
    """
    staging = glob.escape(f".{path.name}{_STAGING}") + "*"
    # The staging file, its lock file and segment folder, and (one more dot) its temporary files.
    for leftover in [*path.parent.glob(staging), *path.parent.glob("." + staging)]:
        if leftover.is_dir():
            shutil.rmtree(leftover, ignore_errors=True)
        else:
            leftover.unlink(missing_ok=True)


class WriterLock:
    """An exclusive lock on ``<real file>.lock``, held while a process writes to the file.

    Portable (the ``filelock`` package: ``flock`` on POSIX, ``LockFileEx`` on Windows), so
    importing pypet_rebuild needs no POSIX-only module. The operating system releases the lock
    when the process dies, so a killed writer never leaves a stale lock behind; a clean release
    also removes the lock file.

    The lock file is named after the real path of the main file (symlinks resolved), so writers
    reaching one file through different symlinks exclude each other. It is never opened through
    a symlink (``O_NOFOLLOW``): a symlink planted at the lock's name is refused, not followed to a
    file it would truncate. A main file with several hard links is refused for writing.

    Parameters
    ----------
    path
        The main HDF5 file.
    """

    def __init__(self, path: Path) -> None:
        self._file = path
        self._lock: filelock.BaseFileLock | None = None

    @property
    def path(self) -> Path:
        """The lock file (beside the real main file)."""
        real = real_path(self._file)
        return real.with_name(real.name + ".lock")

    @property
    def held(self) -> bool:
        """Whether this object holds the lock."""
        return self._lock is not None

    def acquire(self) -> None:
        """Take the lock, or raise :class:`FileLockedError` if another process holds it.

        Raises
        ------
        FileLockedError
            If another process writes the file.
        StorageError
            If the lock file cannot be created (read-only folder), is a symbolic link, or the
            main file has several hard links.
        """
        if self._lock is not None:
            return
        lock_path = self.path
        if os.path.islink(lock_path):
            raise _symlinked(lock_path)
        lock = filelock.FileLock(lock_path, timeout=0, thread_local=False)
        try:
            lock.acquire()
        except filelock.Timeout:
            raise FileLockedError(
                f"{str(self._file)!r} is being written by another process (its lock file "
                f"{str(lock_path)!r} is held); wait for that sweep to finish, or use another file"
            ) from None
        except OSError as exc:
            if exc.errno == errno.ELOOP or os.path.islink(lock_path):
                raise _symlinked(lock_path) from exc
            raise StorageError(
                f"cannot create the lock file {str(lock_path)!r} ({exc}); if the folder is "
                "read-only, copy the file somewhere writable, or open it read-only"
            ) from exc
        self._lock = lock
        try:
            links = os.stat(self._file).st_nlink
        except FileNotFoundError:
            links = 1
        if links > 1:
            self.release()
            raise StorageError(
                f"{str(self._file)!r} has {links} hard links; its names would not share a "
                "writer lock, and compacting replaces a file under one name only. Write to a copy "
                "(or use a symbolic link instead)"
            )

    def release(self) -> None:
        """Give the lock back and remove the lock file."""
        lock, self._lock = self._lock, None
        if lock is None:
            return
        if sys.platform != "win32":
            # Removed while still held: a process that opened it meanwhile sees an unlinked file
            # once it gets the lock, and filelock then retries on a new one. (On Windows,
            # filelock removes it itself on release.)
            with contextlib.suppress(OSError):
                os.unlink(lock.lock_file)
        lock.release()

    def __enter__(self) -> WriterLock:
        self.acquire()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.release()


def _symlinked(lock_path: Path) -> StorageError:
    return StorageError(
        f"the lock file {str(lock_path)!r} is a symbolic link; pypet_rebuild never follows one "
        "(it could point at a file that taking the lock would overwrite). Remove it if you did "
        "not create it on purpose"
    )
