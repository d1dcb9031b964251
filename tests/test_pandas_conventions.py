"""``to_pandas`` and result handles: one documented type for each thing they return."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import pypet_rebuild as pr


def simulate(run: pr.Run) -> dict[str, object]:
    print(f"x is {run.x}")
    if run.x == 2.0:
        raise ValueError("two is bad")
    return {"z": run.x * 2, "trace": np.full(3, run.x)}


@pytest.fixture(scope="module")
def study(tmp_path_factory: pytest.TempPathFactory) -> pr.StoredTrajectory:
    traj = pr.Trajectory("frame", seed=1)
    traj.add_parameter("x", 1.0)
    traj.explore({"x": [1.0, 2.0, 3.0]})
    path = tmp_path_factory.mktemp("frame") / "frame.h5"
    pr.Environment(traj, storage=path).run(
        simulate, on_error="continue", progress=False, capture_output=True
    )
    return pr.load_trajectory(path)


def test_start_and_finish_are_timezone_aware_datetimes(study: pr.StoredTrajectory) -> None:
    frame = study.to_pandas([], metadata=["started", "finished", "duration"])
    assert isinstance(frame["started"].dtype, pd.DatetimeTZDtype)
    assert str(frame["started"].dt.tz) == "UTC"
    assert (frame["finished"] >= frame["started"]).all()
    assert frame["started"].iloc[0] > pd.Timestamp("2020-01-01", tz="UTC")


def test_output_and_array_results_on_request(study: pr.StoredTrajectory) -> None:
    frame = study.to_pandas(["z", "trace"], metadata=["output", "error"])
    assert frame["output"].tolist() == ["x is 1.0\n", "x is 2.0\n", "x is 3.0\n"]
    assert "two is bad" in frame["error"].iloc[1]
    np.testing.assert_array_equal(frame["trace"].iloc[2], [3.0, 3.0, 3.0])
    assert frame["trace"].iloc[1] is None
    assert "trace" not in study.to_pandas().columns


def test_a_selection_of_runs_is_always_a_masked_array(study: pr.StoredTrajectory) -> None:
    with_missing = study.results["z"][:]
    complete = study.results["z"][[0, 2]]
    assert type(with_missing) is np.ma.MaskedArray
    assert type(complete) is np.ma.MaskedArray
    assert np.ma.getmaskarray(with_missing).tolist() == [False, True, False]
    assert not np.ma.getmaskarray(complete).any()
    assert complete.filled(np.nan).tolist() == [2.0, 6.0]
    assert type(study.results["trace"][:, 0]) is np.ma.MaskedArray
    # One run is its value as stored.
    assert type(study.results["trace"][0]) is np.ndarray


@pytest.mark.parametrize("backend", ["memory", "hdf5"])
def test_a_masked_selection_can_be_stored_again(
    study: pr.StoredTrajectory, backend: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """What a handle returns is storable: a derived result or a run's result, mask included."""
    selection = study.results["z"][:]
    traj = pr.Trajectory("again", seed=1)
    traj.add_parameter("x", 1.0)
    traj.explore({"x": [1.0]})
    storage: pr.StorageService | Path = (
        pr.MemoryStorageService()
        if backend == "memory"
        else tmp_path_factory.mktemp("again") / "a.h5"
    )
    env = pr.Environment(traj, storage=storage)
    env.run(lambda run: {"m": selection}, progress=False)
    env.study.add_derived("all", np.ma.stack([selection, selection]))
    back = env.study.results["m"][0]
    assert type(back) is np.ma.MaskedArray
    assert back.mask.tolist() == [False, True, False]
    assert back.compressed().tolist() == [2.0, 6.0]
    derived = env.study.derived["all"].value
    assert np.ma.getmaskarray(derived).tolist() == [[False, True, False]] * 2
