"""The part of a sweep that runs where the work is done: build a ``Run``, call, record.

Everything here is picklable and small. A :class:`SweepContext` (the simulate function, the
non-explored defaults, the name lookup and the per-run settings) reaches each worker once — by a
process-pool initializer, by Dask's scatter, or, for an arbitrary ``Executor``, as bytes that the
worker unpickles once and caches — and each task carries only a run index, its point hash and its
explored values (pypet shipped the whole trajectory with every run). The context is pickled with
cloudpickle, so a simulate function defined in ``__main__``, a notebook cell, a lambda or a closure
reaches the workers by value; a worker needs only ``pickle`` (and cloudpickle installed) to load it.

A chunk's records go back pickled by the worker itself, so that one run whose results cannot be
pickled fails alone instead of taking its chunk down with it.
"""

from __future__ import annotations

import os
import pickle
import socket
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from pypet_rebuild.execution.run import ParameterLookup, Run
from pypet_rebuild.execution.runtime import (
    RunTimeoutError,
    captured_output,
    enter_run,
    leave_run,
    run_context,
    time_limit,
)
from pypet_rebuild.execution.worker_process import prepare_worker_process
from pypet_rebuild.storage.records import RunRecord, RunStatus
from pypet_rebuild.tree.seeding import run_seed, seed_mixer

__all__ = [
    "ChunkRecords",
    "ChunkResult",
    "RunTask",
    "SweepContext",
    "WorkerSetupError",
    "execute_batch",
    "execute_run",
    "install_context",
    "load_chunk",
    "run_remote_chunk",
]

RunTask = tuple[int, str, tuple[object, ...]]
"""One run to execute: ``(index, point_hash, explored values in explored-name order)``."""

ChunkRecords = list[tuple[RunRecord, BaseException | None]]
"""Each run's record, and the exception if it failed (``None`` when it cannot be pickled)."""

ChunkResult = ChunkRecords | bytes
"""What a chunk returns: its records (thread pools), or the same pickled (other processes)."""

_HOST = socket.gethostname()
_DONE = RunStatus.DONE
_FAILED = RunStatus.FAILED
_PID = os.getpid()
_wall_clock = time.time
_clock = time.perf_counter


def _forked() -> None:
    global _PID  # noqa: PLW0603 - the cached pid must follow a fork
    _PID = os.getpid()


_wall_clock = time.time
_clock = time.perf_counter


os.register_at_fork(after_in_child=_forked)


@dataclass(frozen=True)
class SweepContext:
    """What every run of a sweep shares.

    Parameters
    ----------
    simulate
        The user's simulate function.
    defaults
        Every parameter's default value, by full path.
    explored_names
        The explored parameter paths, in the order of each task's values.
    lookup
        The name lookup for ``Run`` attribute access.
    trajectory_seed
        The trajectory's seed.
    timeout
        Seconds a run may take before it is interrupted and failed (``None``: no limit).
    capture_output
        Capture what each run prints into its record.
    """

    simulate: Callable[[Run], Any]
    defaults: dict[str, object]
    explored_names: tuple[str, ...]
    lookup: ParameterLookup
    trajectory_seed: int
    timeout: float | None = None
    capture_output: bool = False
    mixer: int = field(init=False, repr=False)
    only_explored: bool = field(init=False, repr=False)

    def __post_init__(self) -> None:
        # Every run seed needs the trajectory seed's mixed value: compute it once per sweep.
        object.__setattr__(self, "mixer", seed_mixer(self.trajectory_seed))
        # Every parameter explored, in the same order: a run's values are the explored ones.
        object.__setattr__(self, "only_explored", tuple(self.defaults) == self.explored_names)


