"""Streaming to the single writer keeps memory bounded, whatever the total size of the results.

A subprocess runs a process-pool sweep whose runs each return a 4 MiB array into an HDF5 file;
the results add up to eight times what the chunks in flight plus one storage batch can hold. The
script reports its own peak resident memory (``VmHWM``), which must stay far below the total.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import pypet_rebuild as pr

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not Path("/proc/self/status").exists(), reason="reads VmHWM from /proc (Linux)"
    ),
]

MIB = 1 << 20
RUN_BYTES = 4 * MIB
WORKERS = 2
BATCH = 2
N_RUNS = 48

SIMULATION = """
import numpy as np


def simulate(run):
    return {"a": np.full(512 * 1024, float(run.x))}  # 4 MiB of float64
"""

SCRIPT = """
import json
import sys

import pypet_rebuild as pr

import memory_simulation


def peak_rss():
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def main():
    path, n, workers, batch = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    traj = pr.Trajectory("memory", seed=0)
    traj.add_parameter("x", 0)
    traj.explore({"x": list(range(n))})
    env = pr.Environment(traj, path, batch_size=batch)
    before = peak_rss()
    report = env.run(
        memory_simulation.simulate,
        executor="process",
        workers=workers,
        chunksize=1,
        progress=False,
    )
    print(json.dumps({"before": before, "peak": peak_rss(), "done": report.done}))


if __name__ == "__main__":
    main()
"""


def test_peak_memory_stays_far_below_the_total_result_bytes(tmp_path: Path) -> None:
    (tmp_path / "memory_simulation.py").write_text(SIMULATION)
    script = tmp_path / "memory_script.py"
    script.write_text(SCRIPT)
    path = tmp_path / "memory.h5"
    done = subprocess.run(
        [sys.executable, str(script), str(path), str(N_RUNS), str(WORKERS), str(BATCH)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    measured = json.loads(done.stdout.strip().splitlines()[-1])
    assert measured["done"] == N_RUNS

    total = N_RUNS * RUN_BYTES
    # What the design holds at once: 2 * workers chunks of one run in flight, one batch.
    bound = (2 * WORKERS + BATCH) * RUN_BYTES
    assert total >= 5 * bound
    growth = measured["peak"] - measured["before"]
    # Generous: pickling copies and allocator slack come on top of the bound (about 2x it is
    # typical); holding every result would take the whole total.
    assert growth < total / 2, (
        f"peak memory grew by {growth / MIB:.0f} MiB during a sweep of {total / MIB:.0f} MiB "
        f"of results (design bound {bound / MIB:.0f} MiB)"
    )

    traj = pr.load_trajectory(path)
    try:
        column = traj.results["a"]
        np.testing.assert_array_equal(column[:, 0], np.arange(N_RUNS, dtype=float))
        np.testing.assert_array_equal(column[N_RUNS - 1], np.full(512 * 1024, N_RUNS - 1.0))
    finally:
        assert traj.storage is not None
        traj.storage.close()


# -- the driver's own bookkeeping per run ----------------------------------------------------------

BOOKKEEPING_SCRIPT = """
import gc
import json
import sys
import tracemalloc

import pypet_rebuild as pr


def simulate(run):
    return {"z": run.x * 0.5}


def peak_per_sweep(path, n, executor):
    traj = pr.Trajectory("memory", seed=0)
    traj.add_parameter("x", 0)
    traj.explore({"x": list(range(n))})
    env = pr.Environment(traj, path, batch_size=5_000)
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    # A fixed chunk size: automatic chunks of cheap runs grow to 20,000 runs (a constant, but
    # larger than these sweeps), which would measure the chunks in flight, not the bookkeeping.
    options = {"workers": 2, "chunksize": 500} if executor == "process" else {}
    report = env.run(simulate, executor=executor, progress=False, **options)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert report.done == n
    return peak - before


def main():
    folder, executor = sys.argv[1], sys.argv[2]
    # A first sweep fills what a process computes once (imports, the provenance caches, the
    # fork server): a constant that would otherwise count in the first measured sweep only.
    peak_per_sweep(folder + "/warm.h5", 1_000, executor)
    small = peak_per_sweep(folder + "/small.h5", 40_000, executor)
    large = peak_per_sweep(folder + "/large.h5", 160_000, executor)
    print(json.dumps({"small": small, "large": large}))


if __name__ == "__main__":
    main()
"""


@pytest.mark.parametrize("executor", ["serial", "process"])
def test_driver_bookkeeping_per_run_is_small_and_constant(tmp_path: Path, executor: str) -> None:
    # Python allocations (tracemalloc: deterministic, unlike RSS) at the peak of two sweeps of
    # different lengths: the difference per added run is what the driver keeps per run (point
    # hashes, run times) plus the fold's transient columns. benchmarks/driver_memory.py
    # measures the same as resident memory at 1M runs.
    script = tmp_path / "bookkeeping.py"
    script.write_text(BOOKKEEPING_SCRIPT)
    done = subprocess.run(
        [sys.executable, str(script), str(tmp_path), executor],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    measured = json.loads(done.stdout.strip().splitlines()[-1])
    per_run = (measured["large"] - measured["small"]) / 120_000
    # Measured 52 bytes (2026-11-28, after a warm-up sweep): the point hashes (16), the report's
    # run indices and durations (16), the fold's bitmap of owned records (1) and its transient
    # columns. (Before the warm-up sweep, the provenance's one-time scan of installed packages
    # counted in the first sweep only and hid this as -15 to +10.) A list of task tuples (~170
    # bytes), hex-string hashes (~90) or a whole run table held at once (~63) would each show.
    assert per_run < 64, f"the driver kept {per_run:.0f} bytes per run at the peak: {measured}"
