"""Ctrl-C never stores a truncated run as done, whatever SIGINT handler the simulate code installs.

The simulate function here behaves like a simulator that installs its own SIGINT handler (Brian2
does on import): the handler sets a flag, calls the previous handler (as a chaining handler
would), and the run returns early with a wrong result when the flag is set. A real subprocess runs
the sweep; the test sends SIGINT to its pid, or to its whole process group as the terminal does,
once or twice in quick succession (as under ``uv run``, which forwards the terminal's Ctrl-C). The
stored file must hold no truncated run as done, and ``resume=True`` must complete it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import pypet_rebuild as pr

pytestmark = [pytest.mark.slow, pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")]

SIMULATION = """
import os
import signal
import time

STATE = {"signalled": False, "previous": None}


def _handler(signum, frame):
    STATE["signalled"] = True
    previous = STATE["previous"]
    # Chain to the handler that was there before, as many libraries do (no callable check:
    # that is what made workers raise "TypeError: 'Handlers' object is not callable").
    if previous not in (None, signal.SIG_DFL):
        previous(signum, frame)


def _install():
    if STATE["previous"] is None:
        try:
            STATE["previous"] = signal.signal(signal.SIGINT, _handler)
        except ValueError:  # not the main thread (Dask runs tasks in threads)
            STATE["previous"] = signal.SIG_DFL


def simulate(run):
    _install()
    end = time.monotonic() + float(os.environ.get("HANDLER_TEST_DELAY", "0"))
    while time.monotonic() < end:
        if STATE["signalled"]:
            return {"y": -1, "truncated": True}  # cut short: a wrong result
        time.sleep(0.01)
    return {"y": 2 * run.x, "truncated": False}
"""

SCRIPT = """
import sys
import traceback

import pypet_rebuild as pr

import handler_simulation


def main():
    path, executor, n, resume = sys.argv[1:5]
    traj = pr.Trajectory("sweep", seed=7)
    traj.add_parameter("x", 0)
    traj.explore({"x": list(range(int(n)))})
    env = pr.Environment(traj, path, batch_size=1)
    print("starting", flush=True)
    try:
        report = env.run(
            handler_simulation.simulate,
            executor=executor,
            workers=2,
            chunksize=1,
            on_error="raise",
            resume=resume == "resume",
            progress=False,
        )
    except KeyboardInterrupt as exc:
        frame = traceback.extract_tb(exc.__traceback__)[-1]
        print(f"interrupted in {frame.name}", flush=True)
        raise
    print(f"finished {report.done} {report.failed} {report.skipped}", flush=True)


if __name__ == "__main__":
    main()
