"""Growing a study: ``traj.expand``, ``pr.AdaptiveSweep`` (ask/tell, scipy), derived results."""

from __future__ import annotations

import contextlib
import math
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from scipy import optimize

import pypet_rebuild as pr
from pypet_rebuild.errors import (
    DuplicateNodeError,
    ExplorationError,
    ResultNotFoundError,
    TrajectoryNotFoundError,
    UnknownParameterError,
)

ROOT = 2.0 ** (1.0 / 3.0)


def cubic(run: pr.Run) -> dict[str, object]:
    """``f(x) = x**3 - 2`` and a 1 KB trace; fails for x > 10."""
    if run.x > 10:
        raise ValueError("out of range")
    f = run.x**3 - 2.0
    return {"f": f, "trace": np.full(128, run.x)}


def new_study(name: str = "root") -> pr.Trajectory:
    traj = pr.Trajectory(name, seed=11)
    traj.add_parameter("x", 0.0, comment="where f is evaluated")
    return traj


def segments_of(path: Path) -> list[str]:
    folder = path.with_name(path.name + ".segments")
    return sorted(os.listdir(folder)) if folder.exists() else []


# -- an ask/tell loop ------------------------------------------------------------------------


def test_a_bisection_stores_every_round_in_one_file(tmp_path: Path) -> None:
    path = tmp_path / "bisect.h5"
    sweep = pr.AdaptiveSweep(new_study(), cubic, storage=path)
    storage = sweep._environment.storage
    assert isinstance(storage, pr.HDF5StorageService)
    assert storage.compaction == "auto"
    low, high = 0.0, 2.0
    asked: list[list[float]] = []
    while high - low > 1e-3:
        # Three interior points per round: the bracket shrinks fourfold.
        points = [low + (high - low) * k / 4 for k in (1, 2, 3)]
        asked.append(points)
        outcome = sweep.evaluate({"x": points})
        assert outcome.number == len(asked) - 1
        assert outcome.indices == tuple(range(3 * outcome.number, 3 * outcome.number + 3))
        assert [p["x"] for p in outcome.points] == points
        # Only the new points ran; every earlier run was skipped, not run again.
        assert outcome.report is not None
        assert (outcome.report.done, outcome.report.skipped) == (3, 3 * outcome.number)
        # f increases: the root lies after the last point where f < 0 (f(high) > 0).
        above = [float(v) >= 0 for v in outcome.values("f")] + [True]  # type: ignore[arg-type]
        edges = [low, *points, high]
        crossing = above.index(True)
        low, high = edges[crossing], edges[crossing + 1]
    assert len(asked) >= 5
    assert low <= ROOT <= high

    def check(traj: pr.StoredTrajectory) -> None:
        assert len(traj) == 3 * len(asked)
        xs = [x for points in asked for x in points]
        assert [traj.point(i)["x"] for i in range(len(traj))] == xs
        np.testing.assert_allclose(traj.results["f"][:], [x**3 - 2.0 for x in xs])
        np.testing.assert_array_equal(traj.results["trace"][:, 0], xs)
        assert traj.find_runs("status != 'done'") == []
        assert traj.space is not None
        assert traj.space.kind == "concatenated"

    check(pr.load_trajectory(path))
    sweep.compact()
    assert segments_of(path) == []
    check(pr.load_trajectory(path))
    assert len(pr.load_trajectory(path).provenance) == len(asked)


def test_scipy_minimize_runs_one_stored_run_per_objective_call(tmp_path: Path) -> None:
    path = tmp_path / "scipy.h5"
    traj = new_study("fit")
    traj.add_parameter("y", 0.0)

    def bowl(run: pr.Run) -> dict[str, object]:
        return {"loss": (run.x - 0.7) ** 2 + (run.y + 0.2) ** 2}

    with pr.AdaptiveSweep(traj, bowl, storage=path) as sweep:
        objective = sweep.objective("loss", ["x", "y"])
        found = optimize.minimize(
            objective, x0=[0.0, 0.0], method="Nelder-Mead", options={"maxfev": 12}
        )
    assert found.nfev >= 10
    assert len(sweep.rounds) == found.nfev
    assert segments_of(path) == []  # leaving the with block compacted the file
    stored = pr.load_trajectory(path)
    assert len(stored) == found.nfev
    frame = stored.to_pandas(["loss"])
    # scipy's answer is one of the stored runs, with its stored loss.
    (answer,) = stored.find_runs(x=float(found.x[0]), y=float(found.x[1]))
    assert frame["loss"][answer] == found.fun
    assert frame["loss"].min() <= found.fun < frame["loss"][0]
    for number, outcome in enumerate(sweep.rounds):
        (index,) = outcome.indices
        assert index == number
        assert stored.point(index) == outcome.points[0]
        assert frame["loss"][index] == outcome.values("loss")[0]


