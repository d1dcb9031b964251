"""The storage contract: small typed Protocols that every backend implements.

Writing goes through a :class:`WriterSession`: :meth:`StorageService.begin_sweep` checks what it
can, takes the backend's writer lock, records the trajectory's definition and returns the session,
which is the only way to store runs, derived results and provenance, and which releases the lock
on every exit path (use it as a context manager). Simulate functions and workers never see
storage. Readers go through the same protocol, so the in-memory backend and the HDF5 backend are
interchangeable, and a third backend (zarr, a database, the reader of pypet's files) only has to
implement :class:`StorageService`.

Optional features are declared as separate ``Supports...`` Protocols with backend-neutral value
types (:class:`ResultInfo`), checked with ``isinstance``; nothing outside ``storage/`` probes a
backend with ``getattr``. This module imports no backend.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from pypet_rebuild.storage.records import RunRecord, RunTable
from pypet_rebuild.tree.nodes import Result
from pypet_rebuild.tree.snapshot import TrajectorySnapshot

__all__ = [
    "ResultInfo",
    "StorageService",
    "SupportsArrayRead",
    "SupportsCompaction",
    "SupportsFinishWithRuns",
    "SupportsFrameRead",
    "SupportsFrameStack",
    "SupportsHeader",
    "SupportsLocation",
    "SupportsPreferredBatch",
    "SupportsReplace",
    "SupportsResultInfo",
    "SupportsResultLookup",
    "SupportsRunCount",
    "SupportsSpanRead",
    "WriterSession",
    "storage_location",
]


@runtime_checkable
class WriterSession(Protocol):
    """An open write of one trajectory; holds the backend's writer lock until closed.

    Use it as a context manager: leaving the ``with`` block, normally or by any exception
    (``KeyboardInterrupt`` included), releases the lock. Runs stored before an exit survive it;
    a session closed without :meth:`finish` leaves the sweep resumable.
    """

    @property
    def trajectory(self) -> str:
        """The name of the trajectory being written."""
        ...

    @property
    def done_runs(self) -> AbstractSet[int]:
        """Indices of the runs already stored as done when the sweep began.

        A set (a ``frozenset``, or a :class:`~pypet_rebuild.storage.records.RunIndexSet` over a
        numpy array, so a resumed sweep of a million runs builds no million ints). Empty for a
        session from :meth:`StorageService.open_writer`, which stores no runs.
        """
        ...

    def store_runs(self, records: Sequence[RunRecord]) -> None:
        """Store a batch of finished runs; once this returns they survive a crash."""
        ...

    def store_derived(self, results: Sequence[Result[Any]]) -> None:
        """Store trajectory-level results (replacing any of the same name)."""
        ...

    def finish(self, provenance: Mapping[str, object] | None = None) -> None:
        """Record the sweep's provenance (if given), make the stored state final, and close."""
        ...

    def close(self) -> None:
        """Release the writer lock without finishing; safe to call twice."""
        ...

    def __enter__(self) -> WriterSession: ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None: ...


@runtime_checkable
class StorageService(Protocol):
    """What the Environment and the readers need from a storage backend."""

    def begin_sweep(self, snapshot: TrajectorySnapshot, *, resume: bool) -> WriterSession:
        """Check and record a trajectory's definition; return the session that writes its runs.

        Everything that can be checked (that every default and explored value can be stored,
        that a resumed sweep matches the stored one) is checked before the writer lock is
        taken, and a failure leaves the lock free and the stored data as it was.

        Parameters
        ----------
        snapshot
            The trajectory's parameters and exploration.
        resume
            Continue a stored sweep of the same name: the stored definition must match (the
            exploration may have grown with ``expand``).

        Returns
        -------
        WriterSession
            Holding the writer lock; its ``done_runs`` are the runs already done.

        Raises
        ------
        StorageError
            If a trajectory of that name is stored and ``resume`` is false.
        ResumeMismatchError
            If ``resume`` is true but the stored sweep differs.
        UnsupportedTypeError
            If a default or explored value has no codec.
        FileLockedError
            If another process is writing.
        """
        ...

    def open_writer(self, trajectory: str) -> WriterSession:
        """A session on a stored trajectory, to add derived results to it (no runs).

        It reads nothing of the stored trajectory (its ``done_runs`` are empty).

        Raises
        ------
        TrajectoryNotFoundError
            If no trajectory of that name is stored.
        FileLockedError
            If another process is writing.
        """
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


