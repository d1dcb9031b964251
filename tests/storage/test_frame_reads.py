"""Column subsets and row ranges of DataFrame results, identical on both backends."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np
import pandas as pd
import pytest

import pypet_rebuild as pr
from pypet_rebuild.errors import NodeNotFoundError
from pypet_rebuild.testing import StorageFactory


def simulate(run: pr.Run) -> dict[str, object]:
    if run.index == 2:
        raise ValueError("no frame for run 2")
    n = 4 + run.index
    return {
        "df": pd.DataFrame(
            {
                "t": np.arange(n) * 0.5,
                "v": np.full(n, run.x),
                "label": pd.Categorical(["a", "b"] * (n // 2) + ["a"] * (n % 2)),
                "count": pd.array(np.arange(n), dtype="Int64"),
            },
            index=pd.Index(np.arange(n) * 10, name="step"),
        ),
        "z": run.x,
    }


@pytest.fixture
def trajectory(
    pr_sweep: Callable[..., pr.StoredTrajectory],
    pr_storage_factory: StorageFactory,
    x_trajectory: Callable[..., pr.Trajectory],
) -> Iterator[pr.StoredTrajectory]:
    """The sweep ``frames`` (x in 1..4, run 2 failed), read back through a new handle.

    Once per installed backend (``pr_storage_factory``): memory and HDF5.
    """
    stored = pr_sweep(x_trajectory("frames", seed=2), simulate, on_error="continue")
    assert stored.storage is not None
    reader = pr_storage_factory.reopen(stored.storage, False)
    study = pr.load_trajectory(reader, "frames")
    yield study
    study.close()
    if reader is not stored.storage:
        reader.close()


def test_a_column_subset_equals_selecting_from_the_full_frame(
    trajectory: pr.StoredTrajectory,
) -> None:
    handle = trajectory.results["df"]
    for run in (0, 1, 3):
        full = handle[run]
        subset = handle.frame(run, columns=["count", "label"])
        pd.testing.assert_frame_equal(subset, full[["count", "label"]])


def test_row_ranges_and_all_runs_stack_with_a_run_level(trajectory: pr.StoredTrajectory) -> None:
    stacked = trajectory.results["df"].frame(columns=["v"], rows=slice(1, 3))
    assert list(stacked.index.names) == ["run", "step"]
    assert sorted(set(stacked.index.get_level_values("run"))) == [0, 1, 3]
    assert stacked.loc[3]["v"].tolist() == [4.0, 4.0]
    assert stacked.loc[1].index.tolist() == [10, 20]


def test_unknown_columns_and_missing_runs_are_clear_errors(trajectory: pr.StoredTrajectory) -> None:
    handle = trajectory.results["df"]
    with pytest.raises((NodeNotFoundError, KeyError), match="nope"):
        handle.frame(0, columns=["nope"])
    with pytest.raises(KeyError, match="run 2"):
        handle.frame(2, columns=["v"])
    with pytest.raises(TypeError, match="not DataFrames"):
        trajectory.results["z"].frame(0)
