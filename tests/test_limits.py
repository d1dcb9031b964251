"""Limits known before anything is built: the size of a space is checked from its axis lengths."""

from __future__ import annotations

import tracemalloc

import pytest

import pypet_rebuild as pr
from pypet_rebuild.errors import ExplorationError, SpaceTooLargeError
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
