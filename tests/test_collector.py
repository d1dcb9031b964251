"""The garbage collector during a sweep: older objects frozen, and everything put back after."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from pathlib import Path

import pytest

import pypet_rebuild as pr


@pytest.fixture
def unfrozen() -> Iterator[None]:
    gc.unfreeze()
    yield
    gc.unfreeze()


def sweep(path: Path | None, simulate: object, n: int = 4) -> pr.RunReport:
    traj = pr.Trajectory("t", seed=1)
    x = traj.add_parameter("x", 0)
    traj.explore(x.sweep(list(range(n))))
    return pr.Environment(traj, storage=path).run(simulate, progress=False)  # type: ignore[arg-type]


@pytest.mark.parametrize("storage", ["memory", "hdf5"])
def test_objects_from_before_the_sweep_are_frozen_during_it_and_thawed_after(
    tmp_path: Path, unfrozen: None, storage: str
) -> None:
    seen: list[int] = []

    def simulate(run: pr.Run) -> dict[str, int]:
        seen.append(gc.get_freeze_count())
        return {"y": run.x}

    report = sweep(tmp_path / "s.h5" if storage == "hdf5" else None, simulate)
    assert report.done == 4
    assert all(count > 0 for count in seen)
    assert gc.get_freeze_count() == 0


def test_a_failing_sweep_thaws_too(unfrozen: None) -> None:
    def simulate(run: pr.Run) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        sweep(None, simulate)
    assert gc.get_freeze_count() == 0


def test_a_freeze_made_before_the_sweep_is_left_as_it_was(unfrozen: None) -> None:
    gc.freeze()
    before = gc.get_freeze_count()
    report = sweep(None, lambda run: {"y": run.x})
    assert report.done == 4
    # Still frozen (frozen objects freed meanwhile leave the count): not thawed by the sweep.
    assert before > 0
    assert gc.get_freeze_count() > before // 2


def test_with_the_collector_disabled_nothing_is_frozen(unfrozen: None) -> None:
    seen: list[int] = []

    def simulate(run: pr.Run) -> dict[str, int]:
        seen.append(gc.get_freeze_count())
        return {"y": run.x}

    gc.disable()
    try:
        sweep(None, simulate)
    finally:
        gc.enable()
    assert seen == [0, 0, 0, 0]


def test_cycles_made_during_the_sweep_are_still_collected(unfrozen: None) -> None:
    # Frozen are only the objects from before: garbage the runs make is collected as it was.
    collected: list[int] = []

    class Node:
        def __init__(self) -> None:
            self.me = self

        def __del__(self) -> None:
            collected.append(1)

    def simulate(run: pr.Run) -> dict[str, int]:
        if run.x == 3:
            gc.collect()
            collected.append(-len(collected))
        Node()
        return {"y": run.x}

    sweep(None, simulate)
    # By the last run, the cycles of the three runs before were collected during the sweep.
    assert -3 in collected
