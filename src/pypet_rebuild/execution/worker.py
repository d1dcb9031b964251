"""The part of a sweep that runs where the work is done: build a ``Run``, call, record.

Everything here is picklable and small: a :class:`SweepContext` (the simulate function, the
non-explored defaults and the name lookup) is shipped once per worker, and each task carries only
a run index, its point hash and its explored values.
"""

from __future__ import annotations

import os
import socket
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from pypet_rebuild.execution.run import ParameterLookup, Run
from pypet_rebuild.storage.records import RunRecord, RunStatus

__all__ = ["RunTask", "SweepContext", "execute_run"]

RunTask = tuple[int, str, tuple[object, ...]]
"""One run to execute: ``(index, point_hash, explored values in explored-name order)``."""

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
    """

    simulate: Callable[[Run], Any]
    defaults: dict[str, object]
    explored_names: tuple[str, ...]
    lookup: ParameterLookup
    trajectory_seed: int


def execute_run(context: SweepContext, task: RunTask) -> tuple[RunRecord, Exception | None]:
    """Run one point and return its record, plus the exception if the simulate function raised.

    Only ``Exception`` is caught: ``KeyboardInterrupt`` and ``SystemExit`` stop the sweep.
    """
    index, point_hash, explored = task
    values = context.defaults.copy()
    values.update(zip(context.explored_names, explored, strict=True))
    run = Run(index, point_hash, values, context.lookup, context.trajectory_seed)
    error: Exception | None = None
    started = time.time()
    clock = time.perf_counter()
    try:
        returned = context.simulate(run)
        if returned is not None:
            run._absorb(returned)
    except Exception as exc:
        error = exc
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
    )
    return record, error


def execute_batch(
    context: SweepContext, tasks: Sequence[RunTask]
) -> list[tuple[RunRecord, Exception | None]]:
    """Run several points in a row (the unit of work sent to a parallel worker)."""
    return [execute_run(context, task) for task in tasks]
