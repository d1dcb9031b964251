"""Every executor runs the same sweep to the same stored file; failure policy; bad input.

Real thread pools, process pools (``spawn`` and ``forkserver``) and Dask clusters. The simulate
functions live in ``sweep_functions`` so that spawned workers can import them by name.
"""

from __future__ import annotations

import concurrent.futures as cf
import functools
import multiprocessing
import os
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Literal

import pytest

import pypet_rebuild as pr
import sweep_functions as sf
from pypet_rebuild.errors import (
    ExecutorBrokenError,
    InvalidExecutorError,
    ResumeMismatchError,
    RunFailedError,
    SchedulerUnavailableError,
    UnpicklableError,
)
from pypet_rebuild.testing import assert_studies_equal

ExecutorName = Literal["serial", "thread", "process", "dask"]


distributed = pytest.importorskip("distributed")
dask = pytest.importorskip("dask")

N_RUNS = 8
FAILING_RUN = 5  # x == 2, label == "b" in sweep_functions.make_trajectory


# -- helpers ---------------------------------------------------------------------------------------


def stored_sweep(path: Path, name: str = "sweep") -> dict[str, Any]:
    """Everything the comparison between executors looks at, read back from the file."""
    traj = pr.load_trajectory(path, name)
    storage = traj.storage
    assert storage is not None
    try:
        table = storage.load_run_table(name)
        return {
            "status": table.status.tolist(),
            "seed": table.seed.tolist(),
            "point_hash": table.point_hash.tolist(),
            "failed_with": [
                "SweepFailureError: run 5 fails on purpose" in text for text in table.error.tolist()
            ],
            "scalar": traj.collect_runs("scalar"),
            "array": traj.collect_runs("array"),
            "text": traj.collect_runs("text"),
            "draws": traj.collect_runs("draws"),
            "pid": table.pid.tolist(),
        }
    finally:
        storage.close()


def assert_same_sweep(path: Path, reference: Path) -> None:
    """The sweep stored at ``path`` is the serial one at ``reference``.

    The same points, seeds, statuses and errors (last lines), and the same results of the same
    types, dtypes and values.
    """
    with pr.load_trajectory(reference) as expected, pr.load_trajectory(path) as got:
        assert_studies_equal(expected, got, run_metadata=True)


def run_sweep(path: Path, executor: Any = "serial", **options: Any) -> pr.RunReport:
    traj = sf.make_trajectory()
    env = pr.Environment(traj, path)
    try:
        return env.run(sf.mixed, executor=executor, on_error="continue", progress=False, **options)
    finally:
        env.storage.close()


def check_report(report: pr.RunReport) -> None:
    assert (report.n_runs, report.done, report.failed, report.skipped) == (N_RUNS, 7, 1, 0)
    assert not report.interrupted
    (failure,) = report.failures
    assert failure.index == FAILING_RUN
    assert failure.point == {"x": 2, "label": "b"}


def small_trajectory(name: str = "small", n: int = 4, **defaults: object) -> pr.Trajectory:
    traj = pr.Trajectory(name, seed=3)
    traj.add_parameter("x", 0.0)
    for key, value in defaults.items():
        traj.add_parameter(key, value)
    traj.explore({"x": [float(i) for i in range(n)]})
    return traj


def unused_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


# -- fixtures --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The file of the sweep run serially: what every other executor must reproduce."""
    path = tmp_path_factory.mktemp("reference") / "serial.h5"
    check_report(run_sweep(path))
    return path


@pytest.fixture(scope="module")
def dask_client() -> Iterator[Any]:
    """One two-worker LocalCluster for the module (starting one takes several seconds).

    Tasks whose worker dies are not retried on another worker (``allowed-failures: 0``), so the
    worker-death test kills two workers instead of eight.
    """
    with (
        dask.config.set({"distributed.scheduler.allowed-failures": 0}),
        distributed.LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
            scheduler_kwargs={"dashboard_address": ":0"},  # no HTTP server on port 8787
        ) as cluster,
        distributed.Client(cluster, set_as_default=False) as client,
    ):
        yield client


# -- 1. the same sweep on every executor -----------------------------------------------------------