@dataclass(frozen=True)
class ResultInfo:
    """What a backend knows about a result without reading its values.

    Parameters
    ----------
    stackable
        Every stored value is a number or array of ``shape`` and ``dtype``, so the result reads
        as one array with the run axis first.
    shape
        The shape of one run's value (``()`` for numbers), when stackable.
    dtype
        The element dtype, when stackable.
    """

    stackable: bool
    shape: tuple[int, ...] | None = None
    dtype: np.dtype[Any] | None = None


UNSTACKABLE = ResultInfo(stackable=False)
"""The :class:`ResultInfo` of a result whose values differ in type or shape between runs."""


@runtime_checkable
class SupportsPreferredBatch(Protocol):
    """A writer session that takes finished runs best in batches of at most some size.

    The environment hands it batches no larger than ``preferred_batch`` (when not ``None``),
    whatever ``batch_size`` asks for: the memory backend keeps runs longer-lived in small
    batches than a batch of 10,000 waiting in the collector.
    """

    @property
    def preferred_batch(self) -> int | None:
        """The largest batch this session wants, or ``None`` for no preference."""
        ...


@runtime_checkable
class SupportsFinishWithRuns(Protocol):
    """A writer session that stores the sweep's last batch of runs as part of finishing it.

    ``finish_with_runs(records, provenance)`` stores the same as ``store_runs(records)``
    followed by ``finish(provenance)``, in one commit where the backend can (the HDF5 backend
    folds the batch straight into the main file instead of writing it to a segment file first).
    The environment hands the sweep's last batch to it.
    """

    @property
    def closed(self) -> bool:
        """Whether the session has released its lock."""
        ...

    def finish_with_runs(
        self, records: Sequence[RunRecord], provenance: Mapping[str, object] | None = None
    ) -> None:
        """Store ``records``, record ``provenance`` and finish the session, in one step.

        Raises
        ------
        Exception
            Whatever storing ``records`` raised. If the session is still open afterwards
            (``closed`` is false), none of ``records`` was stored and nothing was finished: the
            caller can store them with ``store_runs`` (in smaller batches, to find a run that
            cannot be stored) and then call ``finish``. If it is closed, the records were stored
            and finishing failed, as ``finish`` can.
        """
        ...


