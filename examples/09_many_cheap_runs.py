"""Many cheap runs: ten thousand sub-millisecond runs on a process pool and on Dask.

The model: the logistic map x -> r x (1 - x). For each growth rate r, iterate past the transient,
record the attractor (the bifurcation diagram) and the Lyapunov exponent (positive: chaos). One
run takes well under a millisecond, so sending runs to workers one at a time would cost more than
running them. With ``chunksize="auto"`` (the default) runs travel in chunks of about a quarter
second of work, measured as the sweep goes.

What it shows:

* the same sweep, serial, on a process pool (``executor="process"``) and on an embedded Dask
  cluster (``executor="dask"``), with the same results;
* what chunking buys: ``chunksize=1`` (one run per message) against ``"auto"`` on a slice of the
  sweep, on a process pool of your own that is already running;
* the run reports, and which worker process ran how many runs (from the run table).

The process-mode contract: the simulate function is defined at module level (workers import it)
and the sweep starts under ``if __name__ == "__main__":``.

Run it with ``uv run examples/09_many_cheap_runs.py`` (writes ``09_many_cheap_runs.h5`` next to
this script), or ``... OUT.h5 --size 400 --workers 2`` for a quick one. Dask needs
``pypet_rebuild[dask]``.
"""

from __future__ import annotations

import argparse
import math
import multiprocessing
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

import pypet_rebuild as pr


def logistic_map(run: pr.Run) -> dict[str, object]:
    """Iterate the logistic map; return the attractor and the Lyapunov exponent."""
    r, x = run.r, run.x0
    for _ in range(run.transient):
        x = r * x * (1.0 - x)
    attractor = np.empty(run.recorded)
    log_slope = 0.0
    for k in range(run.recorded):
        x = r * x * (1.0 - x)
        attractor[k] = x
        log_slope += math.log(abs(r * (1.0 - 2.0 * x)) + 1e-300)
    return {"attractor": attractor, "lyapunov": log_slope / run.recorded}


def declare(name: str, rates: list[float]) -> pr.Trajectory:
    """One trajectory per executor, all over the same points."""
    traj = pr.Trajectory(name, comment="bifurcation diagram of the logistic map", seed=1976)
    r = traj.add_parameter("r", 3.5, comment="growth rate")
    traj.add_parameter("x0", 0.2, comment="initial value")
    traj.add_parameter("transient", 5000, comment="iterations discarded")
    traj.add_parameter("recorded", 64, comment="iterations recorded")
    traj.explore(pr.cartesian_product(r.sweep(rates)))
    return traj


def main(path: Path, size: int = 10_000, workers: int = 2) -> dict[str, pr.RunReport]:
    """Run ``size`` points serially, on a process pool and on Dask; compare."""
    path.unlink(missing_ok=True)
    rates = [float(r) for r in np.linspace(2.8, 4.0, size)]
    reports: dict[str, pr.RunReport] = {}

    # Serial, for reference.
    reports["serial"] = pr.Environment(declare("serial", rates), storage=path).run(
        logistic_map, progress=False
    )

    # A process pool, started and stopped by env.run; chunks of runs are sized automatically.
    reports["process"] = pr.Environment(declare("process", rates), storage=path).run(
        logistic_map, executor="process", workers=workers, progress=False
    )

    # What chunking buys, on one pool that is already running (so that starting the workers is
    # not counted): a tenth of the points, one run per message, then in automatic chunks. Any
    # concurrent.futures.Executor can be passed as executor= (MPI, a Dask client's executor...).
    tenth = rates[::10]
    context = multiprocessing.get_context("forkserver" if sys.platform == "linux" else "spawn")
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        list(pool.map(abs, range(100)))  # start the workers now
        reports["warm pool, chunksize=1"] = pr.Environment(
            declare("chunks_of_1", tenth), storage=path
        ).run(logistic_map, executor=pool, workers=workers, chunksize=1, progress=False)
        reports["warm pool, chunksize='auto'"] = pr.Environment(
            declare("chunks_auto", tenth), storage=path
        ).run(logistic_map, executor=pool, workers=workers, chunksize="auto", progress=False)

    # Dask: an embedded LocalCluster with `workers` single-threaded worker processes, started
    # and shut down by env.run. Pass dask_address="tcp://..." to use a running cluster.
    reports["dask"] = pr.Environment(declare("dask", rates), storage=path).run(
        logistic_map, executor="dask", workers=workers, progress=False
    )

    # Wall times include starting the workers (and, for Dask, the cluster), except on the warm
    # pool. This process stores every run, so on two cores the writer and the workers share the
    # CPU and a pool gains little; with more cores, or costlier runs, it pulls ahead.
    for label, report in reports.items():
        rate = (report.done + report.failed) / report.wall_time
        print(f"[{label}] {rate:,.0f} runs/s")
        print(report, end="\n\n")

    # Same points, same results, whoever ran them.
    reference = pr.load_trajectory(path, "serial").results["lyapunov"][:]
    for name in ("process", "dask"):
        loaded = pr.load_trajectory(path, name)
        assert np.array_equal(loaded.results["lyapunov"][:], reference), name
        # The run table records which process ran every run.
        per_worker = loaded.to_pandas([], metadata=["pid"]).groupby("pid").size()
        print(f"{name}: runs per worker process {per_worker.to_dict()}")

    chaotic = np.count_nonzero(reference > 0)
    print(f"\n{chaotic} of {size} growth rates are chaotic (positive Lyapunov exponent)")
    onset = rates[int(np.argmax(reference > 0))]
    print(f"chaos first appears at r = {onset:.4f} (the accumulation point is 3.5699...)")
    return reports


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "path", nargs="?", type=Path, default=Path(__file__).with_name("09_many_cheap_runs.h5")
    )
    parser.add_argument("--size", type=int, default=10_000, help="number of growth rates")
    parser.add_argument("--workers", type=int, default=2, help="worker processes")
    arguments = parser.parse_args()
    main(arguments.path, arguments.size, arguments.workers)
