"""Naming rules: which names parameters, groups, results and trajectories may have."""

from __future__ import annotations

import keyword

import pytest

import pypet_rebuild as pr
from pypet_rebuild.errors import InvalidNameError, ReservedNameError
from pypet_rebuild.execution.run import Run, RunGroup
from pypet_rebuild.tree import Group, Trajectory
from pypet_rebuild.tree.naming import RESERVED_NAMES, check_path, leaf_name, parent_path


def _public_attributes(cls: type) -> set[str]:
    return {name for name in dir(cls) if not name.startswith("_")}


@pytest.mark.parametrize("cls", [Trajectory, Group, Run, RunGroup])
def test_reserved_names_cover_every_public_api_attribute(cls: type) -> None:
    # A parameter or group with one of these names could never be reached by attribute access,
    # because the API attribute would win. Every public attribute must therefore be reserved.
    missing = _public_attributes(cls) - RESERVED_NAMES
    assert not missing, f"{cls.__name__} attributes missing from RESERVED_NAMES: {sorted(missing)}"


def test_reserved_names_are_all_valid_identifiers() -> None:
    # A reserved name that is not an identifier would be refused anyway; keep the set meaningful.
    for name in RESERVED_NAMES:
        assert name.isidentifier()
        assert not keyword.iskeyword(name)
        assert not name.startswith("_")


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
def test_names_that_shadow_the_api_are_refused(name: str) -> None:
    traj = pr.Trajectory("t")
    with pytest.raises(ReservedNameError, match="shadow"):
        traj.add_parameter(name, 1)
    assert list(traj.nodes()) == []


def test_reserved_name_error_is_an_invalid_name_error_and_value_error() -> None:
    traj = pr.Trajectory("t")
    with pytest.raises(ValueError, match="add_parameter"):
        traj.add_parameter("add_parameter", 1)


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
    # Reserved names are fine for trajectories, which are not reached by attribute access.
    assert pr.Trajectory("results").name == "results"


def test_leaf_and_parent_path() -> None:
    assert leaf_name("a.b.c") == "c"
    assert parent_path("a.b.c") == "a.b"
    assert leaf_name("x") == "x"
    assert parent_path("x") == ""
