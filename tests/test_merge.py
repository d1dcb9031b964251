"""``pr.merge_trajectories``: within and across files, duplicates, trials, lineage, SIGKILL."""

from __future__ import annotations

import contextlib
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import pypet_rebuild as pr
from pypet_rebuild.errors import MergeError


def simulate(run: pr.Run) -> dict[str, object]:
    """Fails for negative x; ``draw`` depends on the trajectory's seed (tells studies apart)."""
    if run.x < 0:
        raise ValueError("negative x")
    z = run.x * run.y
    return {"z": z, "arr": np.full(5, z), "draw": float(run.rng.random())}


def study(
    path: Path,
    name: str,
    xs: list[float],
    *,
    y: int = 1,
    seed: int = 0,
    x_type: type = float,
    extra: str | None = None,
) -> pr.StoredTrajectory:
    traj = pr.Trajectory(name, comment=f"study {name}", seed=seed)
    traj.add_parameter("x", x_type(0), comment="input", annotations={"unit": "V"})
    traj.add_parameter("y", y)
    if extra is not None:
        traj.add_parameter(extra, 0.5)
    traj.explore({"x": [x_type(x) for x in xs]})
    pr.Environment(traj, storage=path).run(simulate, on_error="continue", progress=False)
    return pr.load_trajectory(path, name)


def column(traj: pr.StoredTrajectory, name: str) -> list[Any]:
    """A parameter or result column as a list (``None`` where a run has no value)."""
    if name in traj.results:
        return traj.results[name].to_list()
    return [traj.run_parameters(i)[name] for i in range(len(traj))]


# -- merging -------------------------------------------------------------------------------------


def test_merging_across_files_renumbers_runs_and_copies_everything(tmp_path: Path) -> None:
    a = study(tmp_path / "a.h5", "a", [1.0, 2.0], seed=1)
    b = study(tmp_path / "b.h5", "b", [3.0, -1.0], seed=2)
    b_draws = column(b, "draw")
    merged = pr.merge_trajectories(a, b)
    assert merged.name == "a"
    assert len(merged) == 4
    assert column(merged, "x") == [1.0, 2.0, 3.0, -1.0]
    assert column(merged, "z") == [1.0, 2.0, 3.0, None]
    assert column(merged, "draw")[2:] == [b_draws[0], None]
    np.testing.assert_array_equal(merged.results["arr"][2], np.full(5, 3.0))
    frame = merged.to_pandas(["z"], metadata=["status", "error", "seed"])
    assert frame["status"].tolist() == ["done", "done", "done", "failed"]
    assert "negative x" in frame["error"][3]
    assert frame["seed"].tolist()[2:] == b.to_pandas([], metadata=["seed"])["seed"].tolist()
    # The merge replaced the target in its file; the other source is untouched.
    reloaded = pr.load_trajectory(tmp_path / "a.h5")
    assert len(reloaded) == 4
    assert column(reloaded, "z") == [1.0, 2.0, 3.0, None]
    assert reloaded.get_parameter("x").annotations == {"unit": "V"}
    assert reloaded.get_parameter("x").comment == "input"
    assert len(pr.load_trajectory(tmp_path / "b.h5")) == 2
    assert not [p for p in tmp_path.iterdir() if ".merge-" in p.name or p.suffix == ".tmp"]


def test_merging_within_one_file_leaves_the_other_trajectories_alone(tmp_path: Path) -> None:
    path = tmp_path / "both.h5"
    a = study(path, "a", [1.0, 2.0])
    c = study(path, "c", [5.0])
    merged = pr.merge_trajectories(a, c)
    assert column(merged, "x") == [1.0, 2.0, 5.0]
    assert pr.HDF5StorageService(path).trajectory_names() == ("a", "c")
    assert column(pr.load_trajectory(path, "c"), "z") == [5.0]
    # Merging into a new name keeps the target as it was, in the same file.
    renamed = pr.merge_trajectories(pr.load_trajectory(path, "c"), merged, name="everything")
    assert column(renamed, "x") == [5.0, 1.0, 2.0, 5.0]
    assert set(pr.HDF5StorageService(path).trajectory_names()) == {"a", "c", "everything"}
    assert len(pr.load_trajectory(path, "c")) == 1


