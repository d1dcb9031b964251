"""The plain-data records that cross the storage protocol: finished runs and the run table."""

from __future__ import annotations

import enum
from collections.abc import Iterable, Iterator, Mapping, Sequence, Set
from dataclasses import dataclass, field
from typing import Any, ClassVar, Final

import numpy as np
import numpy.typing as npt

from pypet_rebuild.exploration.hashing import PointHashes
from pypet_rebuild.tree.seeding import run_seeds

__all__ = ["MISSING", "RunIndexSet", "RunRecord", "RunRow", "RunStatus", "RunTable"]


class RunStatus(enum.StrEnum):
    """Where a run stands; stored in the run table."""

    PENDING = "pending"
    DONE = "done"
    FAILED = "failed"


class _Missing:
    """The value of a result in a run that did not produce it."""

    _instance: _Missing | None = None

    def __new__(cls) -> _Missing:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "MISSING"

    def __reduce__(self) -> str:
        return "MISSING"


MISSING: Final = _Missing()

RunRow = tuple[str, float, float, float, str, int, str, str]
"""A finished run's run-table fields besides index, hash and seed: status (the plain string),
started, finished, duration, host, pid, error, output (see :meth:`RunRecord.row`)."""


class RunIndexSet(Set[int]):
    """A read-only set of run indices over one sorted numpy array (8 bytes per run).

    What a writer session reports as its ``done_runs``: a resumed sweep of a million runs gets
    them without building a million Python ints. It compares equal to a ``frozenset`` of the
    same indices, and :meth:`as_array` hands the indices to numpy.

    Parameters
    ----------
    indices
        The run indices, in any order (duplicates are dropped).
    """

    __slots__ = ("_indices",)

    def __init__(self, indices: npt.ArrayLike) -> None:
        given = np.asarray(indices, dtype=np.int64).reshape(-1)
        # Already sorted and unique (as from np.flatnonzero) is the common case, and checking it
        # is far cheaper than np.unique.
        unique = given.copy() if bool(np.all(given[1:] > given[:-1])) else np.unique(given)
        unique.flags.writeable = False
        self._indices = unique

    @classmethod
    def _from_iterable(cls, values: Iterable[Any]) -> frozenset[Any]:
        # The results of set operations (``a & b``...) are plain frozensets.
        return frozenset(values)

    def as_array(self) -> npt.NDArray[np.int64]:
        """The indices, sorted, as a read-only ``int64`` array."""
        return self._indices

    def __contains__(self, value: object) -> bool:
        if not isinstance(value, int | np.integer):
            return False
        at = int(np.searchsorted(self._indices, value))
        return at < len(self._indices) and int(self._indices[at]) == value

    def __iter__(self) -> Iterator[int]:
        return iter(self._indices.tolist())

    def __len__(self) -> int:
        return len(self._indices)

    def __hash__(self) -> int:
        return self._hash()

    def __repr__(self) -> str:
        shown = ", ".join(map(str, self._indices[:8].tolist()))
        more = ", ..." if len(self._indices) > 8 else ""
        return f"RunIndexSet({{{shown}{more}}}, {len(self)} runs)"


@dataclass(slots=True)
class RunRecord:
    """One finished (done or failed) run, as handed from the executor to storage.

    Parameters
    ----------
    index
        The run index.
    point_hash
        The stable hash of the run's explored point.
    status
        ``DONE`` or ``FAILED``.
    started, finished
        Wall-clock times (seconds since the epoch).
    duration
        Run time measured with a monotonic clock, in seconds.
    host
        The host name of the worker that ran it.
    pid
        The process id of the worker that ran it.
    seed
        The seed of the run's random generator (``run.rng``).
    error
        The formatted traceback of a failed run, ``""`` otherwise.
    results
        The run's results by name.
    comments
        Comments given with ``run.add_result(..., comment=...)``, by result name.
    output
        Captured standard output and error, when capture was asked for.
    """

    index: int
    point_hash: str
    status: RunStatus
    started: float
    finished: float
    duration: float
    host: str
    pid: int
    seed: int
    error: str = ""
    results: Mapping[str, object] = field(default_factory=dict)
    comments: Mapping[str, str] = field(default_factory=dict)
    output: str = ""

    def without_results(
        self, *, status: RunStatus | None = None, error: str | None = None
    ) -> RunRecord:
        """A copy with the run-table fields only (no results, no comments).

        ``status`` and ``error`` replace the record's own: how a run whose results cannot be
        kept (cut short, refused by storage) is stored as failed.
        """
        # Positional: several times faster than dataclasses.replace; the memory backend calls
        # this once per stored run.
        return RunRecord(
            self.index,
            self.point_hash,
            self.status if status is None else status,
            self.started,
            self.finished,
            self.duration,
            self.host,
            self.pid,
            self.seed,
            self.error if error is None else error,
            {},
            {},
            self.output,
        )

    def row(self) -> RunRow:
        """The record's run-table fields as a plain tuple (see :data:`RunRow`).

        A tuple of strings and numbers is an object the garbage collector stops tracking, unlike
        a record: a backend that keeps a million rows in memory keeps them out of every
        collection.
        """
        status = self.status
        return (
            "done" if status is RunStatus.DONE else str(RunStatus(status).value),
            self.started,
            self.finished,
            self.duration,
            self.host,
            self.pid,
            self.error,
            self.output,
        )

    def __reduce__(self) -> tuple[type[RunRecord], tuple[object, ...]]:
        # Records cross process boundaries by the ten thousand: positional reconstruction is
        # several times faster than the generic slots-dataclass state protocol.
        return (
            RunRecord,
            (
                self.index,
                self.point_hash,
                self.status,
                self.started,
                self.finished,
                self.duration,
                self.host,
                self.pid,
                self.seed,
                self.error,
                self.results,
                self.comments,
                self.output,
            ),
        )


