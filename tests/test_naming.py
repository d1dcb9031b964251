"""Naming rules: which names parameters, groups, results and trajectories may have."""

from __future__ import annotations

import pytest

import pypet_rebuild as pr
from pypet_rebuild.errors import InvalidNameError
from pypet_rebuild.tree.naming import check_path, leaf_name, parent_path


@pytest.mark.parametrize(
    ("name", "fragment"),
    [
        ("", "empty"),
        ("1x", "starts with a digit"),
        ("x-y", "invalid"),
        ("x y", "invalid"),
        ("class", "keyword"),
        ("lambda", "keyword"),
        ("_private", "reserved for internals"),
        ("__dunder__", "reserved for internals"),
        ("sim.", "empty"),
        (".sim", "empty"),
        ("sim..steps", "empty"),
        ("sim.2nd", "starts with a digit"),
        ("sim.for", "keyword"),
    ],
)
def test_invalid_parameter_names_are_refused_with_a_reason(name: str, fragment: str) -> None:
    traj = pr.Trajectory("t")
    with pytest.raises(InvalidNameError, match=fragment):
        traj.add_parameter(name, 1)
    assert list(traj.nodes()) == []


@pytest.mark.parametrize(
    "name", ["add_parameter", "results", "explore", "run", "seed", "sim.parameters", "index"]
)
def test_names_of_api_attributes_are_allowed_and_reached_by_item(name: str) -> None:
    traj = pr.Trajectory("t", seed=3)
    parameter = traj.add_parameter(name, 1)
    assert traj[name] is parameter
    assert traj.seed == 3  # the API attribute wins attribute access
    assert callable(traj.add_parameter)


def test_error_in_a_dotted_path_names_the_whole_path() -> None:
    with pytest.raises(InvalidNameError, match=r"'sim\.1x'"):
        pr.Trajectory("t").add_parameter("sim.1x", 1)


@pytest.mark.parametrize("name", ["", "1study", "my.study", "with space", "class", "_hidden"])
def test_invalid_trajectory_names_are_refused(name: str) -> None:
    with pytest.raises(InvalidNameError):
        pr.Trajectory(name)


def test_dots_in_a_trajectory_name_get_a_specific_hint() -> None:
    with pytest.raises(InvalidNameError, match="dots are not allowed"):
        pr.Trajectory("my.study")


def test_non_string_names_are_refused() -> None:
    with pytest.raises(InvalidNameError, match="must be a string"):
        check_path(3)


def test_valid_names_are_accepted() -> None:
    traj = pr.Trajectory("study_2")
    traj.add_parameter("x", 1.0)
    traj.add_parameter("sim.n_steps", 10)
    traj.add_parameter("sim.inner.Value2", 1)
    assert "sim.inner.Value2" in traj
    assert pr.Trajectory("results").name == "results"


def test_leaf_and_parent_path() -> None:
    assert leaf_name("a.b.c") == "c"
    assert parent_path("a.b.c") == "a.b"
    assert leaf_name("x") == "x"
    assert parent_path("x") == ""