def execute_run(context: SweepContext, task: RunTask) -> tuple[RunRecord, BaseException | None]:
    """Run one point and return its record, plus the exception if the simulate function raised.

    Any exception fails only this run, ``SystemExit`` (``sys.exit(3)`` in the simulate code)
    included; only ``KeyboardInterrupt`` propagates, since it stops the sweep.
    """
    # This function is the per-run overhead of every sweep: each line here is paid per run.
    index, point_hash, explored = task
    if context.only_explored:
        values = dict(zip(context.explored_names, explored, strict=True))
    else:
        values = context.defaults.copy()
        values.update(zip(context.explored_names, explored, strict=True))
    run = Run(index, point_hash, values, context.lookup, context.trajectory_seed, context.mixer)
    error: BaseException | None = None
    output = ""
    started = _wall_clock()
    clock = _clock()
    if context.timeout is None and not context.capture_output:
        token = enter_run(index)
        try:
            returned = context.simulate(run)
            if returned is not None:
                run._absorb(returned)
        except KeyboardInterrupt:
            raise
        except BaseException as exc:
            error = exc
        finally:
            leave_run(token)
    else:
        with run_context(index), captured_output(context.capture_output) as buffer:
            try:
                with time_limit(context.timeout):
                    returned = context.simulate(run)
                if returned is not None:
                    run._absorb(returned)
            except RunTimeoutError as exc:
                error = (
                    exc
                    if exc.args
                    else RunTimeoutError(f"the run exceeded the timeout of {context.timeout:g} s")
                )
            except KeyboardInterrupt:
                raise
            except BaseException as exc:
                error = exc
        output = "" if buffer is None else buffer.getvalue()
    duration = _clock() - clock
    seed = run._seed
    if seed is None:  # the simulate function did not ask for it: derive it once, here
        seed = run_seed(context.trajectory_seed, point_hash, context.mixer)
    if error is None:
        status, message, results = _DONE, "", run._results
    else:
        status, message, results = _FAILED, "".join(traceback.format_exception(error)), {}
    # Positional arguments: this runs once per run, and keywords cost a third more.
    record = RunRecord(
        index,
        point_hash,
        status,
        started,
        started + duration,
        duration,
        _HOST,
        _PID,
        seed,
        message,
        results,
        run._comments,
        output,
    )
    return record, error


def execute_batch(
    context: SweepContext, tasks: Sequence[RunTask]
) -> list[tuple[RunRecord, BaseException | None]]:
    """Run several points in a row (the unit of work sent to a parallel worker)."""
    return [execute_run(context, task) for task in tasks]


# -- remote execution -----------------------------------------------------------------------------

_CONTEXTS: dict[str, SweepContext] = {}
_SETUP_ERRORS: dict[str, str] = {}


class WorkerSetupError(RuntimeError):
    """A worker could not load the sweep context (e.g. the simulate function's module)."""


def _setup_failure(exc: Exception) -> str:
    return (
        f"a worker could not load the sweep context ({type(exc).__name__}: {exc}) in process "
        f"{os.getpid()} on {_HOST}. Functions and classes defined in an importable module "
        "travel by name: install that module on every worker (functions defined in __main__, "
        "a notebook, a lambda or a closure travel by value and need only cloudpickle there)"
    )


def _load_context(key: str, payload: bytes) -> SweepContext:
    try:
        context = pickle.loads(payload)
    except Exception as exc:
        raise WorkerSetupError(_setup_failure(exc)) from exc
    assert isinstance(context, SweepContext)
    return context


def install_context(key: str, payload: bytes, parent: int | None = None) -> None:
    """Process-pool initializer: detach the worker, then unpickle the sweep context once.

    The worker gets its own session, ignores SIGINT and dies with its parent (see
    :mod:`~pypet_rebuild.execution.worker_process`): a Ctrl-C in the terminal reaches only the
    driving process, which decides what to stop. A context that cannot be loaded is remembered
    (not raised: that would break the pool without a reason) and reported by the first chunk as
    :class:`WorkerSetupError`.
    """
    prepare_worker_process(parent=parent)
    try:
        _CONTEXTS[key] = _load_context(key, payload)
    except WorkerSetupError as exc:
        _SETUP_ERRORS[key] = str(exc)


def _portable(error: BaseException | None) -> BaseException | None:
    if error is None:
        return None
    try:
        pickle.loads(pickle.dumps(error))
    except Exception:
        return None
    return error


