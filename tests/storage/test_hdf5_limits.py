"""Bounded resources of the HDF5 backend: open segment files, whatever the sweep length.

Every unfolded segment is an open HDF5 file in the writer and in every reader (a descriptor and
about 0.5 MB of caches). The writer folds once a trajectory has ``MAX_UNFOLDED_SEGMENTS`` of
them, so a long sweep that flushes every run neither runs out of descriptors nor grows its
memory per segment.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest

import pypet_rebuild as pr
from pypet_rebuild.errors import InvalidStorageError
from pypet_rebuild.storage.hdf5.files import list_segments
from pypet_rebuild.storage.hdf5.service import MAX_UNFOLDED_SEGMENTS

linux_only = pytest.mark.skipif(
    not Path("/proc/self/fd").is_dir(), reason="counts descriptors in /proc/self/fd (Linux)"
)

SCRIPT = """
import json
import os
import resource
import sys

resource.setrlimit(resource.RLIMIT_NOFILE, (256, 256))

import pypet_rebuild as pr


def simulate(run):
    return {"z": run.x * 2.0}


def main():
    path, n = sys.argv[1], int(sys.argv[2])
    traj = pr.Trajectory("long", seed=0)
    traj.add_parameter("x", 0.0)
    traj.explore({"x": [float(i) for i in range(n)]})
    env = pr.Environment(traj, path, flush_seconds=0, batch_size=1)
    report = env.run(simulate, progress=False)
    study = pr.load_trajectory(path)
    total = float(study.results["z"][:].sum())
    study.close()
    print(json.dumps({"done": report.done, "total": total}))


main()
"""


@pytest.mark.slow
@linux_only
def test_a_long_sweep_flushing_every_run_fits_in_256_descriptors(tmp_path: Path) -> None:
    script = tmp_path / "long_sweep.py"
    script.write_text(SCRIPT)
    path = tmp_path / "long.h5"
    n = 1000
    done = subprocess.run(
        [sys.executable, str(script), str(path), str(n)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    measured = json.loads(done.stdout.strip().splitlines()[-1])
    assert measured == {"done": n, "total": float(sum(2 * i for i in range(n)))}


class _FdCounter(pr.Hooks):
    """Counts this process's open descriptors after every stored run."""

    def __init__(self) -> None:
        self.counts: list[int] = []

    def after_run(self, record: object) -> None:
        self.counts.append(len(os.listdir("/proc/self/fd")))


@pytest.mark.slow
@linux_only
@pytest.mark.parametrize("compaction", ["always", "auto", "manual"])
def test_open_descriptors_stay_bounded_during_a_sweep(tmp_path: Path, compaction: str) -> None:
    n = 3 * MAX_UNFOLDED_SEGMENTS + 10
    traj = pr.Trajectory("fds", seed=0)
    traj.add_parameter("x", 0)
    traj.explore({"x": list(range(n))})
    path = tmp_path / "fds.h5"
    storage = pr.HDF5StorageService(path, compaction=compaction)  # type: ignore[arg-type]
    counter = _FdCounter()
    before = len(os.listdir("/proc/self/fd"))
    pr.Environment(traj, storage, flush_seconds=0, batch_size=1).run(
        lambda run: {"y": run.x + 1}, progress=False, hooks=[counter]
    )
    assert len(counter.counts) == n
    # One descriptor per unfolded segment at most, plus the main file, the lock and slack.
    assert max(counter.counts) - before <= MAX_UNFOLDED_SEGMENTS + 8
    # The writer folded along the way: never more than the limit of segments on disk.
    assert len(list_segments(path, "fds")) < MAX_UNFOLDED_SEGMENTS
    storage.close()
    study = pr.load_trajectory(path)
    try:
        np.testing.assert_array_equal(study.results["y"][:], np.arange(n) + 1)
    finally:
        study.close()


def test_auto_compaction_still_appends_segments_below_the_limit(tmp_path: Path) -> None:
    traj = pr.Trajectory("few", seed=0)
    traj.add_parameter("x", 0)
    traj.explore({"x": list(range(10))})
    path = tmp_path / "few.h5"
    storage = pr.HDF5StorageService(path, compaction="manual")
    pr.Environment(traj, storage, flush_seconds=0, batch_size=1).run(
        lambda run: {"y": run.x}, progress=False
    )
    storage.close()
    assert 10 <= len(list_segments(path, "few")) < MAX_UNFOLDED_SEGMENTS
    with h5py.File(path, "r") as file:
        assert "few" in file


def test_an_unknown_compaction_is_refused_with_the_choices(tmp_path: Path) -> None:
    with pytest.raises(InvalidStorageError, match=r"'always', 'auto' or 'manual', got 'never'"):
        pr.HDF5StorageService(tmp_path / "x.h5", compaction="never")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("options", "named"),
    [
        ({"compression": "zstd"}, "compression='zstd'"),
        ({"compression_level": 0}, "compression_level=0"),
        ({"compression_level": "4"}, "compression_level='4'"),
        ({"chunk_bytes": 10}, "chunk_bytes=10"),
        ({"shuffle": "yes"}, "shuffle='yes'"),
    ],
)
def test_bad_storage_options_name_the_option(options: dict[str, object], named: str) -> None:
    with pytest.raises(InvalidStorageError, match=named):
        pr.StorageOptions(**options)  # type: ignore[arg-type]
