"""What ``Environment.run`` returns: counts, timings and the failures of a sweep."""

from __future__ import annotations

import html
from array import array
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field

import numpy as np

from pypet_rebuild.analysis.display import html_table
from pypet_rebuild.errors import RunFailedError, SweepFailedError

__all__ = ["DurationLog", "RunDurations", "RunFailure", "RunReport", "report_html"]


class DurationLog:
    """The run times of a sweep as they come in: 16 bytes per run (two typed arrays).

    A ``dict[int, float]`` cost about 100 bytes per run (an int object, a float object and a hash
    table slot), a tenth of a GB for a million cheap runs.
    """

    def __init__(self) -> None:
        self._index = array("q")
        self._seconds = array("d")

    def extend(self, indices: Iterable[int], seconds: Iterable[float]) -> None:
        """Record that runs ``indices`` took ``seconds`` (equally long; one call per batch)."""
        self._index.extend(indices)
        self._seconds.extend(seconds)

    def frozen(self) -> RunDurations:
        """A read-only mapping of what was recorded so far (a copy of the arrays)."""
        return RunDurations(array("q", self._index), array("d", self._seconds))


class RunDurations(Mapping[int, float]):
    """Run time in seconds by run index: a read-only mapping over two compact arrays.

    Iterates in the order the runs finished (the sink records each run once). ``as_array()``
    gives the times as one numpy array without building Python floats.
    """

    __slots__ = ("_index", "_seconds", "_sorted")

    def __init__(
        self, index: array[int] | None = None, seconds: array[float] | None = None
    ) -> None:
        self._index = index if index is not None else array("q")
        self._seconds = seconds if seconds is not None else array("d")
        self._sorted: tuple[np.ndarray, np.ndarray] | None = None

    def _lookup(self) -> tuple[np.ndarray, np.ndarray]:
        if self._sorted is None:
            index = np.frombuffer(self._index, dtype=np.int64) if self._index else np.empty(0)
            # Sorted once, on the first lookup by index (iteration needs no sorting).
            order = np.argsort(index, kind="stable")
            self._sorted = (index[order], order)
        return self._sorted

    def __getitem__(self, key: int) -> float:
        keys, order = self._lookup()
        position = int(np.searchsorted(keys, key, side="right")) - 1
        if position < 0 or keys[position] != key:
            raise KeyError(key)
        return self._seconds[int(order[position])]

    def __iter__(self) -> Iterator[int]:
        return iter(self._index)

    def __len__(self) -> int:
        return len(self._index)

    def as_array(self) -> np.ndarray:
        """Every recorded run time, in the order the runs finished."""
        return np.frombuffer(self._seconds, dtype=np.float64).copy()

    def __repr__(self) -> str:
        return f"RunDurations({len(self)} runs)"


@dataclass(frozen=True)
class RunFailure:
    """One failed run.

    Parameters
    ----------
    index
        The run index.
    point
        The run's explored values by parameter path.
    error_type
        The exception's class name.
    message
        ``str()`` of the exception.
    traceback
        The formatted traceback.
    """

    index: int
    point: Mapping[str, object]
    error_type: str
    message: str
    traceback: str

    def to_error(self) -> RunFailedError:
        """The failure as an exception (used to raise a group of them)."""
        return RunFailedError(
            self.index, self.point, f"{self.error_type}: {self.message}", self.traceback
        )


@dataclass(frozen=True)
class RunReport:
    """The outcome of one call of :meth:`Environment.run`.

    Parameters
    ----------
    trajectory
        The trajectory's name.
    n_runs
        The number of runs the trajectory defines.
    done
        Runs completed successfully in this call.
    failed
        Runs that failed in this call.
    skipped
        Runs not run because they were already done (``resume=True``).
    wall_time
        Seconds from start to end of the call.
    durations
        Run time in seconds of every run executed in this call, by run index (a read-only
        :class:`RunDurations` mapping: 16 bytes per run).
    failures
        The failed runs, in index order.
    interrupted
        Whether the sweep was stopped early (Ctrl-C); finished runs are stored.
    """

    trajectory: str
    n_runs: int
    done: int
    failed: int
    skipped: int
    wall_time: float
    durations: Mapping[int, float] = field(default_factory=RunDurations)
    failures: tuple[RunFailure, ...] = ()
    interrupted: bool = False

    def __repr__(self) -> str:
        # A few hundred characters whatever the number of runs: the durations and failures are
        # summarised (they are attributes; summary() shows the first failures).
        state = ", interrupted" if self.interrupted else ""
        return (
            f"RunReport({self.trajectory!r}: {self.n_runs} runs, {self.done} done, "
            f"{self.failed} failed, {self.skipped} skipped, {self.pending} pending, "
            f"{self.wall_time:.3g} s{state}; {len(self.durations)} durations, "
            f"{len(self.failures)} failures)"
        )

    @property
    def ok(self) -> bool:
        """Whether no run failed and the sweep was not interrupted."""
        return self.failed == 0 and not self.interrupted

    @property
    def pending(self) -> int:
        """Runs neither done, failed nor skipped (left by an interruption)."""
        return self.n_runs - self.done - self.failed - self.skipped

    def raise_for_failures(self) -> None:
        """Raise a :class:`~pypet_rebuild.errors.SweepFailedError` group if any run failed."""
        if self.failures:
            raise SweepFailedError(
                f"{len(self.failures)} of {self.n_runs} runs of {self.trajectory!r} failed",
                [failure.to_error() for failure in self.failures],
            )

    def summary(self) -> str:
        """A few readable lines: counts, wall time, run-time statistics and the first failures."""
        lines = [
            f"RunReport for {self.trajectory!r}: {self.done} done, {self.failed} failed, "
            f"{self.skipped} skipped, {self.pending} pending of {self.n_runs} runs "
            f"in {self.wall_time:.3g} s" + (" (interrupted)" if self.interrupted else "")
        ]
        if self.durations:
            durations = self.durations
            times = (
                durations.as_array()
                if isinstance(durations, RunDurations)
                else np.fromiter(durations.values(), dtype=float)
            )
            lines.append(
                f"  run time: median {np.median(times):.3g} s, "
                f"min {times.min():.3g} s, max {times.max():.3g} s"
            )
        lines.extend(
            f"  run {failure.index} failed: {failure.error_type}: {failure.message}"
            for failure in self.failures[:5]
        )
        if len(self.failures) > 5:
            lines.append(f"  ... and {len(self.failures) - 5} more failures")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()

    def _repr_html_(self) -> str:
        return report_html(self)


def report_html(report: RunReport) -> str:
    """The notebook view of a run report."""
    counts = [
        [
            report.done,
            report.failed,
            report.skipped,
            report.pending,
            report.n_runs,
            f"{report.wall_time:.3g} s",
        ]
    ]
    parts = [
        f"<div><b>RunReport {html.escape(report.trajectory)}</b>"
        + (" (interrupted)" if report.interrupted else ""),
        html_table("Runs", ["done", "failed", "skipped", "pending", "total", "wall time"], counts),
    ]
    if report.failures:
        rows = [[f.index, f.error_type, f.message] for f in report.failures[:20]]
        parts.append(
            html_table(f"Failures ({len(report.failures)})", ["run", "error", "message"], rows)
        )
    return "".join(parts) + "</div>"
