"""Serial per-run framework overhead with the memory backend, against a bare Python loop.

The workload is the one of ``WORKLOAD.md``: parameters ``x`` (float) and ``y`` (int) on a
trimmed cartesian grid of ``N`` points, and a simulate function computing ``z = x * y`` and
``arr = np.full(100, x * y)``. The bare loop calls an equivalent function with the same values and
stores nothing; the framework run is ``pr.Environment(traj).run(simulate)`` with the default
in-memory storage. Both are measured in this one process, alternating, ``--repeats`` times; the
table shows medians. Exploring the trajectory (which hashes every point) happens before the run
and is timed on its own.

Run with ``uv run python benchmarks/overhead.py [--sizes 10000 100000] [--repeats 7]``.
"""

from __future__ import annotations

import argparse
import gc
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass

from workload import simulate, simulate_values, workload_points

import pypet_rebuild as pr


def bare_loop(xs: Sequence[float], ys: Sequence[int]) -> float:
    """Seconds taken by the bare loop (results are discarded, as in the WORKLOAD ``loop``)."""
    start = time.perf_counter()
    for x, y in zip(xs, ys, strict=True):
        simulate_values(x, y)
    return time.perf_counter() - start


def framework_run(xs: list[float], ys: list[int]) -> tuple[float, float]:
    """Seconds taken by ``traj.explore`` and by ``Environment(traj).run`` (memory backend)."""
    traj = pr.Trajectory("wl", seed=0)
    traj.add_parameter("x", 0.0)
    traj.add_parameter("y", 0)
    start = time.perf_counter()
    traj.explore(pr.zipped({"x": xs, "y": ys}))
    explored = time.perf_counter()
    report = pr.Environment(traj, storage=None).run(simulate, progress=False)
    finished = time.perf_counter()
    if report.done != len(xs):
        raise RuntimeError(f"expected {len(xs)} runs done, got {report.done}")
    return explored - start, finished - explored


@dataclass(frozen=True)
class Row:
    """Medians for one size, in microseconds per run."""

    n: int
    bare: float
    framework: float
    overhead: float
    ratio: float
    explore: float


def measure(n: int, repeats: int) -> Row:
    """Alternate the bare loop and the framework run ``repeats`` times (after one warm-up)."""
    xs, ys = workload_points(n)
    framework_run(xs[: min(n, 1000)], ys[: min(n, 1000)])  # warm-up: imports, caches
    bare_times: list[float] = []
    run_times: list[float] = []
    explore_times: list[float] = []
    for _ in range(repeats):
        gc.collect()
        bare_times.append(bare_loop(xs, ys))
        gc.collect()
        explore_s, run_s = framework_run(xs, ys)
        explore_times.append(explore_s)
        run_times.append(run_s)
    scale = 1e6 / n
    return Row(
        n=n,
        bare=statistics.median(bare_times) * scale,
        framework=statistics.median(run_times) * scale,
        # Paired per repeat, so a slow phase of the machine hits both sides of the difference.
        overhead=statistics.median(r - b for r, b in zip(run_times, bare_times, strict=True))
        * scale,
        ratio=statistics.median(r / b for r, b in zip(run_times, bare_times, strict=True)),
        explore=statistics.median(explore_times) * scale,
    )


def format_table(rows: Sequence[Row]) -> str:
    """The results as a Markdown table."""
    lines = [
        "| N | bare loop µs/run | framework µs/run | overhead µs/run | ratio | explore µs/run |",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    lines.extend(
        f"| {r.n:,} | {r.bare:.2f} | {r.framework:.2f} | {r.overhead:.2f} | {r.ratio:.1f}x "
        f"| {r.explore:.2f} |"
        for r in rows
    )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0] if __doc__ else None)
    parser.add_argument(
        "--sizes", type=int, nargs="+", default=[10_000, 100_000], help="numbers of runs"
    )
    parser.add_argument("--repeats", type=int, default=7, help="repeats per size (>= 5)")
    args = parser.parse_args(argv)
    if args.repeats < 1:
        parser.error("--repeats must be at least 1")
    rows = []
    for n in args.sizes:
        row = measure(n, args.repeats)
        print(
            f"N={n:,}: bare {row.bare:.2f} µs/run, framework {row.framework:.2f} µs/run",
            flush=True,
        )
        rows.append(row)
    print()
    print(f"medians of {args.repeats} repeats, memory backend, serial, one process")
    print(format_table(rows))


if __name__ == "__main__":
    main()
