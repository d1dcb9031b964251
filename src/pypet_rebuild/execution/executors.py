"""Where runs execute: the executors ``env.run`` accepts, behind one small interface.

``"serial"`` runs in the calling process. Everything else is a ``concurrent.futures.Executor``
that receives *chunks* of runs: a thread pool, a process pool with an explicit start method, a
Dask cluster (an embedded ``LocalCluster`` or a scheduler address), or any Executor instance the
user passes (``distributed.Client.get_executor()``, ``mpi4py.futures.MPIPoolExecutor``, loky...).
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import hashlib
import multiprocessing
import os
import pickle
import signal
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures.process import BrokenProcessPool
from typing import Any, Literal

import cloudpickle  # type: ignore[import-untyped]

from pypet_rebuild._optional import import_optional
from pypet_rebuild.errors import (
    InvalidExecutorError,
    SchedulerUnavailableError,
)
from pypet_rebuild.execution.worker import (
    ChunkRecords,
    ChunkResult,
    RunTask,
    SweepContext,
    execute_batch,
    install_context,
    run_remote_chunk,
)

__all__ = [
    "EXECUTOR_NAMES",
    "Backend",
    "ExecutorSpec",
    "StartMethod",
    "check_executor",
    "check_workers",
    "executor_label",
    "open_backend",
]

EXECUTOR_NAMES = ("serial", "thread", "process", "dask")
ExecutorSpec = Literal["serial", "thread", "process", "dask"] | cf.Executor
StartMethod = Literal["spawn", "forkserver", "fork"]


def default_start_method() -> StartMethod:
    """``forkserver`` where it exists (Linux; the default from Python 3.14), else ``spawn``."""
    return "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"


def _shared_batch(context: SweepContext, tasks: Sequence[RunTask], attempt: int) -> ChunkRecords:
    del attempt
    return list(execute_batch(context, tasks))


@contextlib.contextmanager
def _sigint_ignored() -> Iterator[None]:
    """Start child processes with SIGINT ignored (they inherit it), then restore the handler."""
    try:
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    except ValueError:  # not the main thread: nothing to change
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


class Backend:
    """A place to run chunks of runs, and how to get the sweep context there.

    Parameters
    ----------
    name
        The executor's name, recorded in the provenance.
    workers
        The number of workers (1 for serial).
    executor
        The executor, or ``None`` for serial execution.
    submit
        Submits one chunk: ``submit(tasks, attempt) -> Future``.
    close
        Releases what this backend started.
    restart
        Replaces a broken executor (process pools this backend owns), else ``None``.
    """

    def __init__(
        self,
        name: str,
        workers: int,
        executor: cf.Executor | None,
        submit: Callable[[Sequence[RunTask], int], cf.Future[ChunkResult]] | None,
        close: Callable[[], None],
        restart: Callable[[], None] | None = None,
    ) -> None:
        self.name = name
        self.workers = workers
        self.executor = executor
        self._submit = submit
        self._close = close
        self.restart = restart

    @property
    def serial(self) -> bool:
        """Whether runs execute in the calling process."""
        return self._submit is None

    def submit(self, tasks: Sequence[RunTask], attempt: int) -> cf.Future[ChunkResult]:
        """Send a chunk of runs to a worker."""
        assert self._submit is not None
        return self._submit(tasks, attempt)

    def close(self) -> None:
        """Shut down what this backend owns (never an executor the user passed in); idempotent."""
        close, self._close = self._close, _closed
        close()


def _closed() -> None:
    """What closing an already closed backend does: nothing."""


def _opaque(tasks: Sequence[RunTask]) -> bytes:
    """Tasks as one pickled blob, so a scheduler that inspects arguments (Dask) skips them."""
    return pickle.dumps(list(tasks), protocol=pickle.HIGHEST_PROTOCOL)


def _payload(context: SweepContext) -> tuple[str, bytes]:
    # cloudpickle: a simulate function from __main__, a notebook, a lambda or a closure travels
    # by value (plain pickle would send its name, which the workers cannot import).
    payload = cloudpickle.dumps(context, protocol=pickle.HIGHEST_PROTOCOL)
    return hashlib.sha256(payload).hexdigest()[:16], payload


def check_executor(executor: object) -> None:
    """Refuse an executor that is neither a known name nor a ``concurrent.futures.Executor``."""
    if isinstance(executor, cf.Executor) or (
        isinstance(executor, str) and executor in EXECUTOR_NAMES
    ):
        return
    raise InvalidExecutorError(
        f"unknown executor {executor!r}; use one of {', '.join(map(repr, EXECUTOR_NAMES))} "
        "or pass a concurrent.futures.Executor instance"
    )


def executor_label(executor: ExecutorSpec) -> str:
    """A short name of the executor for messages."""
    return executor if isinstance(executor, str) else type(executor).__name__


def check_workers(workers: object) -> None:
    """Refuse a worker count that is not a positive integer."""
    if workers is not None and (
        isinstance(workers, bool) or not isinstance(workers, int) or workers < 1
    ):
        raise InvalidExecutorError(
            f"workers must be a positive integer, got {workers!r}; "
            "leave it out to use one worker per CPU core"
        )


def open_backend(
    executor: ExecutorSpec,
    context: SweepContext,
    *,
    workers: int | None,
    start_method: StartMethod | None,
    dask_address: str | None,
) -> Backend:
    """Start (or wrap) the executor and arrange for the context to reach its workers."""
    check_executor(executor)
    check_workers(workers)
    cores = os.cpu_count() or 1
    if isinstance(executor, cf.Executor):
        return _wrap_user_executor(executor, context, workers)
    if executor == "serial":
        return Backend("serial", 1, None, None, lambda: None)
    if executor == "thread":
        pool = cf.ThreadPoolExecutor(max_workers=workers or cores, thread_name_prefix="pypet")
        return Backend(
            "thread",
            workers or cores,
            pool,
            lambda tasks, attempt: pool.submit(_shared_batch, context, tasks, attempt),
            lambda: pool.shutdown(wait=True, cancel_futures=True),
        )
    if executor == "process":
        return _process_backend(context, workers or cores, start_method or default_start_method())
    if executor == "dask":
        return _dask_backend(context, workers, dask_address)
    raise InvalidExecutorError(
        f"unknown executor {executor!r}; use one of {', '.join(map(repr, EXECUTOR_NAMES))} "
        "or pass a concurrent.futures.Executor instance"
    )


def _process_backend(context: SweepContext, workers: int, start_method: StartMethod) -> Backend:
    if start_method not in multiprocessing.get_all_start_methods():
        raise InvalidExecutorError(
            f"the start method {start_method!r} is not available on this platform; use one of "
            f"{multiprocessing.get_all_start_methods()}"
        )
    if start_method == "forkserver":
        # A fork server started for the first time (an interpreter importing what the workers
        # need) is most of a process's first sweep's wait for its workers: launch it before
        # pickling the context, which can take a while with large parameter defaults.
        _preload_in_forkserver(context.simulate)
        _worker_parent(start_method)
    key, payload = _payload(context)
    mp_context = multiprocessing.get_context(start_method)

    def start() -> cf.ProcessPoolExecutor:
        parent = _worker_parent(start_method)
        with _sigint_ignored():
            return cf.ProcessPoolExecutor(
                max_workers=workers,
                mp_context=mp_context,
                initializer=install_context,
                initargs=(key, payload, parent),
            )

    starter = _PoolStart(start(), workers, background=start_method == "forkserver")
    holder = [starter.pool]

    def submit(tasks: Sequence[RunTask], attempt: int) -> cf.Future[ChunkResult]:
        starter.wait()
        return holder[0].submit(run_remote_chunk, key, None, tasks, attempt)

    def close() -> None:
        starter.wait()
        holder[0].shutdown(wait=True, cancel_futures=True)

    def restart() -> None:
        starter.wait()
        terminate_pool(holder[0])
        holder[0] = start()
        backend.executor = holder[0]

    backend = Backend(f"process ({start_method})", workers, holder[0], submit, close, restart)
    return backend


def _worker_parent(start_method: StartMethod) -> int | None:
    """The process id the pool's workers will have as parent (``None`` if unknown)."""
    if start_method != "forkserver":
        return os.getpid()
    from multiprocessing import forkserver

    # Starts the fork server if needed (without waiting for its imports) to learn its pid.
    forkserver.ensure_running()
    pid = getattr(getattr(forkserver, "_forkserver", None), "_forkserver_pid", None)
    return pid if isinstance(pid, int) else None


