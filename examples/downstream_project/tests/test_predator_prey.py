"""The model's tests, written with pypet_rebuild's testing kit (fixtures come from its plugin)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from predator_prey import Populations, build_sweep, simulate

import pypet_rebuild as pr
from pypet_rebuild.testing import assert_studies_equal, check_codec, storage_factories
from pypet_rebuild.testing.strategies import parameter_spaces

Sweep = Callable[..., pr.StoredTrajectory]


def test_more_predation_leaves_fewer_prey(pr_sweep: Sweep) -> None:
    study = pr_sweep(build_sweep(), simulate)
    runs = [study.run(i).results["populations"] for i in range(6)]
    assert all(isinstance(populations, Populations) for populations in runs)
    mean_prey = np.array([p.prey.mean() for p in runs if isinstance(p, Populations)])
    by_beta = mean_prey.reshape(3, 2)  # beta (rows) times prey0 (columns)
    assert np.all(np.diff(by_beta, axis=0) < 0)
    assert study.results["prey_peak"][:].tolist() == [5.0, 10.0] * 3  # the start, each time
    populations = study.run(0).results["populations"]
    assert isinstance(populations, Populations)
    assert populations.counts.shape == (201, 2)


def test_every_backend_stores_the_same_study(
    pr_storage: pr.StorageService, pr_sweep: Sweep
) -> None:
    reference = pr_sweep(build_sweep(steps=50), simulate, backend="memory")
    stored = pr_sweep(build_sweep(steps=50), simulate, storage=pr_storage)
    assert_studies_equal(reference, stored)


def test_a_resumed_sweep_equals_an_uninterrupted_one(pr_sweep: Sweep, tmp_path: Path) -> None:
    def crashes_once(run: pr.Run) -> dict[str, object]:
        if run.index == 3:
            raise RuntimeError("the cluster node went away")
        return simulate(run)

    whole = pr_sweep(build_sweep(steps=50), simulate)
    path = tmp_path / "resumed.h5"
    pr_sweep(build_sweep(steps=50), crashes_once, storage=path, on_error="continue")
    resumed = pr_sweep(build_sweep(steps=50), simulate, storage=path, resume=True)
    assert_studies_equal(whole, resumed)


def test_process_workers_store_what_the_serial_run_stores(pr_sweep: Sweep) -> None:
    serial = pr_sweep(build_sweep(steps=50), simulate)
    parallel = pr_sweep(build_sweep(steps=50), simulate, executor="process", workers=2)
    assert_studies_equal(serial, parallel, run_metadata=True)


def test_the_populations_codec_keeps_the_law_on_every_backend() -> None:
    check_codec(
        Populations,
        [
            Populations(0.01, np.zeros((0, 2))),
            Populations(0.5, np.arange(6.0).reshape(3, 2)),
            Populations(1e-3, np.asfortranarray(np.ones((4, 2)))[::2]),
        ],
        factories=storage_factories(),
    )


@settings(max_examples=10, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    space=parameter_spaces(("beta", "prey0"), kinds=["grid", "sample"], max_runs=4),
    steps=st.integers(1, 20),
)
def test_any_sweep_gives_positive_populations(
    pr_sweep: Sweep, space: pr.ParameterSpace, steps: int
) -> None:
    traj = build_sweep(steps=steps)
    fresh = pr.Trajectory(traj.name, seed=traj.seed)
    for parameter in traj.parameters():
        fresh.add_parameter(parameter.path, parameter.default)
    # Rates and counts of a sane size: the drawn values folded into [0.1, 1.1).
    fresh.explore(space.map_columns(lambda name, index, value: abs(float(value)) % 1.0 + 0.1))  # type: ignore[arg-type]
    # Each example gets a new file from pr_sweep: no "already stored" between examples.
    study = pr_sweep(fresh, simulate)
    assert len(study) == len(space)
    assert (study.results["predators_final"][:] > 0).all()


@pytest.mark.parametrize("beta", [0.2, 0.6])
def test_a_single_point(pr_sweep: Sweep, beta: float) -> None:
    traj = build_sweep(steps=20)
    one = pr.Trajectory("one", seed=1)
    for parameter in traj.parameters():
        one.add_parameter(parameter.path, beta if parameter.path == "beta" else parameter.default)
    study = pr_sweep(one, simulate, backend="memory")
    assert len(study) == 1
    assert study.run(0).params["beta"] == beta
