"""The one place where what the user passes as storage becomes a backend.

``open_storage(target)`` takes a path, a :class:`StorageService` (returned as it is) or ``None``
(a fresh in-memory backend) and returns a backend, the way ``xarray.open_dataset`` resolves its
``engine=``: backends are registered by name with a detector that recognises their files by
signature (never by extension alone), and third-party packages add theirs through the
``pypet_rebuild.backends`` entry-point group (each entry point names a :class:`Backend`).

Backends are imported only when chosen, so resolving a path never imports a backend the target
does not need (and this module imports none at import time).
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import entry_points
from pathlib import Path, PurePath
from typing import Literal

from pypet_rebuild.errors import FileFormatError, InvalidStorageError
from pypet_rebuild.storage.protocol import StorageService

__all__ = [
    "Backend",
    "StorageTarget",
    "backend_names",
    "get_backend",
    "open_storage",
    "register_backend",
]

StorageTarget = StorageService | str | os.PathLike[str] | None
"""What a user may pass as ``storage=``: a path, a backend instance, or ``None`` for memory."""

ENTRY_POINT_GROUP = "pypet_rebuild.backends"


@dataclass(frozen=True)
class Backend:
    """A storage backend the resolver can choose.

    Parameters
    ----------
    name
        The name users pass as ``engine=`` (``"hdf5"``).
    opener
        ``"module:attribute"`` of a callable ``opener(path, **options) -> StorageService``,
        imported only when this backend is chosen.
    detect
        ``detect(path) -> bool``: whether an existing file or folder is this backend's (read
        its signature; it must not import heavy dependencies or run code from the file).
    suffixes
        File suffixes a *new* store of this backend conventionally has (``(".h5", ".hdf5")``);
        used only to choose the backend of a path that does not exist yet.
    """

    name: str
    opener: str
    detect: Callable[[Path], bool]
    suffixes: tuple[str, ...] = ()

    def open(self, path: Path, **options: object) -> StorageService:
        """Import the backend and open ``path`` with it."""
        module_name, _, attribute = self.opener.partition(":")
        factory = getattr(importlib.import_module(module_name), attribute)
        storage: StorageService = factory(path, **options)
        if self.opener != _HDF5_OPENER and not isinstance(storage, StorageService):
            raise InvalidStorageError(
                f"the backend {self.name!r} returned {type(storage).__name__}, which does not "
                "implement pypet_rebuild.StorageService"
            )
        return storage


# The built-in HDF5 backend implements the protocol (tests/test_seams.py checks it): the check of
# what an opener returns against the whole protocol is for third-party backends. In a fresh
# process it costs 0.05 ms, a tenth of opening a file.
_HDF5_OPENER = "pypet_rebuild.storage.hdf5:HDF5StorageService"

_HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
# HDF5 allows a user block before the superblock; the signature then sits at one of these.
_HDF5_OFFSETS = (0, 512, 1024, 2048, 4096)


def has_hdf5_signature(path: Path) -> bool:
    """Whether ``path`` is a file starting (after an optional user block) with HDF5's signature."""
    try:
        with path.open("rb") as file:
            for offset in _HDF5_OFFSETS:
                file.seek(offset)
                if file.read(len(_HDF5_SIGNATURE)) == _HDF5_SIGNATURE:
                    return True
    except OSError:
        return False
    return False


_REGISTRY: dict[str, Backend] = {}
_ENTRY_POINTS_LOADED = False


def register_backend(backend: Backend, *, replace: bool = False) -> None:
    """Make ``backend`` available to :func:`open_storage` (and so to every ``storage=``).

    Backends registered later are asked first when detecting a file's backend, so a more
    specific backend (a reader of one flavour of HDF5 file) can claim files before the generic one.

    Raises
    ------
    ValueError
        If a backend of that name is registered and ``replace`` is false.
    """
    if backend.name in _REGISTRY and not replace:
        raise ValueError(
            f"a storage backend named {backend.name!r} is already registered; pass replace=True "
            "to replace it"
        )
    _REGISTRY.pop(backend.name, None)
    _REGISTRY[backend.name] = backend


def _load_entry_points() -> None:
    global _ENTRY_POINTS_LOADED  # noqa: PLW0603 - loaded once per process, on first use
    if _ENTRY_POINTS_LOADED:
        return
    _ENTRY_POINTS_LOADED = True
    for entry in entry_points(group=ENTRY_POINT_GROUP):
        backend = entry.load()
        if not isinstance(backend, Backend):
            raise InvalidStorageError(
                f"the entry point {entry.name!r} of group {ENTRY_POINT_GROUP!r} names "
                f"{type(backend).__name__}, not a pypet_rebuild.storage.backends.Backend"
            )
        if backend.name not in _REGISTRY:
            register_backend(backend)


def backend_names() -> tuple[str, ...]:
    """The names of the registered backends, most specific first."""
    _load_entry_points()
    return tuple(reversed(_REGISTRY))


def get_backend(name: str) -> Backend:
    """The registered backend called ``name``.

    Raises
    ------
    InvalidStorageError
        If no backend of that name is registered (the message lists those that are).
    """
    return _backend(name)


def _backend(name: str) -> Backend:
    _load_entry_points()
    try:
        return _REGISTRY[name]
    except KeyError:
        known = ", ".join(repr(n) for n in backend_names())
        raise InvalidStorageError(
            f"no storage backend named {name!r}; the registered backends are {known}"
        ) from None