class _PoolStart:
    """Starts a process pool's workers now, while the driving process prepares the sweep.

    ``ProcessPoolExecutor`` starts its workers at the first submission, i.e. after the driving
    process has hashed the points, opened storage and built the first chunk. Here one trivial
    call per worker is submitted at once, so the workers boot meanwhile (and, before they were
    started at the first submission, never inherited the open storage file). With ``fork`` and
    ``spawn`` the processes start in this thread, with SIGINT ignored, which they inherit from
    birth. With ``forkserver`` a thread asks for them: a fork server started for the first time
    imports the library and the simulate function's module before it forks, which takes as long
    as those imports, and the driving process has other things to do meanwhile.

    Parameters
    ----------
    pool
        The pool, just created.
    workers
        Its number of workers.
    background
        Ask for the workers from a thread instead of this one.
    """

    def __init__(self, pool: cf.ProcessPoolExecutor, workers: int, *, background: bool) -> None:
        self.pool = pool
        self._error: BaseException | None = None
        self._thread: threading.Thread | None = None
        if background:
            self._thread = threading.Thread(
                target=self._launch, args=(workers,), name="pypet-pool-start", daemon=True
            )
            self._thread.start()
        else:
            with _sigint_ignored():
                self._launch(workers)

    def _launch(self, workers: int) -> None:
        try:
            for _ in range(workers):
                self.pool.submit(os.getpid)
        except BrokenProcessPool:
            pass  # a worker died while starting: the first real submission restarts the pool
        except BaseException as exc:
            self._error = exc  # raised in the driving thread by wait()

    def wait(self) -> None:
        """Return once the workers were asked for; raise what asking for them raised."""
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        error, self._error = self._error, None
        if error is not None:
            raise error


