"""The storage conformance suite: what every backend must do, as test classes to subclass.

Like zarr's ``zarr.testing.store.StoreTests``: the classes know nothing about a backend. A
backend's test module subclasses one and says how to make a store; pytest then runs every test
of the suite against it (this project's memory and HDF5 backends are tested this way)::

    from pypet_rebuild.testing.conformance import StorageServiceTests


    class TestMyBackend(StorageServiceTests):
        backend_name = "mine"

        def create_storage(self, folder, *, allow_pickle):
            return MyStorage(folder / "store.my", allow_pickle=allow_pickle)

        def reopen_storage(self, storage, *, allow_pickle):
            return MyStorage(storage.path, allow_pickle=allow_pickle)

- :class:`StorageServiceTests`: a backend that writes. Everything below, plus the write cycle,
  writer sessions and their lock, the run table, results, derived results, provenance, resume
  and expansion, copies in and out, and refusing values without a codec.
- :class:`StorageReaderTests`: reading only (a reader of another program's files implements
  :meth:`~StorageReaderTests.open_reference` to open a reference file);
  :class:`ReadOnlyStorageTests` adds that writes are refused.

A known deviation of a backend is declared in ``known_failures`` (test name -> reason): that
test is then expected to fail (strictly: it fails the suite once the deviation is fixed).
This module needs pytest.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import ClassVar

import pytest

import pypet_rebuild as pr
from pypet_rebuild.testing.conformance._helpers import (
    XS,
    YS,
    BoomError,
    StorageUnderTest,
    Unstorable,
    Z,
    fail_on_x2,
    files_in,
    mutable_values,
    mutate,
    record,
    simulate,
    store_sweep,
    stored_state,
    trajectory,
)
from pypet_rebuild.testing.conformance.copies import StoredValueTests
from pypet_rebuild.testing.conformance.reading import ReadOnlyStorageTests, StorageReaderTests
from pypet_rebuild.testing.conformance.sessions import WriterSessionTests
from pypet_rebuild.testing.conformance.sweeps import SweepTests

__all__ = [
    "XS",
    "YS",
    "BoomError",
    "ReadOnlyStorageTests",
    "StorageReaderTests",
    "StorageServiceTests",
    "StorageUnderTest",
    "StoredValueTests",
    "SweepTests",
    "Unstorable",
    "WriterSessionTests",
    "Z",
    "fail_on_x2",
    "files_in",
    "mutable_values",
    "mutate",
    "record",
    "simulate",
    "store_sweep",
    "stored_state",
    "trajectory",
]


class StorageServiceTests(StorageReaderTests, WriterSessionTests, SweepTests, StoredValueTests):
    """The whole suite for a backend that writes; subclass it and implement the two methods.

    Each test gets a fresh folder and, through the ``backend`` fixture, a fresh storage made
    by :meth:`create_storage` in it plus a way to reopen what it stored
    (:meth:`reopen_storage`); every storage opened is closed after the test.

    Attributes
    ----------
    backend_name
        The backend's name, for messages.
    known_failures
        Test name -> reason, for deviations the backend documents; those tests must fail.
    """

    backend_name: ClassVar[str] = "backend"
    known_failures: ClassVar[Mapping[str, str]] = {}

    def create_storage(self, folder: Path, *, allow_pickle: bool) -> pr.StorageService:
        """A new, empty storage keeping its files (if any) in ``folder``."""
        raise NotImplementedError(f"{type(self).__name__} must implement create_storage")

    def reopen_storage(
        self, storage: pr.StorageService, *, allow_pickle: bool
    ) -> pr.StorageService:
        """Another handle on what ``storage`` stored (default: ``storage`` itself, as in memory)."""
        return storage

    def _under_test(self, folder: Path, *, allow_pickle: bool) -> Iterator[StorageUnderTest]:
        folder.mkdir()
        writer = self.create_storage(folder, allow_pickle=allow_pickle)
        opened: list[pr.StorageService] = []

        def reopen() -> pr.StorageService:
            service = self.reopen_storage(writer, allow_pickle=allow_pickle)
            opened.append(service)
            return service

        yield StorageUnderTest(self.backend_name, writer, reopen, folder)
        for service in (writer, *opened):
            service.close()

    @pytest.fixture(autouse=True)
    def _known_failure(self, request: pytest.FixtureRequest) -> None:
        name = getattr(request.node, "originalname", request.node.name)
        reason = self.known_failures.get(name)
        if reason is not None:
            request.applymarker(pytest.mark.xfail(strict=True, reason=reason))

    @pytest.fixture
    def backend(self, tmp_path: Path) -> Iterator[StorageUnderTest]:
        """A fresh storage of this backend and a way to reopen it."""
        yield from self._under_test(tmp_path / "store", allow_pickle=False)

    @pytest.fixture
    def pickling_backend(self, tmp_path: Path) -> Iterator[StorageUnderTest]:
        """A fresh storage created (and reopened) with ``allow_pickle=True``."""
        yield from self._under_test(tmp_path / "pickling", allow_pickle=True)

    def open_reference(self, folder: Path) -> pr.StorageService:
        """The standard sweep with two failed runs and a derived result, through a new handle."""
        writer = self.create_storage(folder, allow_pickle=False)
        environment = pr.Environment(trajectory(), storage=writer)
        environment.run(fail_on_x2, on_error="continue", progress=False)
        environment.study.add_derived("stats.total", 180.0, comment="sum of z")
        other = pr.Trajectory("second", seed=3)
        other.add_parameter("n", 0)
        other.explore({"n": [1, 2, 3]})
        pr.Environment(other, storage=writer).run(lambda run: {"z": -run.n}, progress=False)
        reader = self.reopen_storage(writer, allow_pickle=False)
        if reader is not writer:
            writer.close()
        return reader
