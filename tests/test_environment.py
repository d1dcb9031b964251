"""The Environment's serial loop: results in memory, errors, resume, progress and provenance."""

from __future__ import annotations

import traceback
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import pypet_rebuild as pr
from pypet_rebuild.errors import (
    ExecutionError,
    InvalidSimulateFunctionError,
    ResumeMismatchError,
    RunFailedError,
    StorageError,
    SweepFailedError,
    TrajectoryNotFoundError,
)
from pypet_rebuild.testing import conformance

Simulate = Callable[[pr.Run], dict[str, object]]
TrajectoryFactory = Callable[..., pr.Trajectory]


class BoomError(Exception):
    """The user's own exception."""


def fail_on_x2(run: pr.Run) -> dict[str, object]:
    if run.x == 2.0:
        raise BoomError(f"bad point y={run.y}")
    return conformance.simulate(run)


# -- results in memory ---------------------------------------------------------------------------


def test_results_are_in_memory_after_run(
    xy_trajectory: TrajectoryFactory, simulate_xy: Simulate
) -> None:
    traj = xy_trajectory()
    env = pr.Environment(traj)
    report = env.run(simulate_xy, progress=False)
    assert report.ok
    assert (report.n_runs, report.done, report.failed, report.skipped) == (6, 6, 0, 0)
    np.testing.assert_array_equal(env.study.results["z"][:], [10.0, 20.0, 20.0, 40.0, 30.0, 60.0])
    np.testing.assert_array_equal(env.study.results["trace"][:, 2], [2.0, 2.0, 4.0, 4.0, 6.0, 6.0])
    assert env.study.results["trace"][:].shape == (6, 5)
    assert env.study.results["z"][3] == 40.0
    np.testing.assert_array_equal(env.study.results["z"][[5, 0]], [60.0, 10.0])
    assert env.study.results["z"].to_list() == [10.0, 20.0, 20.0, 40.0, 30.0, 60.0]
    assert sorted(env.study.results) == ["trace", "z"]
    assert len(env.study.results) == 2


def test_run_view_gives_one_runs_params_results_and_status(
    xy_trajectory: TrajectoryFactory, simulate_xy: Simulate
) -> None:
    traj = xy_trajectory()
    env = pr.Environment(traj)
    env.run(simulate_xy, progress=False)
    view = env.study.run(3)
    assert view.index == 3
    assert view.point == {"x": 2.0, "y": 20}
    assert view.params == {"x": 2.0, "y": 20, "sim.steps": 5}
    assert view.status == "done"
    results = view.results
    assert results["z"] == 40.0
    np.testing.assert_array_equal(results["trace"], np.arange(5) * 2.0)
    assert env.study.run(-1).index == 5
    metadata = view.metadata
    assert metadata["status"] == "done"
    duration = metadata["duration"]
    assert isinstance(duration, float)
    assert duration >= 0.0


def test_the_model_points_to_the_stored_study_for_results(xy_trajectory: TrajectoryFactory) -> None:
    traj = xy_trajectory()
    with pytest.raises(AttributeError, match=r"'results' belongs to the stored study.*env\.study"):
        _ = traj.results
    env = pr.Environment(traj)
    with pytest.raises(TrajectoryNotFoundError, match="'sweep'"):
        _ = env.study  # nothing stored yet


def test_unknown_result_name_lists_the_stored_ones(
    xy_trajectory: TrajectoryFactory, simulate_xy: Simulate
) -> None:
    traj = xy_trajectory()
    env = pr.Environment(traj)
    env.run(simulate_xy, progress=False)
    with pytest.raises(KeyError, match="'trace', 'z'"):
        _ = env.study.results["nope"]


