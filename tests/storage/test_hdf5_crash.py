"""Crash safety for real: a sweep in a subprocess is killed with SIGKILL, then resumed.

A helper script (written into ``tmp_path``) runs a sweep into an HDF5 file. The test starts it,
kills it with SIGKILL at a random moment (or at a moment the script announces by creating a
marker file while it sleeps inside a chosen storage phase), and checks the file in this process:
it opens, every run marked done has exactly the results of an uninterrupted run, no run that was
done before is lost, and the provenance lists one entry per ``run`` call that completed. The next
subprocess resumes; a last one completes the sweep.

Phases a kill lands in: Python start-up (no file yet), ``begin_sweep`` (before and after the
atomic rename of the new main file; when resuming, inside the in-place fold of a killed sweep's
segments), the runs and the session's ``store_runs`` (before and after a segment's rename,
leaving a temporary file behind), and the session's ``finish``, the final fold in place: before
its journal appears, with the journal there and the change half written, with every page written
but the journal not yet deleted (rolled back), and after the commit (before the folded segments
are deleted). The final commit also takes the sweep's last batch (from memory, not a segment):
into a brand-new file it is a copy renamed over the file, killed before and after the rename.
"""

from __future__ import annotations

import importlib.util
import os
import random
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest

import pypet_rebuild as pr
from pypet_rebuild.errors import FileLockedError, ResumeMismatchError
from pypet_rebuild.storage.records import MISSING
from pypet_rebuild.testing import assert_studies_equal

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL and flock are POSIX features"),
]

NAME = "crash"
RESULTS = ("arr", "label", "z")

SCRIPT = '''
"""Run or resume a crash-test sweep: ``script.py PATH fresh|resume N_X N_Y BATCH FLUSH``.

Prints nothing. ``CRASH_MARKERS`` is a folder: ``ready`` appears just before ``env.run``.
``CRASH_PAUSE=<begin|store|end>:<n>:<before|after>`` sleeps for a minute just before or just
after the n-th step inside that storage phase (``begin_sweep``, the writer session's
``store_runs``, its ``finish`` or ``finish_with_runs``), after creating ``paused``, so that the
test can kill the process exactly there. A step is an atomic rename (of a ``*.tmp`` file: a new
main file, a segment, the journal of an in-place change appearing) or the commit of an in-place
change (its journal deleted).
"""

import os
import sys
import time
from pathlib import Path

import numpy as np

import pypet_rebuild as pr

SLEEP = 0.002


def build(n_x, n_y, variant=""):
    traj = pr.Trajectory("crash", seed=11)
    traj.add_parameter("x", 1.0)
    traj.add_parameter("y", 1)
    traj.add_parameter("scale", 3.0 if variant == "defaults" else 2.0)
    if variant == "extra":
        traj.add_parameter("extra", 0)
    ys = list(range(n_y + 1 if variant == "space" else n_y))
    traj.explore(pr.cartesian_product({"x": [0.5 * i for i in range(n_x)], "y": ys}))
    return traj


def simulate(run):
    time.sleep(SLEEP)
    x, y, scale = run.x, run.y, run.scale
    return {
        "z": x * y,
        "arr": np.arange(4, dtype=np.float64) * x + y * scale,
        "label": f"x={x!r} y={y!r}",
    }


def install_pause(spec, marker):
    phase, nth, when = spec.split(":")
    state = {"phase": "", "count": 0}
    real_replace = os.replace
    real_unlink = os.unlink

    def pausing(real, is_step):
        def step(path, *args, **kwargs):
            hit = state["phase"] == phase and is_step(str(path))
            if hit:
                state["count"] += 1
                hit = state["count"] == int(nth)
            if hit and when == "before":
                marker.touch()
                time.sleep(60)
            real(path, *args, **kwargs)
            if hit and when == "after":
                marker.touch()
                time.sleep(60)

        return step

    def tracked(phase, method):
        def wrapper(*args, **kwargs):
            state["phase"] = phase
            try:
                return method(*args, **kwargs)
            finally:
                state["phase"] = ""

        return wrapper

    begin = tracked("begin", pr.HDF5StorageService.begin_sweep)

    def begin_sweep(self, *args, **kwargs):
        session = begin(self, *args, **kwargs)
        # The session writes the batches of runs and, on finish, the final fold (which takes
        # the last batch with it: finish_with_runs).
        session.store_runs = tracked("store", session.store_runs)
        session.finish = tracked("end", session.finish)
        session.finish_with_runs = tracked("end", session.finish_with_runs)
        return session

    # The steps: an atomic rename (a new main file, a segment, or an in-place change's journal
    # appearing) and an in-place change's commit (its journal deleted).
    os.replace = pausing(real_replace, lambda path: path.endswith(".tmp"))
    os.unlink = pausing(real_unlink, lambda path: path.endswith(".journal"))
    pr.HDF5StorageService.begin_sweep = begin_sweep


def main():
    path, mode, n_x, n_y, batch, flush = sys.argv[1:7]
    markers = Path(os.environ["CRASH_MARKERS"])
    if os.environ.get("CRASH_PAUSE"):
        install_pause(os.environ["CRASH_PAUSE"], markers / "paused")
    traj = build(int(n_x), int(n_y))
    env = pr.Environment(traj, storage=path, batch_size=int(batch), flush_seconds=float(flush))
    (markers / "ready").touch()
    env.run(simulate, resume=mode == "resume", progress=False)


if __name__ == "__main__":
    main()
'''