def test_reference_sweep_is_as_defined(reference: Path) -> None:
    sweep = stored_sweep(reference)
    assert sweep["status"] == ["done"] * 5 + ["failed"] + ["done"] * 2
    assert sweep["failed_with"] == [i == FAILING_RUN for i in range(N_RUNS)]
    assert sweep["scalar"] == {
        i: float(x * 1.5) for i, x in enumerate([0, 0, 1, 1, 2, 2, 3, 3]) if i != FAILING_RUN
    }
    assert sweep["text"][7] == "b-3"
    assert len(set(sweep["seed"])) == N_RUNS
    assert set(sweep["pid"]) == {os.getpid()}


@pytest.mark.slow
@pytest.mark.parametrize(
    ("executor", "options"),
    [
        pytest.param("thread", {"workers": 2}, id="thread"),
        pytest.param("process", {"workers": 2, "start_method": "spawn"}, id="process-spawn"),
        pytest.param(
            "process", {"workers": 2, "start_method": "forkserver"}, id="process-forkserver"
        ),
        pytest.param("process", {"workers": 2, "chunksize": 3}, id="process-chunks-of-3"),
    ],
)
def test_pool_executors_store_the_serial_results(
    tmp_path: Path, reference: Path, executor: ExecutorName, options: dict[str, Any]
) -> None:
    path = tmp_path / "sweep.h5"
    check_report(run_sweep(path, executor, **options))
    got = stored_sweep(path)
    assert_same_sweep(path, reference)
    if executor == "process":
        assert os.getpid() not in got["pid"]


@pytest.mark.slow
def test_a_user_process_pool_executor_stores_the_serial_results(
    tmp_path: Path, reference: Path
) -> None:
    path = tmp_path / "sweep.h5"
    with cf.ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("spawn")) as pool:
        check_report(run_sweep(path, pool))
        # The Environment does not shut down an executor it was given.
        assert pool.submit(os.getpid).result() != os.getpid()
    assert_same_sweep(path, reference)


def test_a_user_thread_pool_executor_stores_the_serial_results(
    tmp_path: Path, reference: Path
) -> None:
    path = tmp_path / "sweep.h5"
    with cf.ThreadPoolExecutor(2) as pool:
        check_report(run_sweep(path, pool))
    assert_same_sweep(path, reference)


@pytest.mark.slow
def test_a_dask_client_executor_stores_the_serial_results(
    tmp_path: Path, reference: Path, dask_client: Any
) -> None:
    path = tmp_path / "sweep.h5"
    check_report(run_sweep(path, dask_client.get_executor()))
    got = stored_sweep(path)
    assert_same_sweep(path, reference)
    worker_pids = set(dask_client.run(os.getpid).values())
    assert set(got["pid"]) <= worker_pids


@pytest.mark.slow
def test_dask_address_stores_the_serial_results(
    tmp_path: Path, reference: Path, dask_client: Any
) -> None:
    path = tmp_path / "sweep.h5"
    check_report(run_sweep(path, "dask", dask_address=dask_client.scheduler.address))
    assert_same_sweep(path, reference)
    # The scheduler the user started is still there.
    assert len(dask_client.scheduler_info()["workers"]) == 2


@pytest.mark.slow
def test_dask_embedded_local_cluster_stores_the_serial_results(
    tmp_path: Path, reference: Path
) -> None:
    path = tmp_path / "sweep.h5"
    check_report(run_sweep(path, "dask", workers=2))
    got = stored_sweep(path)
    assert_same_sweep(path, reference)
    assert os.getpid() not in got["pid"]
    traj = pr.load_trajectory(path)
    assert traj.storage is not None
    (provenance,) = traj.storage.load_provenance("sweep")
    traj.storage.close()
    assert (provenance["executor"], provenance["workers"]) == ("dask", 2)


# -- 2. failure policy -----------------------------------------------------------------------------


def retry_trajectory(marker_dir: Path, failures: int) -> pr.Trajectory:
    return small_trajectory("retry", marker_dir=str(marker_dir), failures=failures)


