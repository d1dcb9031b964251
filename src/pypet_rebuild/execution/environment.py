"""The Environment: runs a simulate function at every point of a trajectory and stores the runs."""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import inspect
import logging
import math
import time
from array import array
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from collections.abc import Set as AbstractSet
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from pypet_rebuild.errors import (
    ExecutionError,
    InvalidExecutorError,
    InvalidSimulateFunctionError,
    StorageError,
)
from pypet_rebuild.execution.collector import older_objects_frozen
from pypet_rebuild.execution.dispatch import (
    DispatchSettings,
    dispatch,
    graceful_interrupts,
    raise_for_unstorable,
)
from pypet_rebuild.execution.executors import Backend as ExecutorBackend
from pypet_rebuild.execution.executors import (
    ExecutorSpec,
    StartMethod,
    check_executor,
    check_workers,
    executor_label,
    open_backend,
)
from pypet_rebuild.execution.hooks import SweepHooks
from pypet_rebuild.execution.pickling import check_picklable
from pypet_rebuild.execution.progress import make_progress, output_above
from pypet_rebuild.execution.provenance import collect_provenance, prepare_provenance
from pypet_rebuild.execution.report import RunReport
from pypet_rebuild.execution.run import ParameterLookup, Run
from pypet_rebuild.execution.sink import RecordSink
from pypet_rebuild.execution.worker import RunTask, SweepContext
from pypet_rebuild.storage.backends import StorageTarget, open_storage
from pypet_rebuild.storage.protocol import (
    StorageService,
    SupportsPreferredBatch,
    SupportsReplace,
    WriterSession,
)
from pypet_rebuild.storage.records import RunIndexSet
from pypet_rebuild.tree.snapshot import TrajectorySnapshot
from pypet_rebuild.tree.trajectory import Trajectory

if TYPE_CHECKING:
    from pypet_rebuild.analysis.study import StoredTrajectory

__all__ = ["Environment", "OnError"]

OnError = Literal["raise", "continue"]

logger = logging.getLogger(__name__)


def _check_counts(chunksize: object, retries: object, timeout: object) -> None:
    if chunksize != "auto" and (not isinstance(chunksize, int) or chunksize < 1):
        raise InvalidExecutorError(
            f"chunksize must be 'auto' or a positive integer, got {chunksize!r}"
        )
    if not isinstance(retries, int) or retries < 0:
        raise InvalidExecutorError(f"retries must be a non-negative integer, got {retries!r}")
    if timeout is not None and (
        isinstance(timeout, bool)
        or not isinstance(timeout, int | float)
        or not math.isfinite(timeout)
        or timeout <= 0
    ):
        raise InvalidExecutorError(
            f"timeout must be a positive, finite number of seconds (or None for no limit), "
            f"got {timeout!r}"
        )


def check_simulate(simulate: object) -> Callable[[Run], Any]:
    """Refuse a simulate function that cannot be called with one ``Run``, before any run starts.

    Raises
    ------
    InvalidSimulateFunctionError
        If ``simulate`` is not callable or its signature does not accept exactly one argument.
    """
    if not callable(simulate):
        raise InvalidSimulateFunctionError(
            f"the simulate function must be callable, got {type(simulate).__name__} "
            f"{simulate!r}; pass a function taking one argument, the Run"
        )
    try:
        signature = inspect.signature(simulate)
    except (TypeError, ValueError):
        return simulate  # builtins and some extension callables have no signature to check
    try:
        signature.bind(object())
    except TypeError:
        name = getattr(simulate, "__qualname__", repr(simulate))
        raise InvalidSimulateFunctionError(
            f"the simulate function {name}{signature} cannot be called with a single Run "
            "argument; define it as `def simulate(run): ...` and read parameters from run.x"
        ) from None
    return simulate


def _replace_with_fresh(storage: StorageService, snapshot: TrajectorySnapshot) -> None:
    """Replace the stored trajectory of ``snapshot``'s name with its definition and no runs.

    The fresh definition is built in the backend's staging storage (a definition that cannot
    be stored fails there, leaving the stored trajectory as it was) and installed in one step.
    """
    if not isinstance(storage, SupportsReplace):
        raise StorageError(
            f"overwrite=True needs a backend that can replace a stored trajectory; "
            f"{type(storage).__name__} cannot. Delete the study or choose another name"
        )

    def build(staging: StorageService) -> None:
        # Closed without finishing: no provenance, every run pending, as before a first sweep.
        staging.begin_sweep(snapshot, resume=False).close()

    storage.replace_trajectory(snapshot.name, build)


