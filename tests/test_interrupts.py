"""Ctrl-C on a running sweep, with real subprocesses and real signals, then ``resume=True``.

A script written to ``tmp_path`` runs a sweep whose simulate function lives in a module next to
it (so spawned and Dask workers can import it). The test waits until some runs are in the file,
sends SIGINT to the script's pid only, and checks what is stored and that a resumed sweep (on
another executor) completes exactly the missing runs.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

import pypet_rebuild as pr

pytestmark = [pytest.mark.slow, pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")]

SIMULATION = """
import os
import time


def simulate(run):
    # The delay is not a parameter, so that the resumed sweep (same parameters) can skip it.
    time.sleep(float(os.environ.get("INTERRUPT_TEST_DELAY", "0")))
    return {"y": 2 * run.x, "x_seen": run.x}
"""

SCRIPT = """
import sys

import pypet_rebuild as pr

import interrupt_simulation


def main():
    path, executor, n, chunksize = sys.argv[1:5]
    traj = pr.Trajectory("sweep", seed=7)
    traj.add_parameter("x", 0)
    traj.explore({"x": list(range(int(n)))})
    env = pr.Environment(traj, path, batch_size=1)
    print("starting", flush=True)
    env.run(
        interrupt_simulation.simulate,
        executor=executor,
        workers=2,
        chunksize="auto" if chunksize == "auto" else int(chunksize),
        progress=False,
    )
    print("finished", flush=True)


if __name__ == "__main__":
    main()
"""


class Script:
    """The sweep script running in a subprocess."""

    def __init__(
        self, tmp_path: Path, executor: str, n: int, delay: float, chunksize: str = "auto"
    ) -> None:
        (tmp_path / "interrupt_simulation.py").write_text(SIMULATION)
        script = tmp_path / "sweep_script.py"
        script.write_text(SCRIPT)
        self.path = tmp_path / "sweep.h5"
        self.n = n
        self.process = subprocess.Popen(
            [sys.executable, str(script), str(self.path), executor, str(n), chunksize],
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1", "INTERRUPT_TEST_DELAY": str(delay)},
        )

    def done_in_file(self) -> int:
        """Runs stored as done so far; 0 while the file cannot be read yet."""
        if not self.path.exists():
            return 0
        try:
            traj = pr.load_trajectory(self.path)
        except Exception:  # being written: try again
            return 0
        storage = traj.storage
        assert storage is not None
        try:
            return storage.load_run_table("sweep").count(pr.RunStatus.DONE)
        except Exception:
            return 0
        finally:
            storage.close()

    def wait_for_runs(self, count: int, timeout: float = 30.0) -> int:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                out, err = self.process.communicate()
                pytest.fail(f"the script ended early:\n{out}\n{err}")
            done = self.done_in_file()
            if done >= count:
                return done
            time.sleep(0.03)
        self.kill()
        pytest.fail(f"fewer than {count} runs stored after {timeout} s")

    def interrupt(self) -> None:
        os.kill(self.process.pid, signal.SIGINT)

    def wait(self, timeout: float = 30.0) -> tuple[int, str, str]:
        try:
            out, err = self.process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise
        return self.process.returncode, out, err

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.communicate()


@contextlib.contextmanager
def simulation_module(tmp_path: Path) -> Iterator[ModuleType]:
    """Import the script's simulation module here too (process workers import it by name)."""
    sys.path.insert(0, str(tmp_path))
    importlib.invalidate_caches()
    try:
        yield importlib.import_module("interrupt_simulation")
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop("interrupt_simulation", None)


def stored(path: Path) -> tuple[list[str], dict[int, object], dict[int, object], int]:
    """Statuses, the ``y`` and ``x_seen`` results, and the number of provenance records."""
    traj = pr.load_trajectory(path)
    storage = traj.storage
    assert storage is not None
    try:
        status = storage.load_run_table("sweep").status.tolist()
        return (
            status,
            traj.collect_runs("y"),
            traj.collect_runs("x_seen"),
            len(storage.load_provenance("sweep")),
        )
    finally:
        storage.close()