_NO_OUTPUT: npt.NDArray[Any] = np.empty(0, dtype=object)


@dataclass(frozen=True)
class RunTable:
    """The run table: one row per run, one numpy array per column.

    Parameters
    ----------
    index
        Run indices, ``0 .. n_runs - 1``.
    point_hash
        The point hash of each run.
    status
        The :class:`RunStatus` value of each run, as strings.
    started, finished, duration
        Times in seconds (NaN for runs that have not finished).
    host
        Worker host names (``""`` for pending runs).
    pid
        Worker process ids (``-1`` for pending runs).
    seed
        Per-run seeds.
    error
        Traceback text of failed runs.
    output
        What each run printed (stdout and stderr), when ``capture_output=True`` was asked for;
        ``""`` otherwise. A backend that does not pass it gets a column of ``""``.
    """

    index: npt.NDArray[np.int64]
    point_hash: npt.NDArray[Any]
    status: npt.NDArray[Any]
    started: npt.NDArray[np.float64]
    finished: npt.NDArray[np.float64]
    duration: npt.NDArray[np.float64]
    host: npt.NDArray[Any]
    pid: npt.NDArray[np.int64]
    seed: npt.NDArray[np.uint64]
    error: npt.NDArray[Any]
    output: npt.NDArray[Any] = field(default_factory=lambda: _NO_OUTPUT)

    COLUMNS: ClassVar[tuple[str, ...]] = (
        "index",
        "point_hash",
        "status",
        "started",
        "finished",
        "duration",
        "host",
        "pid",
        "seed",
        "error",
        "output",
    )

    def __post_init__(self) -> None:
        if self.output is _NO_OUTPUT:
            object.__setattr__(self, "output", np.full(len(self.index), "", dtype=object))

    def __len__(self) -> int:
        return len(self.index)

    def done(self) -> frozenset[int]:
        """The indices of runs that finished successfully."""
        return frozenset(self.index[self.status == RunStatus.DONE.value].tolist())

    def count(self, status: RunStatus) -> int:
        """How many runs have this status."""
        return int(np.count_nonzero(self.status == status.value))

    @classmethod
    def pending(
        cls, hashes: Sequence[str], seeds: Sequence[int] | npt.NDArray[np.uint64] | None = None
    ) -> RunTable:
        """A table of ``len(hashes)`` runs, all pending (seeds 0 when none are given)."""
        n = len(hashes)
        return cls(
            index=np.arange(n, dtype=np.int64),
            point_hash=np.array(list(hashes), dtype=object),
            status=np.full(n, RunStatus.PENDING.value, dtype=object),
            started=np.full(n, np.nan),
            finished=np.full(n, np.nan),
            duration=np.full(n, np.nan),
            host=np.full(n, "", dtype=object),
            pid=np.full(n, -1, dtype=np.int64),
            seed=np.zeros(n, dtype=np.uint64) if seeds is None else np.array(seeds, np.uint64),
            error=np.full(n, "", dtype=object),
            output=np.full(n, "", dtype=object),
        )

    @classmethod
    def from_records(
        cls, hashes: Sequence[str], records: Mapping[int, RunRecord], seeds: Sequence[int]
    ) -> RunTable:
        """Build the table for ``len(hashes)`` runs from the records of the finished ones."""
        n = len(hashes)
        table = cls.pending(hashes, seeds)
        for index, record in records.items():
            if index >= n:
                continue
            table.status[index] = record.status.value
            table.started[index] = record.started
            table.finished[index] = record.finished
            table.duration[index] = record.duration
            table.host[index] = record.host
            table.pid[index] = record.pid
            table.error[index] = record.error
            table.output[index] = record.output
        return table

    @classmethod
    def from_rows(
        cls, hashes: Sequence[str], rows: Mapping[int, RunRow], trajectory_seed: int
    ) -> RunTable:
        """Build the table for ``len(hashes)`` runs from the rows of the finished ones.

        The seeds are computed column-wise from the point hashes (as
        :func:`~pypet_rebuild.tree.seeding.run_seed` would, one by one).
        """
        n = len(hashes)
        digests = PointHashes.from_hex(hashes).digests
        table = cls.pending(hashes, run_seeds(trajectory_seed, digests))
        finished = [(index, row) for index, row in rows.items() if index < n]
        if not finished:
            return table
        where = np.fromiter((index for index, _ in finished), dtype=np.int64, count=len(finished))
        columns = list(zip(*(row for _, row in finished), strict=True))
        for name, column in zip(_ROW_FIELDS, columns, strict=True):
            target = getattr(table, name)
            target[where] = np.array(column, dtype=target.dtype)
        return table


_ROW_FIELDS = ("status", "started", "finished", "duration", "host", "pid", "error", "output")