def test_failed_runs_are_masked_in_stacked_results(xy_trajectory: TrajectoryFactory) -> None:
    traj = xy_trajectory()
    env = pr.Environment(traj)
    report = env.run(fail_on_x2, on_error="continue", progress=False)
    assert (report.done, report.failed) == (4, 2)
    z = env.study.results["z"][:]
    assert isinstance(z, np.ma.MaskedArray)
    assert z.mask.tolist() == [False, False, True, True, False, False]
    assert z.compressed().tolist() == [10.0, 20.0, 30.0, 60.0]
    trace = env.study.results["trace"][:, 1]
    assert trace.mask.tolist() == [False, False, True, True, False, False]
    assert env.study.run(2).status == "failed"
    assert env.study.run(2).results == {}
    with pytest.raises(KeyError, match="run 2 has no result 'z'"):
        _ = env.study.results["z"][2]


def test_a_trajectory_without_exploration_runs_once() -> None:
    traj = pr.Trajectory("single", seed=1)
    traj.add_parameter("x", 3.0)
    indices: list[int] = []

    def record(run: pr.Run) -> dict[str, object]:
        indices.append(run.index)
        return {"z": run.x * 2}

    env = pr.Environment(traj)
    report = env.run(record, progress=False)
    assert indices == [0]
    assert (report.n_runs, report.done) == (1, 1)
    assert env.study.results["z"][:].tolist() == [6.0]
    assert env.study.run(0).point == {}


def test_environment_exposes_trajectory_and_storage(xy_trajectory: TrajectoryFactory) -> None:
    traj = xy_trajectory()
    storage = pr.MemoryStorageService()
    env = pr.Environment(traj, storage)
    assert env.trajectory is traj
    assert env.storage is storage
    assert isinstance(pr.Environment(traj).storage, pr.MemoryStorageService)
    assert "sweep" in repr(env)


# -- bad input before any run --------------------------------------------------------------------


class NotCallable:
    pass


def two_arguments(a: object, b: object) -> None:
    pass


def no_arguments() -> None:
    pass


def keyword_only(*, run: object) -> None:
    pass


@pytest.mark.parametrize(
    "bad",
    [None, 42, "simulate", NotCallable(), two_arguments, no_arguments, keyword_only],
)
def test_a_bad_simulate_function_is_refused_before_any_run(
    bad: Any, xy_trajectory: TrajectoryFactory
) -> None:
    traj = xy_trajectory()
    storage = pr.MemoryStorageService()
    with pytest.raises(InvalidSimulateFunctionError):
        pr.Environment(traj, storage).run(bad, progress=False)
    assert storage.trajectory_names() == ()
    assert not traj.is_locked


def test_wrong_signature_message_shows_the_signature(xy_trajectory: TrajectoryFactory) -> None:
    with pytest.raises(InvalidSimulateFunctionError, match=r"two_arguments\(a.*b.*\).*single Run"):
        pr.Environment(xy_trajectory()).run(two_arguments, progress=False)  # type: ignore[arg-type]


def test_invalid_simulate_function_is_a_type_error(xy_trajectory: TrajectoryFactory) -> None:
    with pytest.raises(TypeError, match="callable"):
        pr.Environment(xy_trajectory()).run(42, progress=False)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "accepted",
    [
        lambda run: None,
        lambda *args: None,
        lambda run, extra=1: None,
        lambda run, *, extra=1: None,
    ],
)
def test_flexible_signatures_are_accepted(accepted: Any, xy_trajectory: TrajectoryFactory) -> None:
    report = pr.Environment(xy_trajectory()).run(accepted, progress=False)
    assert report.done == 6


def test_bad_on_error_is_refused_before_any_run(
    xy_trajectory: TrajectoryFactory, simulate_xy: Simulate
) -> None:
    storage = pr.MemoryStorageService()
    with pytest.raises(ExecutionError, match="on_error"):
        pr.Environment(xy_trajectory(), storage).run(
            simulate_xy,
            on_error="ignore",  # type: ignore[arg-type]
            progress=False,
        )
    assert storage.trajectory_names() == ()