def test_duplicates_are_dropped_by_point_keeping_the_first(tmp_path: Path) -> None:
    a = study(tmp_path / "a.h5", "a", [1.0, 2.0], seed=1)
    b = study(tmp_path / "b.h5", "b", [2.0, 3.0, 3.0], seed=2)
    a_draws, b_draws = column(a, "draw"), column(b, "draw")
    kept = pr.merge_trajectories(a, b, drop_duplicates=True, into=tmp_path / "kept.h5")
    assert column(kept, "x") == [1.0, 2.0, 3.0]
    assert column(kept, "draw") == [a_draws[0], a_draws[1], b_draws[1]]
    everything = pr.merge_trajectories(a, b, into=tmp_path / "all.h5")
    assert column(everything, "x") == [1.0, 2.0, 2.0, 3.0, 3.0]
    assert [runs for _, runs in everything.unique_points()] == [[0], [1, 2], [3, 4]]
    assert kept.storage is not None
    sources = kept.storage.load_provenance("a")[-1]["merged_from"]
    assert isinstance(sources, list)
    assert [s["runs_kept"] for s in sources] == [2, 1]


def test_repeated_points_are_numbered_by_a_trial_parameter(tmp_path: Path) -> None:
    a = study(tmp_path / "a.h5", "a", [1.0, 2.0])
    b = study(tmp_path / "b.h5", "b", [2.0, 3.0, 2.0])
    merged = pr.merge_trajectories(a, b, trial_parameter="trial")
    assert merged.explored_names == ("x", "trial")
    assert column(merged, "x") == [1.0, 2.0, 2.0, 3.0, 2.0]
    assert column(merged, "trial") == [0, 0, 1, 0, 2]
    assert merged.get_parameter("trial").value_type.python_type is int
    assert len(merged.unique_points()) == 5  # every run is its own point now
    frame = merged.to_pandas(["z"], index="explored", metadata=False)
    assert frame.loc[(2.0, 1), "z"] == 2.0
    # Merging more repetitions in continues the count.
    c = study(tmp_path / "c.h5", "c", [2.0])
    again = pr.merge_trajectories(merged, c, trial_parameter="trial")
    assert column(again, "trial") == [0, 0, 1, 0, 2, 3]


def test_differing_defaults_become_explored_so_every_run_keeps_its_values(
    tmp_path: Path,
) -> None:
    a = study(tmp_path / "a.h5", "a", [1.0, 2.0], y=1)
    b = study(tmp_path / "b.h5", "b", [1.0, 2.0], y=5)
    merged = pr.merge_trajectories(a, b, drop_duplicates=True)
    assert merged.explored_names == ("x", "y")
    assert column(merged, "y") == [1, 1, 5, 5]
    assert column(merged, "z") == [1.0, 2.0, 5.0, 10.0]
    assert merged.find_runs("y == 5 and z > 6") == [3]


def test_the_provenance_of_every_source_is_kept_as_lineage(tmp_path: Path) -> None:
    a = study(tmp_path / "a.h5", "a", [1.0])
    b = study(tmp_path / "b.h5", "b", [2.0, 3.0])
    own = b.provenance
    merged = pr.merge_trajectories(a, b)
    records = merged.provenance
    lineage = records[-1]
    assert lineage["operation"] == "merge"
    assert lineage["runs"] == 3
    sources = lineage["merged_from"]
    assert isinstance(sources, list)
    assert [(s["trajectory"], s["runs"], s["runs_kept"]) for s in sources] == [
        ("a", 1, 1),
        ("b", 2, 2),
    ]
    assert sources[0]["file"] == str((tmp_path / "a.h5").resolve())
    assert sources[1]["file"] == str((tmp_path / "b.h5").resolve())
    assert sources[1]["provenance"] == own


def test_derived_results_are_carried_over_with_renumbered_lineage(tmp_path: Path) -> None:
    a = study(tmp_path / "a.h5", "a", [1.0, 2.0])
    b = study(tmp_path / "b.h5", "b", [2.0, 4.0])
    a.add_derived("summary.mean_z", 1.5, comment="mean of z", runs=[0, 1])
    b.add_derived("summary.mean_z", 6.0, comment="mean of z", runs=[0, 1])
    b.add_derived("table", np.arange(3.0), runs=[1])
    merged = pr.merge_trajectories(a, b, drop_duplicates=True, into=tmp_path / "m.h5")
    derived = pr.load_trajectory(tmp_path / "m.h5").derived
    assert set(derived) == {"summary.mean_z", "source_1.summary.mean_z", "source_1.table"}
    assert derived["summary.mean_z"].value == 1.5
    assert derived["summary.mean_z"].comment == "mean of z"
    assert derived["summary.mean_z"].annotations["lineage_runs"] == [0, 1]
    # b's run 0 (x=2.0) was a duplicate and is gone; its run 1 is now run 2.
    assert derived["source_1.summary.mean_z"].annotations["lineage_runs"] == [2]
    assert derived["source_1.table"].annotations["lineage_runs"] == [2]
    np.testing.assert_array_equal(derived["source_1.table"].value, np.arange(3.0))
    assert len(merged) == 3


