"""Worker deaths stay isolated, and workers die with their driver.

A run that crashes its worker process (a segfault) fails alone, on an idle or a loaded machine,
and no ``BrokenProcessPool`` escapes ``env.run``. When the driving process is killed with
SIGKILL, no worker process survives it for long (an orphan would keep running runs nobody stores,
and a forked one would keep the file locked), and ``resume=True`` then finishes the sweep.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil  # type: ignore[import-untyped]
import pytest

import bad_run_functions as bf
import pypet_rebuild as pr

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(sys.platform == "win32", reason="POSIX process model"),
]


def death_sweep(tmp_path: Path, name: str, n: int, bad: int, **options: Any) -> pr.RunReport:
    traj = pr.Trajectory(name, seed=0)
    traj.add_parameter("x", 0)
    traj.add_parameter("bad", bad)
    traj.explore({"x": list(range(n))})
    env = pr.Environment(traj, tmp_path / f"{name}.h5", flush_seconds=0)
    try:
        return env.run(
            bf.segfault_at, executor="process", on_error="continue", progress=False, **options
        )
    finally:
        env.storage.close()


def check_only_the_crash_failed(tmp_path: Path, name: str, n: int, bad: int) -> None:
    loaded = pr.load_trajectory(tmp_path / f"{name}.h5")
    storage = loaded.storage
    assert storage is not None
    table = storage.load_run_table(name)
    assert [i for i, s in enumerate(table.status.tolist()) if s != "done"] == [bad]
    assert "died" in table.error[bad]
    assert loaded.results["z"][:].tolist()[:bad] == [10 * i for i in range(bad)]
    storage.close()


@pytest.mark.parametrize("start_method", ["forkserver", "spawn", "fork"])
def test_a_segfault_fails_only_its_run_and_never_breaks_the_sweep(
    tmp_path: Path, start_method: str
) -> None:
    # Chunks of one run and a flush after every run: the pool breaks while the dispatcher is
    # submitting, which used to raise BrokenProcessPool out of env.run.
    for attempt in range(3):
        name = f"segv{attempt}"
        report = death_sweep(
            tmp_path, name, 10, 7, workers=2, chunksize=1, start_method=start_method
        )
        assert (report.done, report.failed) == (9, 1)
        assert [f.index for f in report.failures] == [7]
        check_only_the_crash_failed(tmp_path, name, 10, 7)


@contextlib.contextmanager
def cpu_load(processes: int = 3) -> Iterator[None]:
    """Busy-loop processes competing for the CPU (as other jobs on a shared machine do)."""
    busy = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(processes)]
    try:
        yield
    finally:
        for process in busy:
            process.kill()
        for process in busy:
            process.wait()


def test_worker_deaths_stay_isolated_under_cpu_load(tmp_path: Path) -> None:
    with cpu_load():
        for attempt, chunksize in enumerate([1, 1, 2, "auto"]):
            name = f"loaded{attempt}"
            report = death_sweep(tmp_path, name, 12, 5, workers=2, chunksize=chunksize)
            assert (report.done, report.failed) == (11, 1), report.summary()
            assert [f.index for f in report.failures] == [5]
            check_only_the_crash_failed(tmp_path, name, 12, 5)


SIMULATION = """
import os
import time


def simulate(run):
    time.sleep(float(os.environ.get("DEATH_TEST_DELAY", "0")))
    return {"y": 2 * run.x, "pid": os.getpid()}
"""

SCRIPT = """
import sys

import pypet_rebuild as pr

import death_simulation


def main():
    path, executor, start_method, n, resume = sys.argv[1:6]
    traj = pr.Trajectory("sweep", seed=3)
    traj.add_parameter("x", 0)
    traj.explore({"x": list(range(int(n)))})
    env = pr.Environment(traj, path, batch_size=1)
    options = {"start_method": start_method} if executor == "process" else {}
    report = env.run(
        death_simulation.simulate,
        executor=executor,
        workers=2,
        chunksize=1,
        resume=resume == "resume",
        progress=False,
        **options,
    )
    print(f"finished {report.done} {report.failed} {report.skipped}", flush=True)


