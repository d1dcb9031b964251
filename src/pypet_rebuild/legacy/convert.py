"""Convert a file of the original pypet into a native file, trajectory by trajectory."""

from __future__ import annotations

import dataclasses
import os
import sys
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from pypet_rebuild.errors import StorageError, TrajectoryNotFoundError
from pypet_rebuild.legacy.service import PypetStorageService
from pypet_rebuild.storage.backends import open_storage
from pypet_rebuild.storage.records import MISSING, RunRecord, RunStatus
from pypet_rebuild.storage.resume import snapshot_hashes
from pypet_rebuild.tree.nodes import Result
from pypet_rebuild.tree.snapshot import ParameterSpec, PickledValue, TrajectorySnapshot

__all__ = ["convert_pypet"]


def _native(value: object) -> object:
    """``value`` as the native codecs take it.

    ``np.matrix`` (deprecated by numpy) becomes a 2-d ndarray, and a Series name of type
    ``numpy.str_`` (as PyTables gives it) a ``str``.
    """
    if isinstance(value, np.matrix):
        return np.asarray(value)
    # pandas is imported only if the value may be one of its objects (importing this module,
    # and so the package, must not import it).
    pandas = sys.modules.get("pandas")
    if pandas is not None and isinstance(value, pandas.Series) and isinstance(value.name, np.str_):
        return value.rename(str(value.name))
    return value


_NOT_COMPLETED = "pypet marked this run not completed (completed=0) but it stored results"

RUN_INDEX = "pypet.run_index"
"""The parameter a converted crashed sweep explores in place of the ones pypet never stored."""


def _run_index_exploration(snapshot: TrajectorySnapshot, n_runs: int) -> TrajectorySnapshot:
    # A crashed pypet sweep stored its runs but not its explored parameters (pypet writes them
    # at the end); the native format needs one point per run, so the run index stands in.
    spec = ParameterSpec(
        RUN_INDEX,
        0,
        "int",
        comment="the run index: pypet never stored this crashed sweep's explored parameters",
    )
    return dataclasses.replace(
        snapshot,
        parameters=(*snapshot.parameters, spec),
        explored={RUN_INDEX: tuple(range(n_runs))},
        kind="zipped",
        hashes=None,
    )


def _native_snapshot(snapshot: TrajectorySnapshot) -> TrajectorySnapshot:
    # A pickle copied as it is has no declared type the reader can check: object.
    parameters = tuple(
        dataclasses.replace(
            spec,
            default=_native(spec.default),
            type_name="object" if isinstance(spec.default, PickledValue) else spec.type_name,
        )
        for spec in snapshot.parameters
    )
    explored = {
        path: tuple(_native(v) for v in values) for path, values in snapshot.explored.items()
    }
    return dataclasses.replace(snapshot, parameters=parameters, explored=explored)


_BATCH = 500
"""Runs stored per write: large enough to amortise a write, small enough to bound memory."""


def convert_pypet(
    source: str | os.PathLike[str],
    target: str | os.PathLike[str],
    *,
    trajectories: Iterable[str] | None = None,
    allow_pickle: bool = False,
) -> tuple[str, ...]:
    """Write the trajectories of a pypet file into a new native HDF5 file.

    Everything the reader serves is written: parameters (defaults, types, comments,
    annotations), the exploration, the run table, every run's results, trajectory-level
    results, and pypet's own metadata (leaf classes, per-run comments and annotations, group
    comments, soft links, the original run table) as the trajectory's provenance record.
    Pickled values are copied as the pickles they are, without being unpickled, so converting
    never runs code from the file; reading them from the new file needs ``allow_pickle=True``
    as before.

    Parameters
    ----------
    source
        The pypet file.
    target
        The native file to write; it must not hold a trajectory of the same name.
    trajectories
        The names to convert (default: every trajectory in the file).
    allow_pickle
        Unpickle pickled pandas parts, which cannot be copied as they are: a DataFrame with
        an object column needs it.

    Returns
    -------
    tuple of str
        The names of the converted trajectories.

    Raises
    ------
    TrajectoryNotFoundError
        If ``trajectories`` names one that is not in the file.
    PickleRefusedError
        If a pandas object holds pickled parts and ``allow_pickle`` is false.
    StorageError
        If ``target`` already holds a trajectory of that name.
    """
    legacy = PypetStorageService(source, allow_pickle=allow_pickle)
    try:
        available = legacy.trajectory_names()
        names = available if trajectories is None else tuple(trajectories)
        for name in names:
            if name not in available:
                listed = ", ".join(repr(n) for n in available)
                raise TrajectoryNotFoundError(
                    f"no trajectory {name!r} in {str(source)!r}; it holds: {listed}"
                )
        if Path(target).exists() and Path(target).resolve() == Path(source).resolve():
            raise StorageError(f"cannot convert {str(source)!r} into itself; name a new file")
        storage = open_storage(target, mode="w", engine="hdf5", allow_pickle=allow_pickle)
        try:
            for name in names:
                _convert_one(legacy, storage, name)
        finally:
            storage.close()
        return names
    finally:
        legacy.close()


def _convert_one(legacy: PypetStorageService, storage: object, name: str) -> None:
    from pypet_rebuild.storage.protocol import StorageService

    assert isinstance(storage, StorageService)
    snapshot = _native_snapshot(legacy.load_snapshot(name, keep_pickles=True))
    table = legacy.load_run_table(name)
    if not snapshot.explored and len(table) > 1:
        snapshot = _run_index_exploration(snapshot, len(table))
    hashes = snapshot_hashes(snapshot)
    result_names = legacy.result_names(name)
    with storage.begin_sweep(snapshot, resume=False) as session:
        for first in range(0, len(table), _BATCH):
            runs = range(first, min(first + _BATCH, len(table)))
            # Column by column: a result's runs are read with the layout of its first one.
            columns = {
                result: legacy.read_column(name, result, runs, stand_in=True)
                for result in result_names
            }
            batch: list[RunRecord] = []
            for position, run in enumerate(runs):
                results = {
                    result: _native(column[position])
                    for result, column in columns.items()
                    if column[position] is not MISSING
                }
                done = table.status[run] == RunStatus.DONE.value
                if not done and not results:
                    continue  # never ran: stays pending
                comments = {
                    result: comment
                    for result in results
                    if (comment := legacy.run_comment(name, result, run))
                }
                batch.append(
                    RunRecord(
                        index=run,
                        point_hash=hashes[run],
                        status=RunStatus.DONE if done else RunStatus.FAILED,
                        started=float(table.started[run]),
                        finished=float(table.finished[run]),
                        duration=float(table.duration[run]),
                        host="",
                        pid=-1,
                        seed=0,
                        error="" if done else _NOT_COMPLETED,
                        results=results,
                        comments=comments,
                    )
                )
            if batch:
                session.store_runs(batch)
        derived = legacy.load_derived(name, stand_in=True)
        if derived:
            session.store_derived(
                [
                    Result(r.path, _native(r.value), r.comment, r.annotations)
                    for r in derived.values()
                ]
            )
        session.finish(legacy.pypet_record(name))
