"""Write failures (disk full, file size limit) are StorageErrors naming the first failure.

Each write runs in a subprocess under ``RLIMIT_FSIZE`` with ``SIGXFSZ`` ignored, so writes past the
limit fail with ``EFBIG`` as they would on a full disk. The process must exit normally (no crash
at interpreter exit), the error must say what went wrong, and the file must keep every run that
was stored before.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import pypet_rebuild as pr

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="RLIMIT_FSIZE is POSIX")

LIMITED = """
import resource, signal, sys
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
limit = int(sys.argv[1])
resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
"""

SWEEP = (
    LIMITED
    + """
import numpy as np
import pypet_rebuild as pr

def simulate(run):
    return {"z": run.x * 2.0, "big": np.full(20_000, run.x)}

traj = pr.Trajectory(sys.argv[3], seed=0)
traj.add_parameter("x", 1.0)
traj.explore({"x": [float(i) for i in range(int(sys.argv[4]))]})
pr.Environment(traj, storage=sys.argv[2], batch_size=4).run(simulate, progress=False)
"""
)

COMPACT = (
    LIMITED
    + """
from pypet_rebuild.cli.main import main
sys.exit(main(["compact", sys.argv[2]]))
"""
)


def simulate(run: pr.Run) -> dict[str, object]:
    return {"z": run.x * 2.0, "big": np.full(20_000, run.x)}


def earlier(path: Path, n: int = 2) -> None:
    traj = pr.Trajectory("t", seed=0)
    traj.add_parameter("x", 1.0)
    traj.explore({"x": [float(i) for i in range(n)]})
    assert pr.Environment(traj, storage=path).run(simulate, progress=False).ok


def limited(script: str, *args: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", script, *map(str, args)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def check_earlier_runs_kept(path: Path, n: int = 2) -> None:
    loaded = pr.load_trajectory(path, "t")
    assert loaded.results["z"][:].tolist() == [2.0 * i for i in range(n)]
    loaded.close()


# Byte limits at which a sweep of 40 runs (segments of ~650 kB) fails: when the first rewrite of
# the main file starts, at the first segment, and when the segments are folded at the end.
@pytest.mark.parametrize(
    ("limit", "where"), [(200_000, "begin"), (400_000, "segment"), (1_500_000, "fold")]
)
def test_a_full_disk_is_a_storage_error_and_keeps_earlier_runs(
    tmp_path: Path, limit: int, where: str
) -> None:
    path = tmp_path / "s.h5"
    earlier(path)
    done = limited(SWEEP, limit, path, "later", 40)
    assert done.returncode == 1, done.stderr  # an exception, not a crash (a signal is < 0)
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("pypet_rebuild.errors.StorageError: cannot write"), done.stderr
    assert "the disk is full or a file size limit was reached" in last
    assert "File too large" in last  # the first failure, not the close that followed it
    assert "Exception ignored" not in done.stderr
    check_earlier_runs_kept(path)
    assert not list(tmp_path.glob(".*.tmp"))


@pytest.mark.slow
def test_compact_on_a_full_disk_prints_one_line(tmp_path: Path) -> None:
    path = tmp_path / "s.h5"
    earlier(path)
    done = limited(SWEEP, 1_500_000, path, "later", 40)  # leaves unfolded segments
    assert done.returncode == 1
    compacted = limited(COMPACT, 1_000_000, path)
    assert compacted.returncode == 1, compacted.stderr
    lines = compacted.stderr.strip().splitlines()
    assert len(lines) == 1, compacted.stderr
    assert lines[0].startswith("pypet-rebuild compact: error: cannot write")
    check_earlier_runs_kept(path)
    assert len(pr.load_trajectory(path, "later").results["z"][:]) == 40
