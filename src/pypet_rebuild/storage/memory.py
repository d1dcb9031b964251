"""The in-memory storage backend: the reference implementation of the protocol and a test double.

A faithful double of the file backends: every value it keeps (results, derived results,
parameter defaults, explored values) goes through the same codec registry, with
:func:`~pypet_rebuild.storage.codecs.copies.encode_copy`, so it refuses exactly what HDF5 refuses
(same :class:`~pypet_rebuild.errors.UnsupportedTypeError`, same path, same ``allow_pickle``), and
every read decodes a fresh value: mutating a value after storing it, or a value read back, never
changes what is stored. Numbers and numpy arrays are kept as plain copies, so a sweep of them
costs next to nothing. Use it for notebooks and tests that need no file; everything is lost when
the process ends.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from pypet_rebuild.errors import FileLockedError, StorageError, TrajectoryNotFoundError
from pypet_rebuild.exploration import PointHashes
from pypet_rebuild.storage.codecs.copies import (
    EncodedCopy,
    all_plain_scalars,
    decode_copy,
    encode_copy,
    keep_all,
    restore,
)
from pypet_rebuild.storage.protocol import StorageService, WriterSession
from pypet_rebuild.storage.records import MISSING, RunRecord, RunRow, RunTable
from pypet_rebuild.storage.resume import check_resumable, snapshot_hashes
from pypet_rebuild.storage.session import SessionBase, check_comments
from pypet_rebuild.tree.naming import check_comment
from pypet_rebuild.tree.nodes import Result
from pypet_rebuild.tree.snapshot import TrajectorySnapshot

__all__ = ["MemoryStorageService"]


def _to_json(mapping: Mapping[str, object], default: Callable[[Any], Any] = repr) -> str:
    # Annotations and provenance are kept as the JSON text HDF5 writes (same ``default``), so
    # they read back as HDF5 gives them (tuples as lists, numpy scalars as numbers...) and fresh.
    return json.dumps(dict(mapping), default=default)


def _parameter_json(value: object) -> object:
    # As hdf5/skeleton.py writes parameter annotations.
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return repr(value)


@dataclass(frozen=True)
class _StoredSnapshot:
    """A trajectory's definition with its defaults and explored values encoded."""

    outline: TrajectorySnapshot  # no defaults, annotations or explored values: immutable
    defaults: tuple[EncodedCopy, ...]
    annotations: tuple[str, ...]
    explored: Mapping[str, tuple[object, ...] | EncodedCopy]

    @classmethod
    def of(cls, snapshot: TrajectorySnapshot) -> _StoredSnapshot:
        # As HDF5 writes them: defaults under their path, never pickled; explored values as one
        # list each (kept as they are when every value is an immutable scalar).
        defaults = tuple(encode_copy(spec.default, spec.path) for spec in snapshot.parameters)
        annotations = tuple(
            _to_json(spec.annotations, _parameter_json) for spec in snapshot.parameters
        )
        explored: dict[str, tuple[object, ...] | EncodedCopy] = {}
        for path, values in snapshot.explored.items():
            if all_plain_scalars(values):
                explored[path] = tuple(values)
            else:
                explored[path] = encode_copy(list(values), f"explored.{path}")
        outline = dataclasses.replace(
            snapshot,
            parameters=tuple(
                dataclasses.replace(spec, default=None, annotations={})
                for spec in snapshot.parameters
            ),
            explored={},
        )
        return cls(outline, defaults, annotations, explored)

    def decode(self) -> TrajectorySnapshot:
        """A fresh snapshot: decoded defaults and explored values."""
        parameters = tuple(
            dataclasses.replace(spec, default=decode_copy(default), annotations=json.loads(text))
            for spec, default, text in zip(
                self.outline.parameters, self.defaults, self.annotations, strict=True
            )
        )
        explored: dict[str, tuple[object, ...]] = {}
        for path, values in self.explored.items():
            if isinstance(values, EncodedCopy):
                decoded = decode_copy(values)
                assert isinstance(decoded, list)
                explored[path] = tuple(decoded)
            else:
                explored[path] = values
        return dataclasses.replace(self.outline, parameters=parameters, explored=explored)


@dataclass
class _StoredDerived:
    path: str
    value: EncodedCopy
    comment: str
    annotations: str  # JSON


