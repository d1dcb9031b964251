"""Every identifier is a valid name, and run metadata never replaces a user's result.

A file written with a parameter named after every public attribute of the API (``seed``,
``name``, ``index``, ``results``, ``run``...) loads, and round-trips through merge and the
command line: loading builds the stored study from the file and never replays the builder's
checks, so attributes added in later versions can never make an old file unloadable.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import pypet_rebuild as pr
from pypet_rebuild.analysis.results import ResultsView, RunView
from pypet_rebuild.execution.run import RunGroup


def _public(*classes: type) -> list[str]:
    names = {name for cls in classes for name in dir(cls) if not name.startswith("_")}
    return sorted(names)


RESULT_NAMES = ("status", "duration")
"""Run-metadata names given to results here, so they cannot also be parameters."""

API_NAMES = [
    name
    for name in _public(
        pr.Trajectory, pr.StoredTrajectory, pr.Group, pr.Run, RunGroup, RunView, ResultsView
    )
    if name not in RESULT_NAMES
]


def test_the_api_names_include_the_common_ones() -> None:
    assert {"seed", "name", "index", "results", "run", "storage", "space", "point"} <= set(
        API_NAMES
    )
    assert "status" in _public(RunView)


@pytest.fixture
def named_file(tmp_path: Path) -> Path:
    traj = pr.Trajectory("every", seed=5)
    for position, name in enumerate(API_NAMES):
        traj.add_parameter(name, position)
    traj.explore({"seed": [10, 20], "index": [1, 2]})

    def simulate(run: pr.Run) -> dict[str, object]:
        values = run.params
        assert run["seed"] == values["seed"]
        assert run.seed != run["seed"]  # the attribute is the run's random seed
        assert callable(run.add_result)
        total = sum(v for v in values.values() if isinstance(v, int))
        return {"total": total, "status": "mine", "duration": 99.0}

    path = tmp_path / "every.h5"
    report = pr.Environment(traj, storage=path).run(simulate)
    assert report.ok
    return path


def test_a_parameter_named_after_every_api_attribute_loads(named_file: Path) -> None:
    with pr.load_trajectory(named_file) as study:
        assert [p.path for p in study.parameters()] == API_NAMES
        assert study["seed"].default == API_NAMES.index("seed")
        assert study.seed == 5  # the API attribute wins attribute access
        assert study["results"].path == "results"
        assert study.run(1).params["index"] == 2
        assert study.trajectory["seed"].default == API_NAMES.index("seed")


def test_metadata_never_replaces_a_result(named_file: Path) -> None:
    with pr.load_trajectory(named_file) as study:
        frame = study.to_pandas()
        assert list(frame["status"]) == ["mine", "mine"]
        assert list(frame["duration"]) == [99.0, 99.0]
        assert list(frame["run_status"]) == ["done", "done"]
        assert (frame["run_duration"] < 99.0).all()
        dataset = study.to_xarray(["total"])
        assert list(dataset["run_status"].values) == ["done", "done"]
        assert study.find_runs("status == 'mine' and run_status == 'done'") == [0, 1]
        assert study.results["status"][:].tolist() == ["mine", "mine"]


def test_a_plain_study_keeps_the_plain_metadata_names() -> None:
    traj = pr.Trajectory("plain", seed=1)
    traj.add_parameter("x", 1.0)
    env = pr.Environment(traj)
    env.run(lambda run: {"z": run.x})
    frame = env.study.to_pandas()
    assert list(frame.columns) == ["z", "status", "duration"]
    assert list(env.study.to_xarray().data_vars) == ["z", "status", "duration"]


def test_the_file_round_trips_through_merge(named_file: Path, tmp_path: Path) -> None:
    with pr.load_trajectory(named_file) as a, pr.load_trajectory(named_file) as b:
        copy = tmp_path / "copy.h5"
        copy.write_bytes(named_file.read_bytes())
        with pr.load_trajectory(copy) as c:
            merged = pr.merge_trajectories(a, c, into=tmp_path / "merged.h5")
        assert len(merged) == 4
        assert [p.path for p in merged.parameters()] == API_NAMES
        assert merged.results["total"][:].tolist() == b.results["total"][:].tolist() * 2
        merged.close()


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pypet_rebuild.cli.main", *args],
        capture_output=True,
        text=True,
        check=False,
    )


@pytest.mark.slow
def test_the_file_round_trips_through_the_command_line(named_file: Path, tmp_path: Path) -> None:
    info = _cli("info", str(named_file), "--json")
    assert info.returncode == 0, info.stderr
    paths = [p["path"] for p in json.loads(info.stdout)["parameters"]]
    assert paths == API_NAMES
    runs = _cli("runs", str(named_file), "--json", "--where", "run_status == 'done'")
    assert runs.returncode == 0, runs.stderr
    rows = json.loads(runs.stdout)
    assert [row["status"] for row in rows] == ["mine", "mine"]
    assert [row["run_status"] for row in rows] == ["done", "done"]
    copy = tmp_path / "copy.h5"
    copy.write_bytes(named_file.read_bytes())
    merged = tmp_path / "m.h5"
    out = _cli("merge", str(merged), str(named_file), str(copy))
    assert out.returncode == 0, out.stderr
    with pr.load_trajectory(merged) as study, pr.load_trajectory(named_file) as source:
        once = source.results["total"][:].tolist()
        assert study.results["total"][:].tolist() == once * 2