def _preload_in_forkserver(simulate: Callable[..., Any] | None = None) -> None:
    """Have the fork server import what every worker imports, once, before it forks them.

    That is the worker module (the modules that run a simulate function, numpy; not the whole
    library, whose packages import their exports on first use), cloudpickle (which loads
    functions sent by value), the process pool's worker loop and the module the simulate function
    comes from, when it is an importable module this process has already imported (not
    ``__main__``, whose preloading multiprocessing does itself). Workers then start in
    milliseconds instead of importing all that again, which matters for every sweep and for
    every restart after a worker died. The first sweep of a process still waits for these
    imports once, in the fork server. Only takes effect if the fork server of this process is
    not running yet; modules a user asked to preload are kept.
    """
    from multiprocessing import forkserver

    server = getattr(forkserver, "_forkserver", None)
    preload = list(getattr(server, "_preload_modules", None) or ["__main__"])
    wanted = [_WORKER_MODULE, "cloudpickle", "concurrent.futures.process"]
    module = _importable_module(simulate)
    if module is not None:
        wanted.append(module)
    missing = [name for name in wanted if name not in preload]
    if missing:
        forkserver.set_forkserver_preload([*preload, *missing])


def _importable_module(simulate: Callable[..., Any] | None) -> str | None:
    """The name of the module ``simulate`` comes from, if a fork server can safely import it."""
    name = getattr(simulate, "__module__", None)
    if not isinstance(name, str) or name in ("__main__", "__mp_main__", "builtins"):
        return None
    module = sys.modules.get(name)
    # Imported here already (so importing it runs nothing new) and from a file of its own.
    if module is None or not getattr(module, "__file__", None):
        return None
    return name