@dataclass
class _StoredTrajectory:
    snapshot: _StoredSnapshot
    hashes: PointHashes
    # Run metadata and each run's kept results: plain tuples, scalars and arrays, none of which
    # the garbage collector tracks (a tracked object per stored run made every full collection
    # walk them all: ~5 us per run of a 100k-run sweep).
    records: dict[int, RunRow] = field(default_factory=dict)
    """Per finished run, its run-table row (:meth:`RunRecord.row`)."""
    results: dict[int, dict[str, object]] = field(default_factory=dict)
    """Per run, each result as :func:`keep` returned it (a scalar, an array or an EncodedCopy)."""
    result_names: set[str] = field(default_factory=set)
    comments: dict[str, str] = field(default_factory=dict)
    derived: dict[str, _StoredDerived] = field(default_factory=dict)
    provenance: list[str] = field(default_factory=list)  # JSON


class MemoryStorageService:
    """Keeps trajectories, runs and results in memory, encoded as a file backend would.

    Parameters
    ----------
    allow_pickle
        Store values that no codec handles by pickling them, as
        :class:`~pypet_rebuild.HDF5StorageService` does with the same option (off by default:
        such values are refused with :class:`~pypet_rebuild.errors.UnsupportedTypeError`).

    Examples
    --------
    >>> import pypet_rebuild as pr
    >>> storage = pr.MemoryStorageService()
    >>> traj = pr.Trajectory("t", seed=0)
    >>> _ = traj.add_parameter("x", 1.0)
    >>> report = pr.Environment(traj, storage=storage).run(lambda run: {"y": 2 * run.x})
    >>> storage.trajectory_names()
    ('t',)
    """

    def __init__(self, *, allow_pickle: bool = False) -> None:
        self.allow_pickle = allow_pickle
        self._trajectories: dict[str, _StoredTrajectory] = {}
        self._writing: set[str] = set()

    def _get(self, trajectory: str) -> _StoredTrajectory:
        try:
            return self._trajectories[trajectory]
        except KeyError:
            known = ", ".join(repr(n) for n in self._trajectories) or "none"
            raise TrajectoryNotFoundError(
                f"no trajectory {trajectory!r} in memory storage; stored trajectories: {known}"
            ) from None

    def begin_sweep(self, snapshot: TrajectorySnapshot, *, resume: bool) -> WriterSession:
        """Check and record the trajectory's definition; see :meth:`StorageService.begin_sweep`."""
        stored = self._trajectories.get(snapshot.name)
        if stored is not None and not resume:
            raise StorageError(
                f"a trajectory named {snapshot.name!r} is already stored; pass resume=True to "
                "continue it, overwrite=True to replace it, or give the new study another name"
            )
        if stored is not None:
            previous = dataclasses.replace(stored.snapshot.decode(), hashes=stored.hashes)
            check_resumable(previous, snapshot)
        # Encoding is the check: a default or explored value without a codec stops here, before
        # the trajectory is taken for writing.
        check_comments(snapshot)
        encoded = _StoredSnapshot.of(snapshot)
        self._acquire(snapshot.name)
        if stored is None:
            stored = _StoredTrajectory(encoded, snapshot_hashes(snapshot))
            self._trajectories[snapshot.name] = stored
        else:
            stored.snapshot = encoded
            stored.hashes = snapshot_hashes(snapshot)
        done = frozenset(i for i, row in stored.records.items() if row[0] == "done")
        return _MemorySession(self, snapshot.name, done)

    def open_writer(self, trajectory: str) -> WriterSession:
        """A session on a stored trajectory, for derived results."""
        self._get(trajectory)
        self._acquire(trajectory)
        return _MemorySession(self, trajectory, frozenset())

    def _acquire(self, trajectory: str) -> None:
        if trajectory in self._writing:
            raise FileLockedError(
                f"the trajectory {trajectory!r} in memory storage is being written by another "
                "sweep; finish (or close) that sweep's session first"
            )
        self._writing.add(trajectory)

    def _store_runs(self, trajectory: str, records: Sequence[RunRecord]) -> None:
        """Keep a batch of finished runs (all or none: a value without a codec refuses it)."""
        stored = self._get(trajectory)
        # Encode the whole batch first: an unsupported value stores nothing, as in HDF5.
        allow_pickle = self.allow_pickle
        encoded = keep_all(
            [record.results for record in records], "results.", allow_pickle=allow_pickle
        )
        rows, kept, names = stored.records, stored.results, stored.result_names
        for record, results in zip(records, encoded, strict=True):
            index = record.index
            rows[index] = record.row()
            kept[index] = results
            if not names.issuperset(results):
                names.update(results)
            if record.comments:
                stored.comments.update(record.comments)

    def _store_derived(self, trajectory: str, results: Sequence[Result[Any]]) -> None:
        """Keep trajectory-level results (all or none, replacing those of the same name)."""
        stored = self._get(trajectory)
        for result in results:
            check_comment(result.comment, f"derived result {result.path!r}")
        encoded = [
            _StoredDerived(
                result.path,
                encode_copy(result.value, f"derived.{result.path}", allow_pickle=self.allow_pickle),
                result.comment,
                _to_json(result.annotations),
            )
            for result in results
        ]
        for derived in encoded:
            stored.derived[derived.path] = derived

    def _finish(self, trajectory: str, provenance: Mapping[str, object] | None) -> None:
        """Record the provenance of the sweep."""
        if provenance is not None:
            self._get(trajectory).provenance.append(_to_json(provenance))

    def replace_trajectory(self, name: str, build: Callable[[StorageService], None]) -> None:
        """Build a trajectory in a fresh memory storage, then install it here under ``name``."""
        self._acquire(name)
        try:
            staging = MemoryStorageService(allow_pickle=True)
            build(staging)
            self._trajectories[name] = staging._get(name)
        finally:
            self._writing.discard(name)

    def trajectory_names(self) -> tuple[str, ...]:
        """The names of the stored trajectories."""
        return tuple(self._trajectories)

    def load_snapshot(self, trajectory: str) -> TrajectorySnapshot:
        """The stored definition of a trajectory (decoded afresh on every call)."""
        return self._get(trajectory).snapshot.decode()

    def load_run_table(self, trajectory: str) -> RunTable:
        """The run table of a trajectory."""
        stored = self._get(trajectory)
        return RunTable.from_rows(stored.hashes, stored.records, stored.snapshot.outline.seed)

    def result_names(self, trajectory: str) -> tuple[str, ...]:
        """The names of the results of any run, sorted."""
        return tuple(sorted(self._get(trajectory).result_names))

    def read_results(self, trajectory: str, name: str, runs: Sequence[int]) -> list[object]:
        """One result's values in the given runs (``MISSING`` where absent), decoded afresh."""
        results = self._get(trajectory).results
        values: list[object] = []
        for index in runs:
            encoded = results.get(int(index), {}).get(name)
            values.append(
                MISSING if encoded is None else restore(encoded, allow_pickle=self.allow_pickle)
            )
        return values

    def result_comment(self, trajectory: str, name: str) -> str:
        """The comment given with the result."""
        return self._get(trajectory).comments.get(name, "")

    def load_derived(self, trajectory: str) -> dict[str, Result[Any]]:
        """Trajectory-level results by name, decoded afresh."""
        return {
            path: Result(
                path,
                decode_copy(d.value, allow_pickle=self.allow_pickle),
                d.comment,
                json.loads(d.annotations),
            )
            for path, d in self._get(trajectory).derived.items()
        }

    def load_provenance(self, trajectory: str) -> list[dict[str, object]]:
        """The provenance of every sweep, oldest first."""
        return [json.loads(text) for text in self._get(trajectory).provenance]

    def close(self) -> None:
        """Nothing to release; the data stays available."""

    def __repr__(self) -> str:
        return f"MemoryStorageService(trajectories={list(self._trajectories)})"


class _MemorySession(SessionBase):
    """A writer session on a :class:`MemoryStorageService` trajectory."""

    # Storing a batch costs next to nothing here; a run waiting in a large batch survives into
    # the collector's oldest generation (a 100k-run sweep spent ~2 us/run in full collections
    # with batches of 10,000).
    preferred_batch = 256

    def __init__(
        self, storage: MemoryStorageService, trajectory: str, done: frozenset[int]
    ) -> None:
        super().__init__(trajectory, done, lambda: storage._writing.discard(trajectory))
        self._storage = storage

    def _write_runs(self, records: Sequence[RunRecord]) -> None:
        self._storage._store_runs(self.trajectory, records)

    def _write_derived(self, results: Sequence[Result[Any]]) -> None:
        self._storage._store_derived(self.trajectory, results)

    def _write_finish(self, provenance: Mapping[str, object] | None) -> None:
        self._storage._finish(self.trajectory, provenance)