def test_into_writes_a_new_file_and_leaves_the_target_alone(tmp_path: Path) -> None:
    a = study(tmp_path / "a.h5", "a", [1.0])
    b = study(tmp_path / "b.h5", "b", [2.0])
    merged = pr.merge_trajectories(a, b, into=tmp_path / "new.h5", name="combined")
    assert merged.name == "combined"
    assert pr.load_trajectory(tmp_path / "new.h5").name == "combined"
    assert column(pr.load_trajectory(tmp_path / "new.h5"), "z") == [1.0, 2.0]
    assert len(pr.load_trajectory(tmp_path / "a.h5")) == 1
    # Writing over a different trajectory of the same name is refused.
    with pytest.raises(MergeError, match="already holds a trajectory named 'combined'"):
        pr.merge_trajectories(a, b, into=tmp_path / "new.h5", name="combined")


def test_trajectories_in_memory_merge_in_memory() -> None:
    studies = []
    for name, xs in (("a", [1.0, 2.0]), ("b", [3.0])):
        traj = pr.Trajectory(name, seed=0)
        traj.add_parameter("x", 0.0)
        traj.add_parameter("y", 2)
        traj.explore({"x": xs})
        env = pr.Environment(traj)
        env.run(simulate, progress=False)
        studies.append(env.study)
    merged = pr.merge_trajectories(*studies)
    assert isinstance(merged.storage, pr.MemoryStorageService)
    assert column(merged, "z") == [2.0, 4.0, 6.0]


# -- bad input -----------------------------------------------------------------------------------


def test_different_parameters_are_refused_listing_each_difference(tmp_path: Path) -> None:
    a = study(tmp_path / "a.h5", "a", [1.0], extra="noise")
    b = study(tmp_path / "b.h5", "b", [2.0], extra="gain")
    with pytest.raises(MergeError) as caught:
        pr.merge_trajectories(a, b)
    message = str(caught.value)
    assert "'b' lacks parameters ['noise']" in message
    assert "'b' has parameters ['gain'] that 'a' lacks" in message
    assert isinstance(caught.value, ValueError)


def test_different_parameter_types_are_refused(tmp_path: Path) -> None:
    a = study(tmp_path / "a.h5", "a", [1.0])
    b = study(tmp_path / "b.h5", "b", [2], x_type=int)
    with pytest.raises(MergeError, match="parameter 'x' is float in 'a' but int in 'b'"):
        pr.merge_trajectories(a, b)


def test_a_trajectory_cannot_be_merged_into_itself(tmp_path: Path) -> None:
    a = study(tmp_path / "a.h5", "a", [1.0])
    with pytest.raises(MergeError, match="into itself"):
        pr.merge_trajectories(a, a)
    same = pr.load_trajectory(Path(os.path.relpath(tmp_path / "a.h5")))
    with pytest.raises(MergeError, match=r"into itself \(it is passed as argument 0 and 1\)"):
        pr.merge_trajectories(a, same)


def test_nothing_to_merge_and_unstored_trajectories_are_refused(tmp_path: Path) -> None:
    a = study(tmp_path / "a.h5", "a", [1.0])
    with pytest.raises(MergeError, match="nothing to merge"):
        pr.merge_trajectories(a)
    fresh = pr.Trajectory("fresh")
    fresh.add_parameter("x", 0.0)
    fresh.add_parameter("y", 1)
    with pytest.raises(MergeError, match=r"stored studies, got Trajectory 'fresh'.*env\.study"):
        pr.merge_trajectories(a, fresh)  # type: ignore[arg-type]


def test_the_trial_parameter_must_be_an_integer(tmp_path: Path) -> None:
    a = study(tmp_path / "a.h5", "a", [1.0], extra="trial")
    b = study(tmp_path / "b.h5", "b", [1.0], extra="trial")
    with pytest.raises(MergeError, match="'trial' must be an int parameter"):
        pr.merge_trajectories(a, b, trial_parameter="trial")


# -- a merge killed at random moments --------------------------------------------------------

