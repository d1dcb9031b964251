"""Large results: store a big array per run, then read only the part you need.

The model: heat spreading along a rod (the 1-d diffusion equation, explicit finite differences)
from a hot spot, with a heat sink at both ends. Each run stores the whole temperature field,
``(frames, grid points)`` -- 0.3 MB per run at the default resolution, so a sweep of
a few hundred runs no longer fits comfortably in memory. The sweep crosses the diffusivity with
the strength of the hot spot.

What it shows:

* a large array result per run is stored as one dataset across runs (``(runs, time, space)``);
* reading a slice across runs (the final profile of every run, the temperature at the centre
  over time) and a part of one run reads only the selected elements: it is fast and small
  however large the file is; the numbers printed are the bytes returned and the time taken;
* ``to_xarray(chunks=...)``: a labelled dataset backed by lazy dask arrays, computed piece by
  piece only when asked.

Run it with ``uv run examples/06_large_results.py`` (writes ``06_large_results.h5``, about
46 MB, next to this script), or ``... OUT.h5 --size 3`` for a small file.
"""

from __future__ import annotations

import argparse
import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

import pypet_rebuild as pr


def diffuse(run: pr.Run) -> dict[str, object]:
    """Integrate u_t = D u_xx on [0, 1] with u = 0 at both ends; store every saved frame."""
    nx, frames = run.grid.points, run.grid.frames
    dx = 1.0 / (nx - 1)
    x = np.linspace(0.0, 1.0, nx)
    # Explicit scheme: stable for D dt / dx^2 <= 1/2. Take enough time steps per stored frame
    # to stay well inside that (a larger diffusivity needs more of them).
    substeps = math.ceil(run.grid.frame_time * run.diffusivity / (0.25 * dx**2))
    dt = run.grid.frame_time / substeps
    gain = run.diffusivity * dt / dx**2
    u = run.heat * np.exp(-((x - 0.3) ** 2) / 0.002)  # a hot spot off-centre
    initial_heat = u.sum() * dx
    field = np.empty((frames, nx))
    for frame in range(frames):
        field[frame] = u
        for _ in range(substeps):
            u[1:-1] += gain * (u[2:] - 2.0 * u[1:-1] + u[:-2])
    return {
        "field": field,  # (frames, nx) float64: the large result
        "heat_fraction": float(field[-1].sum() * dx / initial_heat),  # heat left at the end
    }


def timed(label: str, read: Callable[[], Any]) -> Any:
    """Run ``read()``, print how long it took and how many bytes it returned."""
    start = time.perf_counter()
    value = read()
    seconds = time.perf_counter() - start
    print(f"  {label:<54} {np.asarray(value).nbytes / 1e6:9.3f} MB in {seconds * 1e3:7.1f} ms")
    return value


def main(path: Path, size: int = 36, points: int = 200, frames: int = 200) -> None:
    """Sweep ``size`` diffusivities x 4 heat values; read the file back in pieces."""
    traj = pr.Trajectory("rod", comment="diffusion of a hot spot", seed=6)
    diffusivity = traj.add_parameter("diffusivity", 1.0, annotations={"unit": "m^2/s"})
    heat = traj.add_parameter("heat", 1.0, comment="peak temperature of the hot spot")
    traj.add_parameter("grid.points", points, comment="grid points along the rod")
    traj.add_parameter("grid.frames", frames, comment="stored frames")
    traj.add_parameter("grid.frame_time", 24.0 / frames / 1000, comment="time between frames")
    traj.explore(
        pr.cartesian_product(
            diffusivity.sweep([float(d) for d in np.geomspace(0.5, 4.0, size)]),
            heat.sweep([1.0, 2.0, 4.0, 8.0]),
        )
    )

    path.unlink(missing_ok=True)
    print(pr.Environment(traj, storage=path).run(diffuse, progress=False), end="\n\n")
    payload = len(traj) * frames * points * 8
    print(f"{len(traj)} runs of {frames} x {points} float64: {payload / 1e6:.1f} MB of field data")
    print(f"file size: {path.stat().st_size / 1e6:.1f} MB\n")

    loaded = pr.load_trajectory(path)  # reads the definition only
    field = loaded.results["field"]  # a lazy handle: nothing read yet
    print(repr(field))
    centre = points // 2
    print("partial reads (only the selected elements come from disk):")
    final = timed("final profile of every run    field[:, -1]", lambda: field[:, -1])
    timed("centre over time, every run   field[:, :, c]", lambda: field[:, :, centre])
    one = timed("one run, every 10th frame     field[5, ::10]", lambda: field[5, ::10])
    timed("four runs, one frame          field[[7, 0, 3, 3], 9]", lambda: field[[7, 0, 3, 3], 9])
    everything = timed("for comparison, everything    field[:]", lambda: field[:])
    assert np.array_equal(final, everything[:, -1])
    assert np.array_equal(one, everything[5, ::10])

    # Scalars of every run, in one small read each, and a query that reads only "total_heat".
    kept = loaded.find_runs("heat_fraction < 0.5")
    print(f"\nruns that lost more than half their heat: {len(kept)} of {len(loaded)}")

    # xarray with dask: dimensions named after the swept parameters, and the field loaded
    # lazily one diffusivity (4 runs) per chunk. Nothing is read until .compute() (or .values,
    # or a plot). chunks= is keyed by dimension names, as in xarray.
    dataset = loaded.to_xarray(["field"], dims={"field": ["frame", "x"]}, chunks={"diffusivity": 1})
    print("\n", dataset, sep="")
    print("field is backed by", type(dataset["field"].data).__module__.split(".")[0])
    hottest = dataset["field"].isel(frame=-1).max("x")  # still lazy
    start = time.perf_counter()
    values = hottest.compute()
    seconds = time.perf_counter() - start
    print(f"peak of the final profile per (diffusivity, heat), computed in {seconds:.3f} s;")
    print("the smallest and the largest diffusivity:")
    print(values.isel(diffusivity=[0, -1]).round(3).to_pandas().to_string())


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "path", nargs="?", type=Path, default=Path(__file__).with_name("06_large_results.h5")
    )
    parser.add_argument("--size", type=int, default=36, help="number of diffusivities (x 4 runs)")
    parser.add_argument("--points", type=int, default=200, help="grid points along the rod")
    parser.add_argument("--frames", type=int, default=200, help="stored frames per run")
    arguments = parser.parse_args()
    main(arguments.path, arguments.size, arguments.points, arguments.frames)
