"""Feeding runs to a backend: chunking, backpressure, retries, worker deaths, interruptions.

The driving process is the single writer. It submits chunks of runs, keeps a bounded number of
chunks in flight, hands every finished run to the :class:`RecordSink` in completion order (the
sink batches them to storage), and decides what happens on failures and on Ctrl-C.
"""

from __future__ import annotations

import concurrent.futures as cf
import logging
import math
import time
import traceback
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from typing import Literal

from pypet_rebuild.errors import ExecutorBrokenError, RunFailedError
from pypet_rebuild.execution.executors import Backend
from pypet_rebuild.execution.hooks import SweepHooks
from pypet_rebuild.execution.interrupts import (
    INTERRUPTED_MESSAGE,
    Interrupts,
    graceful_interrupts,
)
from pypet_rebuild.execution.sink import RecordSink, estimate_bytes
from pypet_rebuild.execution.worker import (
    ChunkResult,
    RunTask,
    SweepContext,
    WorkerSetupError,
    execute_run,
    load_chunk,
)
from pypet_rebuild.storage.records import RunRecord, RunStatus
from pypet_rebuild.tree.seeding import run_seed

__all__ = [
    "DispatchSettings",
    "Interrupts",
    "RemoteTraceback",
    "dispatch",
    "graceful_interrupts",
    "raise_for_unstorable",
]

logger = logging.getLogger(__name__)

Chunksize = int | Literal["auto"]
_TARGET_CHUNK_SECONDS = 0.25
_MAX_CHUNK_BYTES = 32 << 20
_MAX_CHUNK_RUNS = 20_000
_MAX_DROPPED = 3
_LOOK_SECONDS = 0.001
"""Run time after which a serial sweep looks for a SIGINT the simulate code's handler took."""
_LOOK_RUNS = 64
"""Runs after which it looks in any case."""


@dataclass
class DispatchSettings:
    """How to feed runs to the backend.

    Parameters
    ----------
    on_error
        ``"raise"`` or ``"continue"``.
    retries
        How often a failed run is run again before it counts as failed.
    chunksize
        Runs per chunk, or ``"auto"`` (about a quarter second of work per chunk).
    max_in_flight
        Chunks submitted and not yet finished; bounds memory.
    """

    on_error: Literal["raise", "continue"]
    retries: int
    chunksize: Chunksize
    max_in_flight: int
    attempts: dict[int, int] = field(default_factory=dict)