def test_bad_environment_arguments(xy_trajectory: TrajectoryFactory) -> None:
    with pytest.raises(TypeError, match="Trajectory"):
        pr.Environment("sweep")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="batch_size"):
        pr.Environment(xy_trajectory(), batch_size=0)
    with pytest.raises(TypeError, match="storage"):
        pr.Environment(xy_trajectory(), storage=42)  # type: ignore[arg-type]


# -- errors during runs --------------------------------------------------------------------------


def test_on_error_raise_stops_with_run_failed_error_chained_to_the_user_exception(
    xy_trajectory: TrajectoryFactory,
) -> None:
    traj = xy_trajectory()
    storage = pr.MemoryStorageService()
    env = pr.Environment(traj, storage)
    with pytest.raises(RunFailedError) as info:
        env.run(fail_on_x2, on_error="raise", progress=False)
    error = info.value
    assert error.index == 2
    assert error.point == {"x": 2.0, "y": 10}
    assert isinstance(error.__cause__, BoomError)
    assert str(error.__cause__) == "bad point y=10"
    assert "run 2" in str(error)
    assert "BoomError: bad point y=10" in str(error)
    assert "BoomError: bad point y=10" in error.traceback_text
    assert isinstance(error, RuntimeError)
    # The runs before the failure and the failed run itself are stored; later runs are not run.
    table = storage.load_run_table("sweep")
    assert table.status.tolist() == ["done", "done", "failed", "pending", "pending", "pending"]
    assert "Traceback" in table.error[2]
    assert "BoomError: bad point y=10" in table.error[2]
    assert "fail_on_x2" in table.error[2]
    assert table.error[0] == ""
    assert env.study.run(2).metadata["error"] == table.error[2]
    assert env.study.results["z"][:2].tolist() == [10.0, 20.0]


def test_user_exception_traceback_is_kept_in_the_chain(xy_trajectory: TrajectoryFactory) -> None:
    with pytest.raises(RunFailedError) as info:
        pr.Environment(xy_trajectory()).run(fail_on_x2, progress=False)
    cause = info.value.__cause__
    assert cause is not None
    text = "".join(traceback.format_exception(cause))
    assert "fail_on_x2" in text


def test_on_error_continue_records_failures_and_runs_the_rest(
    xy_trajectory: TrajectoryFactory,
) -> None:
    traj = xy_trajectory()
    storage = pr.MemoryStorageService()
    seen: list[int] = []

    def tracked(run: pr.Run) -> dict[str, object]:
        seen.append(run.index)
        return fail_on_x2(run)

    env = pr.Environment(traj, storage)
    report = env.run(tracked, on_error="continue", progress=False)
    assert seen == [0, 1, 2, 3, 4, 5]
    assert (report.done, report.failed, report.skipped, report.pending) == (4, 2, 0, 0)
    assert not report.ok
    assert [f.index for f in report.failures] == [2, 3]
    failure = report.failures[1]
    assert failure.point == {"x": 2.0, "y": 20}
    assert failure.error_type == "BoomError"
    assert failure.message == "bad point y=20"
    assert "Traceback" in failure.traceback
    assert "BoomError: bad point y=20" in failure.traceback
    table = storage.load_run_table("sweep")
    assert table.status.tolist() == ["done", "done", "failed", "failed", "done", "done"]
    assert table.count(pr.RunStatus.FAILED) == 2
    assert table.done() == frozenset({0, 1, 4, 5})
    assert env.study.results["z"][4] == 30.0


def test_a_failure_is_logged(
    caplog: pytest.LogCaptureFixture, xy_trajectory: TrajectoryFactory
) -> None:
    pr.Environment(xy_trajectory()).run(fail_on_x2, on_error="continue", progress=False)
    messages = [r.getMessage() for r in caplog.records if r.name.startswith("pypet_rebuild.")]
    assert any("run 2 failed" in m and "bad point y=10" in m for m in messages)