@pytest.mark.parametrize("executor", ["serial", "thread", "process"])
def test_retries_rerun_a_failing_point_until_it_succeeds(
    tmp_path: Path, executor: ExecutorName
) -> None:
    traj = retry_trajectory(tmp_path, failures=2)
    env = pr.Environment(traj)
    report = env.run(
        sf.fail_first_attempts, executor=executor, workers=2, retries=2, progress=False
    )
    assert (report.done, report.failed) == (4, 0)
    assert env.study.collect_runs("attempts") == dict.fromkeys(range(4), 3)
    for index in range(4):
        assert (tmp_path / f"run{index}.txt").read_text().count("attempt") == 3


@pytest.mark.parametrize("executor", ["serial", "process"])
def test_too_few_retries_leave_the_run_failed(tmp_path: Path, executor: ExecutorName) -> None:
    traj = retry_trajectory(tmp_path, failures=2)
    storage = pr.MemoryStorageService()
    report = pr.Environment(traj, storage).run(
        sf.fail_first_attempts,
        executor=executor,
        workers=2,
        retries=1,
        on_error="continue",
        progress=False,
    )
    assert (report.done, report.failed) == (0, 4)
    table = storage.load_run_table("retry")
    assert table.status.tolist() == ["failed"] * 4
    assert all("attempt 2 of run" in text for text in table.error.tolist())
    for index in range(4):
        assert (tmp_path / f"run{index}.txt").read_text().count("attempt") == 2


@pytest.mark.parametrize("executor", ["thread", "process"])
def test_a_run_over_the_timeout_fails_with_a_timeout_error(
    tmp_path: Path, executor: ExecutorName
) -> None:
    traj = pr.Trajectory("slow", seed=0)
    traj.add_parameter("x", 0.0)
    traj.explore({"x": [0.01, 30.0, 0.01, 0.02, 0.01]})
    path = tmp_path / "slow.h5"
    env = pr.Environment(traj, path)
    start = time.monotonic()
    report = env.run(
        sf.sleepy, executor=executor, workers=2, timeout=1.0, on_error="continue", progress=False
    )
    env.storage.close()
    assert time.monotonic() - start < 15
    assert (report.done, report.failed) == (4, 1)
    (failure,) = report.failures
    assert failure.index == 1
    assert "TimeoutError" in failure.traceback
    table = pr.load_trajectory(path).run_table()
    assert table.status.tolist() == ["done", "failed", "done", "done", "done"]
    assert "TimeoutError: the run exceeded the timeout of 1 s" in table.error[1]


def test_worker_deaths_fail_only_the_killing_runs(tmp_path: Path) -> None:
    traj = pr.Trajectory("deaths", seed=0)
    traj.add_parameter("x", 0)
    traj.explore({"x": list(range(8))})
    path = tmp_path / "deaths.h5"
    env = pr.Environment(traj, path)
    report = env.run(
        sf.die, executor="process", workers=2, chunksize=1, on_error="continue", progress=False
    )
    env.storage.close()
    assert (report.done, report.failed) == (6, 2)
    assert [f.index for f in report.failures] == [1, 3]
    loaded = pr.load_trajectory(path)
    table = loaded.run_table()
    assert table.status.tolist() == ["done", "failed", "done", "failed"] + ["done"] * 4
    for index in (1, 3):
        assert "worker process" in table.error[index]
        assert "died" in table.error[index]
    assert loaded.collect_runs("y") == {i: i for i in (0, 2, 4, 5, 6, 7)}


def test_a_worker_death_with_automatic_chunks_keeps_the_other_runs(tmp_path: Path) -> None:
    traj = pr.Trajectory("deaths", seed=0)
    traj.add_parameter("x", 0)
    traj.explore({"x": [0, 1, 2, 4, 5, 6, 7, 8, 9, 10]})
    storage = pr.MemoryStorageService()
    report = pr.Environment(traj, storage).run(
        sf.die, executor="process", workers=2, on_error="continue", progress=False
    )
    assert (report.done, report.failed) == (9, 1)
    assert [f.index for f in report.failures] == [1]
    assert "worker process" in report.failures[0].message


