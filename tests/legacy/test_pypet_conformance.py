"""The pypet reader passes the read-only part of the storage conformance suite.

The same suite (``pypet_rebuild.testing.conformance``) that the memory and HDF5 backends pass,
on files that pypet 0.7.0 wrote: one with the example's runs, one with results of every type in
both run layouts, one whose sweep was run by hand with runs left undone.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import ClassVar

import pypet_rebuild as pr
from pypet_rebuild.testing.conformance import ReadOnlyStorageTests

DATA = Path(__file__).parent.parent / "data" / "pypet"


def _open_copy(folder: Path, name: str) -> pr.StorageService:
    path = folder / name
    shutil.copy(DATA / name, path)
    # The corpus is trusted (written by pypet for these tests) and has pickled pandas parts.
    return pr.PypetStorageService(path, allow_pickle=True)


class TestPypetExample(ReadOnlyStorageTests):
    """pypet's example 01: twelve done runs of one result."""

    def open_reference(self, folder: Path) -> pr.StorageService:
        return _open_copy(folder, "ex01_multiply.hdf5")


class TestPypetResultsOfEveryType(ReadOnlyStorageTests):
    """Results of every type, in the ``$set`` layout, trajectory-level results too."""

    def open_reference(self, folder: Path) -> pr.StorageService:
        return _open_copy(folder, "results_set_layout.hdf5")


class TestPypetPartialRuns(ReadOnlyStorageTests):
    """Runs executed by hand: done, not completed and never-run runs in one file."""

    backend_name = "pypet"
    known_failures: ClassVar[dict[str, str]] = {
        "test_only_done_runs_have_results": (
            "pypet keeps the results of a run it recorded as not completed (run 3 of this file); "
            "the reader shows them as pypet does, beside the run's status, rather than hide data"
        )
    }

    def open_reference(self, folder: Path) -> pr.StorageService:
        return _open_copy(folder, "partial_manual_runs.hdf5")