def check_consistent(path: Path, n: int) -> list[int]:
    """The interrupted file: only done and pending runs, done runs with correct results."""
    status, y, x_seen, sweeps = stored(path)
    assert len(status) == n
    assert set(status) <= {"done", "pending"}, "an interruption must not fail runs"
    done = [i for i, s in enumerate(status) if s == "done"]
    assert sorted(y) == done
    assert all(y[i] == 2 * i and x_seen[i] == i for i in done)
    assert sweeps == 1  # end_sweep ran and recorded the provenance
    return done


class Collect(pr.Hooks):
    def __init__(self) -> None:
        self.started: list[int] = []

    def before_run(self, index: int, point: Mapping[str, object]) -> None:
        self.started.append(index)


def resume(tmp_path: Path, path: Path, n: int, executor: Any) -> tuple[pr.RunReport, list[int]]:
    """Resume the interrupted sweep in this process, with another executor."""
    traj = pr.Trajectory("sweep", seed=7)
    traj.add_parameter("x", 0)
    traj.explore({"x": list(range(n))})
    env = pr.Environment(traj, path)
    hook = Collect()
    with simulation_module(tmp_path) as simulation:
        try:
            report = env.run(
                simulation.simulate,
                executor=executor,
                workers=2,
                resume=True,
                hooks=[hook],
                progress=False,
            )
        finally:
            env.storage.close()
    return report, hook.started


def check_resumed(tmp_path: Path, script: Script, done: list[int], executor: str) -> None:
    """Resume on ``executor``: exactly the missing runs run, then the file is complete."""
    report, started = resume(tmp_path, script.path, script.n, executor)
    missing = sorted(set(range(script.n)) - set(done))
    assert (report.skipped, report.done, report.failed) == (len(done), len(missing), 0)
    assert sorted(started) == missing
    status, y, _, sweeps = stored(script.path)
    assert status == ["done"] * script.n
    assert y == {i: 2 * i for i in range(script.n)}
    assert sweeps == 2


@pytest.mark.parametrize(
    ("executor", "first_runs", "resume_with"),
    [
        pytest.param("process", 4, "serial", id="process-then-serial"),
        pytest.param("dask", 2, "thread", id="dask-then-thread"),
    ],
)
def test_first_ctrl_c_finishes_the_runs_in_flight_then_raises(
    tmp_path: Path, executor: str, first_runs: int, resume_with: str
) -> None:
    script = Script(tmp_path, executor, n=120, delay=0.06)
    try:
        seen = script.wait_for_runs(first_runs, timeout=60)
        script.interrupt()
        interrupted = time.monotonic()
        code, out, err = script.wait()
    finally:
        script.kill()
    assert time.monotonic() - interrupted < 10
    assert code != 0
    assert "KeyboardInterrupt" in err
    assert "finished" not in out
    done = check_consistent(script.path, script.n)
    # The chunks in flight when Ctrl-C arrived were finished and stored, nothing after them.
    assert seen < len(done) < script.n
    check_resumed(tmp_path, script, done, resume_with)


def test_second_ctrl_c_cancels_the_runs_in_flight(tmp_path: Path) -> None:
    # Runs of 2.5 s, one per chunk: after the first two are stored, two more are running and two
    # are queued. The first Ctrl-C alone would wait about 2.5 s and store four more runs; the
    # second one cancels them (they stay pending) and the script ends at once.
    script = Script(tmp_path, "process", n=12, delay=2.5, chunksize="1")
    try:
        seen = script.wait_for_runs(2, timeout=60)
        script.interrupt()
        # Two signals within half a second count as one press (uv forwards Ctrl-C as well).
        time.sleep(0.8)
        script.interrupt()
        interrupted = time.monotonic()
        code, _, err = script.wait()
        elapsed = time.monotonic() - interrupted
    finally:
        script.kill()
    assert elapsed < 2.0, f"the second Ctrl-C did not stop the script promptly ({elapsed:.2f} s)"
    assert code != 0
    assert "KeyboardInterrupt" in err
    done = check_consistent(script.path, script.n)
    assert seen <= len(done) < 4
    check_resumed(tmp_path, script, done, "process")
