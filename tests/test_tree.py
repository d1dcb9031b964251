"""The tree model: Trajectory, groups, parameters; access, iteration, locking, exploration input."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

import pypet_rebuild as pr
from pypet_rebuild.errors import (
    AmbiguousNameError,
    DuplicateNodeError,
    EmptyExplorationError,
    ExplorationError,
    NodeNotFoundError,
    ParameterLockedError,
    RaggedExplorationError,
    UnknownParameterError,
)


@pytest.fixture
def traj() -> pr.Trajectory:
    traj = pr.Trajectory("study", comment="a test study", seed=7)
    traj.add_parameter("x", 1.0, comment="first factor", annotations={"unit": "m"})
    traj.add_parameter("sim.steps", 100)
    traj.add_parameter("sim.solver.tol", 1e-6)
    traj.add_parameter("a.v", 1)
    traj.add_parameter("b.v", 2)
    return traj


# -- access --------------------------------------------------------------------------------------


def test_access_by_full_path_attribute_and_unique_leaf_gives_the_same_node(
    traj: pr.Trajectory,
) -> None:
    steps = traj["sim.steps"]
    assert isinstance(steps, pr.Parameter)
    assert steps.default == 100
    assert traj.sim.steps is steps
    assert traj.steps is steps
    assert traj["steps"] is steps
    assert traj.get_parameter("steps") is steps
    assert traj.get_parameter("sim.steps") is steps
    assert traj.sim.solver.tol is traj["sim.solver.tol"]
    assert traj.tol is traj["sim.solver.tol"]


def test_groups_are_reached_by_path_and_attribute(traj: pr.Trajectory) -> None:
    sim = traj["sim"]
    assert isinstance(sim, pr.Group)
    assert traj.sim is sim
    assert sim.path == "sim"
    assert sim.name == "sim"
    assert traj["sim.solver"] is sim.solver
    assert sim["solver.tol"] is traj["sim.solver.tol"]
    assert set(sim.children) == {"steps", "solver"}
    assert len(sim) == 2
    assert "solver.tol" in sim
    assert "nothing" not in sim


def test_parameter_path_and_name(traj: pr.Trajectory) -> None:
    tol = traj["sim.solver.tol"]
    assert tol.path == "sim.solver.tol"
    assert tol.name == "tol"


def test_a_full_path_wins_over_a_leaf_name() -> None:
    traj = pr.Trajectory("t")
    top = traj.add_parameter("x", 1.0)
    traj.add_parameter("sim.x", 2.0)
    assert traj.x is top
    assert traj["x"] is top
    assert traj.get_parameter("x") is top


def test_a_top_level_group_wins_over_a_leaf_of_the_same_name() -> None:
    traj = pr.Trajectory("t")
    traj.add_parameter("a.sim", 1.0)
    traj.add_parameter("sim.x", 2)
    assert isinstance(traj.sim, pr.Group)
    assert isinstance(traj["sim"], pr.Group)


@pytest.mark.parametrize(
    "access",
    [lambda t: t.v, lambda t: t["v"], lambda t: t.get_parameter("v")],
    ids=["attribute", "item", "get_parameter"],
)
def test_ambiguous_short_name_lists_every_candidate(
    traj: pr.Trajectory, access: Callable[[pr.Trajectory], object]
) -> None:
    with pytest.raises(AmbiguousNameError) as info:
        access(traj)
    error = info.value
    assert error.name == "v"
    assert error.candidates == ("a.v", "b.v")
    assert "'a.v'" in str(error)
    assert "'b.v'" in str(error)


def test_ambiguous_names_still_resolve_by_full_path(traj: pr.Trajectory) -> None:
    assert traj["a.v"].default == 1
    assert traj.b.v.default == 2


@pytest.mark.parametrize(
    "access",
    [lambda t: t.nope, lambda t: t["nope"], lambda t: t["sim.nope"], lambda t: t.sim.nope],
    ids=["attribute", "item", "dotted item", "group attribute"],
)
def test_unknown_names_raise_node_not_found(
    traj: pr.Trajectory, access: Callable[[pr.Trajectory], object]
) -> None:
    with pytest.raises(NodeNotFoundError, match="nope"):
        access(traj)


def test_node_not_found_is_a_key_error_and_an_attribute_error(traj: pr.Trajectory) -> None:
    with pytest.raises(KeyError):
        _ = traj["nope"]
    with pytest.raises(AttributeError):
        _ = traj.nope
    assert not hasattr(traj, "nope")
    assert getattr(traj.sim, "nope", "fallback") == "fallback"


def test_not_found_message_lists_what_exists(traj: pr.Trajectory) -> None:
    with pytest.raises(NodeNotFoundError) as info:
        _ = traj.sim.nope
    assert "'steps'" in str(info.value)
    assert "'solver'" in str(info.value)


def test_path_under_a_parameter_is_not_found(traj: pr.Trajectory) -> None:
    with pytest.raises(NodeNotFoundError):
        _ = traj["x.y"]


def test_contains(traj: pr.Trajectory) -> None:
    assert "x" in traj
    assert "sim.steps" in traj
    assert "sim" in traj
    assert "sim.solver" in traj
    assert "nope" not in traj
    assert 3 not in traj


def test_private_names_are_not_looked_up(traj: pr.Trajectory) -> None:
    with pytest.raises(AttributeError):
        _ = traj._nothing_here
    with pytest.raises(AttributeError):
        _ = traj.sim._nothing_here


# -- iteration -----------------------------------------------------------------------------------


def test_nodes_are_depth_first_with_groups_before_their_children(traj: pr.Trajectory) -> None:
    assert [node.path for node in traj.nodes()] == [
        "x",
        "sim",
        "sim.steps",
        "sim.solver",
        "sim.solver.tol",
        "a",
        "a.v",
        "b",
        "b.v",
    ]


def test_parameters_and_groups_generators(traj: pr.Trajectory) -> None:
    parameters = traj.parameters()
    assert iter(parameters) is parameters  # a generator, not a list
    assert [p.path for p in parameters] == ["x", "sim.steps", "sim.solver.tol", "a.v", "b.v"]
    assert [g.path for g in traj.groups()] == ["sim", "sim.solver", "a", "b"]
    assert [p.path for p in traj.sim.parameters()] == ["sim.steps", "sim.solver.tol"]
    assert [g.path for g in traj.sim.groups()] == ["sim.solver"]
    assert [n.path for n in traj.sim] == ["sim.steps", "sim.solver"]


def test_trajectory_parameters_in_declaration_order_group_parameters_by_tree() -> None:
    traj = pr.Trajectory("t")
    traj.add_parameter("a.x", 1)
    traj.add_parameter("b", 2)
    traj.add_parameter("a.y", 3)
    assert [p.path for p in traj.parameters()] == ["a.x", "b", "a.y"]
    assert [p.path for p in traj.a.parameters()] == ["a.x", "a.y"]
    assert [n.path for n in traj.nodes()] == ["a", "a.x", "a.y", "b"]


def test_empty_trajectory_iterates_nothing() -> None:
    traj = pr.Trajectory("t")
    assert list(traj.nodes()) == []
    assert list(traj.parameters()) == []
    assert len(traj) == 1  # a trajectory without exploration runs once


# -- comments and annotations --------------------------------------------------------------------


def test_comments_and_annotations_are_kept(traj: pr.Trajectory) -> None:
    assert traj.comment == "a test study"
    x = traj.x
    assert x.comment == "first factor"
    assert x.annotations == {"unit": "m"}
    assert "first factor" in repr(x)
    traj.sim.comment = "simulation settings"
    traj.sim.annotations["owner"] = "me"
    assert traj["sim"].comment == "simulation settings"
    assert traj["sim"].annotations == {"owner": "me"}


def test_annotations_are_copied_from_the_caller() -> None:
    source: dict[str, object] = {"unit": "s"}
    parameter = pr.Trajectory("t").add_parameter("dt", 0.1, annotations=source)
    source["unit"] = "ms"
    assert parameter.annotations == {"unit": "s"}


def test_comments_and_annotations_survive_a_snapshot_round_trip(traj: pr.Trajectory) -> None:
    traj.explore({"x": [1.0, 2.0]})
    copy = pr.Trajectory.from_snapshot(traj.snapshot())
    assert copy.comment == "a test study"
    assert copy.seed == 7
    assert copy.x.comment == "first factor"
    assert copy.x.annotations == {"unit": "m"}
    assert [p.path for p in copy.parameters()] == [p.path for p in traj.parameters()]
    assert copy.point_hashes() == traj.point_hashes()


def test_describe_and_repr(traj: pr.Trajectory) -> None:
    traj.explore({"x": [1.0, 2.0, 3.0]})
    text = traj.describe()
    assert "3 run(s)" in text
    assert "seed 7" in text
    assert "x: float = 1.0 (explored)" in text
    assert "sim.steps: int = 100" in text
    assert "3 run(s)" in repr(traj)


# -- duplicates ----------------------------------------------------------------------------------


def test_duplicate_parameter_is_refused(traj: pr.Trajectory) -> None:
    with pytest.raises(DuplicateNodeError, match=r"sim\.steps"):
        traj.add_parameter("sim.steps", 5)
    assert traj.sim.steps.default == 100


def test_parameter_with_the_path_of_a_group_is_refused(traj: pr.Trajectory) -> None:
    with pytest.raises(DuplicateNodeError, match="sim"):
        traj.add_parameter("sim", 5)
    assert isinstance(traj.sim, pr.Group)


def test_group_below_a_parameter_is_refused(traj: pr.Trajectory) -> None:
    with pytest.raises(DuplicateNodeError, match="already a parameter"):
        traj.add_parameter("x.y", 5)
    assert isinstance(traj.x, pr.Parameter)


def test_duplicate_derived_result_is_refused() -> None:
    traj = pr.Trajectory("t")
    traj.add_parameter("x", 1.0)
    env = pr.Environment(traj)
    env.run(lambda run: {"z": run.x})
    study = env.study
    result = study.add_derived("stats.mean", 1.5, comment="mean z")
    assert result.value == 1.5
    assert result.name == "mean"
    assert study.derived["stats.mean"].comment == "mean z"
    with pytest.raises(DuplicateNodeError):
        study.add_derived("stats.mean", 2.0)
    assert study.add_derived("stats.mean", 2.0, replace=True).value == 2.0


# -- locking -------------------------------------------------------------------------------------


def _run_once(traj: pr.Trajectory) -> None:
    pr.Environment(traj).run(lambda run: None, progress=False)


def test_parameters_are_locked_once_a_run_starts(traj: pr.Trajectory) -> None:
    traj.x.default = 2.0  # allowed before running
    assert (traj.is_locked, traj.x.locked) == (False, False)
    _run_once(traj)
    assert traj.is_locked
    assert traj.x.locked
    with pytest.raises(ParameterLockedError, match="'x'"):
        traj.x.default = 3.0
    assert traj.x.default == 2.0
    with pytest.raises(ParameterLockedError, match="new"):
        traj.add_parameter("new", 1)
    assert "new" not in traj
    with pytest.raises(ParameterLockedError):
        traj.explore({"x": [5.0]})


def test_locked_error_is_a_runtime_error(traj: pr.Trajectory) -> None:
    traj.lock()
    with pytest.raises(RuntimeError):
        traj.sim.steps.default = 1


def test_expand_is_allowed_after_a_run(traj: pr.Trajectory) -> None:
    traj.explore({"x": [1.0, 2.0]})
    _run_once(traj)
    traj.expand({"x": [3.0, np.float64(4.0)]})
    assert len(traj) == 4
    assert traj.point(3) == {"x": 4.0}


def test_expand_without_exploration_starts_one() -> None:
    traj = pr.Trajectory("t")
    traj.add_parameter("n", 1)
    traj.expand({"n": [1, 2]})
    assert len(traj) == 2


def test_expand_must_explore_the_same_parameters(traj: pr.Trajectory) -> None:
    traj.explore({"x": [1.0]})
    with pytest.raises(UnknownParameterError, match="missing"):
        traj.expand({"sim.steps": [1]})
    assert len(traj) == 1


# -- exploration input ---------------------------------------------------------------------------


def test_explore_by_leaf_name_stores_full_paths(traj: pr.Trajectory) -> None:
    traj.explore(pr.cartesian_product({"x": [1.0, 2.0], "steps": [10, 20, 30]}))
    assert len(traj) == 6
    assert traj.explored_names == ("x", "sim.steps")
    assert traj.point(0) == {"x": 1.0, "sim.steps": 10}
    assert traj.point(-1) == {"x": 2.0, "sim.steps": 30}
    assert traj.run_parameters(1) == {
        "x": 1.0,
        "sim.steps": 20,
        "sim.solver.tol": 1e-6,
        "a.v": 1,
        "b.v": 2,
    }


def test_explore_with_typed_axes(traj: pr.Trajectory) -> None:
    traj.explore([traj.x.sweep([1.0, 2.0]), traj.sim.steps.sweep([5, 6])])
    assert [traj.point(i) for i in range(2)] == [
        {"x": 1.0, "sim.steps": 5},
        {"x": 2.0, "sim.steps": 6},
    ]


def test_point_index_out_of_range(traj: pr.Trajectory) -> None:
    traj.explore({"x": [1.0, 2.0]})
    with pytest.raises(IndexError):
        traj.point(2)
    with pytest.raises(IndexError):
        traj.point(-3)


def test_exploring_an_unknown_parameter_is_refused(traj: pr.Trajectory) -> None:
    with pytest.raises(UnknownParameterError, match="'y'") as info:
        traj.explore({"x": [1.0], "y": [1]})
    assert "add_parameter" in str(info.value)
    assert isinstance(info.value, KeyError)
    assert traj.space is None


def test_exploring_an_ambiguous_name_is_refused(traj: pr.Trajectory) -> None:
    with pytest.raises(AmbiguousNameError):
        traj.explore({"v": [1, 2]})


def test_zipping_sequences_of_different_lengths_is_refused(traj: pr.Trajectory) -> None:
    with pytest.raises(RaggedExplorationError, match=r"'x' has 3.*'sim.steps' has 2"):
        traj.explore({"x": [1.0, 2.0, 3.0], "sim.steps": [1, 2]})
    with pytest.raises(RaggedExplorationError):
        traj.explore(pr.zipped({"x": [1.0, 2.0]}, {"sim.steps": [1]}))
    assert traj.space is None


def test_linked_sequences_of_different_lengths_are_refused() -> None:
    with pytest.raises(RaggedExplorationError):
        pr.cartesian_product({"x": [1.0, 2.0], "n": [1]}, linked=[("x", "n")])


@pytest.mark.parametrize(
    "exploration",
    [
        {},
        {"x": []},
        {"x": [], "sim.steps": []},
    ],
)
def test_an_empty_exploration_is_refused(
    traj: pr.Trajectory, exploration: dict[str, list[object]]
) -> None:
    with pytest.raises(EmptyExplorationError):
        traj.explore(exploration)
    assert traj.space is None


def test_an_empty_cartesian_product_is_refused() -> None:
    with pytest.raises(EmptyExplorationError):
        pr.cartesian_product({"x": [1.0], "n": []})
    with pytest.raises(EmptyExplorationError):
        pr.cartesian_product()


def test_exploration_errors_are_value_errors(traj: pr.Trajectory) -> None:
    with pytest.raises(ValueError, match="same number"):
        traj.explore({"x": [1.0], "sim.steps": [1, 2]})
    with pytest.raises(ExplorationError):
        traj.explore({"x": []})
