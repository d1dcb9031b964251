"""The CLI on pypet files, and the errors of bad pypet input."""

from __future__ import annotations

import builtins
import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pytest

import pypet_rebuild as pr
from pypet_rebuild.errors import (
    FileFormatError,
    MissingDependencyError,
    PickleRefusedError,
    StorageError,
    TrajectoryNotFoundError,
)
from pypet_rebuild.legacy import PypetStorageService

DATA = Path(__file__).parent.parent / "data" / "pypet"
EX01 = DATA / "ex01_multiply.hdf5"


def cli(*args: str | Path) -> subprocess.CompletedProcess[str]:
    found = shutil.which("pypet-rebuild", path=str(Path(sys.executable).parent))
    assert found is not None
    return subprocess.run(
        [found, *map(str, args)], capture_output=True, text=True, timeout=120, check=False
    )


def test_load_trajectory_recognises_a_pypet_file_by_its_attributes(tmp_path: Path) -> None:
    renamed = tmp_path / "no_extension"
    shutil.copy(EX01, renamed)
    with pr.load_trajectory(renamed) as study:
        assert isinstance(study.storage, PypetStorageService)
        assert len(study) == 12
        assert study.results["z"][:].tolist() == [6, 7, 8, 12, 14, 16, 18, 21, 24, 24, 28, 32]


def test_opening_reads_no_result_data(monkeypatch: pytest.MonkeyPatch) -> None:
    reads: list[str] = []
    column = PypetStorageService.read_column
    item = PypetStorageService.read_item

    def spy_column(self: PypetStorageService, *args: Any, **kw: Any) -> list[object]:
        reads.append(f"column {args[1]}")
        return column(self, *args, **kw)

    def spy_item(self: PypetStorageService, found: Any, **kw: Any) -> object:
        reads.append(found.leaf.full_name)
        return item(self, found, **kw)

    monkeypatch.setattr(PypetStorageService, "read_column", spy_column)
    monkeypatch.setattr(PypetStorageService, "read_item", spy_item)
    with pr.load_trajectory(EX01) as study:
        assert reads == []
        assert list(study.results["z"][:]) == [6, 7, 8, 12, 14, 16, 18, 21, 24, 24, 28, 32]
    # One column read; every run after the first is read with the first one's layout.
    assert reads == ["column z"]


def test_pickles_are_refused_by_name_and_the_rest_stays_readable() -> None:
    path = DATA / "results_runs_layout.hdf5"
    with pr.load_trajectory(path) as study:
        with pytest.raises(PickleRefusedError, match=r"run_00000000\.pickled.*'obj'"):
            study.collect_runs("pickled.obj")
        assert sorted(study.collect_runs("scalars.i")) == [0, 1, 2]
    with pr.load_trajectory(DATA / "params_all_types.hdf5") as study:
        default = study.get_parameter("parameters.pickled.obj").default
        with pytest.raises(PickleRefusedError, match=r"parameters\.pickled\.obj"):
            default.anything  # noqa: B018 - using the stand-in raises the refusal
        assert study.get_parameter("parameters.scalars.p_int").default is not None


def test_truncated_pypet_file(tmp_path: Path) -> None:
    cut = tmp_path / "cut.hdf5"
    cut.write_bytes(EX01.read_bytes()[:20000])
    with pytest.raises(FileFormatError, match=r"cut\.hdf5.*original pypet.*truncated"):
        pr.load_trajectory(cut)


def test_stray_srvc_attribute_is_not_a_trajectory(tmp_path: Path) -> None:
    path = tmp_path / "stray.h5"
    with h5py.File(path, "w") as file:
        file.create_group("thing").attrs["SRVC_INIT_COMMENT"] = "looks like pypet"
    with pytest.raises(FileFormatError, match=r"/thing.*no overview/runs table"):
        pr.load_trajectory(path)


def test_trajectory_name_not_in_file() -> None:
    with pytest.raises(TrajectoryNotFoundError, match=r"'Nope'.*'Multiplication'"):
        pr.load_trajectory(EX01, "Nope")


