"""Bad input to the HDF5 backend: each case is a clear error that names the file or the thing.

After every refused attempt the file still opens with everything it held before.
"""

from __future__ import annotations

import stat
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import h5py
import numpy as np
import pytest

import pypet_rebuild as pr
from pypet_rebuild.errors import (
    FileFormatError,
    FileLockedError,
    InvalidResultError,
    RunFailedError,
    StorageError,
    TrajectoryNotFoundError,
)

Z = [0.0, 2.0, 4.0, 6.0]


def trajectory(name: str = "t") -> pr.Trajectory:
    traj = pr.Trajectory(name, seed=0)
    traj.add_parameter("x", 0.0)
    traj.add_parameter("sim.steps", 3)
    traj.explore({"x": [0.0, 1.0, 2.0, 3.0]})
    return traj


def simulate(run: pr.Run) -> dict[str, object]:
    return {"z": 2 * run.x, "trace": np.full(3, run.x)}


@pytest.fixture
def stored(tmp_path: Path) -> Path:
    """A file holding one finished sweep ``t``."""
    path = tmp_path / "stored.h5"
    pr.Environment(trajectory(), storage=path).run(simulate)
    return path


def assert_intact(path: Path) -> None:
    """Nothing stored is lost: the file opens and holds every run of ``t``."""
    storage = pr.HDF5StorageService(path)
    try:
        loaded = pr.load_trajectory(storage, "t")
        assert loaded.results["z"][:].tolist() == Z
        assert loaded.results["trace"][:, 0].tolist() == [0.0, 1.0, 2.0, 3.0]
        assert storage.load_run_table("t").status.tolist() == ["done"] * 4
    finally:
        storage.close()


def never(run: pr.Run) -> None:
    raise AssertionError(f"run {run.index} started although the storage was refused")


# -- files that are not ours ---------------------------------------------------------------------


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.h5"
    with pytest.raises(FileFormatError, match=r"no such file.*nope\.h5") as caught:
        pr.load_trajectory(path)
    assert isinstance(caught.value, OSError)
    assert not path.exists()


def test_missing_folder_for_writing(tmp_path: Path) -> None:
    path = tmp_path / "absent" / "s.h5"
    with pytest.raises(StorageError, match=r"absent"):
        pr.Environment(trajectory(), storage=path).run(never)
    assert not path.parent.exists()


def test_file_that_is_not_hdf5(tmp_path: Path) -> None:
    path = tmp_path / "notes.h5"
    content = b"these are my notes, not an HDF5 file\n" * 50
    path.write_bytes(content)
    with pytest.raises(FileFormatError, match=r"notes\.h5.*not an HDF5 file"):
        pr.load_trajectory(path)
    with pytest.raises(FileFormatError, match=r"notes\.h5.*not an HDF5 file"):
        pr.Environment(trajectory(), storage=path).run(never)
    assert path.read_bytes() == content


