"""Values with physical units keep them (pint, with the ``units`` extra) or are refused."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np
import pint
import pytest

import pypet_rebuild as pr
from pypet_rebuild.errors import MissingDependencyError, UnsupportedTypeError
from pypet_rebuild.storage.codecs import decode_value, encode_value, new_registry

ureg: Any = pint.get_application_registry()  # type: ignore[no-untyped-call]


def _storage(kind: str, tmp_path: Path) -> pr.StorageService | Path:
    return pr.MemoryStorageService() if kind == "memory" else tmp_path / "units.h5"


@pytest.mark.parametrize("kind", ["memory", "hdf5"])
def test_pint_parameters_and_results_keep_their_units(kind: str, tmp_path: Path) -> None:
    traj = pr.Trajectory("pint", seed=1)
    tau = traj.add_parameter("neuron.tau", 10.0 * ureg.ms, comment="membrane time constant")
    traj.add_parameter("x", 1.0)
    traj.explore({"x": [1.0, 2.0]})
    assert isinstance(tau.default, pint.Quantity)  # not stripped to array(0.01)

    def simulate(run: pr.Run) -> dict[str, object]:
        return {
            "v": run.x * ureg.mV,
            "trace": np.arange(3.0) * run.x * ureg.second,
            "tau_seen": run["neuron.tau"],
        }

    env = pr.Environment(traj, storage=_storage(kind, tmp_path))
    env.run(simulate, progress=False)
    study = env.study
    default = study["neuron.tau"].default
    assert isinstance(default, pint.Quantity)
    assert default == 10.0 * ureg.ms
    v = study.results["v"][1]
    assert v == 2.0 * ureg.mV
    assert np.ndim(v.magnitude) == 0  # a scalar quantity stays scalar
    trace = study.results["trace"][1]
    assert str(trace.units) == "second"
    np.testing.assert_array_equal(trace.magnitude, [0.0, 2.0, 4.0])
    assert study.results["tau_seen"][0] == 10.0 * ureg.ms


class FakeQuantity(np.ndarray):
    """An array that carries units the way Brian2's Quantity does (a ``dim`` attribute)."""

    dim = "second"


def _fake(value: Any) -> FakeQuantity:
    return np.asarray(value, dtype=float).view(FakeQuantity)


@pytest.mark.parametrize("kind", ["memory", "hdf5"])
def test_a_unit_carrying_value_without_a_codec_is_refused_not_stripped(
    kind: str, tmp_path: Path
) -> None:
    traj = pr.Trajectory("fake", seed=1)
    tau = traj.add_parameter("tau", _fake(0.01))
    assert type(tau.default) is FakeQuantity
    assert tau.value_type.python_type is FakeQuantity
    traj.explore({"tau": [_fake(0.01), _fake(0.02)]})
    with pytest.raises(UnsupportedTypeError, match="carries physical units") as caught:
        pr.Environment(traj, storage=_storage(kind, tmp_path)).run(
            lambda run: {"z": 1.0}, progress=False
        )
    assert "register_codec(FakeQuantity" in str(caught.value)


def test_a_unit_carrying_result_is_refused_with_the_run_recorded(tmp_path: Path) -> None:
    traj = pr.Trajectory("fake_result", seed=1)
    traj.add_parameter("x", 1.0)
    traj.explore({"x": [1.0]})
    report = pr.Environment(traj, storage=tmp_path / "r.h5").run(
        lambda run: {"t": _fake([1.0, 2.0])}, on_error="continue", progress=False
    )
    (failure,) = report.failures
    assert "carries physical units" in failure.message


def test_reading_a_pint_quantity_without_pint_names_the_units_extra(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    encoded = encode_value(3.0 * ureg.ms)
    monkeypatch.setitem(sys.modules, "pint", None)
    with pytest.raises(MissingDependencyError, match='"units" extra'):
        decode_value(encoded, registry=new_registry())


def test_to_xarray_gives_magnitudes_with_cf_units(tmp_path: Path) -> None:
    traj = pr.Trajectory("xr_units", seed=1)
    traj.add_parameter("x", 1.0)
    traj.explore({"x": [1.0, 2.0]})

    def simulate(run: pr.Run) -> dict[str, object]:
        voltage = run.x * ureg.mV if run.x == 1.0 else (run.x / 1000) * ureg.V
        return {"v": voltage}

    env = pr.Environment(traj, storage=tmp_path / "xr.h5")
    env.run(simulate, progress=False)
    ds = env.study.to_xarray()
    assert ds["v"].attrs["units"] == "millivolt"
    np.testing.assert_allclose(ds["v"].values, [1.0, 2.0])


def test_explored_quantities_become_coordinates_with_units(tmp_path: Path) -> None:
    traj = pr.Trajectory("xr_coords", seed=1)
    current = traj.add_parameter("input.I", 1.0 * ureg.nA)
    traj.explore(pr.cartesian_product(current.sweep([1.0 * ureg.nA, 2.0 * ureg.nA])))
    env = pr.Environment(traj, storage=tmp_path / "c.h5")
    env.run(lambda run: {"z": float(run.I.magnitude)}, progress=False)
    ds = env.study.to_xarray()
    assert ds["I"].attrs["units"] == "nanoampere"
    assert ds["I"].attrs["path"] == "input.I"
    assert float(ds["z"].sel(I=2.0)) == 2.0


def test_points_with_units_hash_by_magnitude_and_units() -> None:
    assert pr.point_hash({"t": 1.0 * ureg.ms}) == pr.point_hash({"t": 1.0 * ureg.ms})
    assert pr.point_hash({"t": 1.0 * ureg.ms}) != pr.point_hash({"t": 1.0 * ureg.s})
    assert pr.point_hash({"t": 1.0 * ureg.ms}) != pr.point_hash({"t": 1.0})
    assert pr.point_hash({"t": _fake(1.0)}) != pr.point_hash({"t": np.array(1.0)})
