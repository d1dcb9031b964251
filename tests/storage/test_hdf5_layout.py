"""The version-2 layout explains itself, and hand edits that break it are named, not misread.

A file written by a sweep, and one grown in place by ``append_trajectory``, open in xarray with
both netCDF engines (results on a ``run`` dimension, explored parameters as coordinates); every
dataset says what it is. A group of a newer layout, a removed dimension scale, a missing mask
or a result of the wrong length each raise ``FileFormatError`` naming the file, the group and the
problem, and the rest of the file still reads.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import h5py
import numpy as np
import pytest
import xarray as xr

import pypet_rebuild as pr
from pypet_rebuild.errors import FileFormatError
from pypet_rebuild.storage.hdf5.files import list_segments
from pypet_rebuild.storage.hdf5.folding import append_extras, append_trajectory

ENGINES = ("h5netcdf", "netcdf4")


def _simulate(run: pr.Run) -> dict[str, object]:
    if run.x == 2.0 and run.label == "b":
        raise RuntimeError("boom")
    return {"z": run.x * 10, "trace": np.arange(3) * run.x, "word": run.label * 2}


def _trajectory() -> pr.Trajectory:
    traj = pr.Trajectory("t", seed=1)
    traj.add_parameter("x", 1.0, annotations={"units": "m"}, comment="the factor")
    traj.add_parameter("label", "a")
    traj.explore(pr.cartesian_product({"x": [1.0, 2.0], "label": ["a", "b"]}))
    return traj


@pytest.fixture
def written(tmp_path: Path) -> Path:
    path = tmp_path / "s.h5"
    pr.Environment(_trajectory(), storage=path).run(_simulate, on_error="continue", progress=False)
    return path


def _open(path: Path, engine: str, group: str = "/t/results") -> xr.Dataset:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no phony dimensions, no decoding trouble
        return xr.open_dataset(path, group=group, engine=engine)


@pytest.mark.parametrize("engine", ENGINES)
def test_results_open_in_xarray_on_a_run_dimension(written: Path, engine: str) -> None:
    with _open(written, engine) as results:
        assert set(results.data_vars) == {"z", "trace", "word"}
        assert results["z"].dims == ("run",)
        assert results["trace"].dims[0] == "run"
        assert set(results.coords) == {"x", "label"}
        assert results["x"].values.tolist() == [1.0, 1.0, 2.0, 2.0]
        assert results["label"].values.tolist() == ["a", "b", "a", "b"]
        z = results["z"].values
        assert z[:3].tolist() == [10.0, 10.0, 20.0]
        assert np.isnan(z[3])
        assert results["word"].values.tolist()[:3] == ["aa", "bb", "aa"]
    with _open(written, engine, "/t/runs") as runs:
        assert str(runs["started"].dtype).startswith("datetime64")
        assert runs["point_hash"].shape == (4, 16)


@pytest.mark.parametrize("engine", ENGINES)
def test_a_file_grown_in_place_opens_in_xarray(tmp_path: Path, engine: str) -> None:
    path = tmp_path / "s.h5"
    traj = _trajectory()
    pr.Environment(traj, storage=path).run(_simulate, on_error="continue", progress=False)
    traj.expand({"x": [3.0], "label": ["c"]})
    storage = pr.HDF5StorageService(path, compaction="manual")
    pr.Environment(traj, storage=storage).run(
        _simulate, resume=True, on_error="continue", progress=False
    )
    storage.close()
    segments = [h5py.File(p, "r") for _, _, p in list_segments(path, "t")]
    assert segments
    with h5py.File(path, "r+") as main:
        groups = [file["t"] for file in segments]
        append_trajectory(main["t"], groups, None, pr.StorageOptions())
        append_extras(main["t"], None, [], False, groups)
    for file in segments:
        file.close()
    for _, _, segment in list_segments(path, "t"):
        segment.unlink()
    with _open(path, engine) as results:
        assert results["x"].values.tolist() == [1.0, 1.0, 2.0, 2.0, 3.0]
        assert results["z"].values[4] == 30.0
        assert results["word"].values.tolist()[4] == "cc"
    loaded = pr.load_trajectory(path)
    assert loaded.results["z"][4] == 30.0
    assert len(loaded.provenance) == 2
    loaded.close()


def test_every_dataset_says_what_it_is(written: Path) -> None:
    unnamed: list[str] = []

    def check(name: str, node: object) -> None:
        # (netCDF dimensions without values are scales: CLASS = DIMENSION_SCALE)
        if not isinstance(node, h5py.Dataset) or "CLASS" in node.attrs:
            return
        if "long_name" not in node.attrs:
            unnamed.append(name)

    with h5py.File(written, "r") as file:
        file.visititems(check)
        traj = file["t"]
        assert traj["explored/x"].attrs["units"] == "m"
        assert traj["explored/x"].attrs["comment"] == "the factor"
        assert traj["runs/started"].attrs["units"] == "seconds since 1970-01-01T00:00:00Z"
        assert h5py.check_enum_dtype(traj["runs/status"].dtype) == {
            "pending": 0,
            "done": 1,
            "failed": 2,
        }
        assert traj["results/z"].attrs["_FillValue"] != traj["results/z"].attrs["_FillValue"]
        assert h5py.check_string_dtype(traj["results/word"].dtype).encoding == "utf-8"
        assert h5py.check_string_dtype(traj["explored/label"].dtype).encoding == "utf-8"
    assert unnamed == []


def _edit_and_expect(path: Path, edit: object, problem: str, *, on_open: bool = False) -> None:
    with h5py.File(path, "r+") as file:
        edit(file)  # type: ignore[operator]
    if on_open:
        with pytest.raises(FileFormatError, match=problem) as error:
            pr.load_trajectory(path, "t")
        assert str(path) in str(error.value)
        return
    loaded = pr.load_trajectory(path, "t")
    with pytest.raises(FileFormatError, match=problem) as error:
        loaded.results["z"][:]
    assert str(path) in str(error.value)
    assert "/t" in str(error.value)
    assert loaded.results["word"][0] == "aa"  # nothing else is lost
    loaded.close()


def test_a_newer_layout_version_names_both_versions(written: Path) -> None:
    def edit(file: h5py.File) -> None:
        file["t"].attrs["layout_version"] = 3

    _edit_and_expect(written, edit, r"layout version 3.*\(version 2\)", on_open=True)


def test_a_removed_dimension_scale(written: Path) -> None:
    def edit(file: h5py.File) -> None:
        file["t/results/z"].dims[0].detach_scale(file["t/run"])

    _edit_and_expect(written, edit, "lost its dimension scale 'run'")


def test_a_deleted_run_scale(written: Path) -> None:
    def edit(file: h5py.File) -> None:
        del file["t/run"]

    _edit_and_expect(written, edit, "dimension scale 'run' is missing", on_open=True)


def test_a_missing_mask(written: Path) -> None:
    def edit(file: h5py.File) -> None:
        del file["t/present/z"]

    _edit_and_expect(written, edit, "the result 'z' has no mask 'present/z'")


def test_a_result_of_the_wrong_length(written: Path) -> None:
    def edit(file: h5py.File) -> None:
        file["t/results/z"].resize(3, axis=0)

    _edit_and_expect(written, edit, "the values of result 'z' has 3 rows, but the store has 4")


@pytest.mark.parametrize("engine", ENGINES)
def test_a_trajectory_copied_by_another_ones_rewrite_keeps_its_scales(
    written: Path, engine: str
) -> None:
    # Writing a second trajectory rewrites the file and copies "t" over: HDF5 copies the
    # references to its dimension scales as they were, pointing nowhere, unless re-attached.
    other = pr.Trajectory("other", seed=2)
    other.add_parameter("x", 0.0)
    other.explore({"x": [5.0]})
    pr.Environment(other, storage=written).run(lambda run: {"z": run.x}, progress=False)
    with h5py.File(written, "r") as file:
        assert file["t/results/z"].dims[0].keys() == ["run"]
        assert file["t/runs/error_text"].dims[0].keys() == ["error_rows"]
    with _open(written, engine) as results:
        assert results["z"].values[:3].tolist() == [10.0, 10.0, 20.0]
        assert set(results.coords) == {"x", "label"}


@pytest.mark.parametrize("engine", ENGINES)
def test_a_merged_trajectory_opens_in_xarray(tmp_path: Path, engine: str) -> None:
    # A merge is built in a staging file and copied in: its scales must point into this file.
    first, second = tmp_path / "a.h5", tmp_path / "b.h5"
    for path in (first, second):
        env = pr.Environment(_trajectory(), storage=path)
        env.run(_simulate, on_error="continue", progress=False)
        env.storage.close()
    merged = pr.merge_trajectories(pr.load_trajectory(first), pr.load_trajectory(second))
    merged.close()
    with h5py.File(first, "r") as file:
        assert file["t/results/z"].dims[0].keys() == ["run"]
    with _open(first, engine) as results:
        assert results.sizes["run"] == 8
        assert results["z"].values[:3].tolist() == [10.0, 10.0, 20.0]
