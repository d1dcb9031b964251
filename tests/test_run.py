"""The Run a simulate function receives: parameter access, results, and per-run randomness."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import pytest

import pypet_rebuild as pr
from pypet_rebuild.errors import (
    AmbiguousNameError,
    DuplicateResultError,
    InvalidResultError,
    NodeNotFoundError,
    RunFailedError,
)


def _trajectory(name: str = "t", seed: int = 11) -> pr.Trajectory:
    traj = pr.Trajectory(name, seed=seed)
    traj.add_parameter("x", 1.0)
    traj.add_parameter("sim.steps", 100)
    traj.add_parameter("sim.solver.tol", 0.5)
    traj.add_parameter("a.v", 1)
    traj.add_parameter("b.v", 2)
    traj.explore(pr.cartesian_product({"x": [1.0, 2.0], "sim.steps": [10, 20]}))
    return traj


def _run_all(
    traj: pr.Trajectory,
    simulate: Callable[[pr.Run], Mapping[str, object] | None],
    storage: pr.MemoryStorageService | None = None,
    **kwargs: Any,
) -> pr.RunReport:
    env = pr.Environment(traj, storage)
    report = env.run(simulate, progress=False, **kwargs)
    _STUDIES[id(traj)] = env.study
    return report


_STUDIES: dict[int, pr.StoredTrajectory] = {}


def _study(traj: pr.Trajectory) -> pr.StoredTrajectory:
    """The stored study the last ``_run_all`` of ``traj`` wrote."""
    return _STUDIES[id(traj)]


def _failure_cause(traj: pr.Trajectory, simulate: Callable[[pr.Run], object]) -> BaseException:
    """Run ``simulate`` with on_error='raise' and return the user-level exception it caused."""
    with pytest.raises(RunFailedError) as info:
        pr.Environment(traj).run(simulate, progress=False)
    assert info.value.__cause__ is not None
    return info.value.__cause__


# -- parameter access ----------------------------------------------------------------------------


def test_values_by_attribute_path_group_and_leaf() -> None:
    traj = _trajectory()
    seen: list[tuple[object, ...]] = []

    def simulate(run: pr.Run) -> None:
        seen.append(
            (
                run.index,
                run.x,
                run["x"],
                run.sim.steps,
                run["sim.steps"],
                run.steps,
                run["steps"],
                run.sim.solver.tol,
                run.tol,
                run.a.v,
                run["b.v"],
            )
        )

    _run_all(traj, simulate)
    assert seen == [
        (0, 1.0, 1.0, 10, 10, 10, 10, 0.5, 0.5, 1, 2),
        (1, 1.0, 1.0, 20, 20, 20, 20, 0.5, 0.5, 1, 2),
        (2, 2.0, 2.0, 10, 10, 10, 10, 0.5, 0.5, 1, 2),
        (3, 2.0, 2.0, 20, 20, 20, 20, 0.5, 0.5, 1, 2),
    ]


def test_explored_values_have_the_declared_type() -> None:
    traj = pr.Trajectory("t", seed=1)
    traj.add_parameter("x", 1.0)
    traj.add_parameter("n", 1)
    traj.explore({"x": [np.int64(2), 3], "n": [np.int32(4), 5.0]})
    types: list[tuple[type, type]] = []
    _run_all(traj, lambda run: types.append((type(run.x), type(run.n))))
    assert types == [(float, int), (float, int)]


def test_params_holds_every_value_by_full_path_read_only() -> None:
    traj = _trajectory()
    params: list[Mapping[str, object]] = []
    _run_all(traj, lambda run: params.append(run.params))
    assert dict(params[3]) == {
        "x": 2.0,
        "sim.steps": 20,
        "sim.solver.tol": 0.5,
        "a.v": 1,
        "b.v": 2,
    }
    with pytest.raises(TypeError):
        params[3]["x"] = 5.0  # type: ignore[index]


def test_group_iterates_its_parameter_paths() -> None:
    traj = _trajectory()
    paths: list[list[str]] = []
    _run_all(traj, lambda run: paths.append(list(run.sim)))
    assert paths[0] == ["sim.steps", "sim.solver.tol"]


def test_a_top_level_group_wins_over_a_leaf_of_the_same_name() -> None:
    traj = pr.Trajectory("t", seed=1)
    traj.add_parameter("a.sim", 1.0)
    traj.add_parameter("sim.x", 2)
    seen: list[object] = []
    _run_all(traj, lambda run: seen.append((run.sim.x, run["a.sim"], run.a.sim)))
    assert seen == [(2, 1.0, 1.0)]


def test_containment() -> None:
    traj = _trajectory()
    answers: list[tuple[bool, ...]] = []
    _run_all(traj, lambda run: answers.append(("x" in run, "sim.steps" in run, "y" in run)))
    assert answers[0] == (True, True, False)


def test_unknown_names_raise_node_not_found() -> None:
    traj = _trajectory()
    cause = _failure_cause(traj, lambda run: run.nope)
    assert isinstance(cause, NodeNotFoundError)
    assert isinstance(cause, AttributeError)
    assert "'nope'" in str(cause)


def test_unknown_names_by_path_raise_key_error() -> None:
    cause = _failure_cause(_trajectory(), lambda run: run["sim.nope"])
    assert isinstance(cause, NodeNotFoundError)
    assert isinstance(cause, KeyError)


def test_unknown_names_in_a_group_raise_node_not_found() -> None:
    cause = _failure_cause(_trajectory(), lambda run: run.sim.nope)
    assert isinstance(cause, NodeNotFoundError)
    assert "'sim.nope'" in str(cause)


def test_ambiguous_leaf_names_list_the_candidates() -> None:
    for access in (lambda run: run.v, lambda run: run["v"]):
        cause = _failure_cause(_trajectory(), access)
        assert isinstance(cause, AmbiguousNameError)
        assert cause.candidates == ("a.v", "b.v")


def test_index_and_repr() -> None:
    traj = _trajectory()
    reprs: list[str] = []
    _run_all(traj, lambda run: reprs.append(repr(run)))
    assert reprs[2].startswith("<Run 2:")
    assert "x=2.0" in reprs[2]


# -- randomness ----------------------------------------------------------------------------------


def _draws(run: pr.Run) -> dict[str, object]:
    return {"draws": run.rng.random(4), "seed": run.seed}


def test_rng_is_reproducible_across_separate_trajectories() -> None:
    first, second = _trajectory("one", seed=42), _trajectory("two", seed=42)
    _run_all(first, _draws)
    _run_all(second, _draws)
    np.testing.assert_array_equal(
        _study(first).results["draws"][:], _study(second).results["draws"][:]
    )


def test_rng_depends_on_the_point_not_the_run_index() -> None:
    forward = pr.Trajectory("f", seed=3)
    forward.add_parameter("x", 1.0)
    forward.explore({"x": [1.0, 2.0, 3.0]})
    backward = pr.Trajectory("b", seed=3)
    backward.add_parameter("x", 1.0)
    backward.explore({"x": [3.0, 2.0, 1.0]})
    _run_all(forward, _draws)
    _run_all(backward, _draws)
    np.testing.assert_array_equal(
        _study(forward).results["draws"][:], _study(backward).results["draws"][::-1]
    )


def test_different_points_and_different_seeds_give_different_streams() -> None:
    traj = _trajectory(seed=42)
    other_seed = _trajectory("other", seed=43)
    _run_all(traj, _draws)
    _run_all(other_seed, _draws)
    draws = _study(traj).results["draws"][:]
    assert len({tuple(row) for row in draws.tolist()}) == len(traj)
    assert len(set(_study(traj).results["seed"][:].tolist())) == len(traj)
    assert not np.any(draws == _study(other_seed).results["draws"][:])


def test_rng_is_reproducible_across_resume() -> None:
    reference = _trajectory("ref", seed=5)
    _run_all(reference, _draws)

    storage = pr.MemoryStorageService()
    traj = _trajectory("resumed", seed=5)

    def flaky(run: pr.Run) -> dict[str, object]:
        if run.index % 2 == 1:
            raise RuntimeError("transient")
        return _draws(run)

    first = _run_all(traj, flaky, storage, on_error="continue")
    assert (first.done, first.failed) == (2, 2)
    resumed = pr.Trajectory.from_snapshot(storage.load_snapshot("resumed"))
    second = _run_all(resumed, _draws, storage, resume=True)
    assert (second.done, second.skipped) == (2, 2)
    np.testing.assert_array_equal(
        _study(resumed).results["draws"][:], _study(reference).results["draws"][:]
    )


def test_run_seed_is_the_seed_stored_in_the_run_table() -> None:
    storage = pr.MemoryStorageService()
    traj = _trajectory()
    _run_all(traj, _draws, storage)
    table = storage.load_run_table("t")
    assert table.seed.tolist() == _study(traj).results["seed"][:].tolist()
    for index in range(len(traj)):
        assert _study(traj).run(index).metadata["seed"] == _study(traj).results["seed"][index]


def test_rng_is_a_numpy_generator_and_the_same_object_within_a_run() -> None:
    traj = _trajectory()
    pairs: list[tuple[np.random.Generator, np.random.Generator]] = []
    _run_all(traj, lambda run: pairs.append((run.rng, run.rng)))
    assert all(a is b for a, b in pairs)
    assert len({id(a) for a, _ in pairs}) == len(traj)
    assert all(type(a) is np.random.Generator for a, _ in pairs)


# -- results -------------------------------------------------------------------------------------


def test_add_result_and_returned_mapping_give_the_same_stored_results() -> None:
    returned, added = _trajectory("returned"), _trajectory("added")

    def by_return(run: pr.Run) -> dict[str, object]:
        return {"z": run.x * run.steps, "trace": np.full(3, run.x)}

    def by_add(run: pr.Run) -> None:
        run.add_result("z", run.x * run.steps)
        run.add_result("trace", np.full(3, run.x))

    _run_all(returned, by_return)
    _run_all(added, by_add)
    for name in ("z", "trace"):
        np.testing.assert_array_equal(
            _study(returned).results[name][:], _study(added).results[name][:]
        )
    assert list(_study(returned).results) == list(_study(added).results) == ["trace", "z"]


def test_both_forms_combine_and_comments_are_kept() -> None:
    traj = _trajectory()

    def simulate(run: pr.Run) -> dict[str, object]:
        run.add_result("stats.mean", run.x / 2, comment="half of x")
        assert dict(run.results) == {"stats.mean": run.x / 2}
        return {"z": run.x}

    _run_all(traj, simulate)
    assert _study(traj).run(3).results == {"stats.mean": 1.0, "z": 2.0}
    assert _study(traj).results["stats.mean"].comment == "half of x"
    assert _study(traj).results["z"].comment == ""


def test_returning_none_without_results_is_a_done_run() -> None:
    traj = _trajectory()
    report = _run_all(traj, lambda run: None)
    assert report.done == len(traj)
    assert list(_study(traj).results) == []


def test_reserved_api_names_are_fine_for_results() -> None:
    # Results are reached through _study(traj).results[name], so API names cannot be shadowed.
    traj = _trajectory()
    _run_all(traj, lambda run: {"results": 1, "index": run.index})
    assert _study(traj).results["index"][:].tolist() == [0, 1, 2, 3]


@pytest.mark.parametrize("name", ["1z", "", "z-1", "class", "_z", "a..b", "a.1b"])
def test_a_returned_result_name_that_is_not_valid_fails_the_run(name: str) -> None:
    cause = _failure_cause(_trajectory(), lambda run: {name: 1.0})
    assert isinstance(cause, InvalidResultError)
    assert "result name" in str(cause)


def test_a_result_name_that_is_not_a_string_fails_the_run() -> None:
    cause = _failure_cause(_trajectory(), lambda run: {3: 1.0})
    assert isinstance(cause, InvalidResultError)
    assert "strings" in str(cause)


def test_add_result_with_an_invalid_name_fails_the_run() -> None:
    cause = _failure_cause(_trajectory(), lambda run: run.add_result("bad name", 1))
    assert isinstance(cause, InvalidResultError)


def test_a_result_set_twice_by_add_result_fails_the_run() -> None:
    def simulate(run: pr.Run) -> None:
        run.add_result("z", 1)
        run.add_result("z", 2)

    cause = _failure_cause(_trajectory(), simulate)
    assert isinstance(cause, DuplicateResultError)
    assert "'z'" in str(cause)
    assert "twice" in str(cause)


def test_a_result_set_by_add_result_and_returned_fails_the_run() -> None:
    def simulate(run: pr.Run) -> dict[str, object]:
        run.add_result("z", 1)
        return {"z": 2}

    cause = _failure_cause(_trajectory(), simulate)
    assert isinstance(cause, DuplicateResultError)
    assert isinstance(cause, InvalidResultError)


@pytest.mark.parametrize("name", ["x", "sim.steps", "sim", "sim.solver"])
def test_a_result_name_colliding_with_a_parameter_fails_the_run(name: str) -> None:
    cause = _failure_cause(_trajectory(), lambda run: {name: 1})
    assert isinstance(cause, InvalidResultError)
    assert "collides" in str(cause)


@pytest.mark.parametrize("returned", [42, [("z", 1)], "z", (1, 2), np.arange(3)])
def test_a_simulate_returning_a_non_mapping_fails_the_run(returned: object) -> None:
    cause = _failure_cause(_trajectory(), lambda run: returned)
    assert isinstance(cause, InvalidResultError)
    assert "mapping" in str(cause)


def test_a_run_with_invalid_results_keeps_none_of_them() -> None:
    storage = pr.MemoryStorageService()
    traj = _trajectory()

    def simulate(run: pr.Run) -> dict[str, object]:
        run.add_result("ok", 1)
        return {"ok": 2}

    report = _run_all(traj, simulate, storage, on_error="continue")
    assert report.failed == len(traj)
    assert _study(traj).run(0).results == {}
    assert _study(traj).run(0).status == "failed"