def test_failed_runs_come_back_as_none_and_the_objective_as_nan(tmp_path: Path) -> None:
    sweep = pr.AdaptiveSweep(new_study(), cubic)  # in memory
    outcome = sweep.evaluate([{"x": 1.0}, {"x": 11.0}, {"x": 2.0}])
    assert outcome.values("f") == [-1.0, None, 6.0]
    assert outcome.report is not None
    assert outcome.report.failed == 1
    assert math.isnan(sweep.objective("f", ["x"])([12.0]))
    assert sweep.objective("f", ["x"])([0.0]) == -2.0
    with pytest.raises(ResultNotFoundError, match="round 0 produced no result 'g'"):
        outcome.values("g")
    assert sweep.study.find_runs("status == 'failed'") == [1, 3]


def test_a_loaded_study_continues_where_it_stopped(tmp_path: Path) -> None:
    path = tmp_path / "continue.h5"
    first = pr.AdaptiveSweep(new_study(), cubic, storage=path)
    first.evaluate({"x": [0.0, 1.0]})
    first.compact()
    loaded = pr.load_trajectory(path)
    again = pr.AdaptiveSweep(loaded, cubic, storage=path)
    outcome = again.evaluate({"x": [1.5]})
    assert outcome.indices == (2,)
    assert outcome.report is not None
    assert outcome.report.skipped == 2
    assert pr.load_trajectory(path).results["f"][:].tolist() == [-2.0, -1.0, 1.5**3 - 2.0]


def test_compacting_before_any_round_does_nothing(tmp_path: Path) -> None:
    with pr.AdaptiveSweep(new_study(), cubic, storage=tmp_path / "never.h5") as sweep:
        pass
    assert sweep.rounds == []
    assert not (tmp_path / "never.h5").exists()
    storage = pr.HDF5StorageService(tmp_path / "other.h5")
    traj = new_study("exists")
    traj.explore({"x": [1.0]})
    pr.Environment(traj, storage=storage).run(cubic, progress=False)
    with pytest.raises(TrajectoryNotFoundError, match="holds no such trajectory"):
        storage.compact("missing")


# -- bad input -------------------------------------------------------------------------------


def test_an_expansion_with_unknown_or_missing_parameters_is_refused(tmp_path: Path) -> None:
    traj = new_study()
    traj.add_parameter("y", 1)
    sweep = pr.AdaptiveSweep(traj, cubic, storage=tmp_path / "bad.h5")
    sweep.evaluate({"x": [1.0], "y": [2]})
    with pytest.raises(UnknownParameterError, match="cannot explore 'speed'"):
        sweep.evaluate({"x": [1.0], "speed": [2]})
    with pytest.raises(UnknownParameterError, match=r"missing \['y'\], unexpected \[\]"):
        sweep.evaluate({"x": [3.0]})
    with pytest.raises(UnknownParameterError, match=r"missing \['x'\], unexpected \[\]"):
        traj.expand({"y": [3]})
    with pytest.raises(ExplorationError, match="point 1 has parameters"):
        sweep.evaluate([{"x": 1.0, "y": 1}, {"x": 2.0}])
    with pytest.raises(ExplorationError, match="at least one point"):
        sweep.evaluate([])
    with pytest.raises(TypeError, match="decides resume= itself"):
        pr.AdaptiveSweep(traj, cubic, resume=True)
    # Nothing of the refused rounds was added.
    assert len(traj) == 1
    assert len(pr.load_trajectory(tmp_path / "bad.h5")) == 1


# -- derived results after the sweep ---------------------------------------------------------


def test_a_derived_result_keeps_its_lineage_to_the_runs_it_came_from(tmp_path: Path) -> None:
    path = tmp_path / "derived.h5"
    sweep = pr.AdaptiveSweep(new_study(), cubic, storage=path)
    for start in (0.0, 1.0, 2.0):
        sweep.evaluate({"x": [start, start + 0.5]})
    traj = sweep.study
    positive = traj.find_runs("f > 0")
    table = np.array([traj.results["f"][i] for i in positive])
    traj.add_derived(
        "analysis.positive_f",
        table,
        comment="f where it is positive",
        annotations={"unit": "a.u."},
        runs=positive,
    )
    with pytest.raises(DuplicateNodeError, match="replace=True"):
        traj.add_derived("analysis.positive_f", table)
    sweep.compact()
    stored = pr.load_trajectory(path).derived["analysis.positive_f"]
    np.testing.assert_array_equal(stored.value, table)
    assert stored.comment == "f where it is positive"
    assert stored.annotations["unit"] == "a.u."
    assert stored.annotations["lineage_runs"] == positive == [3, 4, 5]
    assert isinstance(stored.annotations["lineage_added"], float)
    # A later round and a replaced analysis product: the file keeps both the runs and the new
    # product, and nothing else changes.
    sweep.evaluate({"x": [3.0]})
    loaded = pr.load_trajectory(path)
    loaded.add_derived(
        "analysis.positive_f", np.append(table, 25.0), runs=[3, 4, 5, 6], replace=True
    )
    again = pr.load_trajectory(path)
    assert again.derived["analysis.positive_f"].annotations["lineage_runs"] == [3, 4, 5, 6]
    assert len(again) == 7


