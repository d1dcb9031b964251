"""Files on disk: validation on open, the writer lock, atomic replacement and segment files.

Crash safety rests on two rules. The main file is never modified in place: it is rewritten to a
temporary name, fsynced and renamed over the old one, so it is always either the old or the new
complete file. Between rewrites, finished runs go to immutable *segment* files in
``<file>.segments/``, each written under a temporary name, fsynced and renamed. Readers see the
main file plus every segment the main file has not folded in yet.

A killed writer can leave two kinds of debris, both invisible to readers and removed by the next
writer (under the lock): temporary files (``.<name>.<pid>.tmp``), and segments that the main file
already lists as folded (the kill came between the main file's rename and their deletion).
"""

from __future__ import annotations

import contextlib
import fcntl
import glob
import json
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import h5py

from pypet_rebuild.errors import FileFormatError, FileLockedError, StorageError

__all__ = [
    "FOLDED_ATTR",
    "FORMAT_ATTR",
    "FORMAT_VERSION",
    "WriterLock",
    "folded_segments",
    "fsync_directory",
    "list_segments",
    "new_staging_path",
    "open_checked",
    "remove_leftovers",
    "remove_staging",
    "remove_stale_staging",
    "segment_directory",
    "segment_path",
]

FORMAT_VERSION = 1
FORMAT_ATTR = "pypet_rebuild_format_version"
FOLDED_ATTR = "pypet_rebuild_folded_segments"
_SEGMENT_NAME = re.compile(r"^(?P<trajectory>[^/]+)\.(?P<seq>\d{8})\.h5$")
_SEGMENT_TEMPORARY = re.compile(r"^\..+\.\d{8}\.h5\.\d+\.tmp$")


def segment_directory(path: Path) -> Path:
    """The folder holding the segment files of ``path``."""
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
    main = re.compile(rf"^\.{re.escape(path.name)}\.\d+\.tmp$")
    candidates = [entry for entry in _entries(path.parent) if main.match(entry.name)]
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
    """Write a new HDF5 file that appears at ``target`` complete or not at all."""
    temporary = _temporary_name(target, os.getpid())
    try:
        with h5py.File(temporary, "w", libver=("v110", "latest")) as file:
            yield file
        fsync_file(temporary)
        os.replace(temporary, target)
        fsync_directory(target.parent)
    finally:
        with contextlib.suppress(FileNotFoundError):
            temporary.unlink()


def open_checked(path: Path) -> h5py.File:
    """Open an existing file read-only, refusing anything that is not a pypet_rebuild file.

    Raises
    ------
    FileFormatError
        If the file is missing, not HDF5, truncated or corrupted, or not written by this library.
    """
    if not path.exists():
        raise FileFormatError(f"no such file: {str(path)!r}; check the path (cwd: {Path.cwd()})")
    if path.is_dir():
        raise FileFormatError(f"{str(path)!r} is a directory, not an HDF5 file")
    try:
        is_hdf5 = h5py.is_hdf5(path)
    except OSError as exc:
        raise FileFormatError(f"cannot read {str(path)!r}: {exc}") from exc
    if not is_hdf5:
        raise FileFormatError(
            f"{str(path)!r} is not an HDF5 file (no HDF5 signature); was it written by "
            "pypet_rebuild, and is the path right?"
        )
    try:
        file = h5py.File(path, "r")
    except OSError as exc:
        raise FileFormatError(
            f"{str(path)!r} is truncated or corrupted and cannot be opened as HDF5 ({exc}); "
            "if a sweep was killed, its finished runs are in the .segments folder beside it"
        ) from exc
    version = file.attrs.get(FORMAT_ATTR)
    if version is None:
        file.close()
        raise FileFormatError(
            f"{str(path)!r} is an HDF5 file but was not written by pypet_rebuild (no "
            f"{FORMAT_ATTR!r} attribute); files of the original pypet need the legacy reader"
        )
    if int(version) > FORMAT_VERSION:
        file.close()
        raise FileFormatError(
            f"{str(path)!r} has format version {int(version)}, newer than this pypet_rebuild "
            f"reads ({FORMAT_VERSION}); upgrade pypet_rebuild"
        )
    return file


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
    """An exclusive lock on ``<file>.lock``, held while a process writes to the file.

    The operating system releases it when the process dies, so a killed writer never leaves a
    stale lock behind.

    Parameters
    ----------
    path
        The main HDF5 file.
    """

    def __init__(self, path: Path) -> None:
        self._path = path.with_name(path.name + ".lock")
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        """Whether this object holds the lock."""
        return self._fd is not None

    def acquire(self) -> None:
        """Take the lock, or raise :class:`FileLockedError` if another process holds it."""
        if self._fd is not None:
            return
        try:
            fd = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o644)
        except PermissionError as exc:
            raise StorageError(
                f"cannot write next to {str(self._path.parent)!r} ({exc}); the folder is "
                "read-only: copy the file somewhere writable, or open it read-only"
            ) from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise FileLockedError(
                f"{str(self._path.with_suffix(''))!r} is being written by another process "
                "(its lock file is held); wait for that sweep to finish, or use another file"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        self._fd = fd

    def release(self) -> None:
        """Give the lock back."""
        if self._fd is None:
            return
        fcntl.flock(self._fd, fcntl.LOCK_UN)
        os.close(self._fd)
        self._fd = None

    def __enter__(self) -> WriterLock:
        self.acquire()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.release()