_WORKER_MODULE = "pypet_rebuild.execution.worker"
_WORKER_PROCESS_MODULE = "pypet_rebuild.execution.worker_process"


def terminate_pool(pool: cf.Executor) -> None:
    """Stop a process pool now: cancel what is queued and kill its worker processes."""
    processes = dict(getattr(pool, "_processes", None) or {})
    pool.shutdown(wait=False, cancel_futures=True)
    for process in processes.values():
        with contextlib.suppress(Exception):
            process.kill()
    for process in processes.values():
        with contextlib.suppress(Exception):
            process.join(timeout=5)


def _wrap_user_executor(
    executor: cf.Executor, context: SweepContext, workers: int | None
) -> Backend:
    count = workers or int(getattr(executor, "_max_workers", 0) or os.cpu_count() or 1)
    name = type(executor).__name__
    if isinstance(executor, cf.ThreadPoolExecutor):
        return Backend(
            name,
            count,
            executor,
            lambda tasks, attempt: executor.submit(_shared_batch, context, tasks, attempt),
            lambda: None,
        )
    key, payload = _payload(context)
    return Backend(
        name,
        count,
        executor,
        lambda tasks, attempt: executor.submit(
            run_remote_chunk, key, payload, _opaque(tasks), attempt
        ),
        lambda: None,
    )


def _dask_backend(context: SweepContext, workers: int | None, address: str | None) -> Backend:
    # Imported as modules of unknown type: distributed's API is only partly annotated.
    dask: Any = import_optional("dask", feature="executor='dask'", extra="dask")
    distributed: Any = import_optional("distributed", feature="executor='dask'", extra="dask")
    cluster: Any = None
    if address is None:
        with _sigint_ignored():
            cluster = distributed.LocalCluster(
                n_workers=workers or os.cpu_count() or 1,
                threads_per_worker=1,
                processes=True,
                dashboard_address=None,
                # Without a dashboard the scheduler still serves health and metrics routes over
                # HTTP, by default on port 8787: a second cluster (or any server on that port)
                # would make it warn and move. Take a free port instead.
                scheduler_kwargs={"dashboard_address": ":0"},
                # Every worker process, restarted ones too, leaves the terminal's process group.
                preload=[_WORKER_PROCESS_MODULE],
            )
        address = cluster.scheduler_address
    timeout = dask.config.get("distributed.comm.timeouts.connect")
    try:
        client = distributed.Client(address, timeout=timeout, set_as_default=False)
    except (OSError, TimeoutError) as exc:
        if cluster is not None:
            cluster.close()
        raise SchedulerUnavailableError(
            f"the Dask scheduler at {address!r} did not answer within {timeout} ({exc}); check "
            "the address and that the scheduler is running, or raise "
            "dask.config 'distributed.comm.timeouts.connect'"
        ) from exc
    key, payload = _payload(context)
    shared = [client.scatter(payload, broadcast=True, hash=False)]
    pool = client.get_executor(pure=False)
    count = workers or max(1, len(client.scheduler_info().get("workers", {})))

    def submit(tasks: Sequence[RunTask], attempt: int) -> cf.Future[ChunkResult]:
        if shared[0].status != "finished":
            # Every worker holding the scattered context died: the scheduler forgot it.
            shared[0] = client.scatter(payload, broadcast=True, hash=False)
        future: cf.Future[ChunkResult] = pool.submit(
            run_remote_chunk, key, shared[0], _opaque(tasks), attempt
        )
        return future

    def close() -> None:
        with contextlib.suppress(Exception):
            pool.shutdown(wait=False)
        client.close()
        if cluster is not None:
            cluster.close()

    return Backend(
        "dask",
        count,
        pool,
        submit,
        close,
    )