def test_truncated_file(stored: Path, tmp_path: Path) -> None:
    path = tmp_path / "truncated.h5"
    data = stored.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(FileFormatError, match=r"truncated\.h5.*truncated or corrupted"):
        pr.load_trajectory(path)
    with pytest.raises(FileFormatError, match=r"truncated\.h5"):
        pr.Environment(trajectory("other"), storage=path).run(never)
    # The damaged file is left as it was, for the user to rescue.
    assert path.read_bytes() == data[: len(data) // 2]


def test_corrupted_superblock(stored: Path, tmp_path: Path) -> None:
    path = tmp_path / "corrupt.h5"
    data = bytearray(stored.read_bytes())
    data[8:48] = b"\xff" * 40  # keep the signature, garble the superblock
    path.write_bytes(bytes(data))
    with pytest.raises(FileFormatError, match=r"corrupt\.h5"):
        pr.load_trajectory(path)


def test_hdf5_file_not_written_by_this_library(tmp_path: Path) -> None:
    path = tmp_path / "foreign.h5"
    with h5py.File(path, "w") as file:
        file["data"] = np.arange(5)
        file.attrs["creator"] = "someone else"
    with pytest.raises(FileFormatError, match=r"foreign\.h5.*not written by pypet_rebuild"):
        pr.load_trajectory(path)
    with pytest.raises(FileFormatError, match=r"foreign\.h5"):
        pr.Environment(trajectory(), storage=path).run(never)
    with h5py.File(path, "r") as file:
        assert file["data"][...].tolist() == [0, 1, 2, 3, 4]
        assert list(file) == ["data"]


def test_file_of_a_newer_format_version(stored: Path, tmp_path: Path) -> None:
    path = tmp_path / "future.h5"
    path.write_bytes(stored.read_bytes())
    with h5py.File(path, "r+") as file:
        (version,) = [k for k in file.attrs if "format_version" in k]
        file.attrs[version] = 99
    with pytest.raises(FileFormatError, match=r"future\.h5.*version 99.*upgrade"):
        pr.load_trajectory(path)


def test_a_directory_is_not_a_file(tmp_path: Path) -> None:
    with pytest.raises(FileFormatError, match="directory"):
        pr.load_trajectory(tmp_path)


# -- trajectories --------------------------------------------------------------------------------


def test_trajectory_name_not_in_the_file_lists_the_stored_ones(stored: Path) -> None:
    pr.Environment(trajectory("second"), storage=stored).run(simulate)
    with pytest.raises(
        TrajectoryNotFoundError, match=r"'nope'.*'second'.*'t'|'nope'.*'t'.*'second'"
    ):
        pr.load_trajectory(stored, "nope")
    storage = pr.HDF5StorageService(stored)
    with pytest.raises(TrajectoryNotFoundError, match=r"stored\.h5.*'nope'.*holds"):
        storage.load_run_table("nope")
    with pytest.raises(KeyError):
        storage.read_results("nope", "z", [0])
    storage.close()
    with pytest.raises(TrajectoryNotFoundError, match=r"2 trajectories.*name="):
        pr.load_trajectory(stored)
    assert_intact(stored)


def test_storing_an_existing_name_again_is_refused(stored: Path) -> None:
    with pytest.raises(StorageError, match=r"stored\.h5.*'t'.*resume=True"):
        pr.Environment(trajectory(), storage=stored).run(never)
    assert_intact(stored)


# -- writers -------------------------------------------------------------------------------------

HOLD_LOCK = textwrap.dedent(
    """
    import sys, time
    import pypet_rebuild as pr

    traj = pr.Trajectory("t", seed=0)
    traj.add_parameter("x", 0.0)
    traj.add_parameter("sim.steps", 3)
    traj.explore({"x": [0.0, 1.0, 2.0, 3.0]})
    storage = pr.HDF5StorageService(sys.argv[1])
    storage.begin_sweep(traj.snapshot(), resume=True)
    print("writing", flush=True)
    time.sleep(60)
    """
)


@pytest.fixture
def other_writer(stored: Path) -> Iterator[subprocess.Popen[str]]:
    """Another process that has begun a sweep on ``stored`` and holds its writer lock."""
    with subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, str(stored)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as process:
        try:
            assert process.stdout is not None
            line = process.stdout.readline()
            if line.strip() != "writing":
                process.kill()
                _, err = process.communicate()
                pytest.fail(f"the writer process did not start: {err}")
            yield process
        finally:
            process.kill()
            process.wait()


def test_file_open_for_writing_by_another_process(
    stored: Path, other_writer: subprocess.Popen[str]
) -> None:
    traj = trajectory()
    with pytest.raises(FileLockedError, match=r"stored\.h5.*another process") as caught:
        pr.Environment(traj, storage=stored).run(never, resume=True)
    assert isinstance(caught.value, StorageError)
    assert not traj.is_locked
    with pytest.raises(FileLockedError, match=r"stored\.h5"):
        pr.Environment(trajectory("new"), storage=stored).run(never)
    storage = pr.HDF5StorageService(stored)
    with pytest.raises(FileLockedError, match=r"stored\.h5"):
        storage.open_writer("t")
    with pytest.raises(FileLockedError, match=r"stored\.h5"):
        storage.compact()
    storage.close()
    with pr.load_trajectory(stored) as study, pytest.raises(FileLockedError, match=r"stored\.h5"):
        study.add_derived("total", 12.0)
    # Readers are never locked out, and see everything.
    assert_intact(stored)

    # A killed writer leaves no stale lock behind.
    other_writer.kill()
    other_writer.wait()
    report = pr.Environment(trajectory(), storage=stored).run(never, resume=True)
    assert (report.done, report.skipped) == (0, 4)
    assert_intact(stored)


def _mode_read_only(path: Path) -> bool:
    return not stat.S_IMODE(path.stat().st_mode) & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH)


def test_read_only_file_opened_for_writing(stored: Path) -> None:
    stored.chmod(0o444)
    assert _mode_read_only(stored)
    before = stored.read_bytes()
    try:
        with pytest.raises(StorageError, match=r"stored\.h5.*read-only"):
            pr.Environment(trajectory("more"), storage=stored).run(never)
        storage = pr.HDF5StorageService(stored)
        with pytest.raises(StorageError, match=r"stored\.h5.*read-only"):
            storage.open_writer("t")
        storage.close()
        with (
            pr.load_trajectory(stored) as study,
            pytest.raises(StorageError, match=r"stored\.h5.*read-only"),
        ):
            study.add_derived("total", 1.0)
        assert stored.read_bytes() == before
        assert_intact(stored)
    finally:
        stored.chmod(0o644)


def test_read_only_file_can_be_read(stored: Path) -> None:
    stored.chmod(0o444)
    try:
        assert_intact(stored)
    finally:
        stored.chmod(0o644)


# -- results -------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["x", "sim.steps", "sim"])
def test_result_name_that_collides_with_a_parameter(stored: Path, name: str) -> None:
    traj = trajectory("clash")

    def clash(run: pr.Run) -> dict[str, object]:
        return {"z": 1.0, name: 2.0}

    with pytest.raises(RunFailedError, match=rf"'{name}' collides with a parameter") as caught:
        pr.Environment(traj, storage=stored).run(clash)
    assert isinstance(caught.value.__cause__, InvalidResultError)

    storage = pr.HDF5StorageService(stored)
    table = storage.load_run_table("clash")
    assert table.status.tolist() == ["failed", "pending", "pending", "pending"]
    assert "collides" in table.error[0]
    assert storage.result_names("clash") == ()
    storage.close()
    assert_intact(stored)


def test_collision_with_on_error_continue_fails_every_run(stored: Path) -> None:
    report = pr.Environment(trajectory("clash"), storage=stored).run(
        lambda run: {"x": 1.0}, on_error="continue"
    )
    assert (report.done, report.failed) == (0, 4)
    assert {f.error_type for f in report.failures} == {"InvalidResultError"}
    assert_intact(stored)


def test_run_index_out_of_range_is_a_clear_index_error(stored: Path) -> None:
    storage = pr.HDF5StorageService(stored)
    for runs in ([-1], [4], [0, 7]):
        with pytest.raises(
            IndexError, match=r"run index -?\d+ is out of range: 't' has runs 0\.\.3"
        ):
            storage.read_results("t", "z", runs)
    storage.close()
    with pytest.raises(IndexError):
        pr.load_trajectory(stored).results["z"][4]
