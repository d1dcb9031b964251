"""Resuming: the done runs come as a numpy-backed set, and exactly the others run again."""

from __future__ import annotations

from collections.abc import Set as AbstractSet
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

import pypet_rebuild as pr
from pypet_rebuild.storage.records import RunIndexSet


@given(st.sets(st.integers(0, 300)), st.integers(-5, 305))
def test_a_run_index_set_is_the_frozenset_of_its_indices(indices: set[int], probe: int) -> None:
    runs = RunIndexSet(sorted(indices, reverse=True))
    same: AbstractSet[int] = frozenset(indices)
    assert runs == same
    assert same == runs
    assert len(runs) == len(indices)
    assert list(runs) == sorted(indices)
    assert (probe in runs) == (probe in indices)
    assert (runs & {probe}) == (frozenset(indices) & {probe})
    assert runs.as_array().tolist() == sorted(indices)
    assert hash(runs) == hash(frozenset(indices))


def test_resuming_runs_exactly_the_runs_not_done(tmp_path: Path) -> None:
    traj = pr.Trajectory("partial", seed=3)
    traj.add_parameter("x", 0)
    traj.explore({"x": list(range(50))})
    path = tmp_path / "partial.h5"

    def fail_odd(run: pr.Run) -> dict[str, int]:
        if run.x % 2:
            raise ValueError("odd")
        return {"y": run.x}

    pr.Environment(traj, storage=path).run(fail_odd, on_error="continue", progress=False)
    seen: list[int] = []

    def record(run: pr.Run) -> dict[str, int]:
        seen.append(run.x)
        return {"y": run.x}

    env = pr.Environment(traj, storage=path)
    report = env.run(record, resume=True, progress=False)
    assert sorted(seen) == list(range(1, 50, 2))
    assert report.skipped == 25
    assert env.study.results["y"][:].tolist() == list(range(50))
    assert env.run(record, resume=True, progress=False).skipped == 50
    assert len(seen) == 25