def _load_script(tmp_path: Path) -> tuple[Path, ModuleType]:
    script = tmp_path / "crash_sweep.py"
    script.write_text(SCRIPT)
    spec = importlib.util.spec_from_file_location("crash_sweep", script)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return script, module


def _same(got: object, expected: object) -> bool:
    if isinstance(expected, np.ndarray):
        return (
            isinstance(got, np.ndarray)
            and got.dtype == expected.dtype
            and got.shape == expected.shape
            and bool(np.array_equal(got, expected))
        )
    return type(got) is type(expected) and got == expected


def _leftovers(path: Path) -> list[str]:
    """Segment files and temporary files that belong to ``path``."""
    found = [p.name for p in path.parent.glob(f".{path.name}.*.tmp")]
    segments = path.with_name(path.name + ".segments")
    if segments.is_dir():
        found += [f"{segments.name}/{p.name}" for p in segments.iterdir()]
    return sorted(found)


def _segment_files(path: Path) -> list[Path]:
    segments = path.with_name(path.name + ".segments")
    if not segments.is_dir():
        return []
    return sorted(p for p in segments.iterdir() if p.name.endswith(".h5"))


@dataclass
class State:
    """What a check found in the file."""

    done: frozenset[int]
    provenance: list[dict[str, object]]


