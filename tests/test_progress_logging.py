"""The progress bar with logging and prints from runs; per-module loggers with DEBUG records."""

from __future__ import annotations

import logging
import sys
import types
from pathlib import Path

import pytest

import pypet_rebuild as pr
from pypet_rebuild.storage import RunRecord


def _trajectory() -> pr.Trajectory:
    traj = pr.Trajectory("bar", seed=1)
    traj.add_parameter("x", 1.0)
    traj.explore({"x": [1.0, 2.0, 3.0, 4.0]})
    return traj


class Watch(pr.Hooks):
    """Records which handlers the root logger has when a run is stored (while the bar shows)."""

    def __init__(self) -> None:
        self.handlers: list[str] = []

    def after_run(self, record: RunRecord) -> None:
        self.handlers = [type(h).__name__ for h in logging.root.handlers]


def test_log_records_and_prints_go_above_the_bar(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # ipykernel imported by something else does not make a terminal bar a notebook widget.
    monkeypatch.setitem(sys.modules, "ipykernel", types.ModuleType("ipykernel"))
    handler = logging.StreamHandler(sys.stderr)
    logging.root.addHandler(handler)
    streams: list[str] = []
    handlers: list[list[str]] = []

    def simulate(run: pr.Run) -> dict[str, object]:
        streams.append(type(sys.stdout).__name__)
        handlers.append([type(h).__name__ for h in logging.root.handlers])
        print(f"computing {run.x}")
        if run.x == 2.0:
            raise ValueError("two")
        return {"z": run.x}

    watch = Watch()
    try:
        pr.Environment(_trajectory(), storage=tmp_path / "bar.h5").run(
            simulate, on_error="continue", progress=True, hooks=[watch]
        )
        assert handler in logging.root.handlers  # put back after the sweep
    finally:
        logging.root.removeHandler(handler)
    # During the sweep, tqdm's handler stood in for the console handler, and prints went through
    # tqdm.write; afterwards both are as they were.
    for seen in [*handlers, watch.handlers]:
        assert "_TqdmLoggingHandler" in seen
        assert "StreamHandler" not in seen
    assert streams == ["DummyTqdmFile"] * 4
    assert type(sys.stdout).__name__ != "DummyTqdmFile"
    captured = capsys.readouterr()
    assert "computing 3.0" in captured.out
    assert "run 1 failed: ValueError: two" in captured.err
    # The bar counts the failed runs.
    assert "1 failed" in captured.err


def test_without_a_bar_nothing_is_redirected(tmp_path: Path) -> None:
    streams: list[object] = []

    def simulate(run: pr.Run) -> dict[str, object]:
        streams.append(sys.stdout)
        return {"z": run.x}

    before = sys.stdout
    pr.Environment(_trajectory(), storage=tmp_path / "quiet.h5").run(simulate, progress=False)
    assert streams == [before] * 4


def test_each_module_logs_under_its_own_name_with_debug_records(
    caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    caplog.set_level(logging.DEBUG, logger="pypet_rebuild")
    root_handlers = list(logging.root.handlers)
    path = tmp_path / "logged.h5"

    def simulate(run: pr.Run) -> dict[str, object]:
        if run.x == 4.0:
            raise ValueError("four")
        return {"z": run.x}

    traj = _trajectory()
    pr.Environment(traj, storage=path).run(simulate, on_error="continue", progress=False)
    pr.Environment(traj, storage=path).run(
        simulate, on_error="continue", progress=False, resume=True
    )
    by_logger: dict[str, list[str]] = {}
    for record in caplog.records:
        by_logger.setdefault(record.name, []).append(record.getMessage())
    sink = by_logger["pypet_rebuild.execution.sink"]
    assert any("run 3 failed" in m for m in sink)
    assert any(m.startswith("stored a batch of 4 runs (3 done, 1 failed") for m in sink)
    environment = by_logger["pypet_rebuild.execution.environment"]
    assert "sweep 'bar': 4 runs, 3 already done, 1 to run" in environment
    service = by_logger["pypet_rebuild.storage.hdf5.service"]
    assert any(m.startswith("resuming 'bar'") and "3 of 4 runs done" in m for m in service)
    assert any("segments of 'bar'" in m for m in service)
    debug = {r.name for r in caplog.records if r.levelno == logging.DEBUG}
    assert debug >= {"pypet_rebuild.execution.sink", "pypet_rebuild.storage.hdf5.service"}
    # The library never configures the root logger.
    assert logging.root.handlers == root_handlers
