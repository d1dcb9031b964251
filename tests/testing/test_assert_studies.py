"""assert_studies_equal: resume equals uninterrupted, merges, and readable differences."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

import pypet_rebuild as pr
from pypet_rebuild.testing import assert_studies_equal, run_study
from pypet_rebuild.testing.conformance import fail_on_x2

Simulate = Callable[[pr.Run], dict[str, object]]
TrajectoryFactory = Callable[..., pr.Trajectory]


def test_a_resumed_sweep_equals_an_uninterrupted_one(
    tmp_path: Path, xy_trajectory: TrajectoryFactory, simulate_xy: Simulate
) -> None:
    whole = run_study(xy_trajectory(), simulate_xy, storage=tmp_path / "whole.h5")
    broken = run_study(
        xy_trajectory(), fail_on_x2, storage=tmp_path / "resumed.h5", on_error="continue"
    )
    with pytest.raises(AssertionError, match=r"run 2 \(x=2\.0, y=10\), status: expected 'done'"):
        assert_studies_equal(whole, broken)
    broken.close()
    resumed = run_study(xy_trajectory(), simulate_xy, storage=tmp_path / "resumed.h5", resume=True)
    assert_studies_equal(whole, resumed, run_metadata=True)
    # Two sweeps against one: provenance tells them apart when asked.
    with pytest.raises(AssertionError, match="provenance: expected 1 sweeps, got 2"):
        assert_studies_equal(whole, resumed, provenance=True)
    whole.close()
    resumed.close()


def test_the_message_names_run_result_expected_and_got(
    xy_trajectory: TrajectoryFactory, simulate_xy: Simulate
) -> None:
    def off_by_one(run: pr.Run) -> dict[str, object]:
        found = simulate_xy(run)
        if run.index == 3:
            found["z"] = 41.0
            found["trace"] = np.arange(6) * run.x
        return found

    expected = run_study(xy_trajectory(), simulate_xy)
    actual = run_study(xy_trajectory(), off_by_one)
    with pytest.raises(AssertionError) as caught:
        assert_studies_equal(expected, actual)
    assert str(caught.value) == (
        "the studies differ (2 differences):\n"
        "  run 3 (x=2.0, y=20), result 'trace': shape: expected (5,), got (6,)\n"
        "  run 3 (x=2.0, y=20), result 'z': expected 40.0, got 41.0"
    )
    assert_studies_equal(expected, actual, results=["x_not_there"][:0])
    with pytest.raises(AssertionError, match="'z'"):
        assert_studies_equal(expected, actual, results=["z"])


def test_tolerance_seed_definition_and_derived(
    xy_trajectory: TrajectoryFactory, simulate_xy: Simulate
) -> None:
    def noisy(run: pr.Run) -> dict[str, object]:
        found = simulate_xy(run)
        found["z"] = float(found["z"]) * (1 + 1e-12)  # type: ignore[arg-type]
        return found

    expected = run_study(xy_trajectory(), simulate_xy)
    actual = run_study(xy_trajectory(), noisy)
    with pytest.raises(AssertionError, match="result 'z'"):
        assert_studies_equal(expected, actual)
    assert_studies_equal(expected, actual, rtol=1e-9)

    other = pr.Trajectory("sweep", seed=8)
    for parameter in xy_trajectory(y_default=2).parameters():
        other.add_parameter(parameter.path, parameter.default)
    other.explore(pr.cartesian_product({"x": [1.0, 2.0, 3.0], "y": [10, 20]}))
    changed = run_study(other, simulate_xy)
    with pytest.raises(AssertionError) as caught:
        assert_studies_equal(expected, changed)
    assert "seed: expected 7, got 8" in str(caught.value)
    assert "parameter 'y' default: expected 1, got 2" in str(caught.value)

    actual.add_derived("total", 180.0, comment="sum")
    with pytest.raises(AssertionError, match=r"derived results: only in expected: \[\]"):
        assert_studies_equal(expected, actual, rtol=1e-9)
    assert_studies_equal(expected, actual, rtol=1e-9, derived=False)


def test_runs_matched_by_point_for_a_merge(
    xy_trajectory: TrajectoryFactory, simulate_xy: Simulate
) -> None:
    left = pr.Trajectory("sweep", seed=7, comment="conformance")
    whole = xy_trajectory()
    for parameter in whole.parameters():
        left.add_parameter(parameter.path, parameter.default)
    left.explore(pr.cartesian_product({"x": [3.0, 2.0, 1.0], "y": [20, 10]}))
    reordered = run_study(left, simulate_xy)
    reference = run_study(whole, simulate_xy)
    with pytest.raises(AssertionError, match="run 0: point expected"):
        assert_studies_equal(reference, reordered)
    assert_studies_equal(reference, reordered, match_runs="point")
    smaller = run_study(xy_trajectory(), simulate_xy)
    small = pr.Trajectory("sweep", seed=7)
    for parameter in whole.parameters():
        small.add_parameter(parameter.path, parameter.default)
    small.explore(pr.cartesian_product({"x": [1.0], "y": [10, 20]}))
    with pytest.raises(AssertionError, match="no run of that point"):
        assert_studies_equal(smaller, run_study(small, simulate_xy), match_runs="point")


def test_max_differences_limits_the_list(
    xy_trajectory: TrajectoryFactory, simulate_xy: Simulate
) -> None:
    expected = run_study(xy_trajectory(), simulate_xy)
    actual = run_study(xy_trajectory(), lambda run: {"z": -1.0, "trace": np.zeros(5)})
    with pytest.raises(AssertionError) as caught:
        assert_studies_equal(expected, actual, max_differences=3)
    lines = str(caught.value).splitlines()
    assert lines[0] == "the studies differ (the first 3 differences):"
    assert len(lines) == 4
    with pytest.raises(ValueError, match="match_runs"):
        assert_studies_equal(expected, actual, match_runs="order")  # type: ignore[arg-type]
