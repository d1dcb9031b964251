"""Shared test configuration: the hypothesis profile, pytester, and the standard sweeps.

The pypet_rebuild pytest plugin (``pr_sweep``, ``pr_storage``, ``pr_storage_factory``) comes
from the installed package's ``pytest11`` entry point, as in any downstream project.
"""

from __future__ import annotations

import os
from collections.abc import Callable

import pytest
from hypothesis import HealthCheck, settings

import pypet_rebuild as pr
from pypet_rebuild.testing import conformance

pytest_plugins = ["pytester"]

settings.register_profile(
    "ci",
    derandomize=True,
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile("dev", deadline=None, max_examples=200)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

Simulate = Callable[[pr.Run], dict[str, object]]


@pytest.fixture
def xy_trajectory() -> Callable[..., pr.Trajectory]:
    """``xy_trajectory(name="sweep", *, y_default=1)``: x in (1, 2, 3) times y in (10, 20).

    Six runs, and ``sim.steps = 5``: the conformance suite's standard sweep
    (``pypet_rebuild.testing.conformance.trajectory``).
    """
    return conformance.trajectory


@pytest.fixture
def simulate_xy() -> Simulate:
    """``z = x * y`` and ``trace = arange(sim.steps) * x``: the standard sweep's simulate."""
    return conformance.simulate


def _double(run: pr.Run) -> dict[str, object]:
    return {"z": run.x * 2.0}


@pytest.fixture
def simulate_double() -> Simulate:
    """``z = 2 * x`` (module level, so process pools can import it)."""
    return _double


@pytest.fixture
def x_trajectory() -> Callable[..., pr.Trajectory]:
    """``x_trajectory(name="t", xs=(1.0, 2.0, 3.0, 4.0), *, seed=1)``: one float parameter ``x``."""

    def build(
        name: str = "t", xs: tuple[float, ...] = (1.0, 2.0, 3.0, 4.0), *, seed: int = 1
    ) -> pr.Trajectory:
        traj = pr.Trajectory(name, seed=seed)
        traj.add_parameter("x", 1.0)
        traj.explore({"x": list(xs)})
        return traj

    return build
