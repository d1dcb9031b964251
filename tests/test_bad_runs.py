"""One bad run stays one bad run: it fails alone, stored with its reason; the others keep theirs.

Bad runs here: a result no codec can store, a result that cannot be pickled back from a process
worker, ``sys.exit(3)`` or another ``BaseException`` in the simulate code, and a batch the
storage backend refuses for one run's sake.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import bad_run_functions as bf
import pypet_rebuild as pr
from pypet_rebuild.errors import RunFailedError
from pypet_rebuild.storage.records import RunRecord


def trajectory(n: int, bad: int, name: str = "bad") -> pr.Trajectory:
    traj = pr.Trajectory(name, seed=1)
    traj.add_parameter("x", 0)
    traj.add_parameter("bad", bad)
    traj.explore({"x": list(range(n))})
    return traj


def stored(storage: pr.StorageService | Path, name: str = "bad") -> tuple[list[str], list[str]]:
    loaded = pr.load_trajectory(storage)
    backend = loaded.storage
    assert backend is not None
    table = backend.load_run_table(name)
    return list(table.status.tolist()), list(table.error.tolist())


def stored_z(storage: pr.StorageService | Path) -> dict[int, float]:
    """The stored ``z`` of every run that has one."""
    values = np.ma.asarray(pr.load_trajectory(storage).results["z"][:])
    present = ~np.ma.getmaskarray(values)
    return {int(i): float(values[i]) for i in np.flatnonzero(present)}


def run_sweep(
    storage: pr.StorageService | Path,
    simulate: Callable[[pr.Run], Any],
    n: int,
    bad: int,
    **options: Any,
) -> pr.RunReport:
    env = pr.Environment(trajectory(n, bad), storage, **options.pop("env", {}))
    try:
        return env.run(simulate, progress=False, **options)
    finally:
        env.storage.close()


@pytest.mark.parametrize("executor", ["serial", "process"])
def test_an_unencodable_result_fails_only_its_run(tmp_path: Path, executor: str) -> None:
    # 2,000 runs in one batch; run 1,500 returns an object no codec can store. The batch is
    # stored anyway, with run 1,500 failed and every other run's results.
    path = tmp_path / "sweep.h5"
    n, bad = 2000, 1500
    report = run_sweep(
        path, bf.plain_object_at, n, bad, executor=executor, workers=2, on_error="continue"
    )
    assert (report.done, report.failed) == (n - 1, 1)
    failure = report.failures[0]
    assert failure.index == bad
    assert failure.error_type == "UnsupportedTypeError"
    assert "PlainObject" in failure.message
    status, errors = stored(path)
    assert status == ["done"] * bad + ["failed"] + ["done"] * (n - bad - 1)
    assert "UnsupportedTypeError" in errors[bad]
    assert "could not be stored" in errors[bad]
    assert stored_z(path) == {i: 10.0 * i for i in range(n) if i != bad}


def test_an_unencodable_result_with_on_error_raise_raises_for_that_run(tmp_path: Path) -> None:
    path = tmp_path / "sweep.h5"
    with pytest.raises(RunFailedError, match="UnsupportedTypeError") as caught:
        run_sweep(path, bf.plain_object_at, 50, 7)
    assert caught.value.index == 7
    status, _ = stored(path)
    assert status[7] == "failed"
    # The runs stored with it in the same batch keep their results.
    assert status[:7] == ["done"] * 7
    assert {i: z for i, z in stored_z(path).items() if i < 7} == {i: 10.0 * i for i in range(7)}


def test_an_unpicklable_result_fails_only_its_run_not_its_chunk(tmp_path: Path) -> None:
    path = tmp_path / "sweep.h5"
    n, bad = 40, 13
    report = run_sweep(
        path, bf.lock_at, n, bad, executor="process", workers=2, chunksize=10, on_error="continue"
    )
    assert (report.done, report.failed) == (n - 1, 1)
    assert report.failures[0].index == bad
    assert report.failures[0].error_type == "UnpicklableResultError"
    status, errors = stored(path)
    assert status == ["done"] * bad + ["failed"] + ["done"] * (n - bad - 1)
    assert "lock" in errors[bad]
    assert stored_z(path) == {i: 10.0 * i for i in range(n) if i != bad}


@pytest.mark.parametrize("executor", ["serial", "thread", "process"])
def test_sys_exit_and_other_base_exceptions_fail_only_their_run(
    tmp_path: Path, executor: str
) -> None:
    path = tmp_path / "sweep.h5"
    n, bad = 12, 4
    report = run_sweep(
        path, bf.exit_at, n, bad, executor=executor, workers=2, chunksize=3, on_error="continue"
    )
    assert (report.done, report.failed) == (n - 2, 2)
    assert [(f.index, f.error_type) for f in report.failures] == [
        (bad, "SystemExit"),
        (bad + 1, "AbortRunError"),
    ]
    status, errors = stored(path)
    assert [i for i, s in enumerate(status) if s != "done"] == [bad, bad + 1]
    assert "SystemExit: 3" in errors[bad]
    assert "abort this run" in errors[bad + 1]


def test_sys_exit_with_on_error_raise_raises_run_failed_error(tmp_path: Path) -> None:
    with pytest.raises(RunFailedError, match="SystemExit") as caught:
        run_sweep(tmp_path / "sweep.h5", bf.exit_at, 12, 4)
    assert caught.value.index == 4


class RefusingStorage(pr.MemoryStorageService):
    """Refuses any batch holding a run whose ``z`` is ``bad_z``, as an HDF5 write that fails for
    one value (with pandas 2.0.3 a DataFrame result raised when its batch was written)."""

    def __init__(self, bad_z: float | None) -> None:
        super().__init__()
        self.bad_z = bad_z
        self.calls = 0

    def _store_runs(self, trajectory: str, records: Sequence[RunRecord]) -> None:
        # The memory backend's writer session hands each batch here.
        self.calls += 1
        if self.bad_z is None or any(r.results.get("z") == self.bad_z for r in records):
            raise ValueError("cannot write this value")
        super()._store_runs(trajectory, records)


def test_a_batch_storage_refuses_is_stored_apart_so_only_the_bad_run_fails() -> None:
    n, bad = 1000, 617
    storage = RefusingStorage(bad_z=10 * bad)
    report = run_sweep(storage, bf.plain_object_at, n, -1, on_error="continue")
    assert (report.done, report.failed) == (n - 1, 1)
    assert report.failures[0].index == bad
    assert report.failures[0].error_type == "ValueError"
    status, errors = stored(storage)
    assert [i for i, s in enumerate(status) if s != "done"] == [bad]
    assert "cannot write this value" in errors[bad]
    # Halving finds the bad run in a few attempts, not one attempt per run.
    assert storage.calls < 50


def test_a_storage_that_refuses_everything_still_raises() -> None:
    storage = RefusingStorage(bad_z=None)
    with pytest.raises(ValueError, match="cannot write this value"):
        run_sweep(storage, bf.plain_object_at, 20, -1, on_error="continue")
    assert storage.calls < 20