def test_raise_for_failures_raises_an_exception_group(xy_trajectory: TrajectoryFactory) -> None:
    report = pr.Environment(xy_trajectory()).run(fail_on_x2, on_error="continue", progress=False)
    with pytest.raises(SweepFailedError) as info:
        report.raise_for_failures()
    group = info.value
    assert isinstance(group, ExceptionGroup)
    assert "2 of 6 runs" in str(group)
    failures = [e for e in group.exceptions if isinstance(e, RunFailedError)]
    assert len(failures) == len(group.exceptions) == 2
    assert [e.index for e in failures] == [2, 3]
    assert "BoomError: bad point y=20" in failures[1].traceback_text


def test_sweep_failures_can_be_handled_with_except_star(xy_trajectory: TrajectoryFactory) -> None:
    report = pr.Environment(xy_trajectory()).run(fail_on_x2, on_error="continue", progress=False)
    caught: list[int] = []
    try:
        report.raise_for_failures()
    except* RunFailedError as group:
        caught.extend(e.index for e in group.exceptions if isinstance(e, RunFailedError))
    assert caught == [2, 3]


def test_raise_for_failures_does_nothing_without_failures(
    xy_trajectory: TrajectoryFactory, simulate_xy: Simulate
) -> None:
    report = pr.Environment(xy_trajectory()).run(simulate_xy, progress=False)
    report.raise_for_failures()


def test_keyboard_interrupt_is_not_swallowed_and_keeps_finished_runs(
    xy_trajectory: TrajectoryFactory, simulate_xy: Simulate
) -> None:
    traj = xy_trajectory()
    storage = pr.MemoryStorageService()
    reports: list[pr.RunReport] = []

    class Keep(pr.Hooks):
        def after_sweep(self, report: pr.RunReport) -> None:
            reports.append(report)

    def interrupt(run: pr.Run) -> dict[str, object]:
        if run.index == 3:
            raise KeyboardInterrupt
        return simulate_xy(run)

    with pytest.raises(KeyboardInterrupt):
        pr.Environment(traj, storage).run(interrupt, on_error="continue", hooks=[Keep()])
    assert storage.load_run_table("sweep").status.tolist()[:3] == ["done"] * 3
    (report,) = reports
    assert report.interrupted
    assert (report.done, report.pending) == (3, 3)
    assert "interrupted" in report.summary()


# -- storage reuse and resume --------------------------------------------------------------------


def test_running_a_stored_trajectory_again_without_resume_is_refused(
    xy_trajectory: TrajectoryFactory, simulate_xy: Simulate
) -> None:
    storage = pr.MemoryStorageService()
    pr.Environment(xy_trajectory(), storage).run(simulate_xy, progress=False)
    fresh = xy_trajectory()
    with pytest.raises(StorageError, match="resume=True"):
        pr.Environment(fresh, storage).run(simulate_xy, progress=False)
    assert not fresh.is_locked


def test_resume_skips_runs_already_done(
    xy_trajectory: TrajectoryFactory, simulate_xy: Simulate
) -> None:
    storage = pr.MemoryStorageService()
    first = pr.Environment(xy_trajectory(), storage).run(
        fail_on_x2, on_error="continue", progress=False
    )
    assert (first.done, first.failed) == (4, 2)
    traj = xy_trajectory()
    seen: list[int] = []

    def tracked(run: pr.Run) -> dict[str, object]:
        seen.append(run.index)
        return simulate_xy(run)

    env = pr.Environment(traj, storage)
    second = env.run(tracked, resume=True, progress=False)
    assert seen == [2, 3]
    assert (second.done, second.failed, second.skipped, second.pending) == (2, 0, 4, 0)
    assert sorted(second.durations) == [2, 3]
    np.testing.assert_array_equal(env.study.results["z"][:], [10.0, 20.0, 20.0, 40.0, 30.0, 60.0])
    assert storage.load_run_table("sweep").status.tolist() == ["done"] * 6


def test_resume_of_a_finished_sweep_runs_nothing(
    xy_trajectory: TrajectoryFactory, simulate_xy: Simulate
) -> None:
    storage = pr.MemoryStorageService()
    traj = xy_trajectory()
    env = pr.Environment(traj, storage)
    env.run(simulate_xy, progress=False)
    report = env.run(simulate_xy, resume=True, progress=False)
    assert (report.done, report.skipped) == (0, 6)