"""


class Sweep:
    """The sweep script running in its own process group (so signalling the group is safe)."""

    def __init__(self, tmp_path: Path, executor: str, n: int, delay: float, resume: bool) -> None:
        (tmp_path / "handler_simulation.py").write_text(SIMULATION)
        script = tmp_path / "handler_script.py"
        script.write_text(SCRIPT)
        self.path = tmp_path / "sweep.h5"
        self.n = n
        self.process = subprocess.Popen(
            [
                sys.executable,
                str(script),
                str(self.path),
                executor,
                str(n),
                "resume" if resume else "fresh",
            ],
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1", "HANDLER_TEST_DELAY": str(delay)},
        )

    def statuses(self) -> list[str]:
        if not self.path.exists():
            return []
        try:
            storage = pr.load_trajectory(self.path).storage
        except Exception:  # being written: try again
            return []
        assert storage is not None
        try:
            return [str(s) for s in storage.load_run_table("sweep").status.tolist()]
        except Exception:
            return []
        finally:
            storage.close()

    def wait_for_done(self, count: int, timeout: float = 60.0) -> int:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                out, err = self.process.communicate()
                pytest.fail(f"the script ended early:\n{out}\n{err}")
            done = self.statuses().count("done")
            if done >= count:
                return done
            time.sleep(0.03)
        self.kill()
        pytest.fail(f"fewer than {count} runs stored after {timeout} s")

    def signal(self, target: str) -> None:
        if target == "group":
            os.killpg(self.process.pid, signal.SIGINT)  # what the terminal does on Ctrl-C
        else:
            os.kill(self.process.pid, signal.SIGINT)

    def wait(self, timeout: float = 60.0) -> tuple[int, str, str]:
        try:
            out, err = self.process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise
        return self.process.returncode, out, err

    def kill(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.communicate()


def stored_runs(path: Path) -> tuple[list[str], list[str], dict[int, object]]:
    """Statuses, error texts and the ``y`` result of each run that has one."""
    loaded = pr.load_trajectory(path)
    storage = loaded.storage
    assert storage is not None
    try:
        table = storage.load_run_table("sweep")
        y = loaded.results["y"]
        done = [int(i) for i in table.index[table.status == "done"]]
        values = dict(zip(done, y[done].tolist(), strict=True)) if done else {}
        return list(table.status.tolist()), list(table.error.tolist()), values
    finally:
        storage.close()


def check_honest(path: Path, n: int) -> tuple[list[int], list[int]]:
    """No done run is truncated; a failed run failed by the interrupt. Returns done and failed."""
    status, errors, y = stored_runs(path)
    assert len(status) == n
    assert set(status) <= {"done", "failed", "pending"}
    done = [i for i, s in enumerate(status) if s == "done"]
    failed = [i for i, s in enumerate(status) if s == "failed"]
    assert y == {i: 2 * i for i in done}, "a run cut short by Ctrl-C was stored as done"
    for index in failed:
        assert "KeyboardInterrupt" in errors[index], errors[index]
        assert "TypeError" not in errors[index]
    return done, failed


def resume_completes(tmp_path: Path, n: int) -> None:
    """``resume=True`` (in a fresh process, no signal) runs every run not done, then all are."""
    status_before, _, _ = stored_runs(tmp_path / "sweep.h5")
    sweep = Sweep(tmp_path, "serial", n, delay=0.0, resume=True)
    code, out, err = sweep.wait()
    assert code == 0, err
    not_done = sum(s != "done" for s in status_before)
    assert f"finished {not_done} 0 {n - not_done}" in out
    status, _, y = stored_runs(sweep.path)
    assert status == ["done"] * n
    assert y == {i: 2 * i for i in range(n)}


@pytest.mark.parametrize("target", ["pid", "group"])
@pytest.mark.parametrize("double", [False, True], ids=["once", "twice-within-0.5s"])
def test_serial_run_cut_short_by_its_own_handler_is_not_done(
    tmp_path: Path, target: str, double: bool
) -> None:
    n = 40
    sweep = Sweep(tmp_path, "serial", n, delay=0.4, resume=False)
    try:
        sweep.wait_for_done(2)
        sweep.signal(target)
        if double:
            time.sleep(0.05)
            sweep.signal(target)
        code, out, err = sweep.wait()
    finally:
        sweep.kill()
    assert code != 0, "the interrupted serial sweep must not exit 0"
    assert "KeyboardInterrupt" in err
    assert "finished" not in out
    done, failed = check_honest(sweep.path, n)
    # The run in flight returned early through the simulate code's handler: stored not done,
    # and the sweep stopped right after it.
    assert len(failed) == 1
    assert failed[0] == max(done) + 1
    assert len(done) < n - 1
    resume_completes(tmp_path, n)


@pytest.mark.parametrize("executor", ["process", "dask"])
@pytest.mark.parametrize("target", ["pid", "group"])
@pytest.mark.parametrize("double", [False, True], ids=["once", "twice-within-0.5s"])
def test_parallel_workers_never_hear_ctrl_c(
    tmp_path: Path, executor: str, target: str, double: bool
) -> None:
    # The workers are in their own session: neither the driver's pid nor its process group
    # reaches them, so runs in flight finish normally (never cut short) and are stored done;
    # a second signal within half a second is the same Ctrl-C, not a "cancel".
    n = 60
    sweep = Sweep(tmp_path, executor, n, delay=0.4, resume=False)
    try:
        seen = sweep.wait_for_done(3, timeout=90)
        sweep.signal(target)
        if double:
            time.sleep(0.05)
            sweep.signal(target)
        code, out, err = sweep.wait()
    finally:
        sweep.kill()
    assert code != 0
    assert "KeyboardInterrupt" in err
    assert "'Handlers' object is not callable" not in err
    # The first press lets the runs in flight finish: env.run raises at its end, not from the
    # signal handler while waiting (which is what a second press, a cancel, does).
    assert "interrupted in run" in out, out
    done, failed = check_honest(sweep.path, n)
    assert failed == []
    assert seen <= len(done) < n
    resume_completes(tmp_path, n)


def test_cheap_serial_runs_are_looked_after_together_and_none_cut_short_is_done() -> None:
    # Serial runs of microseconds are looked after (a SIGINT the simulate code's own handler
    # took?) once per millisecond of runs or 64 runs: when a look finds one, every run since
    # the last look may have been cut short, and none of them is stored as done.
    n, k = 2_000, 1_000
    calls: list[int] = []

    def simulate(run: pr.Run) -> dict[str, int]:
        calls.append(run.i)
        if run.i == k:
            # A handler of its own that takes the SIGINT, removed again before the run returns.
            previous = signal.signal(signal.SIGINT, lambda signum, frame: None)
            try:
                os.kill(os.getpid(), signal.SIGINT)
                time.sleep(0.01)  # the handler runs in the meantime
            finally:
                signal.signal(signal.SIGINT, previous)
        return {"y": 2 * run.i}

    storage = pr.MemoryStorageService()
    traj = pr.Trajectory("cheap", seed=0)
    i = traj.add_parameter("i", 0)
    traj.explore(i.sweep(list(range(n))))
    with pytest.raises(KeyboardInterrupt):
        pr.Environment(traj, storage=storage).run(simulate, progress=False)
    assert calls == list(range(k + 1)), "the sweep stops after the run the SIGINT reached"
    table = storage.load_run_table("cheap")
    status = dict(zip(table.index.tolist(), table.status.tolist(), strict=True))
    done = sorted(index for index, s in status.items() if s == "done")
    failed = sorted(index for index, s in status.items() if s == "failed")
    # The cut-short run and those looked after with it are failed (interrupted), one block
    # ending at the run the SIGINT reached; every run before it is done, with its result.
    assert failed
    assert failed[-1] == k
    assert failed == list(range(failed[0], k + 1))
    assert len(failed) <= 64, failed
    assert done == list(range(failed[0]))
    errors = dict(zip(table.index.tolist(), table.error.tolist(), strict=True))
    assert all("KeyboardInterrupt" in errors[index] for index in failed)
    values = pr.load_trajectory(storage).results["y"]
    assert values[done].tolist() == [2 * index for index in done]
