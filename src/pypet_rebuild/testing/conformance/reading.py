"""Conformance of reading: what every backend, read-only ones included, must do with a store.

These tests know nothing of what the store holds: they check that the backend's answers agree
with each other and with the protocol (the run table has a row per run, results read the same in
any order, unknown names are clear errors, values read back are the reader's own).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import pypet_rebuild as pr
from pypet_rebuild.errors import StorageError, TrajectoryNotFoundError
from pypet_rebuild.storage import MISSING, RunStatus
from pypet_rebuild.testing.values import values_difference

__all__ = ["ReadOnlyStorageTests", "StorageReaderTests"]

_STATUSES = frozenset(status.value for status in RunStatus)


def _same(one: object, other: object) -> bool:
    if one is MISSING or other is MISSING:
        return one is other
    return values_difference(one, other) is None


class StorageReaderTests:
    """Reading a store: subclass it and implement :meth:`open_reference`.

    Every test gets the ``reference`` fixture: the storage :meth:`open_reference` returns,
    closed after the test. The store should hold at least one trajectory with done runs,
    results, and if the backend can hold them, failed runs and derived results.
    """

    def open_reference(self, folder: Path) -> pr.StorageService:
        """A storage holding the reference data (``folder`` is a fresh temporary folder)."""
        raise NotImplementedError(f"{type(self).__name__} must implement open_reference")

    @pytest.fixture
    def reference(self, tmp_path: Path) -> Iterator[pr.StorageService]:
        """The storage :meth:`open_reference` returns, closed after the test."""
        storage = self.open_reference(tmp_path)
        yield storage
        storage.close()

    def test_reader_follows_the_protocol(self, reference: pr.StorageService) -> None:
        assert isinstance(reference, pr.StorageService)
        names = reference.trajectory_names()
        assert isinstance(names, tuple)
        assert names, "the reference store holds no trajectory"
        assert all(isinstance(name, str) for name in names)
        assert len(set(names)) == len(names)

    def test_definition_and_run_table_agree(self, reference: pr.StorageService) -> None:
        for name in reference.trajectory_names():
            snapshot = reference.load_snapshot(name)
            assert snapshot.name == name
            table = reference.load_run_table(name)
            assert len(table) == snapshot.n_runs
            assert table.index.tolist() == list(range(snapshot.n_runs))
            assert set(table.status.tolist()) <= _STATUSES
            for column in ("point_hash", "host", "error", "output"):
                assert len(getattr(table, column)) == len(table)
            explored = {path: len(values) for path, values in snapshot.explored.items()}
            assert set(explored.values()) <= {snapshot.n_runs}

    def test_result_names_are_sorted_text(self, reference: pr.StorageService) -> None:
        for name in reference.trajectory_names():
            results = reference.result_names(name)
            assert isinstance(results, tuple)
            assert list(results) == sorted(results)
            for result in results:
                assert isinstance(result, str)
                assert isinstance(reference.result_comment(name, result), str)

    def test_results_read_the_same_in_any_order(self, reference: pr.StorageService) -> None:
        for name in reference.trajectory_names():
            runs = list(range(len(reference.load_run_table(name))))
            for result in reference.result_names(name):
                forward = reference.read_results(name, result, runs)
                assert len(forward) == len(runs)
                backward = reference.read_results(name, result, runs[::-1])
                for one, other in zip(forward, backward[::-1], strict=True):
                    assert _same(one, other), (name, result)
                assert reference.read_results(name, result, []) == []
                if runs:
                    twice = reference.read_results(name, result, [runs[-1], runs[-1]])
                    assert _same(twice[0], twice[1])
                    assert _same(twice[0], forward[-1])

    def test_only_done_runs_have_results(self, reference: pr.StorageService) -> None:
        for name in reference.trajectory_names():
            table = reference.load_run_table(name)
            not_done = [int(i) for i in np.flatnonzero(table.status != RunStatus.DONE.value)]
            for result in reference.result_names(name):
                values = reference.read_results(name, result, not_done)
                assert all(value is MISSING for value in values), (name, result)

    def test_derived_results_and_provenance(self, reference: pr.StorageService) -> None:
        for name in reference.trajectory_names():
            derived = reference.load_derived(name)
            assert isinstance(derived, dict)
            for path, result in derived.items():
                assert isinstance(result, pr.Result)
                assert result.path == path
            provenance = reference.load_provenance(name)
            assert isinstance(provenance, list)
            assert all(isinstance(entry, dict) for entry in provenance)

    def test_reading_an_unknown_trajectory_is_a_clear_error(
        self, reference: pr.StorageService
    ) -> None:
        missing = "no_such_trajectory"
        for read in (
            reference.load_snapshot,
            reference.load_run_table,
            reference.result_names,
            reference.load_derived,
            reference.load_provenance,
        ):
            with pytest.raises(TrajectoryNotFoundError, match=missing):
                read(missing)

    def test_values_read_back_are_the_readers_own(self, reference: pr.StorageService) -> None:
        for name in reference.trajectory_names():
            done = sorted(reference.load_run_table(name).done())
            for result in reference.result_names(name):
                if not done:
                    continue
                (first,) = reference.read_results(name, result, done[:1])
                if not isinstance(first, np.ndarray) or first.size == 0:
                    continue
                kept = first.copy()
                if first.flags.writeable and first.dtype.kind in "biufc":
                    first.flat[0] = first.flat[0] + 1
                (again,) = reference.read_results(name, result, done[:1])
                assert values_difference(kept, again) is None, (name, result)

    def test_load_trajectory_reads_the_study(self, reference: pr.StorageService) -> None:
        for name in reference.trajectory_names():
            study = pr.load_trajectory(reference, name)
            assert study.name == name
            assert len(study) == len(reference.load_run_table(name))
            assert list(study.results) == list(reference.result_names(name))
            assert len(study.point_hashes()) == len(study)
            for index in range(min(len(study), 3)):
                point: dict[str, Any] = study.point(index)
                assert set(point) == set(study.explored_names)

    def test_close_twice(self, tmp_path: Path) -> None:
        storage = self.open_reference(tmp_path)
        storage.close()
        storage.close()


class ReadOnlyStorageTests(StorageReaderTests):
    """A read-only backend: everything of :class:`StorageReaderTests`, and writes are refused."""

    def test_writing_is_refused(self, reference: pr.StorageService) -> None:
        name = reference.trajectory_names()[0]
        snapshot = reference.load_snapshot(name)
        with pytest.raises(StorageError):
            reference.begin_sweep(snapshot, resume=True)
        with pytest.raises(StorageError):
            reference.open_writer(name)