def test_filter_not_installed(monkeypatch: pytest.MonkeyPatch) -> None:
    real_import = builtins.__import__

    def no_plugin(name: str, *args: Any, **kwargs: Any) -> Any:
        if name == "hdf5plugin":
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    available = h5py.h5z.filter_avail
    monkeypatch.setattr(h5py.h5z, "filter_avail", lambda code: code != 32001 and available(code))
    monkeypatch.setattr(builtins, "__import__", no_plugin)
    # pypet compresses its overview tables too: the file cannot even be opened.
    with pytest.raises(MissingDependencyError, match=r"blosc.*32001.*hdf5plugin"):
        pr.load_trajectory(DATA / "compression_blosc.hdf5")


def test_blosc_file_reads_with_the_plugin() -> None:
    with pr.load_trajectory(DATA / "compression_blosc.hdf5") as study:
        assert len(study.collect_runs("arr")) == 4


def test_pypet_files_are_read_only() -> None:
    with pr.load_trajectory(EX01) as study, pytest.raises(StorageError, match="convert"):
        study.add_derived("x", 1)


def test_cli_ls_info_runs_export_on_a_pypet_file(tmp_path: Path) -> None:
    listed = cli("ls", EX01, "--json")
    assert listed.returncode == 0, listed.stderr
    assert [row["name"] for row in json.loads(listed.stdout)] == ["Multiplication"]
    info = cli("info", EX01, "--json")
    assert info.returncode == 0, info.stderr
    assert "parameters.x" in info.stdout
    runs = cli("runs", EX01, "--json")
    assert runs.returncode == 0, runs.stderr
    assert len(json.loads(runs.stdout)) == 12
    out = tmp_path / "runs.csv"
    exported = cli("export", EX01, "--format", "csv", "-o", out)
    assert exported.returncode == 0, exported.stderr
    assert out.read_text().count("\n") >= 13


def test_cli_convert(tmp_path: Path) -> None:
    target = tmp_path / "new.h5"
    done = cli("convert", EX01, target)
    assert done.returncode == 0, done.stderr
    with pr.load_trajectory(target) as study:
        assert isinstance(study.storage, pr.HDF5StorageService)
        np.testing.assert_array_equal(
            study.results["z"][:], [6, 7, 8, 12, 14, 16, 18, 21, 24, 24, 28, 32]
        )
    refused = cli("convert", DATA / "results_runs_layout.hdf5", tmp_path / "other.h5")
    assert refused.returncode == 1
    assert "allow-pickle" in refused.stderr


def test_several_trajectories_in_one_file(tmp_path: Path) -> None:
    # pypet puts later trajectories beside the first (overwrite_file=False); copied here.
    path = tmp_path / "two.hdf5"
    shutil.copy(EX01, path)
    with (
        h5py.File(path, "a") as target,
        h5py.File(DATA / "partial_manual_runs.hdf5", "r") as source,
    ):
        source.copy("Partial", target)
    with pytest.raises(TrajectoryNotFoundError, match=r"2 trajectories.*'Multiplication'"):
        pr.load_trajectory(path)
    with pr.load_trajectory(path, "Partial") as study:
        assert len(study) == 5
        assert study.run_table().count(pr.RunStatus.DONE) == 2
    with pr.load_trajectory(path, "Multiplication") as study:
        assert len(study) == 12
    listed = cli("ls", path, "--json")
    assert listed.returncode == 0, listed.stderr
    assert [row["name"] for row in json.loads(listed.stdout)] == ["Multiplication", "Partial"]
    target = tmp_path / "new.h5"
    assert pr.convert_pypet(path, target, trajectories=["Partial"]) == ("Partial",)
    with pr.load_trajectory(target) as study:
        assert study.name == "Partial"


def test_a_pypet_study_reads_as_pandas_and_xarray() -> None:
    with pr.load_trajectory(EX01) as study:
        frame = study.to_pandas()
        assert frame["z"].tolist() == [6, 7, 8, 12, 14, 16, 18, 21, 24, 24, 28, 32]
        assert study.find_runs("z > 20") == [7, 8, 9, 10, 11]
        dataset = study.to_xarray(["z"])
        assert int(dataset["z"].sum()) == 210
