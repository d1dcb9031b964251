"""``traj.to_xarray()``: grid, linked, zipped, sampled and expanded sweeps, failed runs, dask."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import dask.array as da
import numpy as np
import pytest
import xarray as xr
from hypothesis import given, settings
from hypothesis import strategies as st

import pypet_rebuild as pr
from pypet_rebuild.errors import (
    IncompatibleShapesError,
    ResultNotFoundError,
    UnknownParameterError,
)

# -- sweeps ----------------------------------------------------------------------------------


def simulate(run: pr.Run) -> dict[str, object]:
    """Scalars of four types and an array; fails at x == 2.0, y == 2."""
    if run.x == 2.0 and run.y == 2:
        raise ValueError("diverged")
    z = run.x * run.y
    return {
        "z": z,
        "count": int(run.y) * 10,
        "positive": bool(run.x > 1.5),
        "label": f"p{run.y}",
        "trace": np.arange(4.0) * z,
    }


def declare(name: str) -> pr.Trajectory:
    traj = pr.Trajectory(name, comment="test sweep", seed=7)
    traj.add_parameter("x", 1.0, comment="first factor", annotations={"unit": "m"})
    traj.add_parameter("y", 1, comment="second factor")
    traj.add_parameter("b", 0.0, annotations={"unit": "s", "range": [0, 10]})
    return traj


def run_and_load(traj: pr.Trajectory, path: Path) -> pr.StoredTrajectory:
    pr.Environment(traj, storage=path).run(simulate, on_error="continue", progress=False)
    return pr.load_trajectory(path, traj.name)


@pytest.fixture(scope="module")
def grid(tmp_path_factory: pytest.TempPathFactory) -> pr.StoredTrajectory:
    """x (3 values) x y (2 values, linked with b); the run at x=2, y=2 failed."""
    traj = declare("grid")
    traj.explore(
        pr.cartesian_product(
            {"x": [1.0, 2.0, 3.0], "y": [1, 2], "b": [5.0, 6.0]}, linked=[("y", "b")]
        )
    )
    return run_and_load(traj, tmp_path_factory.mktemp("grid") / "grid.h5")


@pytest.fixture(scope="module")
def zipped_sweep(tmp_path_factory: pytest.TempPathFactory) -> pr.StoredTrajectory:
    traj = declare("zipped")
    traj.explore(pr.zipped({"x": [1.0, 2.0, 3.0, 2.0], "y": [3, 2, 1, 2]}))
    return run_and_load(traj, tmp_path_factory.mktemp("zipped") / "zipped.h5")


@pytest.fixture(scope="module")
def expanded(tmp_path_factory: pytest.TempPathFactory) -> pr.StoredTrajectory:
    """A 2 x 2 grid run, then expanded by two points and resumed."""
    path = tmp_path_factory.mktemp("expanded") / "expanded.h5"
    traj = declare("expanded")
    traj.explore(pr.cartesian_product({"x": [1.0, 3.0], "y": [1, 2]}))
    pr.Environment(traj, storage=path).run(simulate, progress=False)
    grown = pr.load_trajectory(path).trajectory
    grown.expand({"x": [2.0, 4.0], "y": [2, 2]})
    pr.Environment(grown, storage=path).run(
        simulate, resume=True, on_error="continue", progress=False
    )
    return pr.load_trajectory(path)


def expected_z(x: float, y: int) -> float:
    return np.nan if (x == 2.0 and y == 2) else x * y


# -- grid ------------------------------------------------------------------------------------


def test_a_grid_becomes_one_dimension_per_axis_with_linked_parameters_sharing_one(
    grid: pr.StoredTrajectory,
) -> None:
    ds = grid.to_xarray()
    assert dict(ds.sizes) == {"x": 3, "y": 2, "trace_dim_0": 4}
    assert ds["z"].dims == ("x", "y")
    assert ds["trace"].dims == ("x", "y", "trace_dim_0")
    np.testing.assert_array_equal(ds["x"].values, [1.0, 2.0, 3.0])
    np.testing.assert_array_equal(ds["y"].values, [1, 2])
    # b is linked to y: it is a coordinate along y's dimension, not a dimension of its own.
    assert ds["b"].dims == ("y",)
    np.testing.assert_array_equal(ds["b"].values, [5.0, 6.0])
    expected = [[expected_z(x, y) for y in (1, 2)] for x in (1.0, 2.0, 3.0)]
    np.testing.assert_array_equal(ds["z"].values, expected)


def test_grid_selection_and_reduction_read_like_the_science(grid: pr.StoredTrajectory) -> None:
    ds = grid.to_xarray()
    assert float(ds["z"].sel(x=3.0, y=2)) == 6.0
    np.testing.assert_allclose(ds["z"].mean("y").values, [1.5, 2.0, 4.5])  # NaN skipped
    np.testing.assert_array_equal(ds["z"].sel(b=6.0).values, [2.0, np.nan, 6.0])
    np.testing.assert_array_equal(ds["trace"].sel(x=3.0, y=1).values, [0.0, 3.0, 6.0, 9.0])


def test_failed_runs_are_nan_and_the_status_says_why(grid: pr.StoredTrajectory) -> None:
    ds = grid.to_xarray()
    failed = {"x": 2.0, "y": 2}
    assert str(ds["status"].sel(failed).values) == "failed"
    assert (ds["status"].values == "done").sum() == 5
    assert np.isnan(float(ds["z"].sel(failed)))
    assert np.isnan(ds["trace"].sel(failed).values).all()
    # Integer and boolean results with a missing run become float with NaN there.
    assert ds["count"].dtype == np.float64
    assert np.isnan(float(ds["count"].sel(failed)))
    assert float(ds["count"].sel(x=1.0, y=2)) == 20.0
    assert ds["positive"].dtype == np.float64
    np.testing.assert_array_equal(ds["positive"].sel(y=1).values, [0.0, 1.0, 1.0])
    # A string result keeps its values, with a missing marker for the failed run.
    assert ds["label"].sel(x=1.0, y=2).item() == "p2"
    assert ds["label"].isnull().sel(failed).item()
    assert ds["duration"].dims == ("x", "y")


def test_parameter_comments_and_units_become_attributes(grid: pr.StoredTrajectory) -> None:
    ds = grid.to_xarray()
    # CF: units and long_name (from the comment); the full path always.
    assert ds["x"].attrs == {"path": "x", "long_name": "first factor", "units": "m"}
    assert ds["y"].attrs == {"path": "y", "long_name": "second factor"}
    # Non-scalar annotations are kept readable (netCDF attributes must be simple values).
    assert ds["b"].attrs == {"path": "b", "units": "s", "range": "[0, 10]"}
    assert ds.attrs["trajectory"] == "grid"
    assert ds.attrs["comment"] == "test sweep"
    assert ds.attrs["seed"] == "7"


def test_dims_names_the_extra_dimensions_of_array_results(grid: pr.StoredTrajectory) -> None:
    ds = grid.to_xarray(["trace"], dims={"trace": ["time"]})
    assert ds["trace"].dims == ("x", "y", "time")
    assert set(ds.data_vars) == {"trace", "status", "duration"}
    with pytest.raises(IncompatibleShapesError, match=r"2 names \['time', 'extra'\].*1 dim"):
        grid.to_xarray(["trace"], dims={"trace": ["time", "extra"]})
    with pytest.raises(UnknownParameterError, match="dims names results"):
        grid.to_xarray(["z"], dims={"trace": ["time"]})


def test_the_run_layout_of_a_grid_keeps_every_parameter_as_a_run_coordinate(
    grid: pr.StoredTrajectory,
) -> None:
    ds = grid.to_xarray(["z"], layout="run")
    assert dict(ds.sizes) == {"run": 6}
    np.testing.assert_array_equal(ds["x"].values, [1.0, 1.0, 2.0, 2.0, 3.0, 3.0])
    np.testing.assert_array_equal(ds["b"].values, [5.0, 6.0] * 3)
    assert ds["x"].attrs["units"] == "m"
    np.testing.assert_array_equal(ds["z"].values, [1.0, 2.0, 2.0, np.nan, 3.0, 6.0])
    assert ds["status"].values.tolist()[3] == "failed"


def test_unknown_results_and_layouts_are_refused(grid: pr.StoredTrajectory) -> None:
    with pytest.raises(ResultNotFoundError, match=r"no stored results \['nope'\]"):
        grid.to_xarray(["nope"])
    with pytest.raises(ValueError, match="layout must be"):
        grid.to_xarray(layout="table")  # type: ignore[arg-type]


# -- lazy loading ------------------------------------------------------------------------------


@pytest.mark.parametrize("layout", ["auto", "run"])
@pytest.mark.parametrize("chunks", [{"x": 1}, {"y": 1, "trace_dim_0": 2}, {"run": 4}, 2, "auto"])
def test_dask_chunks_give_lazy_arrays_equal_to_the_eager_result(
    grid: pr.StoredTrajectory, layout: Literal["auto", "run"], chunks: Any
) -> None:
    eager = grid.to_xarray(layout=layout)
    dims = set(eager.dims)
    if isinstance(chunks, dict) and not set(chunks) <= dims:
        with pytest.raises(ValueError, match="chunks names dimensions"):
            grid.to_xarray(layout=layout, chunks=chunks)
        return
    lazy = grid.to_xarray(layout=layout, chunks=chunks)
    if isinstance(chunks, dict):
        for dim, size in chunks.items():
            assert max(lazy["trace"].chunksizes[dim]) == size, dim
    for name in ("z", "count", "positive", "trace"):
        assert isinstance(lazy[name].data, da.Array), name
        assert lazy[name].dtype == eager[name].dtype, name
    xr.testing.assert_identical(lazy.compute(), eager)


def test_lazy_integer_results_without_missing_runs_keep_their_dtype(tmp_path: Path) -> None:
    # No run fails here: counts stay integers, eagerly and lazily, and every chunk agrees with
    # the dtype announced before reading.
    traj = declare("complete")
    traj.explore(pr.zipped({"x": [1.0, 2.0, 3.0], "y": [3, 1, 1]}))
    complete = run_and_load(traj, tmp_path / "complete.h5")
    eager = complete.to_xarray()
    lazy = complete.to_xarray(chunks={"run": 1})
    assert eager["count"].dtype == np.int64
    assert lazy["count"].dtype == np.int64
    assert eager["positive"].dtype == np.bool_
    xr.testing.assert_identical(lazy.compute(), eager)


def test_a_lazy_dataset_reads_only_the_chunks_asked_for(
    grid: pr.StoredTrajectory, monkeypatch: pytest.MonkeyPatch
) -> None:
    lazy = grid.to_xarray(["trace"], chunks={"run": 1}, layout="run")
    storage = grid.storage
    assert isinstance(storage, pr.HDF5StorageService)
    reads: list[list[int]] = []
    original = storage.read_array

    def counting(trajectory: str, name: str, runs: Any, item: Any) -> Any:
        reads.append(list(runs))
        return original(trajectory, name, runs, item)

    def counting_span(trajectory: str, name: str, start: int, stop: int, item: Any) -> Any:
        reads.append(list(range(start, stop)))  # a range of runs, read without an index array
        return original_span(trajectory, name, start, stop, item)

    original_span = storage.read_span
    monkeypatch.setattr(storage, "read_array", counting)
    monkeypatch.setattr(storage, "read_span", counting_span)
    value = lazy["trace"].isel(run=4).values
    np.testing.assert_array_equal(value, np.arange(4.0) * 3.0)
    assert reads == [[4]]


# -- other explorations ----------------------------------------------------------------------


def test_a_zipped_sweep_uses_a_run_dimension_with_parameter_coordinates(
    zipped_sweep: pr.StoredTrajectory,
) -> None:
    ds = zipped_sweep.to_xarray()
    assert dict(ds.sizes) == {"run": 4, "trace_dim_0": 4}
    np.testing.assert_array_equal(ds["x"].values, [1.0, 2.0, 3.0, 2.0])
    np.testing.assert_array_equal(ds["y"].values, [3, 2, 1, 2])
    assert ds["x"].attrs["units"] == "m"
    # The run at x=2, y=2 appears twice in this zip; both failed.
    np.testing.assert_array_equal(ds["z"].values, [3.0, np.nan, 3.0, np.nan])
    assert ds["status"].values.tolist() == ["done", "failed", "done", "failed"]
    with pytest.raises(IncompatibleShapesError, match="not a cartesian grid"):
        zipped_sweep.to_xarray(layout="grid")


def sampled_simulate(run: pr.Run) -> dict[str, object]:
    """Fails above x = 2.5, so a sample has failed runs too."""
    if run.x > 2.5:
        raise ValueError("out of range")
    return simulate(run)


@pytest.mark.parametrize("sampler", [pr.random_sample, pr.latin_hypercube])
def test_sampled_sweeps_have_the_sampled_values_as_run_coordinates(
    tmp_path: Path, sampler: Any
) -> None:
    traj = declare("sampled")
    traj.explore(sampler({"x": (0.0, 4.0), "y": (1, 3)}, 8, seed=3))
    pr.Environment(traj, storage=tmp_path / "sampled.h5").run(
        sampled_simulate, on_error="continue", progress=False
    )
    loaded = pr.load_trajectory(tmp_path / "sampled.h5")
    ds = loaded.to_xarray(["z", "count"])
    assert dict(ds.sizes) == {"run": 8}
    space = loaded.space
    assert space is not None
    assert space.kind == "sampled"
    xs = [float(x) for x in space.columns["x"]]  # type: ignore[arg-type]
    ys = [int(y) for y in space.columns["y"]]  # type: ignore[call-overload]
    failed = [x > 2.5 for x in xs]
    assert any(failed)
    assert not all(failed)
    np.testing.assert_array_equal(ds["x"].values, xs)
    np.testing.assert_array_equal(ds["y"].values, ys)
    expected = [np.nan if bad else x * y for x, y, bad in zip(xs, ys, failed, strict=True)]
    np.testing.assert_array_equal(ds["z"].values, expected)
    assert ds["status"].values.tolist() == ["failed" if bad else "done" for bad in failed]
    np.testing.assert_array_equal(np.isnan(ds["count"].values), failed)
    frame = loaded.to_pandas(["z", "count"])
    np.testing.assert_array_equal(frame["x"].to_numpy(), xs)
    np.testing.assert_array_equal(frame["z"].to_numpy(), ds["z"].values)
    assert frame["count"].isna().tolist() == failed
    assert frame["status"].tolist() == ds["status"].values.tolist()
    lazy = loaded.to_xarray(["z", "count"], chunks={"run": 3})
    xr.testing.assert_identical(lazy.compute(), ds)


def test_an_expanded_grid_falls_back_to_the_run_layout(expanded: pr.StoredTrajectory) -> None:
    assert len(expanded) == 6
    ds = expanded.to_xarray()
    assert dict(ds.sizes) == {"run": 6, "trace_dim_0": 4}
    np.testing.assert_array_equal(ds["x"].values, [1.0, 1.0, 3.0, 3.0, 2.0, 4.0])
    np.testing.assert_array_equal(ds["y"].values, [1, 2, 1, 2, 2, 2])
    np.testing.assert_array_equal(ds["z"].values, [1.0, 2.0, 3.0, 6.0, np.nan, 8.0])
    assert ds["status"].values.tolist() == ["done"] * 4 + ["failed", "done"]
    lazy = expanded.to_xarray(chunks={"run": 2})
    xr.testing.assert_identical(lazy.compute(), ds)
    with pytest.raises(IncompatibleShapesError, match="not a cartesian grid"):
        expanded.to_xarray(layout="grid")
    frame = expanded.to_pandas()
    assert frame["status"].tolist() == ["done"] * 4 + ["failed", "done"]
    assert frame["z"].isna().tolist() == [False] * 4 + [True, False]


def test_a_sweep_in_memory_converts_without_a_file() -> None:
    traj = declare("memory")
    traj.explore(pr.cartesian_product({"x": [1.0, 2.0], "y": [1, 2, 3]}))
    env = pr.Environment(traj)
    env.run(simulate, on_error="continue", progress=False)
    ds = env.study.to_xarray(["z", "trace"], chunks={"x": 1})  # no lazy path in memory: read now
    assert dict(ds.sizes) == {"x": 2, "y": 3, "trace_dim_0": 4}
    np.testing.assert_array_equal(ds["z"].values, [[1.0, 2.0, 3.0], [2.0, np.nan, 6.0]])


# -- results whose shape differs between runs ------------------------------------------------


def ragged(run: pr.Run) -> dict[str, object]:
    return {"spikes": np.arange(float(run.y)), "n": run.y}


@pytest.fixture(scope="module")
def ragged_sweep(tmp_path_factory: pytest.TempPathFactory) -> pr.StoredTrajectory:
    path = tmp_path_factory.mktemp("ragged") / "ragged.h5"
    traj = pr.Trajectory("ragged", seed=1)
    traj.add_parameter("y", 1)
    traj.explore({"y": [1, 3, 2]})
    pr.Environment(traj, storage=path).run(ragged, progress=False)
    return pr.load_trajectory(path)


def test_results_of_different_shapes_are_refused_with_the_ways_out(
    ragged_sweep: pr.StoredTrajectory,
) -> None:
    with pytest.raises(IncompatibleShapesError) as caught:
        ragged_sweep.to_xarray()
    message = str(caught.value)
    assert "'spikes'" in message
    assert "(1,), (2,), (3,)" in message
    assert "pad=True" in message
    assert "layout='run'" in message
    assert isinstance(caught.value, ValueError)


def test_pad_fills_shorter_values_with_nan(ragged_sweep: pr.StoredTrajectory) -> None:
    ds = ragged_sweep.to_xarray(pad=True, dims={"spikes": ["spike"]})
    assert ds["spikes"].dims == ("run", "spike")
    np.testing.assert_array_equal(
        ds["spikes"].values,
        [[0.0, np.nan, np.nan], [0.0, 1.0, 2.0], [0.0, 1.0, np.nan]],
    )
    np.testing.assert_array_equal(ds["n"].values, [1, 3, 2])


def test_the_run_layout_keeps_values_of_different_shapes_as_objects(
    ragged_sweep: pr.StoredTrajectory,
) -> None:
    ds = ragged_sweep.to_xarray(layout="run")
    assert ds["spikes"].dims == ("run",)
    assert ds["spikes"].dtype == object
    np.testing.assert_array_equal(ds["spikes"].values[1], [0.0, 1.0, 2.0])
    assert len(ds["spikes"].values[2]) == 2


# -- a property: the grid view is the run table reshaped -------------------------------------


def product(run: pr.Run) -> dict[str, object]:
    return {"p": run.a * 100 + run.b * 10 + run.c}


@settings(max_examples=25)
@given(
    sizes=st.lists(st.integers(1, 3), min_size=1, max_size=3),
    fail=st.integers(0, 26),
)
def test_every_grid_cell_holds_the_value_of_its_run(sizes: list[int], fail: int) -> None:
    names = ["a", "b", "c"][: len(sizes)]
    traj = pr.Trajectory("prop", seed=0)
    for name in ("a", "b", "c"):
        traj.add_parameter(name, 0)
    traj.explore(
        pr.cartesian_product({n: list(range(s)) for n, s in zip(names, sizes, strict=False)})
    )
    failing = fail % len(traj)

    def sim(run: pr.Run) -> dict[str, object]:
        if run.index == failing:
            raise RuntimeError("planned")
        return product(run)

    env = pr.Environment(traj)
    env.run(sim, on_error="continue", progress=False)
    ds = env.study.to_xarray()
    if len(traj) == 1:
        assert "p" not in ds  # no run produced it
        assert ds["status"].values.ravel().tolist() == ["failed"]
        return
    assert ds["p"].dims == tuple(names)
    for index in range(len(traj)):
        point = traj.point(index)
        cell = ds["p"].sel(point)
        if index == failing:
            assert np.isnan(float(cell))
            assert str(ds["status"].sel(point).values) == "failed"
        else:
            params = traj.run_parameters(index)
            assert float(cell) == params["a"] * 100 + params["b"] * 10 + params["c"]  # type: ignore[operator]