@pytest.mark.parametrize(
    ("simulate", "statuses"),
    [
        pytest.param(sf.die_once, ["done"] * 4, id="dies-once"),
        pytest.param(sf.die, ["done", "failed", "done", "failed"], id="dies-always"),
    ],
)
def test_retries_rerun_a_run_whose_worker_died(
    tmp_path: Path, simulate: Callable[[pr.Run], dict[str, object]], statuses: list[str]
) -> None:
    traj = pr.Trajectory("deaths", seed=0)
    traj.add_parameter("x", 0)
    traj.add_parameter("marker_dir", str(tmp_path))
    traj.explore({"x": [0, 1, 2, 3]})
    storage = pr.MemoryStorageService()
    report = pr.Environment(traj, storage).run(
        simulate, executor="process", workers=2, retries=1, on_error="continue", progress=False
    )
    assert (report.done, report.failed) == (statuses.count("done"), statuses.count("failed"))
    assert storage.load_run_table("deaths").status.tolist() == statuses


@pytest.mark.slow
def test_a_worker_death_in_a_user_process_pool_stops_the_sweep(tmp_path: Path) -> None:
    traj = pr.Trajectory("deaths", seed=0)
    traj.add_parameter("x", 0)
    traj.explore({"x": [0, 1]})
    storage = pr.MemoryStorageService()
    with (
        cf.ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("forkserver")) as pool,
        pytest.raises(ExecutorBrokenError, match="worker process"),
    ):
        pr.Environment(traj, storage).run(
            sf.die, executor=pool, chunksize=1, on_error="continue", progress=False
        )
    table = storage.load_run_table("deaths")
    assert table.status[1] == "failed"


def test_on_error_raise_raises_run_failed_error_from_a_process_worker(tmp_path: Path) -> None:
    path = tmp_path / "sweep.h5"
    traj = sf.make_trajectory()
    env = pr.Environment(traj, path)
    with pytest.raises(RunFailedError, match="fails on purpose") as caught:
        env.run(sf.mixed, executor="process", workers=2, chunksize=1, progress=False)
    env.storage.close()
    assert caught.value.index == FAILING_RUN
    assert caught.value.point == {"x": 2, "label": "b"}
    assert isinstance(caught.value.__cause__, sf.SweepFailureError)
    assert "SweepFailureError" in caught.value.traceback_text
    got = stored_sweep(path)
    assert got["status"][FAILING_RUN] == "failed"
    assert got["failed_with"][FAILING_RUN]


def test_a_keyboard_interrupt_in_a_worker_stops_the_sweep_and_leaves_the_run_pending() -> None:
    traj = pr.Trajectory("interrupted", seed=0)
    traj.add_parameter("x", 0)
    traj.explore({"x": list(range(40))})
    storage = pr.MemoryStorageService()
    with pytest.raises(KeyboardInterrupt):
        pr.Environment(traj, storage).run(
            sf.interrupted_at_x1, executor="process", workers=1, chunksize=1, progress=False
        )
    status = storage.load_run_table("interrupted").status.tolist()
    assert status[:2] == ["done", "pending"]
    assert "failed" not in status
    assert "pending" in status[2:]  # stopped submitting


def test_a_simulate_function_the_workers_cannot_import_stops_with_a_clear_error(
    tmp_path: Path,
) -> None:
    module = tmp_path / "vanishing_module.py"
    module.write_text("def simulate(run):\n    return {'y': run.x}\n")
    sys.path.insert(0, str(tmp_path))
    try:
        import vanishing_module  # type: ignore[import-not-found]
    finally:
        sys.path.remove(str(tmp_path))
    try:
        storage = pr.MemoryStorageService()
        with pytest.raises(ExecutorBrokenError, match="could not load the sweep context"):
            pr.Environment(small_trajectory(), storage).run(
                vanishing_module.simulate,
                executor="process",
                workers=1,
                start_method="spawn",
                progress=False,
            )
        assert storage.load_run_table("small").status.tolist() == ["pending"] * 4
    finally:
        sys.modules.pop("vanishing_module", None)


# -- 3. bad input ----------------------------------------------------------------------------------


GUARD = threading.Lock()


def locking_simulate_factory() -> Callable[[pr.Run], dict[str, object]]:
    lock = threading.Lock()

    def locking(run: pr.Run) -> dict[str, object]:
        with lock:
            return {"y": run.x}

    return locking


