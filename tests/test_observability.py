"""What a sweep tells about itself: captured output, log records with the run index, provenance.

Real thread and process pools; the simulate functions live in ``sweep_functions``.
"""

from __future__ import annotations

import logging
import os
import socket
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Literal

import pytest

import pypet_rebuild as pr
import sweep_functions as sf
from pypet_rebuild.execution.runtime import RunIndexFilter
from pypet_rebuild.storage.records import RunRecord

ExecutorName = Literal["serial", "thread", "process", "dask"]


def trajectory(n: int = 4) -> pr.Trajectory:
    traj = pr.Trajectory("observed", seed=5)
    traj.add_parameter("x", 0)
    traj.explore({"x": list(range(n))})
    return traj


class ListHandler(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def run_logs() -> Iterator[ListHandler]:
    """Records of the ``sweep_functions`` logger, through a handler with a RunIndexFilter."""
    handler = ListHandler()
    handler.addFilter(RunIndexFilter())
    logger = logging.getLogger("sweep_functions")
    logger.addHandler(handler)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)


# -- captured output -------------------------------------------------------------------------------


@pytest.mark.parametrize("executor", ["serial", "thread", "process"])
def test_capture_output_stores_what_each_run_prints(executor: ExecutorName) -> None:
    traj = trajectory()
    storage = pr.MemoryStorageService()
    env = pr.Environment(traj, storage)
    report = env.run(sf.chatty, executor=executor, workers=2, capture_output=True, progress=False)
    assert report.ok
    table = storage.load_run_table("observed")
    for index in range(4):
        output = table.output[index]
        assert f"hello from run {index}\n" in output
        assert f"warning from run {index}\n" in output
        assert "from run" not in output.replace(f"from run {index}", "")
        assert env.study.run(index).metadata["output"] == output


def test_captured_output_is_readable_from_an_hdf5_file(tmp_path: Path) -> None:
    path = tmp_path / "observed.h5"
    env = pr.Environment(trajectory(2), path)
    env.run(sf.chatty, executor="process", workers=2, capture_output=True, progress=False)
    env.storage.close()
    traj = pr.load_trajectory(path)
    assert "hello from run 1" in str(traj.run(1).metadata["output"])


def test_without_capture_the_output_column_is_empty(capsys: pytest.CaptureFixture[str]) -> None:
    traj = trajectory(2)
    storage = pr.MemoryStorageService()
    pr.Environment(traj, storage).run(sf.chatty, executor="thread", workers=2, progress=False)
    assert storage.load_run_table("observed").output.tolist() == ["", ""]
    out, err = capsys.readouterr()
    assert "hello from run 0" in out
    assert "warning from run 1" in err


class PrintingHooks(pr.Hooks):
    """Prints from the driving process while other runs are executing."""

    def after_run(self, record: RunRecord) -> None:
        print(f"parent saw run {record.index}")


@pytest.mark.parametrize("executor", ["serial", "thread"])
def test_prints_outside_runs_are_not_captured_and_stdout_is_restored(
    capsys: pytest.CaptureFixture[str], executor: ExecutorName
) -> None:
    stdout, stderr = sys.stdout, sys.stderr
    traj = trajectory()
    storage = pr.MemoryStorageService()
    pr.Environment(traj, storage).run(
        sf.chatty,
        executor=executor,
        workers=2,
        capture_output=True,
        hooks=[PrintingHooks()],
        progress=False,
    )
    assert sys.stdout is stdout
    assert sys.stderr is stderr
    print("after the sweep")
    out, err = capsys.readouterr()
    assert "hello from run" not in out
    assert "warning from run" not in err
    for index in range(4):
        assert f"parent saw run {index}\n" in out
    assert out.endswith("after the sweep\n")
    table = storage.load_run_table("observed")
    assert not any("parent saw" in text for text in table.output.tolist())


# -- log records -----------------------------------------------------------------------------------


@pytest.mark.parametrize("executor", ["serial", "thread"])
@pytest.mark.parametrize("capture", [False, True])
def test_log_records_inside_runs_carry_the_run_index(
    run_logs: ListHandler, capsys: pytest.CaptureFixture[str], executor: ExecutorName, capture: bool
) -> None:
    traj = trajectory()
    pr.Environment(traj).run(
        sf.chatty, executor=executor, workers=2, capture_output=capture, progress=False
    )
    logging.getLogger("sweep_functions").warning("outside any run")
    inside = [r for r in run_logs.records if r.getMessage().startswith("logged in run")]
    assert sorted(r.run_index for r in inside) == [0, 1, 2, 3]  # type: ignore[attr-defined]
    for record in inside:
        assert record.getMessage() == f"logged in run {record.run_index}"  # type: ignore[attr-defined]
    (outside,) = [r for r in run_logs.records if r.getMessage() == "outside any run"]
    assert outside.run_index is None  # type: ignore[attr-defined]


def test_run_index_filter_formats_the_index(run_logs: ListHandler) -> None:
    run_logs.setFormatter(logging.Formatter("[run %(run_index)s] %(message)s"))
    pr.Environment(trajectory(2)).run(sf.chatty, progress=False)
    lines = [run_logs.format(r) for r in run_logs.records]
    assert lines == ["[run 0] logged in run 0", "[run 1] logged in run 1"]


# -- provenance and per-run metadata ---------------------------------------------------------------


def test_a_process_sweep_records_executor_workers_and_worker_processes(tmp_path: Path) -> None:
    path = tmp_path / "observed.h5"
    env = pr.Environment(trajectory(6), path)
    env.run(sf.where, executor="process", workers=2, chunksize=1, progress=False)
    env.storage.close()
    traj = pr.load_trajectory(path)
    storage = traj.storage
    assert storage is not None
    (provenance,) = storage.load_provenance("observed")
    table = storage.load_run_table("observed")
    storage.close()
    assert str(provenance["executor"]).startswith("process")
    assert "forkserver" in str(provenance["executor"]) or "spawn" in str(provenance["executor"])
    assert provenance["workers"] == 2
    assert provenance["pid"] == os.getpid()
    assert provenance["runs_done"] == 6
    assert provenance["hostname"] == socket.gethostname()
    assert float(str(provenance["finished"])) >= float(str(provenance["started"]))
    assert "version_numpy" in provenance
    pids = set(table.pid.tolist())
    assert os.getpid() not in pids
    assert 1 <= len(pids) <= 2
    assert pids == set(traj.collect_runs("pid").values())
    assert set(table.host.tolist()) == {socket.gethostname()}
    assert all(table.finished >= table.started)
    assert all(table.duration >= 0)


def test_a_serial_sweep_records_the_parent_process() -> None:
    storage = pr.MemoryStorageService()
    pr.Environment(trajectory(2), storage).run(sf.where, progress=False)
    assert set(storage.load_run_table("observed").pid.tolist()) == {os.getpid()}
    (provenance,) = storage.load_provenance("observed")
    assert (provenance["executor"], provenance["workers"]) == ("serial", 1)
