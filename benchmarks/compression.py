"""Size and speed of the HDF5 storage options on the standard workload.

Stores the WORKLOAD sweep (``z = x * y``, ``arr = np.full(K, x * y)``) once per option and
reports the file size, the store time and the read times of ``z`` (all runs), one run's ``arr``
and ``arr[:, 10]`` (all runs), as medians over repeats. Run with
``uv run python benchmarks/compression.py [--n 10000] [--repeats 3]``.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from workload import K, simulate, workload_trajectory

import pypet_rebuild as pr

OPTIONS: dict[str, pr.StorageOptions] = {
    "none (default)": pr.StorageOptions(),
    "lzf": pr.StorageOptions(compression="lzf"),
    "gzip 4": pr.StorageOptions(compression="gzip", compression_level=4),
    "gzip 4 + shuffle": pr.StorageOptions(compression="gzip", compression_level=4, shuffle=True),
}


def timed(action: Callable[[], object]) -> float:
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def measure(n: int, options: pr.StorageOptions, workdir: Path) -> dict[str, float]:
    path = workdir / "bench.h5"
    path.unlink(missing_ok=True)
    traj = workload_trajectory(n)
    storage = pr.HDF5StorageService(path, options=options)
    store = timed(lambda: pr.Environment(traj, storage=storage).run(simulate, progress=False))
    storage.close()
    z = timed(lambda: pr.load_trajectory(path).results["z"][:])
    one = timed(lambda: pr.load_trajectory(path).results["arr"][n // 2])
    column = timed(lambda: pr.load_trajectory(path).results["arr"][:, 10])
    return {"size": path.stat().st_size, "store": store, "z": z, "one": one, "slice": column}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    payload = args.n * (8 + 8 * K + 16)
    print(f"N = {args.n}, raw payload {payload / 1e6:.2f} MB, medians of {args.repeats}")
    columns = ("size MB", "x payload", "store s", "z ms", "one ms", "slice ms")
    widths = (9, 10, 9, 8, 8, 10)
    print(f"{'option':<18}" + "".join(f"{c:>{w}}" for c, w in zip(columns, widths, strict=True)))
    with tempfile.TemporaryDirectory() as folder:
        for label, options in OPTIONS.items():
            runs = [measure(args.n, options, Path(folder)) for _ in range(args.repeats)]
            med = {key: statistics.median(r[key] for r in runs) for key in runs[0]}
            print(
                f"{label:<18}{med['size'] / 1e6:>9.2f}{med['size'] / payload:>10.2f}"
                f"{med['store']:>9.2f}{med['z'] * 1e3:>8.1f}{med['one'] * 1e3:>8.1f}"
                f"{med['slice'] * 1e3:>10.1f}"
            )


if __name__ == "__main__":
    main()