@dataclass
class CrashedSweep:
    """One HDF5 file that a sequence of subprocesses writes to and that the test kills."""

    tmp_path: Path
    script: Path
    module: ModuleType
    path: Path
    n_x: int
    n_y: int
    batch: int
    flush: float
    rng: random.Random
    expected: dict[str, list[object]] = field(default_factory=dict)
    reference: pr.StoredTrajectory | None = None
    hashes: list[str] = field(default_factory=list)
    kills: int = 0
    completed_calls: int = 0
    started: int = 0
    state: State = field(default_factory=lambda: State(frozenset(), []))
    outcomes: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        module: Any = self.module
        reference = module.build(self.n_x, self.n_y)
        env = pr.Environment(reference)
        sleep, module.SLEEP = module.SLEEP, 0.0  # the reference run needs no slow runs
        try:
            env.run(module.simulate, progress=False)
        finally:
            module.SLEEP = sleep
        self.n_runs = len(reference)
        self.reference = env.study
        for name in RESULTS:
            self.expected[name] = list(self.reference.results[name].to_list())
        self.hashes = list(reference.point_hashes())

    @property
    def pending(self) -> int:
        return self.n_runs - len(self.state.done)

    def step(
        self,
        *,
        mode: str = "resume",
        pause: str | None = None,
        wait: tuple[float, float] = (0.0, 0.01),
        from_start: bool = False,
        kill: bool = True,
    ) -> str:
        """Start the script, kill it (unless it finishes first), check the file; the outcome."""
        self.started += 1
        markers = self.tmp_path / f"markers-{self.path.stem}-{self.started}"
        markers.mkdir()
        env = dict(os.environ, CRASH_MARKERS=str(markers))
        env.pop("CRASH_PAUSE", None)
        if pause is not None:
            env["CRASH_PAUSE"] = pause
        stderr_path = markers / "stderr.txt"
        with stderr_path.open("wb") as stderr:
            process = subprocess.Popen(
                [
                    sys.executable,
                    str(self.script),
                    str(self.path),
                    mode,
                    str(self.n_x),
                    str(self.n_y),
                    str(self.batch),
                    str(self.flush),
                ],
                stdout=subprocess.DEVNULL,
                stderr=stderr,
                cwd=self.tmp_path,
                env=env,
            )
            try:
                if kill and not from_start:
                    self._wait_for(process, markers / ("paused" if pause else "ready"))
                if kill:
                    time.sleep(self.rng.uniform(*wait))
                    if process.poll() is None:
                        process.send_signal(signal.SIGKILL)
                returncode = process.wait(timeout=300)
            finally:
                if process.poll() is None:  # pragma: no cover - only when the test itself fails
                    process.kill()
                    process.wait()
        if returncode == -signal.SIGKILL:
            self.kills += 1
            outcome = "killed"
        else:
            assert returncode == 0, stderr_path.read_text()
            self.completed_calls += 1
            outcome = "finished"
        self.outcomes.append(f"{pause or 'random'}:{outcome}")
        self.check(outcome)
        return outcome

    def _wait_for(self, process: subprocess.Popen[bytes], marker: Path) -> None:
        deadline = time.monotonic() + 60
        while not marker.exists():
            if process.poll() is not None:
                return  # finished (or failed) before the marker: step() checks its exit code
            assert time.monotonic() < deadline, f"{marker.name} never appeared"
            time.sleep(0.001)

    def check(self, outcome: str) -> State:
        """The file opens and holds exactly the expected results of every run marked done."""
        previous = self.state
        if not self.path.exists():
            # Killed before the very first main file existed: then there cannot be a segment.
            assert not _segment_files(self.path), _leftovers(self.path)
            assert not previous.done
            assert outcome == "killed"
            return previous
        traj = pr.load_trajectory(self.path)
        storage = traj.storage
        try:
            assert traj.name == NAME
            assert len(traj) == self.n_runs
            table = storage.load_run_table(NAME)
            assert table.index.tolist() == list(range(self.n_runs)), "runs lost or duplicated"
            assert table.point_hash.tolist() == self.hashes
            assert set(table.status.tolist()) <= {"done", "pending"}
            done = table.done()
            provenance = storage.load_provenance(NAME)
            runs = list(range(self.n_runs))
            names = set(storage.result_names(NAME))
            assert names <= set(RESULTS)
            assert names == (set(RESULTS) if done else set())
            for name in names:
                values = storage.read_results(NAME, name, runs)
                for run, (got, expected) in enumerate(
                    zip(values, self.expected[name], strict=True)
                ):
                    if run in done:
                        assert _same(got, expected), (name, run, got, expected)
                    else:
                        assert got is MISSING, (name, run, got)
            if done:
                done_runs = sorted(done)
                z = traj.results["z"][done_runs]
                np.testing.assert_array_equal(z, [self.expected["z"][i] for i in done_runs])
                first = done_runs[0]
                assert _same(traj.run(first).results["arr"], self.expected["arr"][first])
        finally:
            storage.close()
        assert previous.done <= done, f"runs reported done were lost: {previous.done - done}"
        grew = len(provenance) - len(previous.provenance)
        assert provenance[: len(previous.provenance)] == previous.provenance
        if outcome == "finished":
            assert grew == 1
        else:
            # A kill after finish's atomic rename still completed the run call.
            assert grew in (0, 1)
            if grew:
                self.completed_calls += 1
        if grew:
            assert len(done) == self.n_runs, "a sweep recorded as complete left runs pending"
        assert len(provenance) == self.completed_calls
        self.state = State(done, provenance)
        return self.state

    def finish(self) -> None:
        """A last resume completes the sweep; the file then holds the uninterrupted sweep."""
        pending = self.pending
        assert self.step(kill=False) == "finished"
        assert self.state.done == frozenset(range(self.n_runs))
        assert self.state.provenance[-1]["runs_done"] == pending
        assert _leftovers(self.path) == [], "segments or temporary files left behind"
        assert self.reference is not None
        with pr.load_trajectory(self.path) as traj:
            assert_studies_equal(self.reference, traj, run_metadata=True)


