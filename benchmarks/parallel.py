"""Parallel execution on the standard workload's parallel variant (bench/WORKLOAD.md).

1. N = 1,000 runs that burn about 5 ms of CPU each: serial vs 2 process workers (speedup).
2. N = 100,000 cheap runs (``z = x * y``, ``arr = np.full(100, x * y)``) on 2 process workers and
   on a 2-worker Dask ``LocalCluster``: framework overhead per run, i.e. the wall time beyond what
   2 workers need for the bare loop, ``(wall - loop / 2) / N``.

Everything is stored in memory (the storage cost is measured by ``benchmarks/storage.py``).
Run with ``uv run python benchmarks/parallel.py [--repeats 3] [--cheap-n 100000] [--cpu-only]``.
"""

from __future__ import annotations

import argparse
import importlib
import statistics
import time
from collections.abc import Callable
from typing import Any

from workload import simulate as cheap
from workload import simulate_values, workload_points, workload_trajectory

import pypet_rebuild as pr


def burn(run: pr.Run) -> dict[str, object]:
    """About 5 ms of pure-Python CPU work."""
    deadline = time.process_time() + 0.005
    total = 0.0
    while time.process_time() < deadline:
        total += run.x * run.y
    return {"z": run.x * run.y}


def sweep(
    n: int,
    simulate: Callable[[pr.Run], dict[str, object]],
    executor: str,
    start_method: str | None = None,
) -> float:
    traj = workload_trajectory(n)
    env = pr.Environment(traj)
    options: dict[str, object] = {} if start_method is None else {"start_method": start_method}
    workers = None if executor == "serial" else 2
    start = time.perf_counter()
    report = env.run(simulate, executor=executor, workers=workers, progress=False, **options)  # type: ignore[arg-type]
    elapsed = time.perf_counter() - start
    assert report.done == n, report
    return elapsed


def bare_loop(n: int) -> float:
    xs, ys = workload_points(n)
    start = time.perf_counter()
    for x, y in zip(xs, ys, strict=True):
        simulate_values(x, y)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--cpu-n", type=int, default=1000)
    parser.add_argument("--cheap-n", type=int, default=100_000)
    parser.add_argument("--cpu-only", action="store_true", help="skip the cheap-run part")
    args = parser.parse_args()

    print(f"CPU-bound, N = {args.cpu_n} x ~5 ms, medians of {args.repeats} (pool start included)")
    # Serial and process sweeps alternate, so a busy phase of the machine hits both sides; the
    # speedup is the median of the per-repeat ratios. The first forkserver sweep of this process
    # also starts the fork server (a fresh interpreter importing the library): shown apart.
    methods = ("forkserver", "spawn", "fork")
    serial_times: list[float] = []
    times: dict[str, list[float]] = {method: [] for method in methods}
    for _ in range(args.repeats):
        for method in methods:
            serial_times.append(sweep(args.cpu_n, burn, "serial"))
            times[method].append(sweep(args.cpu_n, burn, "process", method))
    serial = statistics.median(serial_times)
    print(f"  serial                   {serial:7.2f} s")
    for method in methods:
        process = statistics.median(times[method])
        pairs = serial_times[methods.index(method) :: len(methods)]
        ratio = statistics.median(s / p for s, p in zip(pairs, times[method], strict=True))
        print(f"  process, 2, {method:<12} {process:7.2f} s   speedup {ratio:.2f}x")
    first = times["forkserver"][0]
    print(
        f"  first forkserver sweep   {first:7.2f} s   speedup {serial_times[0] / first:.2f}x "
        "(fork server started by it)"
    )

    if args.cpu_only:
        return
    n = args.cheap_n
    loop = statistics.median(bare_loop(n) for _ in range(args.repeats))
    print(f"\nCheap runs, N = {n}, bare loop {loop:.2f} s ({loop / n * 1e6:.1f} us/run)")
    print(f"  {'executor':<12}{'wall s':>8}{'us/run':>9}{'overhead us/run':>17}")
    for executor in ("serial", "process", "dask"):
        wall = statistics.median(sweep(n, cheap, executor) for _ in range(args.repeats))
        share = loop if executor == "serial" else loop / 2
        print(
            f"  {executor:<12}{wall:>8.2f}{wall / n * 1e6:>9.1f}{(wall - share) / n * 1e6:>17.1f}"
        )
    # A running cluster, as on a real deployment: the cluster's start is not part of the sweep.
    distributed: Any = importlib.import_module("distributed")
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, dashboard_address=":0"
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        walls = []
        for _ in range(args.repeats):
            traj = workload_trajectory(n)
            start = time.perf_counter()
            pr.Environment(traj).run(
                cheap, executor=client.get_executor(), workers=2, progress=False
            )
            walls.append(time.perf_counter() - start)
        wall = statistics.median(walls)
        label = "dask (running cluster)"
        print(
            f"  {label:<12}{wall:>8.2f}{wall / n * 1e6:>9.1f}{(wall - loop / 2) / n * 1e6:>17.1f}"
        )


if __name__ == "__main__":
    main()