# -- a round killed with SIGKILL, then resumed -----------------------------------------------

SERVER = r"""
import os, sys, traceback
import numpy as np
import pypet_rebuild as pr

def simulate(run):
    return {"loss": (run.x - 0.3) ** 2, "trace": np.full(64, run.x)}

def points(k):
    return [round(k + i / 10, 3) for i in range(5)]

def rounds(path, first, count, log):
    if first == 0:
        traj = pr.Trajectory("opt", seed=5)
        traj.add_parameter("x", 0.0)
    else:
        traj = pr.load_trajectory(path)
    sweep = pr.AdaptiveSweep(traj, simulate, storage=path)
    fd = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
    for k in range(first, first + count):
        sweep.evaluate({"x": points(k)})
        os.write(fd, f"{k}\n".encode())

print("ready", flush=True)
for line in sys.stdin:
    path, first, count, log = line.split()
    pid = os.fork()
    if pid == 0:
        code = 0
        try:
            rounds(path, int(first), int(count), log)
        except BaseException:
            traceback.print_exc()
            code = 1
        os._exit(code)
    print(pid, flush=True)
    print(os.waitpid(pid, 0)[1], flush=True)
"""


def round_points(k: int) -> list[float]:
    return [round(k + i / 10, 3) for i in range(5)]


@pytest.mark.slow
@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL and fork are POSIX features")
def test_a_round_killed_with_sigkill_resumes_and_the_file_holds_every_round(
    tmp_path: Path,
) -> None:
    path = tmp_path / "killed.h5"
    log = tmp_path / "rounds.log"
    server = subprocess.Popen(
        [sys.executable, "-c", SERVER], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert server.stdin is not None
    assert server.stdout is not None

    def start(first: int, count: int) -> int:
        assert server.stdin is not None
        assert server.stdout is not None
        server.stdin.write(f"{path} {first} {count} {log}\n")
        server.stdin.flush()
        return int(server.stdout.readline())

    def check(traj: pr.StoredTrajectory, complete_rounds: int) -> None:
        """Every stored point is some round's point, in order; done runs have right results."""
        n = len(traj)
        assert n >= 5 * complete_rounds
        assert n % 5 == 0  # a round's points are appended together, or not at all
        xs = [traj.point(i)["x"] for i in range(n)]
        assert xs == [x for k in range(n // 5) for x in round_points(k)]
        frame = traj.to_pandas(["loss"])
        done = frame["status"] == "done"
        assert done[: 5 * complete_rounds].all()
        np.testing.assert_allclose(frame["loss"][done], (frame["x"][done] - 0.3) ** 2)
        assert (frame["status"][~done] == "pending").all()

    try:
        assert server.stdout.readline().strip() == "ready"
        chance = random.Random(7)
        first = 0
        kills = 0
        for _ in range(3):
            pid = start(first, 50)
            time.sleep(chance.uniform(0.3, 1.5))
            with contextlib.suppress(ProcessLookupError):  # it may have finished
                os.kill(pid, signal.SIGKILL)
            kills += os.WIFSIGNALED(int(server.stdout.readline()))
            logged = log.read_text().split() if log.exists() else []
            if not path.exists():
                first = 0  # killed before the first round was stored
                continue
            traj = pr.load_trajectory(path)
            check(traj, max(map(int, logged)) + 1 if logged else 0)
            first = len(traj) // 5  # resume: the next evaluate also runs the pending runs
            assert traj.storage is not None
            traj.storage.close()
        assert kills >= 2
        pid = start(first, 3)
        assert int(server.stdout.readline()) == 0
        final = pr.load_trajectory(path)
        assert len(final) == 5 * (first + 3)
        check(final, first + 3)
        assert final.find_runs("status != 'done'") == []
        pr.HDF5StorageService(path).compact()
        check(pr.load_trajectory(path), first + 3)
        assert segments_of(path) == []
    finally:
        server.stdin.close()
        server.wait(timeout=60)
        server.stdout.close()