def _sweep(
    tmp_path: Path, file: str, n_x: int, n_y: int, batch: int, flush: float, seed: int
) -> CrashedSweep:
    script, module = _load_script(tmp_path)
    return CrashedSweep(
        tmp_path=tmp_path,
        script=script,
        module=module,
        path=tmp_path / file,
        n_x=n_x,
        n_y=n_y,
        batch=batch,
        flush=flush,
        rng=random.Random(seed),
    )


def test_sigkill_at_random_moments_then_resume_completes_the_sweep(tmp_path: Path) -> None:
    """At least 20 kills of one sweep (300 runs, batches of 4), then a resume completes it."""
    sweep = _sweep(tmp_path, "sweep.h5", n_x=20, n_y=15, batch=4, flush=60.0, seed=20240611)
    # Before the main file exists: during start-up, then with the temporary main file written.
    sweep.step(mode="fresh", wait=(0.0, 0.2), from_start=True)
    sweep.step(mode="resume" if sweep.path.exists() else "fresh", pause="begin:1:before")
    # The main file was just renamed into place.
    sweep.step(pause="begin:1:after")
    plan: list[tuple[str | None, tuple[float, float]]] = [
        (None, (0.1, 0.45)),  # in the runs, mostly inside store_runs
        (None, (0.0, 0.04)),  # mostly in begin_sweep, folding the killed sweep's segments
        ("store:3:before", (0.0, 0.01)),  # a temporary segment file is left behind
        (None, (0.1, 0.45)),
        ("begin:1:after", (0.0, 0.01)),  # segments folded into the main file, not yet deleted
        (None, (0.0, 0.04)),
        ("store:2:after", (0.0, 0.01)),  # just after a segment's rename
        (None, (0.1, 0.45)),
        ("begin:1:before", (0.0, 0.01)),  # a temporary main file beside unfolded segments
        (None, (0.05, 0.3)),
        ("store:1:before", (0.0, 0.01)),
        (None, (0.1, 0.45)),
        ("begin:1:after", (0.0, 0.01)),
        (None, (0.0, 0.1)),
        (None, (0.1, 0.45)),
    ]
    for pause, wait in plan:
        sweep.step(pause=pause, wait=wait)
    while sweep.kills < 20:  # top up with kills in a phase every process surely reaches
        assert sweep.started < 40, sweep.outcomes
        # Every resumed process folds at its end (its provenance at least), while begin_sweep
        # folds only when a killed sweep left segments: on a loaded machine a step of the plan
        # may complete the sweep, leaving nothing for begin_sweep to do.
        ends = ["end:1:before", "end:1:after"]
        phases = ["store:1:before", "store:1:after"] if sweep.pending > 8 else ends
        sweep.step(pause=sweep.rng.choice(phases))
    sweep.finish()
    assert sweep.kills >= 20, sweep.outcomes


def test_sigkill_during_the_final_fold_then_resume_completes_the_sweep(tmp_path: Path) -> None:
    """A small sweep with a segment per run: its final fold is long, kills land in it too."""
    sweep = _sweep(tmp_path, "small.h5", n_x=6, n_y=8, batch=3, flush=0.0, seed=7)
    sweep.step(mode="fresh", wait=(0.2, 0.6))
    for _ in range(3):
        sweep.step(wait=(0.2, 1.5))
        if sweep.pending == 0:
            break
    sweep.step(pause="end:1:before")  # every run done, the fold's journal not yet there
    assert sweep.pending == 0
    assert sweep.outcomes[-1] == "end:1:before:killed"
    sweep.step(wait=(0.0, 0.3))  # folding every run's segment in begin_sweep or finish
    sweep.step(pause="end:1:after")  # the journal is there, the change being made
    sweep.step(pause="end:2:before")  # the change written and synced, not committed
    assert sweep.outcomes[-1] == "end:2:before:killed"
    sweep.step(pause="end:2:after")  # committed: the run call completed
    sweep.finish()
    assert sweep.kills >= 4, sweep.outcomes


