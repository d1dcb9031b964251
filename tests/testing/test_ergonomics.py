"""Test ergonomics: overwrite a stored study, quiet sweeps, worker tracebacks in reports."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

import pypet_rebuild as pr
from pypet_rebuild.errors import ExecutionError, RunFailedError, StorageError, UnsupportedTypeError
from pypet_rebuild.execution.dispatch import RemoteTraceback
from pypet_rebuild.execution.progress import make_progress
from pypet_rebuild.storage.protocol import SupportsReplace
from pypet_rebuild.testing import StorageFactory, assert_studies_equal
from pypet_rebuild.testing.conformance import Unstorable, fail_on_x2

Simulate = Callable[[pr.Run], dict[str, object]]
TrajectoryFactory = Callable[..., pr.Trajectory]


def test_overwrite_replaces_the_stored_study(
    pr_storage: pr.StorageService,
    pr_storage_factory: StorageFactory,
    xy_trajectory: TrajectoryFactory,
    simulate_xy: Simulate,
) -> None:
    first = pr.Environment(xy_trajectory(), storage=pr_storage)
    first.run(fail_on_x2, on_error="continue")
    first.study.add_derived("old", 1.0)
    pr.Environment(xy_trajectory("other"), storage=pr_storage).run(simulate_xy)
    with pytest.raises(StorageError, match="resume=True"):
        pr.Environment(xy_trajectory(), storage=pr_storage).run(simulate_xy)

    again = pr.Environment(xy_trajectory(), storage=pr_storage)
    report = again.run(simulate_xy, overwrite=True)
    assert (report.done, report.skipped) == (6, 0)
    assert again.study.derived == {}
    assert len(again.study.provenance) == 1
    # The same as a sweep into a fresh store; the other trajectory is untouched.
    fresh = pr.Environment(xy_trajectory(), storage=pr.MemoryStorageService())
    fresh.run(simulate_xy)
    reader = pr_storage_factory.reopen(pr_storage, False)
    try:
        assert_studies_equal(fresh.study, pr.load_trajectory(reader, "sweep"), provenance=True)
        assert sorted(reader.trajectory_names()) == ["other", "sweep"]
        assert len(pr.load_trajectory(reader, "other")) == 6
    finally:
        if reader is not pr_storage:
            reader.close()


def test_overwrite_of_a_new_name_is_a_plain_sweep(
    tmp_path: Path, xy_trajectory: TrajectoryFactory, simulate_xy: Simulate
) -> None:
    env = pr.Environment(xy_trajectory(), storage=tmp_path / "new.h5")
    assert env.run(simulate_xy, overwrite=True).done == 6
    # Re-running the same cell: the same environment, the same file.
    assert env.run(simulate_xy, overwrite=True).done == 6
    assert len(env.study.provenance) == 1


def test_overwrite_keeps_the_stored_study_if_the_new_one_cannot_be_stored(
    tmp_path: Path, xy_trajectory: TrajectoryFactory, simulate_xy: Simulate
) -> None:
    path = tmp_path / "kept.h5"
    pr.Environment(xy_trajectory(), storage=path).run(simulate_xy)
    bad = xy_trajectory()
    bad.add_parameter("model", Unstorable([1]))
    with pytest.raises(UnsupportedTypeError, match="'model'"):
        pr.Environment(bad, storage=path).run(simulate_xy, overwrite=True)
    with pr.load_trajectory(path) as kept:
        assert kept.results["z"][:].tolist() == [10.0, 20.0, 20.0, 40.0, 30.0, 60.0]
        assert "model" not in kept


def test_overwrite_and_resume_exclude_each_other(
    xy_trajectory: TrajectoryFactory, simulate_xy: Simulate
) -> None:
    env = pr.Environment(xy_trajectory())
    with pytest.raises(ExecutionError, match="only one"):
        env.run(simulate_xy, resume=True, overwrite=True)


class _NoReplace(pr.MemoryStorageService):
    """A memory storage that cannot replace a trajectory.

    ``None`` opts a method out of a runtime-checkable protocol (``SupportsReplace``); a wrapper
    forwarding through ``__getattr__`` would fail ``isinstance(x, StorageService)`` from Python
    3.12, which looks attributes up statically.
    """

    replace_trajectory = None  # type: ignore[assignment]


def test_overwrite_needs_a_backend_that_can_replace(
    xy_trajectory: TrajectoryFactory, simulate_xy: Simulate
) -> None:
    storage = _NoReplace()
    assert isinstance(storage, pr.StorageService)
    seen_as: object = storage  # mypy knows the None cannot replace; the protocol check must too
    assert not isinstance(seen_as, SupportsReplace)
    env = pr.Environment(xy_trajectory(), storage=storage)
    env.run(simulate_xy)
    with pytest.raises(StorageError, match="_NoReplace cannot"):
        env.run(simulate_xy, overwrite=True)
    assert len(env.study.provenance) == 1  # nothing was touched


def test_no_progress_bar_under_pytest(capsys: pytest.CaptureFixture[str]) -> None:
    bar = make_progress(None, 10, "quiet")
    assert type(bar).__name__ == "_NoProgress"
    make_progress(True, 1, "asked").close()  # asked for explicitly, it shows
    assert "asked" in capsys.readouterr().err


def _fails_deep_inside(run: pr.Run) -> dict[str, object]:
    return {"z": _the_users_helper_function(run.x)}


def _the_users_helper_function(x: float) -> float:
    if x == 2.0:
        raise ZeroDivisionError(f"cannot handle x={x}")
    return x


@pytest.mark.slow
def test_a_process_mode_failure_carries_the_workers_traceback(
    xy_trajectory: TrajectoryFactory,
) -> None:
    env = pr.Environment(xy_trajectory())
    with pytest.raises(RunFailedError) as caught:
        env.run(_fails_deep_inside, executor="process", workers=1)
    user_error = caught.value.__cause__
    assert isinstance(user_error, ZeroDivisionError)
    remote = user_error.__cause__
    assert isinstance(remote, RemoteTraceback)
    assert "_the_users_helper_function" in str(remote)
    assert "raise ZeroDivisionError" in str(remote)


@pytest.mark.slow
def test_the_pytest_report_shows_the_users_frames(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        users_model="""
        def deep_helper_of_the_user(x):
            if x == 2.0:
                raise ValueError("the user's model broke")
            return x

        def simulate(run):
            return {"z": deep_helper_of_the_user(run.x)}
        """,
        test_model="""
        import pypet_rebuild as pr
        import users_model

        def test_sweep(pr_sweep):
            traj = pr.Trajectory("t", seed=1)
            traj.add_parameter("x", 1.0)
            traj.explore({"x": [1.0, 2.0]})
            pr_sweep(traj, users_model.simulate, executor="process", workers=1)
        """,
    )
    result = pytester.runpytest_subprocess("-W", "error", "-p", "no:cacheprovider")
    result.assert_outcomes(failed=1)
    output = result.stdout.str()
    assert "deep_helper_of_the_user" in output
    assert 'raise ValueError("the user\'s model broke")' in output
    assert "RunFailedError" in output
