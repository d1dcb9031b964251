"""Driver memory while storing: bytes per run the driving process gains beyond the exploration.

Each measurement runs in a fresh process: build a trajectory of N cheap runs (``x`` float, ``y``
int on a trimmed grid; ``z = x * y`` is the only result), then record the resident set size,
run ``pr.Environment(traj, storage=path).run(simulate)`` (serial, default batches) and report

* ``peak``: peak RSS during the sweep minus RSS before it, per run;
* ``kept``: RSS after the sweep (report still alive) minus RSS before it, per run;
* ``traced``: with ``--traced``, the tracemalloc peak per run (Python allocations only,
  deterministic; slows the sweep a lot, so 100k at most is sensible).

The exploration (the explored columns as Python objects) exists before the measure starts, so
what is measured is the framework's own bookkeeping: point hashes, tasks, the report's
durations, run-table arrays, HDF5 caches. With ``--ref DIR`` the same measurement also runs
against another checkout's ``src`` (e.g. ``git archive main src | tar -x -C DIR``), alternating
with this one, so the ratio is measured side by side.

Run with ``uv run python benchmarks/driver_memory.py [--sizes 100000 1000000] [--repeats 3]``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path


def _rss_bytes() -> int:
    with open("/proc/self/statm", encoding="ascii") as statm:
        return int(statm.read().split()[1]) * resource.getpagesize()


def _peak_rss_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def simulate(run: object) -> dict[str, float]:
    """A cheap run: one scalar result."""
    return {"z": run.x * run.y}  # type: ignore[attr-defined]


def child(n: int, traced: bool) -> None:
    """Measure one sweep of ``n`` runs in this process; print one JSON line."""
    import gc
    import tracemalloc

    import pypet_rebuild as pr

    side = int(n**0.5) + 1
    xs = [float(i) for i in range(side) for _ in range(side)][:n]
    ys = [j for _ in range(side) for j in range(side)][:n]
    traj = pr.Trajectory("memory", seed=0)
    traj.add_parameter("x", 0.0)
    traj.add_parameter("y", 0)
    traj.explore({"x": xs, "y": ys})
    del xs, ys
    with tempfile.TemporaryDirectory() as folder:
        env = pr.Environment(traj, storage=Path(folder) / "memory.h5")
        gc.collect()
        if traced:
            tracemalloc.start()
        before = _rss_bytes()
        report = env.run(simulate, progress=False)
        peak = _peak_rss_bytes()
        gc.collect()
        kept = _rss_bytes()
        traced_peak = tracemalloc.get_traced_memory()[1] if traced else 0
        assert report.done == n
    print(
        json.dumps(
            {
                "peak": (peak - before) / n,
                "kept": (kept - before) / n,
                "traced": traced_peak / n if traced else None,
            }
        )
    )


def measure(n: int, src: str | None, traced: bool) -> dict[str, float]:
    """One measurement in a fresh process (``src``: another checkout's source folder)."""
    env = dict(os.environ)
    if src is not None:
        env["PYTHONPATH"] = src + os.pathsep + env.get("PYTHONPATH", "")
    command = [sys.executable, __file__, "--child", str(n)] + (["--traced"] if traced else [])
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=True)
    result: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    """Measure, then print medians per size (and the ratio to ``--ref`` when given)."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--traced", action="store_true")
    parser.add_argument("--ref", help="another checkout's src folder, measured alternately")
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        child(args.child, args.traced)
        return
    impls: dict[str, str | None] = {"this": None}
    if args.ref:
        impls["ref"] = str(Path(args.ref).resolve())
    print("| N | code | peak B/run | kept B/run | traced peak B/run |")
    print("|---:|---|---:|---:|---:|")
    for n in args.sizes:
        samples: dict[str, list[dict[str, float]]] = {name: [] for name in impls}
        for _ in range(args.repeats):
            for name, src in impls.items():
                samples[name].append(measure(n, src, args.traced))
        for name, found in samples.items():
            peak = statistics.median(s["peak"] for s in found)
            kept = statistics.median(s["kept"] for s in found)
            traced = f"{statistics.median(s['traced'] for s in found):,.0f}" if args.traced else ""
            print(f"| {n:,} | {name} | {peak:,.0f} | {kept:,.0f} | {traced} |")


if __name__ == "__main__":
    main()