_OWN_MARK = b"pypet_rebuild_format_version"
_OWN_HEAD = 1 << 16


def _is_own_file(path: Path) -> bool:
    """Whether ``path`` is an HDF5 file of this library (its format attribute is in its head).

    The attribute's name sits in the root group's header, written first.
    Such a file goes to the ``hdf5`` backend straight away: no other backend is asked, and no
    entry point is loaded (that alone takes milliseconds, as long as reading a small result).
    """
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_BINARY", 0))
    except OSError:
        return False
    try:
        # The first page holds it in every file this library writes: the rest of the head is
        # read only when it does not (a buffered file object and 64 KiB cost more than the
        # look itself).
        head = os.pread(fd, _FIRST_PAGE, 0) if hasattr(os, "pread") else os.read(fd, _FIRST_PAGE)
        if _OWN_MARK not in head and len(head) == _FIRST_PAGE:
            head += _read_more(fd, _OWN_HEAD - _FIRST_PAGE, _FIRST_PAGE)
    except OSError:
        return False
    finally:
        os.close(fd)
    return head.startswith(_HDF5_SIGNATURE) and _OWN_MARK in head


_FIRST_PAGE = 4096


def _read_more(fd: int, count: int, offset: int) -> bytes:
    """Up to ``count`` bytes from ``offset`` (where they end: a short file reads short)."""
    if hasattr(os, "pread"):
        return os.pread(fd, count, offset)
    os.lseek(fd, offset, os.SEEK_SET)
    return os.read(fd, count)


def _detect(path: Path) -> Backend:
    if _is_own_file(path):
        return _REGISTRY["hdf5"]
    for name in backend_names():
        backend = _REGISTRY[name]
        if backend.detect(path):
            return backend
    # Nothing recognises it: let the backend its suffix suggests (HDF5 by default) explain what
    # is wrong with it (not HDF5, truncated, a directory...).
    return _by_suffix(path)


def _by_suffix(path: Path) -> Backend:
    for name in backend_names():
        if path.suffix.lower() in _REGISTRY[name].suffixes:
            return _REGISTRY[name]
    return _REGISTRY["hdf5"]


def open_storage(
    target: StorageTarget,
    *,
    mode: Literal["r", "w"] = "r",
    engine: str | None = None,
    **options: object,
) -> StorageService:
    """Turn what the user passed as storage into a backend.

    Parameters
    ----------
    target
        A path (a file is recognised by its signature; a new one gets the backend its suffix
        suggests, HDF5 by default), a :class:`StorageService` (returned unchanged), or ``None``
        for a new :class:`MemoryStorageService` (writing only).
    mode
        ``"r"``: the store must exist. ``"w"``: it is created by the first sweep if missing.
    engine
        The backend's name, to skip detection (``"hdf5"``).
    **options
        Passed to the backend (``allow_pickle=``, ``compaction=``, ``options=`` for HDF5).

    Returns
    -------
    StorageService
        The backend.

    Raises
    ------
    InvalidStorageError
        If ``target`` is of another type, ``engine`` is unknown, or options are given with a
        backend instance.
    FileFormatError
        In mode ``"r"``, if the path does not exist.
    """
    # A path is never a backend: skip the structural check against the whole protocol (the
    # first one in a process costs a tenth of a millisecond, as much as opening the file).
    if not isinstance(target, str | PurePath) and isinstance(target, StorageService):
        if options or engine is not None:
            raise InvalidStorageError(
                f"options {sorted(options)} and engine= apply to a path, not to the backend "
                f"{target!r} passed as storage; configure the backend when you create it"
            )
        return target
    if target is None:
        if mode == "r":
            raise InvalidStorageError("nothing to read: pass a path or a StorageService")
        from pypet_rebuild.storage.memory import MemoryStorageService

        if options:
            raise InvalidStorageError(
                f"options {sorted(options)} need a file; the in-memory storage takes none"
            )
        return MemoryStorageService()
    if not isinstance(target, str | os.PathLike):
        raise InvalidStorageError(
            f"storage must be a file path, a StorageService or None, got "
            f"{type(target).__name__} {target!r}"
        )
    path = Path(target)
    if engine is not None:
        return _backend(engine).open(path, **options)
    if path.exists():
        return _detect(path).open(path, **options)
    if mode == "r":
        raise FileFormatError(f"no such file: {str(path)!r}; check the path (cwd: {Path.cwd()})")
    return _by_suffix(path).open(path, **options)


register_backend(
    Backend(
        name="hdf5",
        opener=_HDF5_OPENER,
        detect=has_hdf5_signature,
        suffixes=(".h5", ".hdf5", ".he5"),
    )
)


def has_pypet_signature(path: Path) -> bool:
    """Whether ``path`` is an HDF5 file holding a trajectory of the original pypet.

    Told by pypet's attributes (``SRVC_*`` on a top-level group, or its ``overview`` tables),
    never by the extension; the reader is imported only for HDF5 files.
    """
    if not has_hdf5_signature(path):
        return False
    from pypet_rebuild.legacy.service import is_pypet_file

    return is_pypet_file(path)


# Registered after "hdf5", so asked first: it claims only files with pypet's attributes.
register_backend(
    Backend(
        name="pypet",
        opener="pypet_rebuild.legacy:PypetStorageService",
        detect=has_pypet_signature,
    )
)
