"""run_study and storage_factories: what pr_sweep is built on."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

import pypet_rebuild as pr
from pypet_rebuild.errors import InvalidStorageError
from pypet_rebuild.storage.backends import get_backend
from pypet_rebuild.testing import run_study, storage_factories

Simulate = Callable[[pr.Run], dict[str, object]]
TrajectoryFactory = Callable[..., pr.Trajectory]


def test_run_study_in_memory_and_into_a_file(
    tmp_path: Path, xy_trajectory: TrajectoryFactory, simulate_xy: Simulate
) -> None:
    in_memory = run_study(xy_trajectory(), simulate_xy)
    assert isinstance(in_memory.storage, pr.MemoryStorageService)
    path = tmp_path / "study.h5"
    with run_study(xy_trajectory(), simulate_xy, storage=path) as in_file:
        assert in_file.results["z"][:].tolist() == in_memory.results["z"][:].tolist()
    # The study opened the file from a path, so closing it released the file: overwrite works.
    again = run_study(xy_trajectory(), simulate_xy, storage=path, overwrite=True)
    assert len(again.provenance) == 1
    again.close()


def test_run_study_raises_the_first_failure_unless_told_to_continue(
    xy_trajectory: TrajectoryFactory,
) -> None:
    def fails(run: pr.Run) -> None:
        raise ValueError("no")

    with pytest.raises(pr.errors.RunFailedError, match="no"):
        run_study(xy_trajectory(), fails)
    study = run_study(xy_trajectory(), fails, on_error="continue")
    assert study.find_runs("status == 'failed'") == list(range(6))


def test_storage_factories_create_fresh_stores_and_reopen_them(tmp_path: Path) -> None:
    for factory in storage_factories():
        folder = tmp_path / factory.name
        folder.mkdir()
        storage = factory.create(folder, False)
        traj = pr.Trajectory("t", seed=1)
        traj.add_parameter("x", 1.0)
        pr.Environment(traj, storage=storage).run(lambda run: {"y": run.x})
        reader = factory.reopen(storage, False)
        assert reader.trajectory_names() == ("t",)
        assert repr(factory) == f"StorageFactory({factory.name!r})"
        for handle in {id(storage): storage, id(reader): reader}.values():
            handle.close()


def test_get_backend_names_the_registered_backends() -> None:
    assert get_backend("hdf5").suffixes[0] == ".h5"
    with pytest.raises(InvalidStorageError, match="'hdf5'"):
        get_backend("nope")
