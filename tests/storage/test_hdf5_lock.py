"""One file, one writer: the lock identifies the file, not the name it was reached by."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

import pypet_rebuild as pr
from pypet_rebuild.errors import FileLockedError, StorageError

posix_links = pytest.mark.skipif(sys.platform == "win32", reason="symbolic links need privileges")


Sweep = Callable[..., None]


@pytest.fixture
def sweep(
    x_trajectory: Callable[..., pr.Trajectory],
    simulate_double: Callable[[pr.Run], dict[str, object]],
) -> Sweep:
    """``sweep(target, name="t", xs=(1.0, 2.0))``: the shared ``z = 2 x`` sweep, stored."""

    def run(
        target: Path | pr.StorageService, name: str = "t", xs: tuple[float, ...] = (1.0, 2.0)
    ) -> None:
        report = pr.Environment(x_trajectory(name, xs), storage=target).run(simulate_double)
        assert report.ok

    return run


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith((".lock", ".segments")))


def test_a_clean_sweep_leaves_no_lock_file(tmp_path: Path, sweep: Sweep) -> None:
    path = tmp_path / "s.h5"
    sweep(path)
    storage = pr.HDF5StorageService(path)
    with storage.open_writer("t") as session:
        session.store_derived([pr.Result("total", 6.0)])
    storage.compact()
    storage.close()
    assert leftovers(tmp_path) == []


@posix_links
def test_writing_through_a_symlink_updates_its_target(tmp_path: Path, sweep: Sweep) -> None:
    real = tmp_path / "data" / "real.h5"
    real.parent.mkdir()
    sweep(real)
    link = tmp_path / "link.h5"
    link.symlink_to(real)
    sweep(link, name="second")  # two atomic rewrites through the link
    assert link.is_symlink()
    assert link.resolve() == real.resolve()
    assert set(pr.HDF5StorageService(real).trajectory_names()) == {"t", "second"}
    assert leftovers(tmp_path) == []
    assert leftovers(real.parent) == []


@posix_links
def test_two_writers_through_a_symlink_exclude_each_other(tmp_path: Path, sweep: Sweep) -> None:
    real = tmp_path / "real.h5"
    sweep(real)
    link = tmp_path / "link.h5"
    link.symlink_to(real)
    holder = pr.HDF5StorageService(real)
    with holder.open_writer("t"):
        other = pr.HDF5StorageService(link)
        with pytest.raises(FileLockedError, match=r"link\.h5.*another process"):
            other.compact()
        other.close()
    # And the other way round: the link's writer blocks the real name's writer.
    via_link = pr.HDF5StorageService(link)
    blocked = pr.HDF5StorageService(real)
    with via_link.open_writer("t"), pytest.raises(FileLockedError):
        blocked.compact()
    blocked.close()
    holder.close()
    via_link.close()


@pytest.mark.skipif(not hasattr(os, "link"), reason="no hard links")
def test_a_hard_linked_file_is_refused_for_writing(tmp_path: Path, sweep: Sweep) -> None:
    real = tmp_path / "real.h5"
    sweep(real)
    os.link(real, tmp_path / "twin.h5")
    for name in ("real.h5", "twin.h5"):
        storage = pr.HDF5StorageService(tmp_path / name)
        with pytest.raises(StorageError, match="2 hard links"):
            storage.compact()
        storage.close()
    assert pr.load_trajectory(tmp_path / "twin.h5").results["z"][:].tolist() == [2.0, 4.0]
    assert leftovers(tmp_path) == []


def test_importing_the_package_needs_no_fcntl() -> None:
    # As on Windows, where fcntl does not exist.
    code = "import sys; sys.modules['fcntl'] = None; import pypet_rebuild; print('ok')"
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"
