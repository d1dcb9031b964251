"""The pytest plugin of pypet_rebuild: fixtures to run sweeps and test storage in a test.

Registered through the ``pytest11`` entry point as ``pypet_rebuild`` (disable it with
``-p no:pypet_rebuild``). It lives outside the ``pypet_rebuild`` package, as hypothesis' plugin
lives outside ``hypothesis``: importing any module of the package first imports the package
(numpy, pandas, h5py), and a plugin is loaded by every pytest session of the environment. This
module imports only pytest and the standard library; the library is imported when a test
requests one of the fixtures:

``pr_sweep``
    A factory: ``pr_sweep(trajectory, simulate, **run_options)`` runs the sweep into a new
    store in the test's ``tmp_path`` (or memory) and returns the stored study, closed after the
    test.
``pr_storage_factory``
    Parametrizes the test over every installed storage backend that can create a store
    (``memory``, ``hdf5`` and any third-party one); the value is a
    :class:`pypet_rebuild.testing.StorageFactory`.
``pr_storage``
    A fresh, empty storage of each of those backends (the test runs once per backend).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from pypet_rebuild import StorageService, StoredTrajectory, Trajectory
    from pypet_rebuild.execution.run import Run
    from pypet_rebuild.storage.backends import StorageTarget
    from pypet_rebuild.testing import StorageFactory

__all__ = ["SweepFactory", "pytest_generate_tests"]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Parametrize tests that use ``pr_storage_factory`` (or ``pr_storage``) over the backends."""
    if "pr_storage_factory" not in metafunc.fixturenames:
        return
    from pypet_rebuild.testing import storage_factories

    factories = storage_factories()
    metafunc.parametrize(
        "pr_storage_factory",
        factories,
        ids=[factory.name for factory in factories],
        indirect=True,
    )


@pytest.fixture
def pr_storage_factory(request: pytest.FixtureRequest) -> StorageFactory:
    """One installed storage backend (the test runs once for each)."""
    factory: StorageFactory = request.param
    return factory


@pytest.fixture
def pr_storage(pr_storage_factory: StorageFactory, tmp_path: Path) -> Iterator[StorageService]:
    """A fresh, empty storage of each installed backend, closed after the test."""
    folder = tmp_path / f"pr_storage_{pr_storage_factory.name}"
    folder.mkdir()
    storage = pr_storage_factory.create(folder, False)
    yield storage
    storage.close()


class SweepFactory:
    """The ``pr_sweep`` fixture: runs sweeps into fresh stores and closes them after the test.

    Parameters
    ----------
    folder
        Where new files go (the test's ``tmp_path``).
    factory
        The backend new stores use when none is named (the ``pr_storage_factory`` of a test
        parametrized over backends, else HDF5 files).
    """

    def __init__(self, folder: Path, factory: StorageFactory | None) -> None:
        self._folder = folder
        self._factory = factory
        self._counter = itertools.count()
        self._opened: list[StoredTrajectory] = []
        self._storages: list[StorageService] = []

    def __call__(
        self,
        trajectory: Trajectory,
        simulate: Callable[[Run], Any],
        *,
        backend: str | None = None,
        storage: StorageTarget = None,
        **run_options: Any,
    ) -> StoredTrajectory:
        """Run ``simulate`` over ``trajectory`` into a new store; return the stored study.

        Parameters
        ----------
        trajectory
            The trajectory to run.
        simulate
            The simulate function.
        backend
            ``"memory"``, ``"hdf5"`` or another installed backend's name, for the new store
            (default: the test's ``pr_storage_factory`` if it has one, else ``"hdf5"``).
        storage
            An existing storage or path to run into instead of a new store.
        **run_options
            Passed to ``Environment.run`` (``executor=``, ``on_error=``, ``overwrite=``...);
            the progress bar is off unless ``progress=True``.
        """
        from pypet_rebuild.testing import run_study

        if storage is None:
            storage = self._new_storage(backend)
        elif backend is not None:
            raise TypeError("pass either backend= (for a new store) or storage=, not both")
        study = run_study(trajectory, simulate, storage=storage, **run_options)
        self._opened.append(study)
        return study

    def _new_storage(self, backend: str | None) -> StorageService:
        from pypet_rebuild.testing import storage_factories

        factory = self._factory
        if backend is not None or factory is None:
            wanted = backend or "hdf5"
            by_name = {f.name: f for f in storage_factories()}
            if wanted not in by_name:
                raise ValueError(
                    f"no storage backend {wanted!r} that can create a store; installed: "
                    f"{sorted(by_name)}"
                )
            factory = by_name[wanted]
        folder = self._folder / f"pr_sweep_{next(self._counter)}"
        folder.mkdir()
        storage = factory.create(folder, False)
        self._storages.append(storage)
        return storage

    def close(self) -> None:
        """Close every study and storage this factory opened."""
        for study in self._opened:
            study.close()
        for storage in self._storages:
            storage.close()
        self._opened.clear()
        self._storages.clear()


@pytest.fixture
def pr_sweep(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SweepFactory]:
    """A factory running a sweep into a fresh store and returning the stored study.

    ``pr_sweep(trajectory, simulate, backend=None, storage=None, **run_options)``; every store
    is new (a fresh folder under ``tmp_path`` per call), so calling it again with the same
    trajectory name, e.g. from each example of a hypothesis test, never meets a stored study.
    """
    factory: StorageFactory | None = None
    if "pr_storage_factory" in request.fixturenames:
        factory = request.getfixturevalue("pr_storage_factory")
    sweeps = SweepFactory(tmp_path, factory)
    yield sweeps
    sweeps.close()