def test_resume_with_a_fresh_storage_runs_everything(
    xy_trajectory: TrajectoryFactory, simulate_xy: Simulate
) -> None:
    report = pr.Environment(xy_trajectory()).run(simulate_xy, resume=True, progress=False)
    assert (report.done, report.skipped) == (6, 0)


def test_resume_with_a_changed_default_is_refused(
    xy_trajectory: TrajectoryFactory, simulate_xy: Simulate
) -> None:
    storage = pr.MemoryStorageService()
    pr.Environment(xy_trajectory(), storage).run(simulate_xy, progress=False)
    changed = xy_trajectory(y_default=2)
    with pytest.raises(ResumeMismatchError, match="'y'"):
        pr.Environment(changed, storage).run(simulate_xy, resume=True, progress=False)
    assert not changed.is_locked


def test_resume_with_a_changed_parameter_type_is_refused() -> None:
    storage = pr.MemoryStorageService()
    traj = pr.Trajectory("t", seed=1)
    traj.add_parameter("n", 1)
    pr.Environment(traj, storage).run(lambda run: None, progress=False)
    changed = pr.Trajectory("t", seed=1)
    changed.add_parameter("n", 1.0)
    with pytest.raises(ResumeMismatchError):
        pr.Environment(changed, storage).run(lambda run: None, resume=True, progress=False)


def test_resume_with_a_changed_exploration_is_refused(
    xy_trajectory: TrajectoryFactory, simulate_xy: Simulate
) -> None:
    storage = pr.MemoryStorageService()
    pr.Environment(xy_trajectory(), storage).run(simulate_xy, progress=False)
    changed = xy_trajectory()
    changed.explore(pr.cartesian_product({"x": [1.0, 2.5, 3.0], "y": [10, 20]}))
    with pytest.raises(ResumeMismatchError, match="run 2"):
        pr.Environment(changed, storage).run(simulate_xy, resume=True, progress=False)


@pytest.mark.parametrize(
    "exploration",
    [
        {"x": [1.0, 2.0]},
        {"x": [1.0, 1.0, 2.0, 2.0, 3.0, 3.0]},
        {"y": [10, 20, 10, 20, 10, 20]},
    ],
)
def test_resume_with_fewer_or_other_explored_parameters_is_refused(
    exploration: dict[str, list[object]], xy_trajectory: TrajectoryFactory, simulate_xy: Simulate
) -> None:
    storage = pr.MemoryStorageService()
    pr.Environment(xy_trajectory(), storage).run(simulate_xy, progress=False)
    changed = xy_trajectory()
    changed.explore(exploration)
    with pytest.raises(ResumeMismatchError):
        pr.Environment(changed, storage).run(simulate_xy, resume=True, progress=False)


def test_resume_with_an_added_parameter_is_refused(
    xy_trajectory: TrajectoryFactory, simulate_xy: Simulate
) -> None:
    storage = pr.MemoryStorageService()
    pr.Environment(xy_trajectory(), storage).run(simulate_xy, progress=False)
    changed = xy_trajectory()
    changed.add_parameter("extra", 0)
    with pytest.raises(ResumeMismatchError, match="extra"):
        pr.Environment(changed, storage).run(simulate_xy, resume=True, progress=False)


def test_resume_mismatch_is_a_value_error(
    xy_trajectory: TrajectoryFactory, simulate_xy: Simulate
) -> None:
    storage = pr.MemoryStorageService()
    pr.Environment(xy_trajectory(), storage).run(simulate_xy, progress=False)
    with pytest.raises(ValueError, match="cannot resume"):
        pr.Environment(xy_trajectory(y_default=5), storage).run(
            simulate_xy, resume=True, progress=False
        )


