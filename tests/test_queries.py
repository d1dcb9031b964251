"""Queries over a stored sweep: find_runs, collect_runs, to_pandas options, unique_points."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import pypet_rebuild as pr
from pypet_rebuild.errors import QueryError, ResultNotFoundError, UnknownParameterError


def simulate(run: pr.Run) -> dict[str, object]:
    if run.x == 2.0 and run.sim.steps == 20:
        raise ValueError("diverged")
    z = run.x * run.sim.steps
    return {
        "z": z,
        "hits": int(run.sim.steps // 10),
        "ok": bool(z > 25),
        "tag": "big" if z > 25 else "small",
        "trace": np.full(3, z),
    }


@pytest.fixture(scope="module")
def sweep(tmp_path_factory: pytest.TempPathFactory) -> pr.StoredTrajectory:
    """x in (1, 2, 3) x sim.steps in (10, 20); the run x=2, steps=20 (index 3) failed."""
    path = tmp_path_factory.mktemp("queries") / "queries.h5"
    traj = pr.Trajectory("queries", seed=3)
    traj.add_parameter("x", 1.0)
    traj.add_parameter("sim.steps", 10)
    traj.add_parameter("sim.dt", 0.1)
    traj.explore(pr.cartesian_product({"x": [1.0, 2.0, 3.0], "sim.steps": [10, 20]}))
    pr.Environment(traj, storage=path).run(simulate, on_error="continue", progress=False)
    return pr.load_trajectory(path)


# z by run: 10, 20, 20, (failed), 30, 60


# -- find_runs ---------------------------------------------------------------------------------


def test_a_predicate_picks_its_values_by_argument_name(sweep: pr.StoredTrajectory) -> None:
    assert sweep.find_runs(lambda x, steps: x > 1.0 and steps == 20) == [3, 5]
    assert sweep.find_runs(lambda sim__steps: sim__steps == 10) == [0, 2, 4]
    # A predicate on a result sees only the runs that have it: the failed run never matches.
    assert sweep.find_runs(lambda z: z >= 20) == [1, 2, 4, 5]
    assert sweep.find_runs(lambda trace: trace[0] > 25) == [4, 5]
    # Unexplored parameters are their default in every run.
    assert sweep.find_runs(lambda dt: dt == 0.1) == list(range(6))


def test_keyword_conditions_compare_for_equality(sweep: pr.StoredTrajectory) -> None:
    assert sweep.find_runs(x=2.0) == [2, 3]
    assert sweep.find_runs(x=2.0, steps=10) == [2]
    assert sweep.find_runs(lambda z: z > 40, x=3.0) == [5]
    assert sweep.find_runs(tag="small") == [0, 1, 2]
    with pytest.raises(UnknownParameterError, match="neither a parameter nor a stored result"):
        sweep.find_runs(nope=1)


def test_query_strings_use_explored_values_results_and_run_metadata(
    sweep: pr.StoredTrajectory,
) -> None:
    assert sweep.find_runs("x > 1 and z < 50") == [2, 4]
    assert sweep.find_runs("`sim.steps` == 20") == [1, 3, 5]
    assert sweep.find_runs("steps == 20 and x < 3") == [1, 3]  # a unique leaf name works too
    assert sweep.find_runs("status == 'failed'") == [3]
    assert sweep.find_runs("status == 'done' and `sim.steps` > 10") == [1, 5]
    assert sweep.find_runs("tag == 'big' or hits == 1") == [0, 2, 4, 5]
    assert sweep.find_runs("ok") == [4, 5]
    assert sweep.find_runs("duration >= 0 and seed >= 0") == [0, 1, 2, 3, 4, 5]
    assert sweep.find_runs("dt == 0.1 and x == 3") == [4, 5]
    # A query string combines with keyword conditions.
    assert sweep.find_runs("z > 40", x=3.0) == [5]


def test_a_query_naming_something_unknown_lists_what_it_may_use(sweep: pr.StoredTrajectory) -> None:
    with pytest.raises(QueryError) as caught:
        sweep.find_runs("speed > 3")
    message = str(caught.value)
    assert "['speed']" in message
    for known in ("'x'", "'sim.steps'", "'z'", "'status'", "backticks"):
        assert known in message
    assert "'trace'" not in message.split("it may use")[1]  # arrays cannot be compared
    assert isinstance(caught.value, ValueError)


def test_a_query_that_does_not_parse_is_a_query_error(sweep: pr.StoredTrajectory) -> None:
    with pytest.raises(QueryError, match="does not parse"):
        sweep.find_runs("x >> > 1")
    with pytest.raises(QueryError, match="does not parse"):
        sweep.find_runs("x == (1")


def test_a_query_comparing_an_array_result_points_to_a_predicate(
    sweep: pr.StoredTrajectory,
) -> None:
    with pytest.raises(QueryError, match=r"\['trace'\].*not scalars.*predicate"):
        sweep.find_runs("trace > 1")


def test_a_query_that_cannot_be_evaluated_is_a_query_error(sweep: pr.StoredTrajectory) -> None:
    with pytest.raises(QueryError, match="cannot be evaluated"):
        sweep.find_runs("tag > 3")


def test_a_query_reads_only_the_results_it_names(
    sweep: pr.StoredTrajectory, monkeypatch: pytest.MonkeyPatch
) -> None:
    storage = sweep.storage
    assert storage is not None
    read: list[str] = []
    original = storage.read_results

    def spy(trajectory: str, name: str, runs: object) -> list[object]:
        read.append(name)
        return original(trajectory, name, runs)  # type: ignore[arg-type]

    monkeypatch.setattr(storage, "read_results", spy)
    assert sweep.find_runs("z > 25 and x > 2") == [4, 5]
    assert sweep.find_runs(lambda hits: hits == 2) == [1, 5]
    assert set(read) == {"z", "hits"}


@settings(max_examples=40)
@given(threshold=st.floats(-5, 70, allow_nan=False), steps=st.sampled_from([10, 20]))
def test_a_query_string_agrees_with_the_same_predicate(threshold: float, steps: int) -> None:
    traj = _memory_sweep()
    by_query = traj.find_runs(f"z > {threshold!r} and `sim.steps` == {steps}")
    by_function = traj.find_runs(lambda z, sim__steps: z > threshold and sim__steps == steps)
    assert by_query == by_function


_MEMORY: list[pr.StoredTrajectory] = []


def _memory_sweep() -> pr.StoredTrajectory:
    if not _MEMORY:
        traj = pr.Trajectory("memory", seed=3)
        traj.add_parameter("x", 1.0)
        traj.add_parameter("sim.steps", 10)
        traj.add_parameter("sim.dt", 0.1)
        traj.explore(pr.cartesian_product({"x": [1.0, 2.0, 3.0], "sim.steps": [10, 20]}))
        env = pr.Environment(traj)
        env.run(simulate, on_error="continue", progress=False)
        _MEMORY.append(env.study)
    return _MEMORY[0]


# -- collect_runs ------------------------------------------------------------------------------


def test_collect_runs_gives_a_result_by_run_for_the_runs_that_have_it(
    sweep: pr.StoredTrajectory,
) -> None:
    assert sweep.collect_runs("z") == {0: 10.0, 1: 20.0, 2: 20.0, 4: 30.0, 5: 60.0}
    traces = sweep.collect_runs("trace")
    assert sorted(traces) == [0, 1, 2, 4, 5]
    np.testing.assert_array_equal(traces[5], [60.0] * 3)
    with pytest.raises(ResultNotFoundError, match="no stored result 'x'"):
        sweep.collect_runs("x")


# -- to_pandas ---------------------------------------------------------------------------------


def test_to_pandas_has_explored_values_scalar_results_and_status(
    sweep: pr.StoredTrajectory,
) -> None:
    frame = sweep.to_pandas()
    assert list(frame.columns) == [
        "x",
        "sim.steps",
        "hits",
        "ok",
        "tag",
        "z",
        "status",
        "duration",
    ]
    assert frame.index.name == "run"
    assert frame["x"].dtype == np.float64
    assert frame["sim.steps"].dtype == np.int64
    # Missing values keep the column's kind: NaN for floats, pandas' NA for ints and bools.
    assert frame["z"].isna().tolist() == [False, False, False, True, False, False]
    assert str(frame["hits"].dtype) == "Int64"
    assert frame["hits"].tolist()[:3] == [1, 2, 1]
    assert frame["hits"].isna().tolist()[3]
    assert str(frame["ok"].dtype) == "boolean"
    assert pd.isna(frame["tag"][3])
    assert frame["tag"][4] == "big"
    assert isinstance(frame["status"].dtype, pd.CategoricalDtype)
    assert frame["status"].tolist() == ["done", "done", "done", "failed", "done", "done"]


def test_to_pandas_picks_results_and_metadata_columns(sweep: pr.StoredTrajectory) -> None:
    frame = sweep.to_pandas(["z", "trace"], metadata=False)
    assert list(frame.columns) == ["x", "sim.steps", "z", "trace"]
    np.testing.assert_array_equal(frame["trace"][5], [60.0] * 3)
    assert frame["trace"][3] is None
    frame = sweep.to_pandas([], metadata=["status", "error", "host", "pid", "seed"])
    assert list(frame.columns) == ["x", "sim.steps", "status", "error", "host", "pid", "seed"]
    assert "diverged" in frame["error"][3]
    assert frame["error"][0] == ""
    assert (frame["pid"] > 0).all()
    assert frame["seed"].nunique() == 6
    frame = sweep.to_pandas([], metadata="status")
    assert list(frame.columns) == ["x", "sim.steps", "status"]
    with pytest.raises(UnknownParameterError, match="unknown metadata column 'colour'"):
        sweep.to_pandas(metadata=["colour"])
    with pytest.raises(ResultNotFoundError, match="no stored result 'nope'"):
        sweep.to_pandas(["nope"])


def test_to_pandas_indexes_by_the_explored_values(sweep: pr.StoredTrajectory) -> None:
    frame = sweep.to_pandas(["z"], index="explored")
    assert isinstance(frame.index, pd.MultiIndex)
    assert list(frame.index.names) == ["x", "sim.steps"]
    assert frame.loc[(3.0, 20), "z"] == 60.0
    assert frame.loc[(3.0, 20), "run"] == 5
    assert frame.xs(10, level="sim.steps")["z"].tolist() == [10.0, 20.0, 30.0]
    with pytest.raises(ValueError, match="index must be 'run' or 'explored'"):
        sweep.to_pandas(index="points")  # type: ignore[arg-type]


def test_to_pandas_does_not_read_array_results_it_leaves_out(
    sweep: pr.StoredTrajectory, monkeypatch: pytest.MonkeyPatch
) -> None:
    storage = sweep.storage
    assert storage is not None
    read: list[str] = []
    original = storage.read_results

    def spy(trajectory: str, name: str, runs: object) -> list[object]:
        read.append(name)
        return original(trajectory, name, runs)  # type: ignore[arg-type]

    monkeypatch.setattr(storage, "read_results", spy)
    sweep.to_pandas()
    assert "trace" not in read


# -- unique points -----------------------------------------------------------------------------


def test_unique_points_groups_the_runs_of_repeated_points(tmp_path: Path) -> None:
    traj = pr.Trajectory("repeats", seed=1)
    traj.add_parameter("x", 1.0)
    traj.add_parameter("n", 0)
    traj.explore(pr.zipped({"x": [1.0, 2.0, 1.0, 3.0, 2.0, 1.0], "n": [0, 0, 0, 1, 0, 0]}))
    pr.Environment(traj, storage=tmp_path / "repeats.h5").run(
        lambda run: {"v": run.x + run.index}, progress=False
    )
    loaded = pr.load_trajectory(tmp_path / "repeats.h5")
    groups = loaded.unique_points()
    assert groups == [
        ({"x": 1.0, "n": 0}, [0, 2, 5]),
        ({"x": 2.0, "n": 0}, [1, 4]),
        ({"x": 3.0, "n": 1}, [3]),
    ]
    # The typical use: average a result over the repetitions of each point.
    collected = loaded.collect_runs("v")
    means = {point["x"]: np.mean([collected[i] for i in runs]) for point, runs in groups}
    assert means == {1.0: (1.0 + 3.0 + 6.0) / 3, 2.0: (3.0 + 6.0) / 2, 3.0: 6.0}


def test_a_grid_has_one_point_per_run(sweep: pr.StoredTrajectory) -> None:
    groups = sweep.unique_points()
    assert [runs for _, runs in groups] == [[i] for i in range(6)]
    assert groups[3][0] == {"x": 2.0, "sim.steps": 20}


# -- keyword conditions: one numpy comparison, Python's answers ---------------------------------

_KEYWORD_COLUMNS: dict[str, tuple[object, list[object], list[object]]] = {
    # declared default, the values a column draws from, the values a condition draws from
    "f": (0.0, [0.0, -0.0, 1.5, float("nan"), 2.0, 1e300], [0.0, 1.5, float("nan"), 2, True]),
    "i": (0, [0, 1, -3, 2**62, 7], [0, 1, 2**62, 2**70, 1.0, True, "1"]),
    "s": ("", ["a", "a\x00", "", "b"], ["a", "a\x00", "", 1]),
    "b": (False, [True, False], [True, False, 1, 0.0]),
}


@settings(max_examples=30, deadline=None)
@given(data=st.data())
def test_keyword_conditions_match_like_python_equality(data: st.DataObject) -> None:
    name = data.draw(st.sampled_from(sorted(_KEYWORD_COLUMNS)))
    default, pool, conditions = _KEYWORD_COLUMNS[name]
    column = data.draw(st.lists(st.sampled_from(pool), min_size=1, max_size=12))
    value = data.draw(st.sampled_from(conditions))
    storage = pr.MemoryStorageService()
    traj = pr.Trajectory("kw", seed=1)
    traj.add_parameter(name, default)
    traj.explore({name: column})

    def simulate(run: pr.Run) -> dict[str, object]:
        # The same values as a result (stored as a stackable column where they are numbers);
        # runs at odd indices store none.
        return {} if run.index % 2 else {"r": run[name]}

    pr.Environment(traj, storage=storage).run(simulate, progress=False)
    study = pr.load_trajectory(storage, "kw")
    stored = study.space.columns[name] if study.space is not None else ()
    expected = [i for i, v in enumerate(stored) if v == value]
    assert study.find_runs(**{name: value}) == expected
    expected_results = [i for i in expected if i % 2 == 0]
    assert study.find_runs(r=value) == expected_results


def test_keyword_conditions_on_a_stacked_hdf5_result(tmp_path: Path) -> None:
    # The result is read as one array (no Python object per run) and compared at once.
    traj = pr.Trajectory("stacked", seed=1)
    traj.add_parameter("x", 0)
    traj.explore({"x": list(range(1000))})
    path = tmp_path / "stacked.h5"
    pr.Environment(traj, path).run(
        lambda run: {} if run.x == 7 else {"z": float(run.x % 10), "h": np.float32(run.x % 3)},
        progress=False,
    )
    with pr.load_trajectory(path) as study:
        assert study.find_runs(z=7.0) == [i for i in range(1000) if i % 10 == 7 and i != 7]
        assert study.find_runs(z=7.0, x=17) == [17]
        # A numpy scalar condition is compared run by run, as Python compares it.
        assert study.find_runs(h=np.float32(1.0)) == [
            i for i in range(1000) if i % 3 == 1 and i != 7
        ]
        assert study.find_runs(h=1.0) == study.find_runs(h=np.float32(1.0))
        assert study.find_runs(lambda z: z > 8.5, x=19) == [19]