class Environment:
    """Runs a trajectory's sweep and hands every finished run to one storage backend.

    Parameters
    ----------
    trajectory
        The trajectory to run.
    storage
        Where the runs go: a file path (an HDF5 file, created if missing; an existing file's
        backend is recognised by its signature), any :class:`StorageService`, or ``None`` for a
        fresh :class:`MemoryStorageService`.
    batch_size
        How many finished runs are handed to storage at once, at most (a backend may ask for
        smaller batches: the memory backend takes 256 at a time).
    flush_seconds
        Hand finished runs to storage at least this often, so a crash loses little.

    Examples
    --------
    >>> import pypet_rebuild as pr
    >>> traj = pr.Trajectory("demo", seed=1)
    >>> _ = traj.add_parameter("x", 1.0)
    >>> traj.explore({"x": [1.0, 2.0, 3.0]})
    >>> env = pr.Environment(traj)
    >>> report = env.run(lambda run: {"y": run.x ** 2})
    >>> report.done, env.study.results["y"][:].tolist()
    (3, [1.0, 4.0, 9.0])
    """

    def __init__(
        self,
        trajectory: Trajectory,
        storage: StorageTarget = None,
        *,
        batch_size: int = 10_000,
        flush_seconds: float = 1.0,
    ) -> None:
        given: object = trajectory
        if not isinstance(given, Trajectory):
            from pypet_rebuild.analysis.study import StoredTrajectory

            hint = (
                "; to continue a stored study pass its definition, study.trajectory"
                if isinstance(given, StoredTrajectory)
                else ""
            )
            raise TypeError(f"expected a Trajectory, got {type(given).__name__}{hint}")
        size: object = batch_size
        if isinstance(size, bool) or not isinstance(size, int) or size < 1:
            raise InvalidExecutorError(
                f"batch_size must be a positive integer (runs handed to storage at once), "
                f"got {batch_size!r}"
            )
        seconds: object = flush_seconds
        if (
            isinstance(seconds, bool)
            or not isinstance(seconds, int | float)
            or not math.isfinite(seconds)
            or seconds < 0
        ):
            raise InvalidExecutorError(
                f"flush_seconds must be a finite number of seconds >= 0, got {flush_seconds!r}"
            )
        self._trajectory = trajectory
        self._storage = open_storage(storage, mode="w")
        self._batch_size = batch_size
        self._flush_seconds = float(flush_seconds)

    @property
    def trajectory(self) -> Trajectory:
        """The trajectory this environment runs."""
        return self._trajectory

    @property
    def storage(self) -> StorageService:
        """The storage backend the runs go to."""
        return self._storage

    @property
    def study(self) -> StoredTrajectory:
        """The stored study this environment's runs went to (read lazily, like a loaded file).

        Raises
        ------
        TrajectoryNotFoundError
            If nothing has been stored yet (run the sweep first).
        """
        from pypet_rebuild.analysis.study import StoredTrajectory

        return StoredTrajectory(self._storage, self._trajectory.name)

    def run(
        self,
        simulate: Callable[[Run], Any],
        *,
        executor: ExecutorSpec = "serial",
        workers: int | None = None,
        chunksize: int | Literal["auto"] = "auto",
        on_error: OnError = "raise",
        retries: int = 0,
        timeout: float | None = None,
        resume: bool = False,
        overwrite: bool = False,
        progress: bool | None = None,
        hooks: Iterable[SweepHooks] = (),
        capture_output: bool = False,
        start_method: StartMethod | None = None,
        dask_address: str | None = None,
    ) -> RunReport:
        """Run ``simulate`` at every point of the trajectory and store each run.

        Parameters
        ----------
        simulate
            ``simulate(run) -> Mapping[str, object] | None``; read parameters from ``run``,
            return results as a mapping or add them with ``run.add_result``.
        executor
            ``"serial"`` (default, in this process), ``"thread"``, ``"process"`` (a process pool
            with an explicit start method), ``"dask"`` (an embedded ``LocalCluster``, or the
            scheduler at ``dask_address``), or any ``concurrent.futures.Executor``.
        workers
            Number of workers (default: one per CPU core).
        chunksize
            Runs sent to a worker at once; ``"auto"`` aims at about a quarter second of work
            per chunk, measured as the sweep goes.
        on_error
            ``"raise"``: stop at the first failing run and raise
            :class:`~pypet_rebuild.errors.RunFailedError` (chained to the user's exception
            when it can cross processes); ``"continue"``: record the failure and go on.
        retries
            Run a failed point again up to this many times before it counts as failed.
        timeout
            Seconds a single run may take (positive and finite; ``None``, the default, for no
            limit); a run that takes longer fails with a ``TimeoutError``.
        resume
            Continue a stored sweep of the same trajectory: runs already done are skipped.
        overwrite
            Replace a stored trajectory of the same name (its runs, derived results and
            provenance) with this sweep, e.g. when re-running a notebook cell or a test into the
            same file. The stored one is replaced in one step just before the first run, and is
            kept if this trajectory's definition cannot be stored. Other trajectories in the
            storage are untouched. Needs a backend that can replace a trajectory
            (:class:`~pypet_rebuild.storage.protocol.SupportsReplace`: memory and HDF5 can).
        progress
            Show a progress bar; ``None`` shows one only in a terminal or a notebook, and never
            while a pytest test runs.
        hooks
            Objects implementing :class:`SweepHooks`, called in this process.
        capture_output
            Store what each run prints (stdout and stderr) in the run table.
        start_method
            ``"spawn"``, ``"forkserver"`` or ``"fork"`` for ``executor="process"`` (default:
            ``"forkserver"`` on Linux, ``"spawn"`` elsewhere).
        dask_address
            The address of a running Dask scheduler for ``executor="dask"``.

        Returns
        -------
        RunReport
            Counts, timings and failures.

        Raises
        ------
        InvalidSimulateFunctionError
            Before any run, if ``simulate`` is not a one-argument callable.
        InvalidExecutorError
            Before any run, for an unknown executor, ``workers < 1``, a bad chunk size, or a
            ``start_method`` / ``dask_address`` given for another executor.
        UnpicklableError
            Before any run, if the simulate function or a parameter value cannot reach
            process or Dask workers.
        RunFailedError
            With ``on_error="raise"``, when a run fails (the failed run is stored first).
        ResumeMismatchError
            If ``resume=True`` and the stored sweep differs from this one.
        StorageError
            With ``overwrite=True``, if the backend cannot replace a stored trajectory.
        """
        simulate = check_simulate(simulate)
        if resume and overwrite:
            raise ExecutionError(
                "resume=True continues the stored sweep and overwrite=True replaces it; "
                "pass only one of them"
            )
        if on_error not in ("raise", "continue"):
            raise ExecutionError(f"on_error must be 'raise' or 'continue', got {on_error!r}")
        _check_counts(chunksize, retries, timeout)
        check_executor(executor)
        check_workers(workers)
        if start_method is not None and executor != "process":
            raise InvalidExecutorError(
                f"start_method={start_method!r} only applies to executor='process', not to "
                f"{executor_label(executor)!r}; configure the start method of your own executor "
                "when you create it"
            )
        if dask_address is not None and executor != "dask":
            raise InvalidExecutorError(
                f"dask_address={dask_address!r} only applies to executor='dask', not to "
                f"{executor_label(executor)!r}"
            )
        hook_list = list(hooks)
        for hook in hook_list:
            if not isinstance(hook, SweepHooks):
                raise TypeError(
                    f"hook {hook!r} does not implement SweepHooks; subclass pypet_rebuild.Hooks"
                )
        trajectory = self._trajectory
        context = self._context(simulate, timeout=timeout, capture_output=capture_output)
        if executor not in ("serial", "thread") and not isinstance(executor, cf.ThreadPoolExecutor):
            space = trajectory.space
            explored = {} if space is None else dict(space.columns)
            check_picklable(context, explored, executor_label(executor))
        start = time.time()
        clock = time.perf_counter()
        # The executor starts before anything is written (an unreachable scheduler stores
        # nothing) and before the points are hashed: process workers boot meanwhile.
        backend = open_backend(
            executor,
            context,
            workers=workers,
            start_method=start_method,
            dask_address=dask_address,
        )
        try:
            prepare_provenance(simulate)
            snapshot = trajectory.snapshot()
            if overwrite and trajectory.name in self._storage.trajectory_names():
                _replace_with_fresh(self._storage, snapshot)
                resume = True  # the fresh definition just installed, with every run pending
            # Checks the definition before taking the writer lock; from here the session holds
            # it, and leaving the block (normally, by an error or by Ctrl-C) releases it.
            with self._storage.begin_sweep(snapshot, resume=resume) as session:
                trajectory.lock()
                report, interrupted = self._sweep(
                    session,
                    backend,
                    context,
                    hook_list,
                    progress=progress,
                    settings=(on_error, retries, chunksize),
                    started=(start, clock),
                )
        finally:
            backend.close()
        logger.info("%s", report.summary())
        if interrupted:
            # The first Ctrl-C let the runs in flight finish; they are stored. Stop the script.
            raise KeyboardInterrupt
        return report

    def _sweep(
        self,
        session: WriterSession,
        backend: ExecutorBackend,
        context: SweepContext,
        hook_list: list[SweepHooks],
        *,
        progress: bool | None,
        settings: tuple[OnError, int, int | Literal["auto"]],
        started: tuple[float, float],
    ) -> tuple[RunReport, bool]:
        """Run the pending points through ``session``; the report, and whether interrupted."""
        trajectory = self._trajectory
        start, clock = started
        on_error, retries, chunksize = settings
        already_done = session.done_runs
        pending = self._pending_indices(already_done)
        logger.debug(
            "sweep %r: %d runs, %d already done, %d to run",
            trajectory.name,
            len(trajectory),
            len(already_done),
            len(pending),
        )
        # Generated as the runs go: a list of task tuples cost ~170 bytes per run.
        tasks = self._pending_tasks(pending)
        bar = make_progress(progress, len(pending), trajectory.name)
        # A backend may want smaller batches than asked for (memory: see preferred_batch).
        batch_size = self._batch_size
        if isinstance(session, SupportsPreferredBatch) and session.preferred_batch:
            batch_size = min(batch_size, session.preferred_batch)
        sink = RecordSink(
            session,
            hooks=hook_list,
            progress=bar,
            batch_size=batch_size,
            flush_seconds=self._flush_seconds,
            points=trajectory.point,
        )
        dispatch_settings = DispatchSettings(
            on_error=on_error,
            retries=retries,
            chunksize=chunksize,
            max_in_flight=2 * backend.workers,
        )
        interrupted = False
        # Until the bar closes (after the last flush), log records and prints go above it.
        redirect = contextlib.ExitStack()
        redirect.enter_context(output_above(bar))
        # Until the last batch is stored: collections skip the objects from before the sweep.
        redirect.enter_context(older_objects_frozen())
        try:
            with graceful_interrupts() as interrupts:
                for hook in hook_list:
                    hook.before_sweep(trajectory, pending)
                dispatch(
                    backend,
                    context,
                    tasks,
                    sink,
                    hook_list,
                    dispatch_settings,
                    interrupts,
                    trajectory.point,
                    len(pending),
                    last_batch_kept=sink.keeps_last_batch,
                )
            interrupted = interrupts.stop
        except KeyboardInterrupt:
            interrupted = True
            raise
        finally:

            def provenance() -> Mapping[str, object]:
                return collect_provenance(
                    context.simulate,
                    started=start,
                    finished=time.time(),
                    executor=backend.name,
                    workers=backend.workers,
                    runs_done=sink.done,
                    runs_failed=sink.failed,
                )

            try:
                # Workers end before the final commit: none can outlive the sweep holding the
                # file.
                backend.close()
            finally:
                with redirect:
                    # The last batch goes into the final commit where the session can do that.
                    sink.finish(provenance)
            report = sink.report(
                n_runs=len(trajectory),
                skipped=len(already_done),
                wall_time=time.perf_counter() - clock,
                interrupted=interrupted,
            )
            for hook in hook_list:
                hook.after_sweep(report)
        if on_error == "raise" and not interrupted:
            # A run of the last batch whose results storage refused fails like any other.
            raise_for_unstorable(sink, trajectory.point)
        return report, interrupted

    def _pending_indices(self, already_done: AbstractSet[int]) -> Sequence[int]:
        """The indices of the runs to do, compactly (a range, or 8 bytes per run).

        With numpy, not per run in Python: resuming a finished sweep of a million runs costs
        milliseconds.
        """
        n = len(self._trajectory)
        if not already_done:
            return range(n)
        if isinstance(already_done, RunIndexSet):
            done = already_done.as_array()
        else:
            done = np.fromiter(already_done, dtype=np.int64, count=len(already_done))
        todo = np.ones(n, dtype=bool)
        todo[done[(done >= 0) & (done < n)]] = False
        pending = np.flatnonzero(todo)
        if len(pending) == n:
            return range(n)
        return array("q", pending.tobytes())

    def _pending_tasks(self, pending: Sequence[int]) -> Iterator[RunTask]:
        trajectory = self._trajectory
        hashes = trajectory.point_hashes()
        space = trajectory.space
        if space is None:
            return iter([(0, hashes[0], ())] if len(pending) else [])
        columns = [space.columns[name] for name in space.names]
        if isinstance(pending, range) and pending == range(len(trajectory)):
            # Every run: iterating the hashes converts them to hex a block at a time (indexing
            # one by one would cost a numpy scalar per run); zip builds each task tuple without a
            # Python frame.
            return zip(pending, hashes, zip(*columns, strict=True), strict=True)
        return (
            (index, hashes[index], tuple(column[index] for column in columns)) for index in pending
        )

    def _context(
        self, simulate: Callable[[Run], Any], *, timeout: float | None, capture_output: bool
    ) -> SweepContext:
        trajectory = self._trajectory
        defaults = {p.path: p.default for p in trajectory.parameters()}
        return SweepContext(
            simulate=simulate,
            defaults=defaults,
            explored_names=trajectory.explored_names,
            lookup=ParameterLookup(tuple(defaults)),
            trajectory_seed=trajectory.seed,
            timeout=timeout,
            capture_output=capture_output,
        )

    def __repr__(self) -> str:
        return f"Environment({self._trajectory.name!r}, storage={self._storage!r})"