def test_an_unknown_executor_name_lists_the_valid_ones(tmp_path: Path) -> None:
    path = tmp_path / "never.h5"
    with pytest.raises(InvalidExecutorError, match="unknown executor 'mpi'") as caught:
        pr.Environment(small_trajectory(), path).run(sf.square, executor="mpi")  # type: ignore[arg-type]
    for name in ("'serial'", "'thread'", "'process'", "'dask'", "concurrent.futures.Executor"):
        assert name in str(caught.value)
    assert not path.exists()


def test_an_unknown_executor_is_reported_before_an_unpicklable_function() -> None:
    with pytest.raises(InvalidExecutorError, match="unknown executor"):
        pr.Environment(small_trajectory()).run(lambda run: {}, executor="proces")  # type: ignore[arg-type]


@pytest.mark.parametrize("workers", [0, -2, True, 1.5, "2"])
def test_a_bad_worker_count_is_refused(tmp_path: Path, workers: Any) -> None:
    path = tmp_path / "never.h5"
    with pytest.raises(InvalidExecutorError, match="workers must be a positive integer"):
        pr.Environment(small_trajectory(), path).run(sf.square, executor="thread", workers=workers)
    assert not path.exists()


def test_a_bad_start_method_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InvalidExecutorError, match="start method"):
        pr.Environment(small_trajectory()).run(
            sf.square,
            executor="process",
            start_method="teleport",  # type: ignore[arg-type]
        )


def test_options_of_another_executor_are_refused() -> None:
    with pytest.raises(InvalidExecutorError, match="start_method='spawn' only applies"):
        pr.Environment(small_trajectory()).run(sf.square, executor="thread", start_method="spawn")
    with pytest.raises(InvalidExecutorError, match=r"dask_address=.* only applies"):
        pr.Environment(small_trajectory()).run(
            sf.square, executor="process", dask_address="tcp://127.0.0.1:8786"
        )


@pytest.mark.parametrize("executor", ["process", "dask"])
@pytest.mark.parametrize(
    ("simulate", "name"),
    [
        pytest.param(lambda run, lock=GUARD: {"y": run.x}, "<lambda>", id="lambda-with-lock"),
        pytest.param(locking_simulate_factory(), "locking", id="closure-over-lock"),
    ],
)
def test_an_unpicklable_simulate_function_is_refused_before_any_run(
    tmp_path: Path, executor: ExecutorName, simulate: Callable[[pr.Run], Any], name: str
) -> None:
    # Lambdas and closures travel with cloudpickle; one that holds a lock cannot travel at all.
    path = tmp_path / "never.h5"
    with pytest.raises(UnpicklableError) as caught:
        pr.Environment(small_trajectory(), path).run(simulate, executor=executor)
    message = str(caught.value)
    assert name in message
    assert "cloudpickle" in message
    assert "lock" in message
    assert "inside the simulate function" in message
    assert executor in message
    assert not path.exists()


def test_a_partial_of_a_module_level_function_is_accepted(tmp_path: Path) -> None:
    traj = small_trajectory(n=3)
    env = pr.Environment(traj)
    report = env.run(
        functools.partial(sf.scaled, factor=3.0), executor="process", workers=1, progress=False
    )
    assert report.ok
    assert env.study.collect_runs("y") == {0: 0.0, 1: 3.0, 2: 6.0}


def test_the_thread_executor_accepts_a_lambda() -> None:
    traj = small_trajectory()
    env = pr.Environment(traj)
    report = env.run(lambda run: {"y": run.x + 1}, executor="thread", workers=2, progress=False)
    assert report.ok
    assert env.study.collect_runs("y") == {0: 1.0, 1: 2.0, 2: 3.0, 3: 4.0}


@pytest.mark.parametrize("executor", ["process", "dask"])
def test_an_unpicklable_parameter_value_is_refused_before_any_run(
    tmp_path: Path, executor: ExecutorName
) -> None:
    path = tmp_path / "never.h5"
    traj = small_trajectory(guard={"mutex": threading.Lock()})
    with pytest.raises(UnpicklableError, match="parameter 'guard'") as caught:
        pr.Environment(traj, path).run(sf.square, executor=executor)
    assert "lock" in str(caught.value)
    assert not path.exists()


