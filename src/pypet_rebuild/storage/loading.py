"""``load_trajectory``: open a stored trajectory lazily."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from pypet_rebuild.errors import NodeNotFoundError, TrajectoryNotFoundError
from pypet_rebuild.exploration import ParameterSpace
from pypet_rebuild.storage.hdf5 import HDF5StorageService
from pypet_rebuild.storage.protocol import StorageService
from pypet_rebuild.tree.trajectory import Trajectory

__all__ = ["load_trajectory"]


def load_trajectory(
    source: str | os.PathLike[str] | StorageService,
    name: str | None = None,
    *,
    load_only: Iterable[str] | None = None,
    allow_pickle: bool = False,
) -> Trajectory:
    """Open a stored trajectory: its parameters now, explored values and results when used.

    Opening reads the trajectory's definition and the number of runs only (fast even for a
    million runs). ``traj.results[name]`` is a lazy handle; indexing it reads just the runs and
    the part of each value that the index selects.

    Parameters
    ----------
    source
        An HDF5 file path, or any :class:`StorageService` (e.g. the one an Environment used).
    name
        The trajectory's name; may be omitted when the file holds exactly one.
    load_only
        Result names to expose; others are not listed in ``traj.results``.
    allow_pickle
        Unpickle values stored as pickles. Unpickling runs code named in the file, so only
        pass ``True`` for files you trust. Without it, reading a pickled result raises
        :class:`~pypet_rebuild.errors.PickleRefusedError`, and a pickled parameter default or
        derived result is a stand-in that raises it when used; everything else reads normally.
        Applies when ``source`` is a path; a storage object reads with its own setting.

    Returns
    -------
    Trajectory
        Locked (its parameters describe stored runs), with the storage attached.

    Raises
    ------
    FileFormatError
        If the file is missing, not HDF5, corrupted or not written by pypet_rebuild.
    TrajectoryNotFoundError
        If ``name`` is not in the file (the message lists those that are), or the file holds
        several trajectories and no ``name`` was given.
    NodeNotFoundError
        If ``load_only`` names a result that is not stored.

    Examples
    --------
    >>> traj = pr.load_trajectory("sweep.h5")  # doctest: +SKIP
    >>> traj.results["z"][:]                    # doctest: +SKIP
    """
    storage = (
        source
        if isinstance(source, StorageService)
        else HDF5StorageService(Path(source), allow_pickle=allow_pickle)
    )
    names = storage.trajectory_names()
    if name is None:
        if len(names) != 1:
            listed = ", ".join(repr(n) for n in names) or "none"
            raise TrajectoryNotFoundError(
                f"the storage holds {len(names)} trajectories ({listed}); pass name= to choose"
            )
        name = names[0]
    elif name not in names:
        listed = ", ".join(repr(n) for n in names) or "none"
        raise TrajectoryNotFoundError(f"no trajectory {name!r} in the storage; it holds: {listed}")
    if isinstance(storage, HDF5StorageService):
        header, n_runs = storage.load_header(name)
    else:
        header = storage.load_snapshot(name)
        n_runs = header.n_runs
    trajectory = Trajectory.from_snapshot(header)
    trajectory_name = name

    def load_space() -> ParameterSpace | None:
        snapshot = storage.load_snapshot(trajectory_name)
        if not snapshot.explored:
            return None
        return ParameterSpace(
            snapshot.explored,
            grid=snapshot.grid,
            kind=snapshot.kind or None,
            shape=snapshot.shape,
        )

    trajectory._set_lazy_space(load_space, n_runs)
    trajectory._attach_storage(storage)
    trajectory.lock()
    if load_only is not None:
        wanted = frozenset(load_only)
        stored = set(storage.result_names(name))
        unknown = sorted(wanted - stored)
        if unknown:
            raise NodeNotFoundError(
                f"load_only names results that are not stored: {unknown}; stored: {sorted(stored)}"
            )
        trajectory._result_filter = wanted
    return trajectory
