"""Lifecycle hooks around a sweep, and the RunReport that Environment.run returns."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np
import pytest

import pypet_rebuild as pr
from pypet_rebuild.errors import RunFailedError


@pytest.fixture
def hooked(x_trajectory: Callable[..., pr.Trajectory]) -> pr.Trajectory:
    """The shared ``x_trajectory``: three runs, ``x`` in (1.0, 2.0, 3.0), named ``hooked``."""
    return x_trajectory("hooked", (1.0, 2.0, 3.0), seed=3)


def simulate(run: pr.Run) -> dict[str, object]:
    if run.x == 2.0:
        raise ValueError("x must not be 2")
    return {"z": run.x * 10}


class Recorder:
    """Implements the whole SweepHooks protocol without subclassing Hooks."""

    def __init__(self, name: str, log: list[tuple[object, ...]]) -> None:
        self.name = name
        self.log = log
        self.records: list[pr.RunRecord] = []
        self.reports: list[pr.RunReport] = []
        self.trajectory: pr.Trajectory | None = None

    def before_sweep(self, trajectory: pr.Trajectory, pending: Sequence[int]) -> None:
        self.trajectory = trajectory
        self.log.append((self.name, "before_sweep", tuple(pending), trajectory.is_locked))

    def before_run(self, index: int, point: Mapping[str, object]) -> None:
        self.log.append((self.name, "before_run", index, dict(point)))

    def after_run(self, record: pr.RunRecord) -> None:
        self.records.append(record)
        self.log.append((self.name, "after_run", record.index, record.status.value))

    def after_sweep(self, report: pr.RunReport) -> None:
        self.reports.append(report)
        self.log.append((self.name, "after_sweep", report.done, report.failed))


def test_hooks_are_called_in_order_with_the_right_arguments(hooked: pr.Trajectory) -> None:
    log: list[tuple[object, ...]] = []
    first, second = Recorder("first", log), Recorder("second", log)
    assert isinstance(first, pr.SweepHooks)
    # batch_size=1: each run is stored (and only then reported to after_run) before the next.
    report = pr.Environment(hooked, batch_size=1).run(
        simulate, on_error="continue", progress=False, hooks=[first, second]
    )
    assert log == [
        ("first", "before_sweep", (0, 1, 2), True),
        ("second", "before_sweep", (0, 1, 2), True),
        ("first", "before_run", 0, {"x": 1.0}),
        ("second", "before_run", 0, {"x": 1.0}),
        ("first", "after_run", 0, "done"),
        ("second", "after_run", 0, "done"),
        ("first", "before_run", 1, {"x": 2.0}),
        ("second", "before_run", 1, {"x": 2.0}),
        ("first", "after_run", 1, "failed"),
        ("second", "after_run", 1, "failed"),
        ("first", "before_run", 2, {"x": 3.0}),
        ("second", "before_run", 2, {"x": 3.0}),
        ("first", "after_run", 2, "done"),
        ("second", "after_run", 2, "done"),
        ("first", "after_sweep", 2, 1),
        ("second", "after_sweep", 2, 1),
    ]
    assert first.trajectory is hooked
    assert first.reports == [report]


def test_after_run_hears_of_a_run_only_once_it_is_stored(hooked: pr.Trajectory) -> None:
    storage = pr.MemoryStorageService()
    stored_when_reported: list[bool] = []

    class Check(pr.Hooks):
        def after_run(self, record: pr.RunRecord) -> None:
            table = storage.load_run_table("hooked")
            stored_when_reported.append(str(table.status[record.index]) == record.status.value)

    pr.Environment(hooked, storage=storage, batch_size=2).run(
        simulate, on_error="continue", progress=False, hooks=[Check()]
    )
    assert stored_when_reported == [True, True, True]


def test_after_run_receives_the_full_record(hooked: pr.Trajectory) -> None:
    recorder = Recorder("r", [])
    pr.Environment(hooked).run(simulate, on_error="continue", progress=False, hooks=[recorder])
    done, failed, last = recorder.records
    assert done.results == {"z": 10.0}
    assert done.error == ""
    assert done.status is pr.RunStatus.DONE
    assert done.duration >= 0.0
    assert done.started <= done.finished
    assert done.host
    assert failed.status is pr.RunStatus.FAILED
    assert failed.results == {}
    assert "ValueError: x must not be 2" in failed.error
    assert last.index == 2
    assert len({r.point_hash for r in recorder.records}) == 3


def test_before_sweep_lists_only_pending_runs_on_resume(hooked: pr.Trajectory) -> None:
    storage = pr.MemoryStorageService()
    env = pr.Environment(hooked, storage)
    env.run(simulate, on_error="continue", progress=False)
    recorder = Recorder("r", [])
    env.run(lambda run: {"z": run.x * 10}, resume=True, progress=False, hooks=[recorder])
    assert recorder.log[0] == ("r", "before_sweep", (1,), True)
    assert [r.index for r in recorder.records] == [1]
    (report,) = recorder.reports
    assert (report.done, report.skipped) == (1, 2)


def test_after_sweep_is_called_also_after_a_failure(hooked: pr.Trajectory) -> None:
    log: list[tuple[object, ...]] = []
    recorder = Recorder("r", log)
    with pytest.raises(RunFailedError):
        pr.Environment(hooked).run(simulate, progress=False, hooks=[recorder])
    # Both finished runs are stored together before the error is raised, then reported.
    assert [entry[1] for entry in log] == [
        "before_sweep",
        "before_run",
        "before_run",
        "after_run",
        "after_run",
        "after_sweep",
    ]
    (report,) = recorder.reports
    assert (report.done, report.failed, report.pending) == (1, 1, 1)
    assert [f.index for f in report.failures] == [1]


def test_hooks_subclass_overrides_only_what_it_needs(hooked: pr.Trajectory) -> None:
    finished: list[int] = []

    class CountDone(pr.Hooks):
        def after_run(self, record: pr.RunRecord) -> None:
            finished.append(record.index)

    hook = CountDone()
    assert isinstance(hook, pr.SweepHooks)
    pr.Environment(hooked).run(simulate, on_error="continue", progress=False, hooks=[hook])
    assert finished == [0, 1, 2]


def test_a_hook_not_implementing_sweep_hooks_is_refused_before_any_run(
    hooked: pr.Trajectory,
) -> None:
    class Partial:
        def before_sweep(self, trajectory: pr.Trajectory, pending: Sequence[int]) -> None:
            raise AssertionError("must not be called")

    storage = pr.MemoryStorageService()
    with pytest.raises(TypeError, match="SweepHooks"):
        pr.Environment(hooked, storage).run(
            simulate,
            progress=False,
            hooks=[Partial()],  # type: ignore[list-item]
        )
    assert storage.trajectory_names() == ()
    assert not hooked.is_locked


def test_a_hook_can_log_metrics_like_an_experiment_tracker(hooked: pr.Trajectory) -> None:
    metrics: dict[int, float] = {}

    class Tracker(pr.Hooks):
        def after_run(self, record: pr.RunRecord) -> None:
            metrics.update(
                (record.index, float(v)) for v in record.results.values() if isinstance(v, float)
            )

    pr.Environment(hooked).run(simulate, on_error="continue", progress=False, hooks=[Tracker()])
    assert metrics == {0: 10.0, 2: 30.0}


# -- RunReport -----------------------------------------------------------------------------------


def test_report_counts_durations_and_wall_time(hooked: pr.Trajectory) -> None:
    report = pr.Environment(hooked).run(simulate, on_error="continue", progress=False)
    assert report.trajectory == "hooked"
    assert (report.n_runs, report.done, report.failed, report.skipped) == (3, 2, 1, 0)
    assert report.pending == 0
    assert not report.ok
    assert not report.interrupted
    assert sorted(report.durations) == [0, 1, 2]
    assert all(d >= 0.0 for d in report.durations.values())
    assert report.wall_time >= sum(report.durations.values())
    (failure,) = report.failures
    assert failure.index == 1
    assert failure.point == {"x": 2.0}
    assert failure.error_type == "ValueError"
    assert failure.message == "x must not be 2"
    assert "Traceback (most recent call last)" in failure.traceback


def test_report_summary_is_readable(hooked: pr.Trajectory) -> None:
    report = pr.Environment(hooked).run(simulate, on_error="continue", progress=False)
    text = report.summary()
    first_line = text.splitlines()[0]
    assert "'hooked'" in first_line
    assert "2 done, 1 failed, 0 skipped, 0 pending of 3 runs" in first_line
    assert "run time: median" in text
    assert "run 1 failed: ValueError: x must not be 2" in text
    assert str(report) == text


def test_report_summary_shortens_many_failures() -> None:
    traj = pr.Trajectory("many", seed=1)
    traj.add_parameter("n", 0)
    traj.explore({"n": list(range(8))})

    def always_fail(run: pr.Run) -> None:
        raise RuntimeError(f"fail {run.n}")

    report = pr.Environment(traj).run(always_fail, on_error="continue", progress=False)
    text = report.summary()
    assert "run 4 failed" in text
    assert "run 5 failed" not in text
    assert "... and 3 more failures" in text


def test_report_of_a_clean_sweep(hooked: pr.Trajectory) -> None:
    report = pr.Environment(hooked).run(lambda run: None, progress=False)
    assert report.ok
    assert report.failures == ()
    assert "0 failed" in report.summary()


def test_report_pending_and_ok_from_plain_values() -> None:
    report = pr.RunReport(
        trajectory="t", n_runs=10, done=5, failed=1, skipped=2, wall_time=1.5, interrupted=True
    )
    assert report.pending == 2
    assert not report.ok
    assert "(interrupted)" in report.summary()
    assert "run time" not in report.summary()


def test_report_is_immutable() -> None:
    report = pr.RunReport(trajectory="t", n_runs=1, done=1, failed=0, skipped=0, wall_time=0.1)
    with pytest.raises(AttributeError):
        report.done = 2  # type: ignore[misc]


def test_run_failure_to_error() -> None:
    failure = pr.RunFailure(
        index=4,
        point={"x": np.float64(2.0)},
        error_type="ValueError",
        message="bad",
        traceback="tb",
    )
    error = failure.to_error()
    assert isinstance(error, RunFailedError)
    assert error.index == 4
    assert error.point == {"x": 2.0}
    assert error.traceback_text == "tb"
    assert "ValueError: bad" in str(error)
