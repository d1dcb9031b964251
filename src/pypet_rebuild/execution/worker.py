"""The part of a sweep that runs where the work is done: build a ``Run``, call, record.

Everything here is picklable and small. A :class:`SweepContext` (the simulate function, the
non-explored defaults, the name lookup and the per-run settings) reaches each worker once — by a
process-pool initializer, by Dask's scatter, or, for an arbitrary ``Executor``, as bytes that the
worker unpickles once and caches — and each task carries only a run index, its point hash and its
explored values (pypet shipped the whole trajectory with every run).
"""

from __future__ import annotations

import os
import pickle
import signal
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
from pypet_rebuild.storage.records import RunRecord, RunStatus
from pypet_rebuild.tree.seeding import seed_mixer

__all__ = [
    "ChunkRecords",
    "ChunkResult",
    "RunTask",
    "SweepContext",
    "WorkerSetupError",
    "execute_batch",
    "execute_run",
    "install_context",
    "run_remote_chunk",
]

RunTask = tuple[int, str, tuple[object, ...]]
"""One run to execute: ``(index, point_hash, explored values in explored-name order)``."""

ChunkRecords = list[tuple[RunRecord, BaseException | None]]
"""Each run's record, and the exception if it failed (``None`` when it cannot be pickled)."""

ChunkResult = ChunkRecords | bytes
"""What a chunk returns: its records, or the same pickled (when they travel through Dask)."""

_HOST = socket.gethostname()
_DONE = RunStatus.DONE
_FAILED = RunStatus.FAILED
_PID = os.getpid()


def _forked() -> None:
    global _PID  # noqa: PLW0603 - the cached pid must follow a fork
    _PID = os.getpid()


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

    def __post_init__(self) -> None:
        # Every run seed needs the trajectory seed's mixed value: compute it once per sweep.
        object.__setattr__(self, "mixer", seed_mixer(self.trajectory_seed))


def execute_run(context: SweepContext, task: RunTask) -> tuple[RunRecord, Exception | None]:
    """Run one point and return its record, plus the exception if the simulate function raised.

    Only ``Exception`` is caught: ``KeyboardInterrupt`` and ``SystemExit`` stop the sweep.
    """
    index, point_hash, explored = task
    values = context.defaults.copy()
    values.update(zip(context.explored_names, explored, strict=True))
    run = Run(index, point_hash, values, context.lookup, context.trajectory_seed, context.mixer)
    error: Exception | None = None
    output = ""
    started = time.time()
    clock = time.perf_counter()
    if context.timeout is None and not context.capture_output:
        # The common case stays lean: this path is the per-run overhead of every sweep.
        token = enter_run(index)
        try:
            returned = context.simulate(run)
            if returned is not None:
                run._absorb(returned)
        except Exception as exc:
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
            except Exception as exc:
                error = exc
        output = "" if buffer is None else buffer.getvalue()
    duration = time.perf_counter() - clock
    # Positional arguments: this runs once per run, and keywords cost a third more.
    record = RunRecord(
        index,
        point_hash,
        _DONE if error is None else _FAILED,
        started,
        started + duration,
        duration,
        _HOST,
        _PID,
        run.seed,
        "" if error is None else "".join(traceback.format_exception(error)),
        run._results if error is None else {},
        run._comments,
        output,
    )
    return record, error


def execute_batch(
    context: SweepContext, tasks: Sequence[RunTask]
) -> list[tuple[RunRecord, Exception | None]]:
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
        f"{os.getpid()} on {_HOST}. The simulate function, hooks and parameter values are "
        "imported by name in each worker: define the simulate function in a module the workers "
        "can import (not in a notebook or an interactive session, and with the script's code "
        "under `if __name__ == '__main__':`), and install that module on every worker"
    )


def _load_context(key: str, payload: bytes) -> SweepContext:
    try:
        context = pickle.loads(payload)
    except Exception as exc:
        raise WorkerSetupError(_setup_failure(exc)) from exc
    assert isinstance(context, SweepContext)
    return context


def install_context(key: str, payload: bytes, ignore_sigint: bool = True) -> None:
    """Process-pool initializer: unpickle the sweep context once per worker process.

    Workers ignore SIGINT so that a Ctrl-C in the terminal (sent to the whole process group)
    lets in-flight runs finish; the driving process decides what to stop. A context that cannot
    be loaded is remembered (not raised: that would break the pool without a reason) and
    reported by the first chunk as :class:`WorkerSetupError`.
    """
    if ignore_sigint:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        _CONTEXTS[key] = _load_context(key, payload)
    except WorkerSetupError as exc:
        _SETUP_ERRORS[key] = str(exc)


def _portable(error: Exception | None) -> BaseException | None:
    if error is None:
        return None
    try:
        pickle.loads(pickle.dumps(error))
    except Exception:
        return None
    return error


def run_remote_chunk(
    key: str, payload: bytes | None, tasks: Sequence[RunTask] | bytes, attempt: int
) -> ChunkResult:
    """Execute a chunk in a worker; the context comes from the cache or from ``payload``.

    ``tasks`` may arrive pickled: Dask walks and tokenizes every nested argument of a task,
    which for a chunk of 25,000 runs costs more than running them; one bytes object it does not
    look into. The result then goes back pickled too, for the same reason (Dask would otherwise
    send every array of every record as a separate buffer). ``attempt`` only makes retried
    submissions distinct (Dask deduplicates identical calls).

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
    opaque = isinstance(tasks, bytes)
    chunk: Sequence[RunTask] = pickle.loads(tasks) if isinstance(tasks, bytes) else tasks
    results = [(record, _portable(error)) for record, error in execute_batch(context, chunk)]
    return pickle.dumps(results, protocol=pickle.HIGHEST_PROTOCOL) if opaque else results
