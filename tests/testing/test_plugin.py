"""The pytest plugin: registered by entry point, light to load, fixtures that work."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from importlib.metadata import entry_points

import numpy as np
import pytest

import pypet_rebuild as pr
from pypet_rebuild.testing import StorageFactory, assert_studies_equal

Simulate = Callable[[pr.Run], dict[str, object]]
TrajectoryFactory = Callable[..., pr.Trajectory]

HEAVY = ("numpy", "pandas", "h5py", "hypothesis", "pypet_rebuild", "scipy", "tqdm")


def test_the_plugin_is_registered_through_its_entry_point(request: pytest.FixtureRequest) -> None:
    (entry,) = [e for e in entry_points(group="pytest11") if e.name == "pypet_rebuild"]
    assert entry.value == "_pypet_rebuild_pytestplugin"
    assert request.config.pluginmanager.has_plugin("pypet_rebuild")


def test_loading_the_plugin_imports_nothing_heavy() -> None:
    code = (
        "import sys, _pypet_rebuild_pytestplugin; "
        f"print(sorted(m for m in {HEAVY!r} if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-W", "error", "-c", code],
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.strip() == "[]", out.stdout
    assert out.stderr == ""


@pytest.mark.slow
def test_a_session_that_does_not_use_the_plugin_imports_nothing_of_it(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(
        f"""
        import sys

        def test_plain():
            assert [m for m in {HEAVY[2:]!r} if m in sys.modules] == []
        """
    )
    result = pytester.runpytest_subprocess("-W", "error", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
    assert "warning" not in result.stdout.str().lower()


def test_disabling_the_plugin_removes_its_fixtures(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        def test_uses(pr_sweep):
            pass
        """
    )
    pytester.runpytest("-p", "no:pypet_rebuild").assert_outcomes(errors=1)
    pytester.runpytest().assert_outcomes(passed=1)


def test_pr_storage_runs_once_per_installed_backend(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pypet_rebuild as pr

        def test_each(pr_storage):
            assert isinstance(pr_storage, pr.StorageService)
            assert pr_storage.trajectory_names() == ()
        """
    )
    result = pytester.runpytest("-v")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(["*test_each?memory? PASSED*", "*test_each?hdf5? PASSED*"])


# -- the fixtures, used here as a downstream project uses them -------------------------------


def test_pr_sweep_stores_into_a_fresh_file_each_call(
    pr_sweep: Callable[..., pr.StoredTrajectory],
    xy_trajectory: TrajectoryFactory,
    simulate_xy: Simulate,
) -> None:
    first = pr_sweep(xy_trajectory(), simulate_xy)
    second = pr_sweep(xy_trajectory(), simulate_xy)  # same name, new store: no StorageError
    assert isinstance(first.storage, pr.HDF5StorageService)
    assert isinstance(second.storage, pr.HDF5StorageService)
    assert first.storage.location != second.storage.location
    np.testing.assert_array_equal(first.results["z"][:], [10.0, 20.0, 20.0, 40.0, 30.0, 60.0])
    assert_studies_equal(first, second)


def test_pr_sweep_in_memory_and_with_run_options(
    pr_sweep: Callable[..., pr.StoredTrajectory], xy_trajectory: TrajectoryFactory
) -> None:
    def fails(run: pr.Run) -> dict[str, object]:
        if run.index == 2:
            raise ValueError("two")
        return {"z": run.x}

    study = pr_sweep(xy_trajectory(), fails, backend="memory", on_error="continue")
    assert isinstance(study.storage, pr.MemoryStorageService)
    assert study.find_runs("status == 'failed'") == [2]
    with pytest.raises(ValueError, match="'nope'"):
        pr_sweep(xy_trajectory(), fails, backend="nope")


def test_pr_sweep_uses_the_backend_of_a_parametrized_test(
    pr_storage_factory: StorageFactory,
    pr_sweep: Callable[..., pr.StoredTrajectory],
    xy_trajectory: TrajectoryFactory,
    simulate_xy: Simulate,
) -> None:
    study = pr_sweep(xy_trajectory(), simulate_xy)
    expected = {"memory": pr.MemoryStorageService, "hdf5": pr.HDF5StorageService}
    assert isinstance(study.storage, expected[pr_storage_factory.name])


def test_pr_storage_takes_a_sweep_and_reopens(
    pr_storage: pr.StorageService,
    pr_storage_factory: StorageFactory,
    xy_trajectory: TrajectoryFactory,
    simulate_xy: Simulate,
) -> None:
    env = pr.Environment(xy_trajectory(), storage=pr_storage)
    assert env.run(simulate_xy).ok
    reader = pr_storage_factory.reopen(pr_storage, False)
    try:
        assert_studies_equal(env.study, pr.load_trajectory(reader))
    finally:
        if reader is not pr_storage:
            reader.close()
