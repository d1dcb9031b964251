"""Notebook views (``_repr_html_``) and plain-text reprs carry the same information."""

from __future__ import annotations

from pathlib import Path

import numpy as np

import pypet_rebuild as pr


def simulate(run: pr.Run) -> dict[str, object]:
    if run.index == 1:
        raise ValueError("the second run fails")
    return {"z": run.x * run.y, "trace": np.zeros(7, dtype=np.float32), "label": "ok"}


def stored(tmp_path: Path) -> tuple[pr.StoredTrajectory, pr.RunReport]:
    traj = pr.Trajectory("views", comment="for the notebook", seed=1)
    traj.add_parameter("x", 1.0, comment="first factor")
    traj.add_parameter("sim.y", 2)
    traj.explore(pr.cartesian_product({"x": [1.0, 2.0], "sim.y": [3, 4, 5]}))
    report = pr.Environment(traj, storage=tmp_path / "views.h5").run(
        simulate, on_error="continue", progress=False
    )
    return pr.load_trajectory(tmp_path / "views.h5"), report


def test_trajectory_text_and_html_show_parameters_axes_runs_results_and_file(
    tmp_path: Path,
) -> None:
    traj, _ = stored(tmp_path)
    text = repr(traj)
    page = traj._repr_html_()
    for view in (text, page):
        assert "views" in view
        assert "views.h5" in view
        assert "sim.y" in view
        assert "first factor" in view or view is text
        assert "trace" in view
        assert "float32" in view
        assert "done" in view
        assert "failed" in view
    assert "grid 2 x 3" in text
    assert "runs: done 5, failed 1" in text
    assert "trace: (7,) float32 (fixed)" in text
    assert "label: per run - (packed)" in text
    assert page.startswith("<div>")
    assert "<table" in page


def test_the_model_repr_describes_it_without_reading_anything(tmp_path: Path) -> None:
    traj = pr.Trajectory("fresh", seed=4)
    traj.add_parameter("x", 1.0)
    assert repr(traj) == traj.describe()
    assert "Trajectory 'fresh': 1 run(s), seed 4" in repr(traj)
    assert "x: float = 1.0" in repr(traj)


def test_report_html_lists_counts_and_failures(tmp_path: Path) -> None:
    _, report = stored(tmp_path)
    page = report._repr_html_()
    assert "RunReport views" in page
    assert ">5<" in page  # done
    assert "ValueError" in page
    assert "the second run fails" in page
    assert "1 failed" in str(report)


def test_result_handle_views_read_no_data(tmp_path: Path) -> None:
    traj, _ = stored(tmp_path)
    handle = traj.results["trace"]
    assert "runs=6" in repr(handle)
    assert "float32" in repr(handle)
    assert "fixed" in repr(handle)
    page = handle._repr_html_()
    assert "trace" in page
    assert "(7,)" in page