def unpicklable_record(record: RunRecord, exc: BaseException, where: str) -> RunRecord:
    """The failed record of a run whose results cannot travel back to the driving process."""
    reason = "".join(traceback.format_exception_only(exc)).strip()
    message = (
        f"UnpicklableResultError: the results of run {record.index} cannot be {where} "
        f"({reason}); return plain data, numpy arrays or pandas objects, or classes importable "
        "in the driving process"
    )
    return RunRecord(
        record.index,
        record.point_hash,
        _FAILED,
        record.started,
        record.finished,
        record.duration,
        record.host,
        record.pid,
        record.seed,
        f"{record.error}{message}\n",
        {},
        {},
        record.output,
    )


_PER_RUN = "per-run"


def _pack(results: ChunkRecords) -> bytes:
    """Pickle a chunk's records; a run whose results cannot be pickled fails alone."""
    try:
        return pickle.dumps(results, protocol=pickle.HIGHEST_PROTOCOL)
    except Exception:
        blobs: list[tuple[int, bytes]] = []
        for record, error in results:
            try:
                blob = pickle.dumps((record, error), protocol=pickle.HIGHEST_PROTOCOL)
            except Exception as exc:
                failed = unpicklable_record(record, exc, "pickled in the worker")
                blob = pickle.dumps((failed, None), protocol=pickle.HIGHEST_PROTOCOL)
            blobs.append((record.index, blob))
        return pickle.dumps((_PER_RUN, blobs), protocol=pickle.HIGHEST_PROTOCOL)


def load_chunk(outcome: ChunkResult) -> tuple[ChunkRecords, list[tuple[int, Exception]]]:
    """A chunk's records, unpickled here when they travelled as bytes, and the runs that failed so.

    Returns
    -------
    tuple
        The records, and ``(run index, exception)`` for each run of a chunk packed run by run
        whose record cannot be unpickled in this process.

    Raises
    ------
    Exception
        Whatever unpickling raises when a chunk packed as a whole cannot be loaded here; the
        caller then runs the chunk's runs again one by one.
    """
    if not isinstance(outcome, bytes):
        return outcome, []
    loaded = pickle.loads(outcome)
    if not (isinstance(loaded, tuple) and loaded and loaded[0] == _PER_RUN):
        records: ChunkRecords = loaded
        return records, []
    # A chunk packed run by run: each run's record loads (or fails) on its own.
    unpacked: ChunkRecords = []
    broken: list[tuple[int, Exception]] = []
    for index, blob in loaded[1]:
        try:
            unpacked.append(pickle.loads(blob))
        except Exception as exc:
            broken.append((index, exc))
    return unpacked, broken


def run_remote_chunk(
    key: str, payload: bytes | None, tasks: Sequence[RunTask] | bytes, attempt: int
) -> ChunkResult:
    """Execute a chunk in a worker; the context comes from the cache or from ``payload``.

    ``tasks`` may arrive pickled: Dask walks and tokenizes every nested argument of a task,
    which for a chunk of 25,000 runs costs more than running them; one bytes object it does not
    look into. The result always goes back pickled by this function: Dask would otherwise send
    every array of every record as a separate buffer, and a process pool would fail the whole
    chunk when one run's results cannot be pickled (here only that run fails). ``attempt`` only
    makes retried submissions distinct (Dask deduplicates identical calls).

    Raises
    ------
    WorkerSetupError
        If the worker cannot load the sweep context.
    """
    del attempt
    context = _CONTEXTS.get(key)
    if context is None:
        if key in _SETUP_ERRORS:
            raise WorkerSetupError(_SETUP_ERRORS[key])
        if payload is None:
            raise WorkerSetupError(
                "this worker has no sweep context; it was started without the initializer"
            )
        context = _load_context(key, payload)
        _CONTEXTS.clear()  # one sweep at a time per worker: drop older contexts
        _CONTEXTS[key] = context
    chunk: Sequence[RunTask] = pickle.loads(tasks) if isinstance(tasks, bytes) else tasks
    return _pack([(record, _portable(error)) for record, error in execute_batch(context, chunk)])
