"""Limits: a space's size is checked before it is built; the driver stores in O(1) per run."""

from __future__ import annotations

import tracemalloc
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

import pypet_rebuild as pr
from pypet_rebuild.errors import ExplorationError, SpaceTooLargeError
from pypet_rebuild.execution.report import RunDurations
from pypet_rebuild.exploration import (
    MAX_POINTS,
    cartesian_product,
    latin_hypercube,
    random_sample,
    sobol,
)


def test_a_billion_point_product_is_refused_before_it_is_built() -> None:
    axes = {"x": range(1000), "y": range(1000), "z": range(1000)}
    tracemalloc.start()
    try:
        with pytest.raises(SpaceTooLargeError) as caught:
            cartesian_product(axes)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # Only the axes were converted: nowhere near the product.
    assert peak < 10 << 20
    error = caught.value
    assert isinstance(error, ExplorationError)
    assert isinstance(error, ValueError)
    assert error.size == 10**9
    assert error.limit == MAX_POINTS
    message = str(error)
    assert "1,000,000,000 points" in message
    assert "'x' (1,000) x 'y' (1,000) x 'z' (1,000)" in message
    assert "max_points=" in message
    assert "fewer values" in message


def test_linked_axes_count_once() -> None:
    with pytest.raises(SpaceTooLargeError, match=r"'a' \+ 'b' \(20\) x 'c' \(30\)"):
        cartesian_product(
            {"a": range(20), "b": range(20), "c": range(30)}, linked=[("a", "b")], max_points=599
        )
    assert len(cartesian_product({"a": range(20), "c": range(30)}, max_points=600)) == 600


def test_max_points_raises_or_lowers_the_limit() -> None:
    with pytest.raises(SpaceTooLargeError, match="over the limit of 99 points"):
        cartesian_product({"x": range(10), "y": range(10)}, max_points=99)
    assert len(cartesian_product({"x": range(10), "y": range(10)}, max_points=100)) == 100


@pytest.mark.parametrize("bad", [0, -1, 1.5, "10", True])
def test_max_points_must_be_a_positive_integer(bad: object) -> None:
    with pytest.raises(ExplorationError, match="max_points must be a positive integer"):
        cartesian_product({"x": [1, 2]}, max_points=bad)  # type: ignore[arg-type]


def test_samplers_refuse_an_oversized_n_before_drawing() -> None:
    with pytest.raises(SpaceTooLargeError, match=r"sampling 'x'.*n \(1,000,000,000\)"):
        random_sample({"x": (0.0, 1.0)}, n=10**9, seed=1)
    with pytest.raises(SpaceTooLargeError, match="ask for fewer points"):
        latin_hypercube({"x": (0.0, 1.0)}, n=17, seed=1, max_points=16)
    with pytest.raises(SpaceTooLargeError):
        sobol({"x": (0.0, 1.0)}, n=32, seed=1, max_points=16)
    assert len(random_sample({"x": (0.0, 1.0)}, n=16, seed=1, max_points=16)) == 16


def test_a_trajectory_refuses_the_oversized_product_too() -> None:
    traj = pr.Trajectory("big", seed=0)
    traj.add_parameter("x", 0)
    traj.add_parameter("y", 0)
    with pytest.raises(SpaceTooLargeError):
        traj.explore(cartesian_product({"x": range(10**5), "y": range(10**5)}))
    assert len(traj) == 1


# -- driver memory while storing -----------------------------------------------------------------


def test_report_durations_are_a_compact_read_only_mapping() -> None:
    traj = pr.Trajectory("d", seed=0)
    traj.add_parameter("x", 0)
    traj.explore({"x": list(range(50))})
    report = pr.Environment(traj).run(lambda run: None, progress=False)
    durations = report.durations
    assert isinstance(durations, RunDurations)
    assert len(durations) == 50
    assert list(durations) == list(range(50))
    assert all(value >= 0.0 for value in durations.values())
    assert durations[49] == dict(durations.items())[49]
    assert 50 not in durations
    with pytest.raises(KeyError):
        durations[50]
    with pytest.raises(TypeError):
        durations[0] = 1.0  # type: ignore[index]
    np.testing.assert_array_equal(durations.as_array(), np.array(list(durations.values())))
    assert "median" in report.summary()


def test_hooks_get_the_pending_indices_without_a_list_of_tasks(tmp_path: Path) -> None:
    seen: list[list[int]] = []

    class Pending(pr.Hooks):
        def before_sweep(self, trajectory: pr.Trajectory, pending: Sequence[int]) -> None:
            seen.append(list(pending))

    traj = pr.Trajectory("p", seed=0)
    traj.add_parameter("x", 0)
    traj.explore({"x": list(range(6))})
    path = tmp_path / "p.h5"
    calls = 0

    def stop_after_three(run: pr.Run) -> None:
        nonlocal calls
        calls += 1
        if run.x == 3:
            raise ValueError("stop")

    pr.Environment(traj, path).run(
        stop_after_three, progress=False, hooks=[Pending()], on_error="continue"
    )
    again = pr.Trajectory("p", seed=0)
    again.add_parameter("x", 0)
    again.explore({"x": list(range(6))})
    pr.Environment(again, path).run(
        lambda run: None, progress=False, hooks=[Pending()], resume=True
    )
    assert seen == [[0, 1, 2, 3, 4, 5], [3]]


def _peak_of_a_stored_sweep(path: Path, side: int) -> int:
    traj = pr.Trajectory("mem", seed=0)
    traj.add_parameter("x", 0.0)
    traj.add_parameter("y", 0)
    traj.explore(cartesian_product({"x": [float(i) for i in range(side)], "y": range(side)}))
    env = pr.Environment(traj, path, batch_size=1000)
    tracemalloc.start()
    try:
        env.run(lambda run: {"z": run.x * run.y}, progress=False)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.slow
def test_driver_memory_per_run_while_storing_stays_small(tmp_path: Path) -> None:
    # tracemalloc counts Python allocations deterministically (no RSS noise); the slope between
    # two sizes leaves out the fixed costs. Measured: ~420 B/run before this change (a list of
    # task tuples, hex hashes read back to fold, a dict of durations), ~25 after (at these
    # sizes the peak is set by per-batch work). Generous: it catches a return to a list per run.
    small = _peak_of_a_stored_sweep(tmp_path / "small.h5", 100)
    large = _peak_of_a_stored_sweep(tmp_path / "large.h5", 250)
    per_run = (large - small) / (250**2 - 100**2)
    assert per_run < 300, f"the driver's peak memory grows by {per_run:.0f} bytes per run"
