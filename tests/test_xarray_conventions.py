"""``to_xarray`` follows xarray and CF: names, chunks, coords, attrs, missing integers."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

import pypet_rebuild as pr
from pypet_rebuild.errors import IncompatibleShapesError, UnknownParameterError


def neuron(run: pr.Run) -> dict[str, object]:
    """A Brian2-like sweep: parameters in groups, a spike count, a voltage trace."""
    if run.I == 0.5 and run.tau == 20.0:
        raise ValueError("no spikes to count")
    rate = max(0.0, run.I - 1.0) * 100.0 / run.tau
    return {
        "count": int(rate * 10),
        "fired": rate > 0,
        "v": np.linspace(0.0, run.I, 5),
    }


@pytest.fixture(scope="module")
def fi(tmp_path_factory: pytest.TempPathFactory) -> pr.StoredTrajectory:
    traj = pr.Trajectory("fi", comment="f-I curve", seed=3)
    current = traj.add_parameter(
        "input.I", 1.0, comment="input current", annotations={"unit": "nA"}
    )
    tau = traj.add_parameter(
        "neuron.tau", 10.0, annotations={"units": "ms", "long_name": "membrane time constant"}
    )
    traj.add_parameter("neuron.v_th", -50.0, annotations={"unit": "mV"})
    traj.add_parameter("sim.dt", 0.1)
    traj.explore(pr.cartesian_product(current.sweep([0.5, 1.5, 2.5]), tau.sweep([10.0, 20.0])))
    path = tmp_path_factory.mktemp("fi") / "fi.h5"
    env = pr.Environment(traj, storage=path)
    env.run(neuron, on_error="continue", progress=False)
    return pr.load_trajectory(path)


def test_dimensions_take_the_leaf_name_and_keep_the_path_in_attrs(
    fi: pr.StoredTrajectory,
) -> None:
    ds = fi.to_xarray(["count"])
    assert ds["count"].dims == ("I", "tau")
    assert float(ds["count"].sel(I=2.5, tau=10.0)) == 150.0
    assert ds["I"].attrs == {"path": "input.I", "long_name": "input current", "units": "nA"}
    assert ds["tau"].attrs == {
        "path": "neuron.tau",
        "long_name": "membrane time constant",
        "units": "ms",
    }
    run_layout = fi.to_xarray(["count"], layout="run")
    assert set(run_layout.coords) == {"run", "I", "tau"}


def test_a_leaf_name_shared_or_taken_keeps_the_full_path(tmp_path: Path) -> None:
    traj = pr.Trajectory("clash", seed=1)
    traj.add_parameter("a.x", 1.0)
    traj.add_parameter("b.x", 1.0)
    traj.add_parameter("c.z", 1.0)
    traj.explore(pr.cartesian_product({"a.x": [1.0, 2.0], "b.x": [3.0], "c.z": [5.0, 6.0]}))
    env = pr.Environment(traj, storage=tmp_path / "clash.h5")
    env.run(lambda run: {"z": run["a.x"]}, progress=False)
    ds = env.study.to_xarray()
    # Two leaves are "x"; "z" is a result: all three keep their paths.
    assert ds["z"].dims == ("a.x", "b.x", "c.z")


def test_chunks_are_keyed_by_dimension_names(fi: pr.StoredTrajectory) -> None:
    lazy = fi.to_xarray(["v"], dims={"v": ["time"]}, chunks={"I": 1, "time": 2})
    assert lazy["v"].chunksizes == {"I": (1, 1, 1), "tau": (2,), "time": (2, 2, 1)}
    xr.testing.assert_identical(lazy.compute(), fi.to_xarray(["v"], dims={"v": ["time"]}))
    with pytest.raises(
        ValueError, match=r"chunks names dimensions \['x'\].*\['I', 'tau', 'time'\]"
    ):
        fi.to_xarray(["v"], dims={"v": ["time"]}, chunks={"x": 10})
    with pytest.raises(ValueError, match="keyed by dimension names"):
        fi.to_xarray(["v"], chunks={0: 10})
    with pytest.raises(ValueError, match="chunks must be"):
        fi.to_xarray(["v"], chunks=(1, 5))


def test_coords_label_a_results_own_dimensions(fi: pr.StoredTrajectory) -> None:
    time = np.arange(5) * 0.1
    ds = fi.to_xarray(["v"], dims={"v": ["time"]}, coords={"time": time})
    np.testing.assert_array_equal(ds["time"].values, time)
    assert float(ds["v"].sel(I=2.5, tau=10.0, time=0.4)) == 2.5
    with pytest.raises(IncompatibleShapesError, match="3 values for dimension 'time'"):
        fi.to_xarray(["v"], dims={"v": ["time"]}, coords={"time": time[:3]})
    with pytest.raises(UnknownParameterError, match="no included result has"):
        fi.to_xarray(["v"], coords={"time": time})


def test_constants_and_provenance_are_dataset_attributes(fi: pr.StoredTrajectory) -> None:
    attrs = fi.to_xarray(["count"]).attrs
    assert attrs["neuron.v_th"] == -50.0
    assert attrs["sim.dt"] == 0.1
    assert "input.I" not in attrs
    assert attrs["source"] == f"pypet_rebuild {pr.__version__}"
    (sweep,) = json.loads(attrs["provenance"])
    assert sweep["executor"] == "serial"


def test_integer_and_boolean_results_with_missing_runs_have_a_documented_form(
    fi: pr.StoredTrajectory, tmp_path: Path
) -> None:
    ds = fi.to_xarray(["count", "fired"])
    # In memory: float64 with NaN, as xarray gives a masked integer variable...
    assert ds["count"].dtype == np.float64
    assert np.isnan(float(ds["count"].sel(I=0.5, tau=20.0)))
    assert ds["count"].encoding == {"dtype": "<i8", "_FillValue": np.iinfo(np.int64).min}
    assert ds["fired"].encoding["dtype"] == "int8"
    # ...and in a netCDF file: the integers, with a fill value for the missing run.
    out = tmp_path / "fi.nc"
    ds.to_netcdf(out, engine="h5netcdf")
    with xr.open_dataset(out, engine="h5netcdf", mask_and_scale=False) as raw:
        assert raw["count"].dtype == np.int64
        assert int(raw["count"].sel(I=2.5, tau=10.0)) == 150
    with xr.open_dataset(out, engine="h5netcdf") as decoded:
        xr.testing.assert_equal(decoded["count"], ds["count"])


def test_a_result_comment_is_its_long_name(tmp_path: Path) -> None:
    traj = pr.Trajectory("named", seed=1)
    traj.add_parameter("x", 1.0)
    traj.explore({"x": [1.0, 2.0]})

    def simulate(run: pr.Run) -> None:
        run.add_result("energy", run.x**2, comment="kinetic energy")

    env = pr.Environment(traj, storage=tmp_path / "named.h5")
    env.run(simulate, progress=False)
    assert env.study.to_xarray()["energy"].attrs == {"long_name": "kinetic energy"}