class _Throughput:
    """Running estimates of a run's duration and result size, for automatic chunk sizes."""

    def __init__(self) -> None:
        self.runs = 0
        self.seconds = 0.0
        self.sampled = 0
        self.bytes = 0

    def add(self, record: RunRecord) -> None:
        self.runs += 1
        self.seconds += record.duration
        if self.sampled < 200:
            self.sampled += 1
            self.bytes += estimate_bytes(record.results)

    def chunk(self, remaining: int, workers: int) -> int:
        if self.runs == 0:
            return 1
        per_run = max(self.seconds / self.runs, 1e-7)
        size = math.ceil(_TARGET_CHUNK_SECONDS / per_run)
        size = min(size, max(1, math.ceil(remaining / (2 * workers))), _MAX_CHUNK_RUNS)
        if self.sampled:
            size = min(size, max(1, _MAX_CHUNK_BYTES // max(1, self.bytes // self.sampled)))
        return max(1, size)


def failed_record(task: RunTask, message: str, trajectory_seed: int) -> RunRecord:
    """A record for a run that failed outside the simulate function (e.g. its worker died)."""
    now = time.time()
    return RunRecord(
        index=task[0],
        point_hash=task[1],
        status=RunStatus.FAILED,
        started=now,
        finished=now,
        duration=0.0,
        host="",
        pid=-1,
        seed=run_seed(trajectory_seed, task[1]),
        error=message,
    )


def interrupted_record(record: RunRecord) -> RunRecord:
    """The record of a run that a SIGINT may have cut short: failed, without its results."""
    return record.without_results(
        status=RunStatus.FAILED, error=f"{record.error}{INTERRUPTED_MESSAGE}\n"
    )


class _Dispatcher:
    def __init__(
        self,
        backend: Backend,
        context: SweepContext,
        sink: RecordSink,
        hooks: Sequence[SweepHooks],
        settings: DispatchSettings,
        interrupts: Interrupts,
        point: Callable[[int], Mapping[str, object]],
    ) -> None:
        self.backend = backend
        self.context = context
        self.sink = sink
        self.hooks = hooks
        self.settings = settings
        self.interrupts = interrupts
        self.point = point
        self.throughput = _Throughput()
        self.failure: tuple[RunRecord, BaseException | None] | None = None
        self.dropped: dict[int, int] = {}

    def _outcome(
        self,
        record: RunRecord,
        error: BaseException | None,
        task: RunTask,
        *,
        can_retry: bool = True,
    ) -> bool:
        """Take one finished run; returns whether it should run again (a retry).

        The caller must queue the task again when this returns ``True``: the run is then
        neither stored nor counted yet.
        """
        if record.status is RunStatus.FAILED:
            attempts = self.settings.attempts.get(record.index, 0)
            if can_retry and attempts < self.settings.retries:
                self.settings.attempts[record.index] = attempts + 1
                logger.info(
                    "run %d failed, retrying (%d/%d)",
                    record.index,
                    attempts + 1,
                    self.settings.retries,
                )
                return True
            if self.settings.on_error == "raise" and self.failure is None:
                self.failure = (record, error)
        self.throughput.add(record)
        self.sink.add(record, error)
        return False

    def _announce(self, tasks: Sequence[RunTask]) -> None:
        for hook in self.hooks:
            for task in tasks:
                hook.before_run(task[0], self.point(task[0]))

    def run_serial(self, tasks: Iterable[RunTask]) -> None:
        # The per-run overhead of every serial sweep lives in this loop: keep it lean.
        queue: deque[RunTask] = deque()  # retries, before the tasks not yet generated
        source = iter(tasks)  # lazily: a list of a million tasks would cost ~170 MB
        context, sink, hooks, interrupts = self.context, self.sink, self.hooks, self.interrupts
        retries = self.settings.retries
        raise_on_error = self.settings.on_error == "raise"
        # Runs that succeeded, held until the next look for a SIGINT that reached the simulate
        # code's own handler: one look (a system call) per millisecond of cheap runs, or after
        # every run that takes longer. When a look finds one, every held run may have been cut
        # short, and none is stored as done (they run again on resume). With hooks, every run
        # is looked after at once: they hear of each run in order (before_run, after_run...).
        look_runs = 1 if hooks else _LOOK_RUNS
        held: list[RunRecord] = []
        held_seconds = 0.0
        try:
            while not interrupts.stop and self.failure is None:
                task = queue.popleft() if queue else next(source, None)
                if task is None:
                    break
                if hooks:
                    self._announce([task])
                record, error = execute_run(context, task)
                if error is None and not retries:
                    held.append(record)
                    held_seconds += record.duration
                    if held_seconds < _LOOK_SECONDS and len(held) < look_runs:
                        continue
                    self._release(held)
                    held_seconds = 0.0
                elif self._release(held):
                    held_seconds = 0.0
                    sink.add(interrupted_record(record), None)
                else:
                    held_seconds = 0.0
                    if self._outcome(record, error, task):
                        queue.appendleft(task)
                if raise_on_error and sink.unstorable:
                    self._unstorable()
        finally:
            if held:  # every other run was looked after when it ended
                self._release(held)
        if raise_on_error and sink.unstorable:
            self._unstorable()

    def _release(self, held: list[RunRecord]) -> bool:
        """Look for a SIGINT the simulate code's handler took; hand the held runs to the sink.

        Returns whether one arrived: then the held runs, and the run that just ended, may have
        been cut short, and are never stored as done.
        """
        interrupts = self.interrupts
        cut = bool(interrupts.signals_arrived()) and interrupts.cut_short()
        for record in held:
            self.sink.add(interrupted_record(record) if cut else record, None)
        held.clear()
        return cut

    def run_parallel(self, tasks: Iterable[RunTask], count: int | None = None) -> None:
        pending = TaskQueue(tasks, count)
        suspects: deque[RunTask] = deque()  # runs in flight when a worker died, rerun one by one
        in_flight: dict[cf.Future[ChunkResult], list[RunTask]] = {}
        try:
            while pending or suspects or in_flight:
                stopping = self.interrupts.stop or self.failure is not None
                while not stopping and (pending or suspects):
                    if suspects:
                        if in_flight:
                            break
                        chunk = [suspects.popleft()]
                    elif len(in_flight) >= self.settings.max_in_flight:
                        break
                    else:
                        chunk = self._next_chunk(pending)
                    attempt = max(self.settings.attempts.get(t[0], 0) for t in chunk)
                    try:
                        future = self.backend.submit(chunk, attempt)
                    except BrokenProcessPool:
                        # A worker died since the last look: the pool refuses work. The chunk
                        # never ran; the runs in flight are the suspects.
                        pending.extendleft(reversed(chunk))
                        self._worker_died([], pending, suspects, in_flight)
                        break
                    self._announce(chunk)
                    in_flight[future] = chunk
                if not in_flight:
                    if (pending or suspects) and not (
                        self.interrupts.stop or self.failure is not None
                    ):
                        continue  # the pool was restarted after a worker death
                    break
                done, _ = cf.wait(in_flight, timeout=0.1, return_when=cf.FIRST_COMPLETED)
                for future in done:
                    # A worker death handled earlier in this loop may have taken it already.
                    taken = in_flight.pop(future, None)
                    if taken is not None:
                        self._collect(future, taken, pending, suspects, in_flight)
                if self.sink.unstorable:
                    self._unstorable()
        except BaseException:
            self._cancel(in_flight)
            raise

    def _next_chunk(self, pending: TaskQueue) -> list[RunTask]:
        size = self.settings.chunksize
        if size == "auto":
            size = self.throughput.chunk(len(pending), self.backend.workers)
        return [pending.popleft() for _ in range(min(size, len(pending)))]

    def _collect(
        self,
        future: cf.Future[ChunkResult],
        chunk: list[RunTask],
        pending: TaskQueue,
        suspects: deque[RunTask],
        in_flight: dict[cf.Future[ChunkResult], list[RunTask]],
    ) -> None:
        if future.cancelled():
            self._dropped(chunk, pending)
            return
        # ``exception()`` returns what the chunk raised (the future is done) instead of raising
        # it, so a KeyboardInterrupt from a worker is told apart from a Ctrl-C in this process.
        error = future.exception()
        if error is None:
            self._take(future.result(), chunk, pending, suspects)
        elif isinstance(error, BrokenProcessPool):
            self._worker_died(chunk, pending, suspects, in_flight)
        elif isinstance(error, KeyboardInterrupt):
            # The workers of an executor passed to env.run got the terminal's Ctrl-C too: the
            # chunk's runs did not finish and stay pending; stop as for a first Ctrl-C here.
            self.interrupts.stop = True
        elif isinstance(error, WorkerSetupError):
            # Every chunk would fail the same way: stop instead of failing each run alike.
            raise ExecutorBrokenError(str(error)) from None
        elif not isinstance(error, Exception):
            raise error
        elif type(error).__name__ == "KilledWorker" and len(chunk) > 1:
            # Dask gave up on a chunk whose workers died: find the run that kills them.
            suspects.extend(chunk)
        else:
            message = f"{type(error).__name__}: the executor could not run this chunk: {error}"
            for task in chunk:
                record = failed_record(task, message, self.context.trajectory_seed)
                if self._outcome(record, None, task):
                    pending.appendleft(task)

    def _dropped(self, chunk: list[RunTask], pending: TaskQueue) -> None:
        """A chunk the executor cancelled: run it again, a few times at most.

        This dispatcher only cancels when the sweep stops, and then collects nothing more: the
        executor dropped the chunk (e.g. Dask lost its input when the workers holding it died).
        """
        for task in chunk:
            dropped = self.dropped.get(task[0], 0) + 1
            self.dropped[task[0]] = dropped
            if dropped <= _MAX_DROPPED:
                pending.appendleft(task)
                continue
            message = (
                f"CancelledError: the executor cancelled this run {dropped} times without "
                "running it (on Dask: its workers keep dying or losing data)"
            )
            record = failed_record(task, message, self.context.trajectory_seed)
            self._outcome(record, None, task, can_retry=False)

    def _take(
        self,
        outcome: ChunkResult,
        chunk: list[RunTask],
        pending: TaskQueue,
        suspects: deque[RunTask],
    ) -> None:
        try:
            results, broken = load_chunk(outcome)
        except Exception as exc:
            if len(chunk) > 1:
                # Something in the chunk cannot be unpickled here: run each run alone to find
                # the one whose results do not load.
                suspects.extend(chunk)
                return
            results, broken = [], [(chunk[0][0], exc)]
        by_index = {task[0]: task for task in chunk}
        for record, error in results:
            task = by_index[record.index]
            if self._outcome(record, error, task):
                pending.appendleft(task)
        for index, load_error in broken:
            reason = "".join(traceback.format_exception_only(load_error)).strip()
            message = (
                f"UnpicklableResultError: the results of run {index} cannot be unpickled in the "
                f"driving process ({reason}); return plain data, numpy arrays or pandas objects, "
                "or classes importable in the driving process"
            )
            record = failed_record(by_index[index], message, self.context.trajectory_seed)
            self._outcome(record, None, by_index[index], can_retry=False)

    def _unstorable(self) -> None:
        """Runs whose results storage refused are failed runs: stop for ``on_error="raise"``."""
        if self.settings.on_error == "raise" and self.failure is None:
            self.failure = self.sink.unstorable[0]

    def _worker_died(
        self,
        chunk: list[RunTask],
        pending: TaskQueue,
        suspects: deque[RunTask],
        in_flight: dict[cf.Future[ChunkResult], list[RunTask]],
    ) -> None:
        lost = list(chunk)
        for other in list(in_flight):
            tasks = in_flight.pop(other)
            if other.done() and not other.cancelled() and other.exception() is None:
                # Finished before the pool broke: keep its runs instead of running them again.
                self._take(other.result(), tasks, pending, suspects)
            else:
                lost.extend(tasks)
        if self.backend.restart is None:
            message = (
                "ExecutorBrokenError: a worker process died and the executor passed to "
                "env.run cannot be restarted"
            )
            for task in lost:
                record = failed_record(task, message, self.context.trajectory_seed)
                self._outcome(record, None, task, can_retry=False)
            raise ExecutorBrokenError(
                "a worker process of the executor died; the runs in flight are stored as "
                "failed. Resume with resume=True on a working executor"
            )
        self.backend.restart()
        if not lost:
            return  # a worker died between chunks (killed from outside): nothing was lost
        if len(lost) == 1:
            task = lost[0]
            message = (
                "WorkerDiedError: the worker process running this run died (a crash in native "
                "code, os._exit, a signal such as SIGKILL, or the operating system's "
                "out-of-memory killer)"
            )
            logger.warning("run %d killed its worker process", task[0])
            record = failed_record(task, message, self.context.trajectory_seed)
            if self._outcome(record, None, task):
                suspects.appendleft(task)  # a retry, alone again
            return
        # Several runs were in flight: rerun each alone to find the one that kills its worker.
        suspects.extendleft(reversed(lost))

    def _cancel(self, in_flight: dict[cf.Future[ChunkResult], list[RunTask]]) -> None:
        for future in in_flight:
            future.cancel()
        if self.backend.restart is not None and self.backend.executor is not None:
            from pypet_rebuild.execution.executors import terminate_pool

            terminate_pool(self.backend.executor)


class TaskQueue:
    """The runs still to dispatch: runs handed back first, then those not yet generated.

    The tasks are pulled from their generator as chunks are submitted, so a million pending
    runs are not a million task tuples in the driver (~170 bytes each) before the first run.

    Parameters
    ----------
    tasks
        The tasks, in run order.
    count
        How many ``tasks`` yields (for automatic chunk sizes); ``None`` reads them all now.
    """

    __slots__ = ("_front", "_left", "_source")

    def __init__(self, tasks: Iterable[RunTask], count: int | None = None) -> None:
        if count is None:
            listed = list(tasks)
            tasks, count = listed, len(listed)
        self._front: deque[RunTask] = deque()
        self._source = iter(tasks)
        self._left = count

    def __len__(self) -> int:
        return len(self._front) + self._left

    def __bool__(self) -> bool:
        return bool(self._front) or self._left > 0

    def popleft(self) -> RunTask:
        """The next task: a handed-back one, else the next generated one."""
        if self._front:
            return self._front.popleft()
        task = next(self._source)  # StopIteration here means ``count`` was wrong: a bug
        self._left -= 1
        return task

    def appendleft(self, task: RunTask) -> None:
        """Hand a task back, to be dispatched next."""
        self._front.appendleft(task)

    def extendleft(self, tasks: Iterable[RunTask]) -> None:
        """Hand tasks back (like ``deque.extendleft``: the last one given comes first)."""
        self._front.extendleft(tasks)


class RemoteTraceback(Exception):  # noqa: N818 - named like concurrent.futures' own
    """The traceback of an exception raised in a worker process, as text.

    Exceptions travel between processes without their frames; like ``concurrent.futures``, the
    driving process chains this to the user's exception so the worker's frames are shown.
    """

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.text = text

    def __str__(self) -> str:
        return f'\n"""\n{self.text.rstrip()}\n"""'


def dispatch(
    backend: Backend,
    context: SweepContext,
    tasks: Iterable[RunTask],
    sink: RecordSink,
    hooks: Sequence[SweepHooks],
    settings: DispatchSettings,
    interrupts: Interrupts,
    point: Callable[[int], Mapping[str, object]],
    count: int | None = None,
    *,
    last_batch_kept: bool = False,
) -> None:
    """Run every task on the backend; raise ``RunFailedError`` for ``on_error="raise"``.

    ``count`` is the number of ``tasks`` when they are generated lazily (``None``: they are
    read into a list first on parallel backends). With ``last_batch_kept``, the sink's last
    batch is left for the caller to store when it finishes the session (in one commit); the
    caller then raises for a run in it whose results storage refuses
    (:func:`raise_for_unstorable`).
    """
    dispatcher = _Dispatcher(backend, context, sink, hooks, settings, interrupts, point)
    if backend.serial:
        dispatcher.run_serial(tasks)
    else:
        dispatcher.run_parallel(tasks, count)
    if (
        settings.on_error == "raise"
        and dispatcher.failure is None
        and not interrupts.stop
        and not last_batch_kept
    ):
        # A run whose results storage refuses fails when its batch is stored: store the last
        # batch now, so such a run raises like any other failed run.
        sink.flush()
        if sink.unstorable:
            dispatcher._unstorable()
    if dispatcher.failure is not None:
        record, error = dispatcher.failure
        sink.flush()
        raise _run_failed(record, error, point)


def raise_for_unstorable(sink: RecordSink, point: Callable[[int], Mapping[str, object]]) -> None:
    """Raise ``RunFailedError`` for the first run whose results storage refused, if any.

    For ``on_error="raise"`` once the last batch is stored: such a run fails like any other.
    """
    if sink.unstorable:
        record, error = sink.unstorable[0]
        raise _run_failed(record, error, point)


def _run_failed(
    record: RunRecord, error: BaseException | None, point: Callable[[int], Mapping[str, object]]
) -> RunFailedError:
    """The ``RunFailedError`` of a failed run, chained to its error (see the ``raise ... from``)."""
    message = record.error.strip().rsplit("\n", 1)[-1] if record.error else "failed"
    if (
        error is not None
        and error.__traceback__ is None
        and error.__cause__ is None
        and record.error
    ):
        # The exception crossed a process boundary and lost its frames; chain the text of
        # the worker's traceback, so a test report or the console shows the user's code.
        error.__cause__ = RemoteTraceback(record.error)
    failure = RunFailedError(record.index, dict(point(record.index)), message, record.error)
    failure.__cause__ = error
    return failure