def test_expand_then_resume_runs_only_the_new_points(
    xy_trajectory: TrajectoryFactory, simulate_xy: Simulate
) -> None:
    storage = pr.MemoryStorageService()
    traj = xy_trajectory()
    env = pr.Environment(traj, storage)
    env.run(simulate_xy, progress=False)
    traj.expand(pr.cartesian_product({"x": [4.0], "y": [10, 20]}))
    assert len(traj) == 8
    seen: list[int] = []

    def tracked(run: pr.Run) -> dict[str, object]:
        seen.append(run.index)
        return simulate_xy(run)

    report = env.run(tracked, resume=True, progress=False)
    assert seen == [6, 7]
    assert (report.n_runs, report.done, report.skipped) == (8, 2, 6)
    np.testing.assert_array_equal(
        env.study.results["z"][:], [10.0, 20.0, 20.0, 40.0, 30.0, 60.0, 40.0, 80.0]
    )
    assert len(storage.load_run_table("sweep")) == 8


# -- progress and provenance ---------------------------------------------------------------------


def test_progress_false_is_silent(
    capsys: pytest.CaptureFixture[str], xy_trajectory: TrajectoryFactory, simulate_xy: Simulate
) -> None:
    pr.Environment(xy_trajectory()).run(simulate_xy, progress=False)
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == ""


def test_progress_none_is_silent_when_not_in_a_terminal(
    capsys: pytest.CaptureFixture[str], xy_trajectory: TrajectoryFactory, simulate_xy: Simulate
) -> None:
    pr.Environment(xy_trajectory()).run(simulate_xy)
    assert capsys.readouterr().err == ""


def test_progress_true_writes_a_tqdm_bar_to_stderr(
    capsys: pytest.CaptureFixture[str], xy_trajectory: TrajectoryFactory, simulate_xy: Simulate
) -> None:
    pr.Environment(xy_trajectory()).run(simulate_xy, progress=True)
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "sweep" in captured.err
    assert "6/6" in captured.err
    assert "run" in captured.err


def test_provenance_is_stored_once_per_sweep(
    xy_trajectory: TrajectoryFactory, simulate_xy: Simulate
) -> None:
    storage = pr.MemoryStorageService()
    traj = xy_trajectory()
    env = pr.Environment(traj, storage)
    env.run(fail_on_x2, on_error="continue", progress=False)
    env.run(simulate_xy, resume=True, progress=False)
    first, second = storage.load_provenance("sweep")
    for key in ("python", "hostname", "platform", "started", "finished", "executor"):
        assert key in first
    assert first["version_numpy"] == np.__version__
    assert "version_pypet_rebuild" in first
    assert first["executor"] == "serial"
    assert (first["runs_done"], first["runs_failed"]) == (4, 2)
    assert (second["runs_done"], second["runs_failed"]) == (2, 0)
    started, finished = first["started"], first["finished"]
    assert isinstance(started, float)
    assert isinstance(finished, float)
    assert started <= finished
    second_started = second["started"]
    assert isinstance(second_started, float)
    assert finished <= second_started


def test_provenance_is_stored_even_when_a_run_raises(xy_trajectory: TrajectoryFactory) -> None:
    storage = pr.MemoryStorageService()
    with pytest.raises(RunFailedError):
        pr.Environment(xy_trajectory(), storage).run(fail_on_x2, progress=False)
    (provenance,) = storage.load_provenance("sweep")
    assert provenance["runs_failed"] == 1


@pytest.mark.parametrize("batch_size", [1, 4, 1000])
def test_batch_size_does_not_change_what_is_stored(
    batch_size: int, xy_trajectory: TrajectoryFactory, simulate_xy: Simulate
) -> None:
    traj = xy_trajectory()
    storage = pr.MemoryStorageService()
    env = pr.Environment(traj, storage, batch_size=batch_size, flush_seconds=60.0)
    env.run(simulate_xy, progress=False)
    assert storage.load_run_table("sweep").status.tolist() == ["done"] * 6
    assert env.study.results["z"][:].tolist() == [10.0, 20.0, 20.0, 40.0, 30.0, 60.0]