@runtime_checkable
class SupportsResultInfo(Protocol):
    """Optional capability: describe a result (and which runs hold it) without reading values."""

    def result_info(self, trajectory: str, name: str) -> ResultInfo:
        """Whether result ``name`` stacks into one array, and its shape and dtype if so."""
        ...

    def result_presence(self, trajectory: str, name: str) -> npt.NDArray[np.bool_]:
        """Which runs hold a value of result ``name``, without reading any value."""
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
        (the caller then reads values one by one with :meth:`StorageService.read_results`). The
        mask may be read-only (a view of what the backend keeps, or one value broadcast over the
        runs): copy it before writing into it.
        """
        ...


@runtime_checkable
class SupportsSpanRead(Protocol):
    """Optional capability: :class:`SupportsArrayRead` for a range of runs, without an index array.

    ``results["z"][:]`` and ``results["z"][a:b]`` select consecutive runs; passing them as a range
    spares building (and checking) an index array of a million runs.
    """

    def read_span(
        self, trajectory: str, name: str, start: int, stop: int, item: tuple[Any, ...]
    ) -> tuple[npt.NDArray[Any], npt.NDArray[np.bool_]] | None:
        """Stack result ``name`` over runs ``start:stop`` (``0 <= start < stop``).

        ``item`` holds only integers and slices with positive steps. Returns the stacked values
        and a mask of the runs that have a value (possibly read-only, as for
        :meth:`SupportsArrayRead.read_array`), or ``None`` when the result cannot be stacked.

        Raises
        ------
        IndexError
            If ``stop`` is past the last run.
        """
        ...


@runtime_checkable
class SupportsFrameRead(Protocol):
    """Optional capability: read some columns of a DataFrame result without the others."""

    def read_frame(self, trajectory: str, name: str, run: int, columns: Sequence[object]) -> object:
        """The DataFrame of ``run`` restricted to ``columns`` (``MISSING`` if the run has none)."""
        ...


@runtime_checkable
class SupportsFrameStack(Protocol):
    """Optional capability: several runs' DataFrames as one stacked DataFrame, in one read.

    For backends that keep a DataFrame result column by column across runs (the HDF5 ``frame``
    layout): stacking is then a read of each column, not a DataFrame per run.
    """

    def read_frames(
        self,
        trajectory: str,
        name: str,
        runs: Sequence[int],
        columns: Sequence[object] | None = None,
        rows: slice | None = None,
    ) -> object | None:
        """The DataFrames of ``runs`` stacked with an outer index level ``run``, or ``None``.

        Equal to ``pd.concat({run: frame[columns].iloc[rows]}, names=["run"])`` over the runs
        that have a value (each run once, in the order given), except that the inner index
        level keeps the frames' index dtype where ``pd.concat`` may infer another. ``None``
        when the result is not stored in a way that stacks (the caller then reads run by run).
        """
        ...


@runtime_checkable
class SupportsHeader(Protocol):
    """Optional capability: the definition without explored values, cheaply (large studies)."""

    def load_header(self, trajectory: str) -> tuple[TrajectorySnapshot, int]:
        """The definition with empty ``explored``, and the number of runs."""
        ...


@runtime_checkable
class SupportsResultLookup(Protocol):
    """Optional capability: whether one result is stored, without listing every result.

    ``study.results["z"]`` then checks ``"z"`` alone (listing every stored result opens each
    node of the results group, which in a fresh process costs more than finding one).
    """

    def has_result(self, trajectory: str, name: str) -> bool:
        """Whether ``trajectory`` stores a result called ``name``."""
        ...


@runtime_checkable
class SupportsRunCount(Protocol):
    """Optional capability: the number of runs without reading the definition (fast opening).

    A stored study then reads its definition (parameter defaults decoded) on first use, so
    opening a file to read one result reads neither.
    """

    def run_count(self, trajectory: str) -> int:
        """The number of runs of ``trajectory``."""
        ...


@runtime_checkable
class SupportsLocation(Protocol):
    """Optional capability: where the data lives, as a resolved path or URL."""

    @property
    def location(self) -> str:
        """A string that is equal for two services exactly when they reach the same data."""
        ...


@runtime_checkable
class SupportsCompaction(Protocol):
    """Optional capability: fold what a crashed or appending writer left into the main store."""

    def compact(self, trajectory: str | None = None) -> None:
        """Fold leftovers of ``trajectory`` (default: every trajectory)."""
        ...


@runtime_checkable
class SupportsReplace(Protocol):
    """Optional capability: build a trajectory elsewhere and install it in one atomic step.

    ``merge_trajectories`` uses it: ``build`` receives a fresh staging storage of the same
    backend and writes the merged trajectory into it; the backend then replaces (or adds) the
    trajectory of that name, holding its writer lock from before ``build`` runs until the
    installation, and removes every staging file whatever happens.
    """

    def replace_trajectory(self, name: str, build: Callable[[StorageService], None]) -> None:
        """Run ``build`` on a staging storage, then install its trajectory ``name`` here."""
        ...


def storage_location(storage: StorageService) -> str:
    """Where ``storage`` keeps its data: its location, or an identity for in-memory backends."""
    if isinstance(storage, SupportsLocation):
        return storage.location
    return f"{type(storage).__name__}:{id(storage):#x}"
