"""The in-memory storage backend: the reference implementation of the protocol and a test double.

Values are kept as given (no copy, no encoding), so it is also the fastest backend; use it for
notebooks and tests that need no file. Everything is lost when the process ends.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pypet_rebuild.errors import StorageError, TrajectoryNotFoundError
from pypet_rebuild.storage.records import MISSING, RunRecord, RunTable
from pypet_rebuild.storage.resume import check_resumable, snapshot_hashes
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

    def _get(self, trajectory: str) -> _StoredTrajectory:
        try:
            return self._trajectories[trajectory]
        except KeyError:
            known = ", ".join(repr(n) for n in self._trajectories) or "none"
            raise TrajectoryNotFoundError(
                f"no trajectory {trajectory!r} in memory storage; stored trajectories: {known}"
            ) from None

    def begin_sweep(self, snapshot: TrajectorySnapshot, *, resume: bool) -> frozenset[int]:
        """Record the trajectory's definition; see :meth:`StorageService.begin_sweep`."""
        stored = self._trajectories.get(snapshot.name)
        if stored is None:
            self._trajectories[snapshot.name] = _StoredTrajectory(
                snapshot, snapshot_hashes(snapshot)
            )
            return frozenset()
        if not resume:
            raise StorageError(
                f"a trajectory named {snapshot.name!r} is already stored; pass resume=True to "
                "continue it, or give the new study another name"
            )
        check_resumable(stored.snapshot, snapshot)
        stored.snapshot = snapshot
        stored.hashes = snapshot_hashes(snapshot)
        return frozenset(i for i, r in stored.records.items() if r.status == "done")

    def store_runs(self, trajectory: str, records: Sequence[RunRecord]) -> None:
        """Keep a batch of finished runs."""
        stored = self._get(trajectory)
        for record in records:
            stored.records[record.index] = record
            stored.result_names.update(record.results)
            stored.comments.update(record.comments)

    def store_derived(self, trajectory: str, results: Sequence[Result[Any]]) -> None:
        """Keep trajectory-level results."""
        stored = self._get(trajectory)
        for result in results:
            stored.derived[result.path] = result

    def end_sweep(self, trajectory: str, provenance: Mapping[str, object]) -> None:
        """Record the provenance of the sweep."""
        self._get(trajectory).provenance.append(dict(provenance))

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
