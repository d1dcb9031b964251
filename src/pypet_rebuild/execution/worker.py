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
from dataclasses import dataclass
from typing import Any

from pypet_rebuild.execution.run import ParameterLookup, Run
from pypet_rebuild.execution.runtime import (
    RunTimeoutError,
    captured_output,
    run_context,
    time_limit,
)
from pypet_rebuild.storage.records import RunRecord, RunStatus

__all__ = [
    "ChunkResult",
    "RunTask",
    "SweepContext",
    "execute_batch",
    "execute_run",
    "install_context",
    "run_remote_chunk",
]

RunTask = tuple[int, str, tuple[object, ...]]
"""One run to execute: ``(index, point_hash, explored values in explored-name order)``."""

ChunkResult = list[tuple[RunRecord, BaseException | None]]
"""Each run's record, and the exception if it failed (``None`` when it cannot be pickled)."""

_HOST = socket.gethostname()


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


def execute_run(context: SweepContext, task: RunTask) -> tuple[RunRecord, Exception | None]:
    """Run one point and return its record, plus the exception if the simulate function raised.

    Only ``Exception`` is caught: ``KeyboardInterrupt`` and ``SystemExit`` stop the sweep.
    """
    index, point_hash, explored = task
    values = context.defaults.copy()
    values.update(zip(context.explored_names, explored, strict=True))
    run = Run(index, point_hash, values, context.lookup, context.trajectory_seed)
    error: Exception | None = None
    output = ""
    started = time.time()
    clock = time.perf_counter()
    if context.timeout is None and not context.capture_output:
        # The common case stays lean: this path is the per-run overhead of every sweep.
        try:
            returned = context.simulate(run)
            if returned is not None:
                run._absorb(returned)
        except Exception as exc:
            error = exc
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
    record = RunRecord(
        index=index,
        point_hash=point_hash,
        status=RunStatus.DONE if error is None else RunStatus.FAILED,
        started=started,
        finished=started + duration,
        duration=duration,
        host=_HOST,
        pid=os.getpid(),
        seed=run.seed,
        error="" if error is None else "".join(traceback.format_exception(error)),
        results=run._results if error is None else {},
        comments=run._comments,
        output=output,
    )
    return record, error


def execute_batch(
    context: SweepContext, tasks: Sequence[RunTask]
) -> list[tuple[RunRecord, Exception | None]]:
    """Run several points in a row (the unit of work sent to a parallel worker)."""
    return [execute_run(context, task) for task in tasks]


# -- remote execution -----------------------------------------------------------------------------

_CONTEXTS: dict[str, SweepContext] = {}


def install_context(key: str, payload: bytes, ignore_sigint: bool = True) -> None:
    """Process-pool initializer: unpickle the sweep context once per worker process.

    Workers ignore SIGINT so that a Ctrl-C in the terminal (sent to the whole process group)
    lets in-flight runs finish; the driving process decides what to stop.
    """
    if ignore_sigint:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    _CONTEXTS[key] = pickle.loads(payload)


def _portable(error: Exception | None) -> BaseException | None:
    if error is None:
        return None
    try:
        pickle.loads(pickle.dumps(error))
    except Exception:
        return None
    return error


def run_remote_chunk(
    key: str, payload: bytes | None, tasks: Sequence[RunTask], attempt: int
) -> ChunkResult:
    """Execute a chunk in a worker; the context comes from the cache or from ``payload``.

    ``attempt`` only makes retried submissions distinct (Dask deduplicates identical calls).
    """
    del attempt
    context = _CONTEXTS.get(key)
    if context is None:
        if payload is None:
            raise RuntimeError(
                "this worker has no sweep context; it was started without the initializer"
            )
        context = pickle.loads(payload)
        _CONTEXTS.clear()  # one sweep at a time per worker: drop older contexts
        _CONTEXTS[key] = context
    return [(record, _portable(error)) for record, error in execute_batch(context, tasks)]