if __name__ == "__main__":
    main()
"""


def start_script(
    tmp_path: Path, executor: str, start_method: str, n: int, delay: float, resume: bool
) -> subprocess.Popen[bytes]:
    (tmp_path / "death_simulation.py").write_text(SIMULATION)
    script = tmp_path / "death_script.py"
    script.write_text(SCRIPT)
    # Output to files: a surviving worker would hold a pipe open and block reading it.
    log = "resume" if resume else "fresh"
    with (tmp_path / f"{log}.out").open("w") as out, (tmp_path / f"{log}.err").open("w") as err:
        return subprocess.Popen(
            [
                sys.executable,
                str(script),
                str(tmp_path / "sweep.h5"),
                executor,
                start_method,
                str(n),
                log,
            ],
            cwd=tmp_path,
            stdout=out,
            stderr=err,
            start_new_session=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1", "DEATH_TEST_DELAY": str(delay)},
        )


def done_runs(path: Path) -> int:
    if not path.exists():
        return 0
    try:
        storage = pr.load_trajectory(path).storage
    except Exception:  # being written: try again
        return 0
    assert storage is not None
    try:
        return storage.load_run_table("sweep").count(pr.RunStatus.DONE)
    except Exception:
        return 0
    finally:
        storage.close()


def alive(processes: list[psutil.Process]) -> list[psutil.Process]:
    """The processes still running (a zombie waiting for a reaper is dead)."""
    living = []
    for process in processes:
        with contextlib.suppress(psutil.NoSuchProcess):
            if process.is_running() and process.status() != psutil.STATUS_ZOMBIE:
                living.append(process)
    return living


@pytest.mark.parametrize(
    ("executor", "start_method"),
    [
        pytest.param("process", "fork", id="process-fork"),
        pytest.param("process", "forkserver", id="process-forkserver"),
        pytest.param("process", "spawn", id="process-spawn"),
        pytest.param("dask", "-", id="dask"),
    ],
)
def test_no_worker_outlives_a_killed_driver_and_resume_finishes(
    tmp_path: Path, executor: str, start_method: str
) -> None:
    n = 200
    driver = start_script(tmp_path, executor, start_method, n, delay=0.1, resume=False)
    path = tmp_path / "sweep.h5"
    descendants: list[psutil.Process] = []
    try:
        deadline = time.monotonic() + 90
        while done_runs(path) < 4:
            if driver.poll() is not None:
                pytest.fail("the script ended early:\n" + (tmp_path / "fresh.err").read_text())
            if time.monotonic() > deadline:
                pytest.fail("no runs stored in time")
            time.sleep(0.05)
        descendants = psutil.Process(driver.pid).children(recursive=True)
        assert descendants, "the pool's workers should be running"
        driver.send_signal(signal.SIGKILL)
        driver.wait()
        # The kernel kills the workers with their parent (or a watcher thread notices within a
        # fraction of a second); allow for a loaded machine.
        end = time.monotonic() + 20
        while alive(descendants) and time.monotonic() < end:
            time.sleep(0.1)
        survivors = alive(descendants)
        assert not survivors, [(p.pid, p.cmdline()) for p in survivors]
    finally:
        if driver.poll() is None:
            driver.kill()
            driver.wait()
        for process in alive(descendants):
            with contextlib.suppress(psutil.NoSuchProcess):
                process.kill()  # only when the test failed: leave no orphan behind
    stored_before = done_runs(path)
    assert 0 < stored_before < n
    resumed = start_script(tmp_path, "serial", "-", n, delay=0.0, resume=True)
    assert resumed.wait(timeout=120) == 0, (tmp_path / "resume.err").read_text()
    out = (tmp_path / "resume.out").read_text()
    assert f"finished {n - stored_before} 0 {stored_before}" in out
    loaded = pr.load_trajectory(path)
    storage = loaded.storage
    assert storage is not None
    assert storage.load_run_table("sweep").status.tolist() == ["done"] * n
    assert loaded.results["y"][:].tolist() == [2 * i for i in range(n)]
    storage.close()