@pytest.mark.slow
def test_a_dask_scheduler_that_does_not_answer_is_reported_quickly(tmp_path: Path) -> None:
    path = tmp_path / "never.h5"
    address = f"tcp://127.0.0.1:{unused_port()}"
    start = time.monotonic()
    with (
        dask.config.set({"distributed.comm.timeouts.connect": "1s"}),
        pytest.raises(SchedulerUnavailableError, match="did not answer") as caught,
    ):
        pr.Environment(small_trajectory(), path).run(
            sf.square, executor="dask", dask_address=address
        )
    assert time.monotonic() - start < 10
    assert address in str(caught.value)
    assert isinstance(caught.value, ConnectionError)
    assert not path.exists()


@pytest.mark.parametrize("executor", ["serial", "process"])
def test_a_non_mapping_result_fails_the_run(tmp_path: Path, executor: ExecutorName) -> None:
    storage = pr.MemoryStorageService()
    report = pr.Environment(small_trajectory(n=2), storage).run(
        sf.not_a_mapping, executor=executor, workers=1, on_error="continue", progress=False
    )
    assert (report.done, report.failed) == (0, 2)
    table = storage.load_run_table("small")
    for text in table.error.tolist():
        assert "InvalidResultError: the simulate function returned a list" in text
    assert report.failures[0].error_type == "InvalidResultError"


@pytest.mark.parametrize("executor", ["serial", "process"])
def test_resume_against_a_different_sweep_is_refused(
    tmp_path: Path, executor: ExecutorName
) -> None:
    path = tmp_path / "sweep.h5"
    first = pr.Environment(small_trajectory(), path)
    first.run(sf.square, progress=False)
    first.storage.close()
    before = stored_table(path)
    other = pr.Trajectory("small", seed=3)
    other.add_parameter("x", 0.0)
    other.explore({"x": [10.0, 11.0, 12.0, 13.0]})
    env = pr.Environment(other, path)
    with pytest.raises(ResumeMismatchError, match="different point"):
        env.run(sf.square, executor=executor, workers=1, resume=True, progress=False)
    env.storage.close()
    assert stored_table(path) == before


def stored_table(path: Path) -> dict[str, list[object]]:
    traj = pr.load_trajectory(path)
    storage = traj.storage
    assert storage is not None
    table = storage.load_run_table(traj.name)
    storage.close()
    return {"status": table.status.tolist(), "finished": table.finished.tolist()}


# -- Dask failure policy (last: the worker-death test restarts the module cluster's workers) --


@pytest.mark.slow
def test_a_dask_run_over_the_timeout_fails_with_a_timeout_error(dask_client: Any) -> None:
    traj = pr.Trajectory("slow", seed=0)
    traj.add_parameter("x", 0.0)
    traj.explore({"x": [0.01, 30.0, 0.01]})
    storage = pr.MemoryStorageService()
    start = time.monotonic()
    report = pr.Environment(traj, storage).run(
        sf.sleepy,
        executor="dask",
        dask_address=dask_client.scheduler.address,
        timeout=1.0,
        on_error="continue",
        progress=False,
    )
    assert time.monotonic() - start < 15
    assert (report.done, report.failed) == (2, 1)
    assert "TimeoutError" in storage.load_run_table("slow").error[1]


@pytest.mark.slow
def test_a_dask_worker_death_fails_only_the_killing_run(dask_client: Any) -> None:
    traj = pr.Trajectory("deaths", seed=0)
    traj.add_parameter("x", 0)
    traj.explore({"x": [0, 1, 2, 4]})
    storage = pr.MemoryStorageService()
    report = pr.Environment(traj, storage).run(
        sf.die,
        executor="dask",
        dask_address=dask_client.scheduler.address,
        chunksize=2,
        on_error="continue",
        progress=False,
    )
    assert (report.done, report.failed) == (3, 1)
    table = storage.load_run_table("deaths")
    assert table.status.tolist() == ["done", "failed", "done", "done"]
    assert "KilledWorker" in table.error[1]
    assert "died" in table.error[1]
