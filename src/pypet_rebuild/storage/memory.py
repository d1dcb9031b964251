"""The in-memory storage backend: the reference implementation of the protocol and a test double.

Values are kept as given (no copy, no encoding), so it is also the fastest backend; use it for
notebooks and tests that need no file. Everything is lost when the process ends.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pypet_rebuild.errors import FileLockedError, StorageError, TrajectoryNotFoundError
from pypet_rebuild.storage.protocol import StorageService, WriterSession
from pypet_rebuild.storage.records import MISSING, RunRecord, RunTable
from pypet_rebuild.storage.resume import check_resumable, snapshot_hashes
from pypet_rebuild.storage.session import SessionBase, check_definition, check_derived
from pypet_rebuild.tree.nodes import Result
from pypet_rebuild.tree.seeding import run_seed
from pypet_rebuild.tree.snapshot import TrajectorySnapshot

__all__ = ["MemoryStorageService"]


@dataclass
class _StoredTrajectory:
    snapshot: TrajectorySnapshot
    hashes: tuple[str, ...]
    records: dict[int, RunRecord] = field(default_factory=dict)
    result_names: set[str] = field(default_factory=set)
    comments: dict[str, str] = field(default_factory=dict)
    derived: dict[str, Result[Any]] = field(default_factory=dict)
    provenance: list[dict[str, object]] = field(default_factory=list)


class MemoryStorageService:
    """Keeps trajectories, runs and results in memory.

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

    def __init__(self) -> None:
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
                "continue it, or give the new study another name"
            )
        if stored is not None:
            check_resumable(stored.snapshot, snapshot)
        check_definition(snapshot)
        self._acquire(snapshot.name)
        if stored is None:
            stored = _StoredTrajectory(snapshot, snapshot_hashes(snapshot))
            self._trajectories[snapshot.name] = stored
        else:
            stored.snapshot = snapshot
            stored.hashes = snapshot_hashes(snapshot)
        done = frozenset(i for i, r in stored.records.items() if r.status == "done")
        return _MemorySession(self, snapshot.name, done)

    def open_writer(self, trajectory: str) -> WriterSession:
        """A session on a stored trajectory, for derived results."""
        stored = self._get(trajectory)
        self._acquire(trajectory)
        done = frozenset(i for i, r in stored.records.items() if r.status == "done")
        return _MemorySession(self, trajectory, done)

    def _acquire(self, trajectory: str) -> None:
        if trajectory in self._writing:
            raise FileLockedError(
                f"the trajectory {trajectory!r} in memory storage is being written by another "
                "sweep; finish (or close) that sweep's session first"
            )
        self._writing.add(trajectory)

    def _store_runs(self, trajectory: str, records: Sequence[RunRecord]) -> None:
        stored = self._get(trajectory)
        for record in records:
            stored.records[record.index] = record
            stored.result_names.update(record.results)
            stored.comments.update(record.comments)

    def _store_derived(self, trajectory: str, results: Sequence[Result[Any]]) -> None:
        check_derived(results)
        stored = self._get(trajectory)
        for result in results:
            stored.derived[result.path] = result

    def _finish(self, trajectory: str, provenance: Mapping[str, object] | None) -> None:
        if provenance is not None:
            self._get(trajectory).provenance.append(dict(provenance))

    def replace_trajectory(self, name: str, build: Callable[[StorageService], None]) -> None:
        """Build a trajectory in a fresh memory storage, then install it here under ``name``."""
        self._acquire(name)
        try:
            staging = MemoryStorageService()
            build(staging)
            self._trajectories[name] = staging._get(name)
        finally:
            self._writing.discard(name)

    def trajectory_names(self) -> tuple[str, ...]:
        """The names of the stored trajectories."""
        return tuple(self._trajectories)

    def load_snapshot(self, trajectory: str) -> TrajectorySnapshot:
        """The stored definition of a trajectory."""
        return self._get(trajectory).snapshot

    def load_run_table(self, trajectory: str) -> RunTable:
        """The run table of a trajectory."""
        stored = self._get(trajectory)
        seed = stored.snapshot.seed
        seeds = [run_seed(seed, h) for h in stored.hashes]
        return RunTable.from_records(stored.hashes, stored.records, seeds)

    def result_names(self, trajectory: str) -> tuple[str, ...]:
        """The names of the results of any run, sorted."""
        return tuple(sorted(self._get(trajectory).result_names))

    def read_results(self, trajectory: str, name: str, runs: Sequence[int]) -> list[object]:
        """One result's values in the given runs (``MISSING`` where absent)."""
        records = self._get(trajectory).records
        values: list[object] = []
        for index in runs:
            record = records.get(int(index))
            values.append(MISSING if record is None else record.results.get(name, MISSING))
        return values

    def result_comment(self, trajectory: str, name: str) -> str:
        """The comment given with the result."""
        return self._get(trajectory).comments.get(name, "")

    def load_derived(self, trajectory: str) -> dict[str, Result[Any]]:
        """Trajectory-level results by name."""
        return dict(self._get(trajectory).derived)

    def load_provenance(self, trajectory: str) -> list[dict[str, object]]:
        """The provenance of every sweep, oldest first."""
        return list(self._get(trajectory).provenance)

    def close(self) -> None:
        """Nothing to release; the data stays available."""

    def __repr__(self) -> str:
        return f"MemoryStorageService(trajectories={list(self._trajectories)})"


class _MemorySession(SessionBase):
    """A writer session on a :class:`MemoryStorageService` trajectory."""

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
