"""The storage contract: a small typed Protocol that every backend implements.

The Environment is the only writer: it opens a sweep, hands finished runs over in batches and
closes the sweep. Simulate functions and workers never see storage. Readers (``traj.results``,
``load_trajectory``, analysis) go through the same protocol, so the in-memory backend and the HDF5
backend are interchangeable, and a third backend (zarr, a database) only has to implement this.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from pypet_rebuild.storage.records import RunRecord, RunTable
from pypet_rebuild.tree.nodes import Result
from pypet_rebuild.tree.snapshot import TrajectorySnapshot

__all__ = ["StorageService", "SupportsArrayRead", "SupportsFrameRead"]


@runtime_checkable
class StorageService(Protocol):
    """What the Environment and the readers need from a storage backend."""

    def begin_sweep(self, snapshot: TrajectorySnapshot, *, resume: bool) -> frozenset[int]:
        """Record the trajectory's definition before its runs are stored.

        Parameters
        ----------
        snapshot
            The trajectory's parameters and exploration.
        resume
            Continue a stored sweep of the same name: the stored definition must match (the
            exploration may have grown with ``expand``).

        Returns
        -------
        frozenset of int
            Indices of runs already done (empty for a new sweep).

        Raises
        ------
        StorageError
            If a trajectory of that name is stored and ``resume`` is false.
        ResumeMismatchError
            If ``resume`` is true but the stored sweep differs.
        """
        ...

    def store_runs(self, trajectory: str, records: Sequence[RunRecord]) -> None:
        """Store a batch of finished runs; once this returns they survive a crash."""
        ...

    def store_derived(self, trajectory: str, results: Sequence[Result[Any]]) -> None:
        """Store trajectory-level results (replacing any of the same name)."""
        ...

    def end_sweep(self, trajectory: str, provenance: Mapping[str, object]) -> None:
        """Finish a sweep: flush buffers and record the sweep's provenance."""
        ...

    def trajectory_names(self) -> tuple[str, ...]:
        """The names of the stored trajectories."""
        ...

    def load_snapshot(self, trajectory: str) -> TrajectorySnapshot:
        """The stored definition of a trajectory."""
        ...

    def load_run_table(self, trajectory: str) -> RunTable:
        """The run table: status, timing, host, seed and error of every run."""
        ...

    def result_names(self, trajectory: str) -> tuple[str, ...]:
        """The names of the results stored for any run, sorted."""
        ...

    def read_results(self, trajectory: str, name: str, runs: Sequence[int]) -> list[object]:
        """One result's values in the given runs (``MISSING`` where a run has none)."""
        ...

    def result_comment(self, trajectory: str, name: str) -> str:
        """The comment given with the result (``""`` if none)."""
        ...

    def load_derived(self, trajectory: str) -> dict[str, Result[Any]]:
        """Trajectory-level results by name."""
        ...

    def load_provenance(self, trajectory: str) -> list[dict[str, object]]:
        """The provenance of every sweep run on this trajectory, oldest first."""
        ...

    def close(self) -> None:
        """Release files and other resources; safe to call twice."""
        ...


@runtime_checkable
class SupportsArrayRead(Protocol):
    """Optional capability: read a result across runs as one array, sliced inside each value."""

    def read_array(
        self, trajectory: str, name: str, runs: npt.NDArray[np.int64], item: tuple[Any, ...]
    ) -> tuple[npt.NDArray[Any], npt.NDArray[np.bool_]] | None:
        """Stack result ``name`` over ``runs`` (sorted, unique), each value indexed by ``item``.

        ``item`` holds only integers and slices with positive steps. Returns the stacked values
        and a mask of the runs that have a value, or ``None`` when the result cannot be stacked
        (the caller then reads values one by one with :meth:`StorageService.read_results`).
        """
        ...


@runtime_checkable
class SupportsFrameRead(Protocol):
    """Optional capability: read some columns of a DataFrame result without the others."""

    def read_frame(self, trajectory: str, name: str, run: int, columns: Sequence[object]) -> object:
        """The DataFrame of ``run`` restricted to ``columns`` (``MISSING`` if the run has none)."""
        ...
