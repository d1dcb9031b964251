"""Storage backends to test against, and running a sweep in one call.

:func:`storage_factories` lists the in-memory backend and every installed backend that can
create a new store (the built-in HDF5 one, and any registered by a third-party package), so a
test parametrized over it runs against each. :func:`run_study` runs a sweep quietly and returns
the stored study, which is what most tests of a simulation want.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pypet_rebuild.storage.backends import (
    StorageTarget,
    backend_names,
    get_backend,
    open_storage,
)
from pypet_rebuild.storage.protocol import StorageService, SupportsLocation

if TYPE_CHECKING:
    from pypet_rebuild.analysis.study import StoredTrajectory
    from pypet_rebuild.execution.run import Run
    from pypet_rebuild.tree.trajectory import Trajectory

__all__ = ["StorageFactory", "run_study", "storage_factories"]


@dataclass(frozen=True)
class StorageFactory:
    """How to make a fresh storage of one backend, and reopen what it stored.

    Parameters
    ----------
    name
        The backend's name (``"memory"``, ``"hdf5"``, or a registered backend's name); used as
        the test id.
    create
        ``create(folder, allow_pickle)``: a new, empty storage whose files (if any) live in
        ``folder``.
    reopen
        ``reopen(storage, allow_pickle)``: another handle on what ``storage`` stored (for a file,
        a new service on the same file, which proves the data is on disk; for memory, the
        object itself).
    """

    name: str
    create: Callable[[Path, bool], StorageService]
    reopen: Callable[[StorageService, bool], StorageService]

    def __repr__(self) -> str:
        return f"StorageFactory({self.name!r})"


def _memory(folder: Path, allow_pickle: bool) -> StorageService:
    from pypet_rebuild.storage.memory import MemoryStorageService

    return MemoryStorageService(allow_pickle=allow_pickle)


def _same(storage: StorageService, allow_pickle: bool) -> StorageService:
    return storage


def _file_factory(name: str, suffix: str) -> StorageFactory:
    def create(folder: Path, allow_pickle: bool) -> StorageService:
        options = {"allow_pickle": True} if allow_pickle else {}
        return open_storage(folder / f"study{suffix}", mode="w", engine=name, **options)

    def reopen(storage: StorageService, allow_pickle: bool) -> StorageService:
        if not isinstance(storage, SupportsLocation):
            return storage
        options = {"allow_pickle": True} if allow_pickle else {}
        return open_storage(Path(storage.location), mode="r", engine=name, **options)

    return StorageFactory(name, create, reopen)


def storage_factories() -> tuple[StorageFactory, ...]:
    """The in-memory backend and every installed backend that can create a new store.

    A registered backend (see :func:`~pypet_rebuild.storage.backends.register_backend`) counts
    as one that can create a store when it declares file suffixes for new stores; a read-only
    backend (a reader of another program's files) declares none and is left out.

    Returns
    -------
    tuple of StorageFactory
        ``memory`` first, then the registered backends, most specific first.
    """
    factories = [StorageFactory("memory", _memory, _same)]
    for name in backend_names():
        backend = get_backend(name)
        if backend.suffixes:
            factories.append(_file_factory(name, backend.suffixes[0]))
    return tuple(factories)


def run_study(
    trajectory: Trajectory,
    simulate: Callable[[Run], Any],
    *,
    storage: StorageTarget = None,
    overwrite: bool = False,
    **run_options: Any,
) -> StoredTrajectory:
    """Run ``simulate`` over ``trajectory`` and return the stored study.

    The sweep runs without a progress bar (pass ``progress=True`` to see one) and raises
    :class:`~pypet_rebuild.errors.RunFailedError` at the first failing run unless
    ``on_error="continue"`` is passed.

    Parameters
    ----------
    trajectory
        The trajectory to run.
    simulate
        The simulate function, ``simulate(run) -> results``.
    storage
        Where to store it: a path, a :class:`~pypet_rebuild.StorageService`, or ``None`` for
        a new in-memory storage.
    overwrite
        Replace a stored trajectory of the same name (see ``Environment.run``).
    **run_options
        Passed to :meth:`~pypet_rebuild.Environment.run` (``executor=``, ``on_error=``...).

    Returns
    -------
    StoredTrajectory
        The study as stored (read back through the storage); closing it closes a store opened
        here from a path.

    Examples
    --------
    >>> import pypet_rebuild as pr
    >>> from pypet_rebuild.testing import run_study
    >>> traj = pr.Trajectory("t", seed=1)
    >>> _ = traj.add_parameter("x", 1.0)
    >>> traj.explore({"x": [1.0, 2.0]})
    >>> run_study(traj, lambda run: {"y": 2 * run.x}).results["y"][:].tolist()
    [2.0, 4.0]
    """
    from pypet_rebuild.analysis.study import StoredTrajectory
    from pypet_rebuild.execution.environment import Environment

    run_options.setdefault("progress", False)
    environment = Environment(trajectory, storage=storage)
    environment.run(simulate, overwrite=overwrite, **run_options)
    # A store opened here from a path belongs to the study: closing the study closes it.
    owns = not isinstance(storage, StorageService)
    return StoredTrajectory(environment.storage, trajectory.name, owns_storage=owns)
