"""Files older than pypet 0.7.0, crashed sweeps, and items this reader cannot decode."""

from __future__ import annotations

import shutil
from pathlib import Path

import h5py
import numpy as np
import pytest

import pypet_rebuild as pr
from pypet_rebuild.errors import FileFormatError
from pypet_rebuild.legacy import IncompletePypetFileWarning

DATA = Path(__file__).parent.parent / "data"
OLD = DATA / "pypet_old" / "pypet_v0_1b_6.hdf5"
EX01 = DATA / "pypet" / "ex01_multiply.hdf5"
Z = [6, 7, 8, 12, 14, 16, 18, 21, 24, 24, 28, 32]


def test_reads_a_file_of_pypet_0_1b_6() -> None:
    with pr.load_trajectory(OLD) as study:
        assert len(study) == 9
        assert study["parameters.x"].default == 0
        assert study.explored_names == ("parameters.x", "parameters.y")
        assert study.run(4).results["z"] == 12
        assert study.provenance[0]["pypet_version"] == "0.1b.6"
        assert study.run_table().count(pr.RunStatus.DONE) == 9


def test_converts_a_file_of_pypet_0_1b_6(tmp_path: Path) -> None:
    pr.convert_pypet(OLD, tmp_path / "new.h5")
    with pr.load_trajectory(tmp_path / "new.h5") as study:
        assert study.run(4).results["z"] == 12
        assert study.point(4) == {"parameters.x": 4, "parameters.y": 3}


@pytest.fixture
def crashed(tmp_path: Path) -> Path:
    # What a crashed sweep leaves (format notes, section 7.3): runs and results, but neither
    # parameters/ nor config/, which pypet writes at the end.
    path = tmp_path / "crashed.hdf5"
    shutil.copy(EX01, path)
    with h5py.File(path, "a") as file:
        del file["Multiplication/parameters"]
        del file["Multiplication/config"]
    return path


def test_a_crashed_sweep_reads_what_is_there_and_says_what_is_missing(crashed: Path) -> None:
    with pytest.warns(IncompletePypetFileWarning, match=r"parameters/.*parameters\.x"):
        study = pr.load_trajectory(crashed)
    with study:
        assert len(study) == 12
        assert study.explored_names == ()
        np.testing.assert_array_equal(study.results["z"][:], Z)
        assert study.provenance[0]["missing"] == ["parameters", "config"]


def test_a_crashed_sweep_converts_with_the_run_index_as_exploration(
    crashed: Path, tmp_path: Path
) -> None:
    with pytest.warns(IncompletePypetFileWarning):
        pr.convert_pypet(crashed, tmp_path / "new.h5")
    with pr.load_trajectory(tmp_path / "new.h5") as study:
        assert study.explored_names == ("pypet.run_index",)
        np.testing.assert_array_equal(study.results["z"][:], Z)


def test_an_item_this_reader_cannot_decode_names_the_pypet_version(tmp_path: Path) -> None:
    path = tmp_path / "odd_sparse.hdf5"
    shutil.copy(DATA / "pypet" / "results_runs_layout.hdf5", path)
    with h5py.File(path, "a") as file:
        group = file["ResultsRuns/results/runs/run_00000000/sparse"]
        attrs = dict(group["csr__spsp__"].attrs)
        del group["csr__spsp__"]
        group["csr__spsp__"] = np.bytes_(b"not a hex npz")
        group["csr__spsp__"].attrs.update(attrs)
    with (
        pr.load_trajectory(path) as study,
        pytest.raises(FileFormatError, match=r"sparse.*csr.*pypet 0\.7\.0.*before 0\.6\.0"),
    ):
        study.collect_runs("sparse.csr")