def test_sigkill_in_the_final_commit_that_takes_the_last_batch(tmp_path: Path) -> None:
    """The last batch goes into the final commit from memory, never to a segment file.

    Into a brand-new file that commit is a copy renamed over the file (no journal): killed just
    before the rename, the file is as ``begin_sweep`` wrote it plus the segments of the earlier
    batches, and the last batch is lost (it was never reported done); killed after it, the sweep
    completed. When resuming, the same commit goes through the journal: killed with everything
    written but the journal not deleted, the change (the last batch included) is rolled back.
    """
    # 48 runs in batches of 20: two segments, then the last 8 runs in the final commit.
    sweep = _sweep(tmp_path, "last.h5", n_x=6, n_y=8, batch=20, flush=60.0, seed=13)
    assert sweep.step(mode="fresh", pause="end:1:before") == "killed"
    assert len(sweep.state.done) == 40, sweep.outcomes  # the segments' runs; not the last 8
    assert len(_segment_files(sweep.path)) == 2
    assert any(name.endswith(".tmp") for name in _leftovers(sweep.path))  # the copy
    # Resuming folds the segments in begin_sweep (the journal), runs the last 8 runs and
    # commits them with the provenance in one change through the journal: killed before its
    # commit point, the change is rolled back.
    assert sweep.step(pause="end:2:before") == "killed"
    assert len(sweep.state.done) == 40, sweep.outcomes
    assert not _segment_files(sweep.path)
    assert sweep.step(pause="end:2:after") == "killed"  # committed: the run call completed
    assert sweep.pending == 0
    sweep.finish()

    # Killed just after the copy's rename: the sweep into the new file completed.
    fresh = _sweep(tmp_path, "renamed.h5", n_x=6, n_y=8, batch=20, flush=60.0, seed=17)
    assert fresh.step(mode="fresh", pause="end:1:after") == "killed"
    assert fresh.pending == 0
    assert fresh.completed_calls == 1
    fresh.finish()


def test_resume_with_another_space_or_defaults_is_refused_after_a_kill(tmp_path: Path) -> None:
    sweep = _sweep(tmp_path, "refuse.h5", n_x=10, n_y=10, batch=2, flush=60.0, seed=3)
    sweep.step(mode="fresh", pause="store:3:after")
    assert sweep.outcomes == ["store:3:after:killed"]
    done = sweep.state.done
    assert len(done) == 6
    before = {p.name: p.read_bytes() for p in [sweep.path, *_segment_files(sweep.path)]}
    attempts = {
        "defaults": "'scale'",
        "space": "run 10 explores a different point",
        "extra": "extra",
    }
    for variant, message in attempts.items():
        changed = sweep.module.build(sweep.n_x, sweep.n_y, variant)
        env = pr.Environment(changed, storage=sweep.path)
        with pytest.raises(ResumeMismatchError, match=message):
            env.run(sweep.module.simulate, resume=True, progress=False)
        env.storage.close()
    # Nothing was written: same main file, same segments, and the same runs are done.
    after = {p.name: p.read_bytes() for p in [sweep.path, *_segment_files(sweep.path)]}
    assert after == before
    assert sweep.check("killed").done == done
    # The refused attempts released the lock: the right sweep resumes and completes.
    sweep.finish()


def test_a_killed_writer_releases_the_lock_at_once(tmp_path: Path) -> None:
    sweep = _sweep(tmp_path, "lock.h5", n_x=5, n_y=4, batch=2, flush=60.0, seed=5)
    markers = tmp_path / "lock-markers"
    markers.mkdir()
    env = dict(os.environ, CRASH_MARKERS=str(markers), CRASH_PAUSE="store:1:after")
    args = [str(sweep.path), "fresh", "5", "4", "2", "60"]
    process = subprocess.Popen(
        [sys.executable, str(sweep.script), *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd=tmp_path,
        env=env,
    )
    try:
        sweep._wait_for(process, markers / "paused")
        assert process.poll() is None
        snapshot = sweep.module.build(5, 4).snapshot()
        blocked = pr.HDF5StorageService(sweep.path)
        with pytest.raises(FileLockedError, match="another process"):
            blocked.begin_sweep(snapshot, resume=True)
        blocked.close()
        process.send_signal(signal.SIGKILL)
        assert process.wait(timeout=60) == -signal.SIGKILL
    finally:
        if process.poll() is None:  # pragma: no cover - only when the test itself fails
            process.kill()
            process.wait()
    # No waiting, no stale-lock cleanup: a new writer can begin immediately.
    writer = pr.HDF5StorageService(sweep.path)
    try:
        with writer.begin_sweep(snapshot, resume=True) as session:
            assert session.done_runs == frozenset({0, 1})
    finally:
        writer.close()
    assert sweep.check("killed").done == frozenset({0, 1})
    sweep.finish()
