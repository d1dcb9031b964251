"""Damaged or hand-edited files fail with a FileFormatError naming file and problem.

Opening checks that the definition is there and the run count; the definition is decoded on
first use, the run table and the explored columns are checked before their first read, each
result before its first read: a damage surfaces before any value read from the damaged part is
returned.

Each file is crafted from a good one with h5py. Before these checks, an absurd run count became
a numpy ``MemoryError`` (allocating 7 PiB) and a missing run-table column a ``KeyError`` from
deep inside h5py.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import h5py
import numpy as np
import pytest

import pypet_rebuild as pr
from pypet_rebuild.errors import FileFormatError, UnsupportedTypeError
from pypet_rebuild.storage.hdf5.files import list_segments


def _good(tmp_path: Path) -> Path:
    traj = pr.Trajectory("t", seed=1)
    traj.add_parameter("x", 0.0)
    traj.explore({"x": [1.0, 2.0, 3.0]})
    path = tmp_path / "good.h5"
    pr.Environment(traj, path).run(lambda run: {"z": run.x}, progress=False)
    return path


def _set(path: str, name: str, value: object) -> Callable[[h5py.File], None]:
    def edit(file: h5py.File) -> None:
        file[path].attrs[name] = value

    return edit


def _delete(path: str) -> Callable[[h5py.File], None]:
    def edit(file: h5py.File) -> None:
        del file[path]

    return edit


def _delete_attr(path: str, name: str) -> Callable[[h5py.File], None]:
    def edit(file: h5py.File) -> None:
        del file[path].attrs[name]

    return edit


def _shorten(path: str) -> Callable[[h5py.File], None]:
    def edit(file: h5py.File) -> None:
        data = file[path][...]
        del file[path]
        file.create_dataset(path, data=data[:1])

    return edit


def _retype(path: str, dtype: str) -> Callable[[h5py.File], None]:
    def edit(file: h5py.File) -> None:
        n = file[path].shape[0]
        del file[path]
        file.create_dataset(path, data=np.zeros(n, dtype=dtype))

    return edit


def _replace_by_group(path: str) -> Callable[[h5py.File], None]:
    def edit(file: h5py.File) -> None:
        del file[path]
        file.create_group(path)

    return edit


def _replace_by_dataset(path: str) -> Callable[[h5py.File], None]:
    def edit(file: h5py.File) -> None:
        del file[path]
        file.create_dataset(path, data=np.zeros(3))

    return edit


def _reshape_mask(path: str) -> Callable[[h5py.File], None]:
    def edit(file: h5py.File) -> None:
        n = file[path].shape[0]
        del file[path]
        mask = file.create_dataset(path, data=np.ones((n, 2), dtype=bool))
        mask.dims[0].attach_scale(file["t/run"])

    return edit


def _open_and_read(path: Path) -> None:
    study = pr.load_trajectory(path)
    try:  # the checks made on first read surface here
        study.results["z"][:]
        study.run_table()
        study.point(0)
    finally:
        study.close()


CASES = [
    ("absurd run count", _set("t", "n_runs", 10**15), "dimension scale 'run' is missing or"),
    ("negative run count", _set("t", "n_runs", -5), "n_runs is -5, not a non-negative"),
    ("run count not a number", _set("t", "n_runs", "lots"), "n_runs is 'lots', not an integer"),
    ("missing status column", _delete("t/runs/status"), "column 'status' is missing"),
    ("missing index column", _delete("t/runs/index"), "column 'index' is missing"),
    ("missing run table", _delete("t/runs"), "the group 'runs' is missing"),
    ("short column", _shorten("t/runs/seed"), r"column 'seed' has shape \(1,\)"),
    ("short explored column", _shorten("t/explored/x"), r"explored column 'x' has shape"),
    ("missing attribute", _delete_attr("t", "parameter_order"), "'parameter_order' are missing"),
    ("bad json", _set("t", "grid", "{not json"), "the definition cannot be read"),
    ("hashes not digests", _retype("t/runs/point_hash", "int64"), "'point_hash' has dtype int64"),
    # Read by the low-level shortcuts of the opening checks (attributes.read_attribute).
    ("run count too large", _set("t", "n_runs", np.uint64(2**64 - 1)), "dimension scale 'run'"),
    ("layout version as text", _set("t", "layout_version", "two"), "version is 'two', not an"),
    ("scale not a dataset", _replace_by_group("t/run"), "dimension scale 'run' is missing or"),
    ("definition not a group", _replace_by_dataset("t/parameters"), "group 'parameters' is"),
    # Was a ValueError from numpy ("truth value of an array ... is ambiguous").
    ("mask of two dimensions", _reshape_mask("t/present/z"), r"mask of result 'z' has shape"),
    # A result's signature, edited: were json's, numpy's or h5py's own errors.
    ("result layout a number", _set("t/results/z", "layout", 3), "result 'z' has layout '3'"),
    ("result layout unknown", _set("t/results/z", "layout", "packed"), "layout 'packed' on a"),
    ("result dtype not json", _set("t/results/z", "dtype", "{"), "signature of result 'z'"),
    ("result dtype a number", _set("t/results/z", "dtype", 5), "signature of result 'z'"),
    ("result shape a number", _set("t/results/z", "shape", 2.5), "signature of result 'z'"),
    (
        "result dtype an array",
        _set("t/results/z", "dtype", np.array(['"<f8"'] * 2, dtype=h5py.string_dtype())),
        "signature of result 'z'",
    ),
]


@pytest.mark.parametrize(("label", "edit", "problem"), CASES, ids=[c[0] for c in CASES])
def test_opening_a_damaged_file_names_the_file_and_the_problem(
    tmp_path: Path, label: str, edit: Callable[[h5py.File], None], problem: str
) -> None:
    path = tmp_path / "crafted.h5"
    shutil.copy(_good(tmp_path), path)
    with h5py.File(path, "r+") as file:
        edit(file)
    with pytest.raises(FileFormatError, match=problem) as caught:
        _open_and_read(path)
    assert "crafted.h5" in str(caught.value)
    assert "damaged" in str(caught.value)


@pytest.mark.parametrize(
    ("label", "edit", "problem"),
    [c for c in CASES if c[0] in ("missing status column", "short column", "hashes not digests")],
    ids=lambda c: c if isinstance(c, str) else "",
)
def test_a_damaged_run_table_fails_on_its_first_read_not_at_open(
    tmp_path: Path, label: str, edit: Callable[[h5py.File], None], problem: str
) -> None:
    path = tmp_path / "crafted.h5"
    shutil.copy(_good(tmp_path), path)
    with h5py.File(path, "r+") as file:
        edit(file)
    with pr.load_trajectory(path) as study:
        # Results do not come from the run table: they read as stored.
        assert study.results["z"][:].tolist() == [1.0, 2.0, 3.0]
        with pytest.raises(FileFormatError, match=problem):
            study.run_table()
        with pytest.raises(FileFormatError, match=problem):
            study.point(1)  # and again on every later read


@pytest.mark.parametrize(
    ("edit", "error", "problem"),
    [
        (_set("t", "grid", "{not json"), FileFormatError, "crafted.h5.*damaged"),
        (_set("t", "seed", "not a number"), FileFormatError, "crafted.h5.*damaged"),
        (_delete_attr("t/parameters/x", "annotations"), FileFormatError, "crafted.h5.*damaged"),
        # As before the definition was read lazily: the codec's own error, naming the parameter.
        (_set("t/parameters/x", "codec", "nope"), UnsupportedTypeError, "parameter 'x'.*'nope'"),
    ],
    ids=["bad json", "bad seed", "missing parameter attribute", "unknown codec"],
)
def test_a_damaged_definition_fails_on_its_first_use_not_at_open(
    tmp_path: Path, edit: Callable[[h5py.File], None], error: type[Exception], problem: str
) -> None:
    path = tmp_path / "crafted.h5"
    shutil.copy(_good(tmp_path), path)
    with h5py.File(path, "r+") as file:
        edit(file)
    with pr.load_trajectory(path) as study:
        # Opening and reading results need only the run count: the definition is decoded on
        # first use, and fails there (and again on every later use).
        assert len(study) == 3
        assert study.name == "t"
        assert study.results["z"][:].tolist() == [1.0, 2.0, 3.0]
        for use in (lambda: list(study.parameters()), lambda: study.seed, lambda: study["x"]):
            with pytest.raises(error, match=problem):
                use()


def test_a_damaged_segment_is_named_too(tmp_path: Path) -> None:
    traj = pr.Trajectory("t", seed=1)
    traj.add_parameter("x", 0.0)
    traj.explore({"x": [1.0, 2.0, 3.0]})
    path = tmp_path / "segments.h5"
    storage = pr.HDF5StorageService(path, compaction="manual")
    pr.Environment(traj, storage, batch_size=1, flush_seconds=0).run(
        lambda run: {"z": run.x}, progress=False
    )
    storage.close()
    (_, _, segment), *_ = [s for s in list_segments(path, "t") if s[1] > 1]
    with h5py.File(segment, "r+") as file:
        del file["t/runs/status"]
    with pytest.raises(FileFormatError, match=r"segments\.h5.*column 'status' is missing"):
        pr.load_trajectory(path).results["z"][:]


def test_an_expansion_with_an_absurd_run_count(tmp_path: Path) -> None:
    traj = pr.Trajectory("t", seed=1)
    traj.add_parameter("x", 0.0)
    traj.explore({"x": [1.0, 2.0]})
    path = tmp_path / "grown.h5"
    storage = pr.HDF5StorageService(path, compaction="manual")
    pr.Environment(traj, storage).run(lambda run: {"z": run.x}, progress=False)
    storage.close()
    again = pr.Trajectory("t", seed=1)
    again.add_parameter("x", 0.0)
    again.explore({"x": [1.0, 2.0, 3.0]})
    storage = pr.HDF5StorageService(path, compaction="manual")
    pr.Environment(again, storage).run(lambda run: {"z": run.x}, progress=False, resume=True)
    storage.close()
    expansions = []
    for _, _, segment in list_segments(path, "t"):
        with h5py.File(segment, "r") as file:
            if "definition" in file["t"]:
                expansions.append(segment)
    assert expansions
    with h5py.File(expansions[0], "r+") as file:
        file["t/definition"].attrs["n_runs"] = np.int64(10**15)
    with pytest.raises(FileFormatError, match=r"grown\.h5.*expansion to n_runs=1000000000000000"):
        pr.load_trajectory(path).results["z"][:]