# One interpreter imports pypet_rebuild once, then forks a child per merge: the test kills the
# child with SIGKILL at a random moment. (A fresh interpreter per kill would spend seconds in
# imports before reaching the merge.)
SERVER = r"""
import os, sys, traceback
import pypet_rebuild as pr

def merge(target, directory, n):
    sources = [pr.load_trajectory(os.path.join(directory, f"s{i}.h5")) for i in range(n)]
    pr.merge_trajectories(pr.load_trajectory(target), *sources, drop_duplicates=True)

print("ready", flush=True)
for line in sys.stdin:
    target, directory, n = line.split()
    pid = os.fork()
    if pid == 0:
        code = 0
        try:
            merge(target, directory, int(n))
        except BaseException:
            traceback.print_exc()
            code = 1
        os._exit(code)
    print(pid, flush=True)
    print(os.waitpid(pid, 0)[1], flush=True)
"""

SOURCES = 3
RUNS = 1500


def state(path: Path) -> tuple[object, ...]:
    """Everything a user sees of the stored trajectory (provenance times aside)."""
    storage = pr.HDF5StorageService(path)
    try:
        traj = pr.load_trajectory(storage)
        z = [None if v is None else float(v) for v in column(traj, "z")]
        arr = traj.results["arr"][:]
        return (
            len(traj),
            column(traj, "x"),
            z,
            np.ma.getdata(arr).tobytes(),
            np.ma.getmaskarray(arr).tobytes(),
            traj.to_pandas([], metadata=["status", "seed"]).to_json(),
            sorted(traj.derived),
        )
    finally:
        storage.close()


def merge_in_child(server: subprocess.Popen[str], target: Path, sources: Path) -> int:
    assert server.stdin is not None
    assert server.stdout is not None
    server.stdin.write(f"{target} {sources} {SOURCES}\n")
    server.stdin.flush()
    return int(server.stdout.readline())


@pytest.mark.slow
@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL and fork are POSIX features")
def test_a_merge_killed_at_any_moment_leaves_the_target_as_it_was_or_merged(
    tmp_path: Path,
) -> None:
    sources = tmp_path / "sources"
    sources.mkdir()
    points = {0.5, 1.5, -2.0}  # the target's
    for i in range(SOURCES):
        xs = [-1.0] + [float(k) for k in range(i * RUNS // 2 + 1, i * RUNS // 2 + RUNS)]
        study(sources / f"s{i}.h5", f"s{i}", xs, seed=i)  # half overlapping, one failed run
        points.update(xs)
    work = tmp_path / "work"
    work.mkdir()
    target = work / "target.h5"
    study(target, "target", [0.5, 1.5, -2.0], seed=9).add_derived("note", "before", runs=[0])
    pristine = tmp_path / "pristine.h5"
    shutil.copy(target, pristine)
    original = state(target)

    server = subprocess.Popen(
        [sys.executable, "-c", SERVER],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONWARNINGS": "error"},
    )
    try:
        assert server.stdout is not None
        assert server.stdout.readline().strip() == "ready"
        # A complete merge (on a copy) gives the merged state and how long a merge takes.
        reference = tmp_path / "reference" / "target.h5"
        reference.parent.mkdir()
        shutil.copy(target, reference)
        started = time.perf_counter()
        merge_in_child(server, reference, sources)
        assert int(server.stdout.readline()) == 0
        duration = time.perf_counter() - started
        merged = state(reference)
        assert merged[0] == len(points)
        assert merged != original

        outcomes: list[tuple[str, bool]] = []
        chance = random.Random(2026)
        while sum(kind == "killed" for kind, _ in outcomes) < 6 and len(outcomes) < 15:
            started = time.perf_counter()
            pid = merge_in_child(server, target, sources)
            time.sleep(chance.uniform(0.0, duration))
            with contextlib.suppress(ProcessLookupError):  # it may have finished
                os.kill(pid, signal.SIGKILL)
            status = int(server.stdout.readline())
            found = state(target)
            assert found in (original, merged), "the target is neither as it was nor merged"
            killed = os.WIFSIGNALED(status)
            outcomes.append(("killed" if killed else "finished", found == merged))
            if not killed:
                duration = min(duration, time.perf_counter() - started)
            if found == merged:
                shutil.copy(pristine, target)  # start the next attempt from the original again
        assert sum(kind == "killed" for kind, _ in outcomes) >= 5, outcomes

        # The next merge cleans up what the killed ones left behind, and completes.
        merge_in_child(server, target, sources)
        assert int(server.stdout.readline()) == 0
        assert state(target) == merged
        debris = [p.name for p in work.iterdir() if p.name not in ("target.h5", "target.h5.lock")]
        assert debris == []
    finally:
        if server.stdin is not None:
            server.stdin.close()
        server.wait(timeout=60)
        if server.stdout is not None:
            server.stdout.close()
