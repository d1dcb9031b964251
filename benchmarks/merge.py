"""Merge cost: ``pr.merge_trajectories`` over F files of R runs each (the WORKLOAD sweep).

Each source file holds R consecutive points of the WORKLOAD grid of N = F * R points (``x``
outer, ``y`` inner; ``z = x * y`` and ``arr = np.full(100, x * y)``, 824 B of payload per run),
written by ``pr.Environment(traj, storage=path).run(simulate)``. The merge loads every file with
``pr.load_trajectory`` (untimed) and times ``pr.merge_trajectories(first, *others, into=out)``
into a new file; the merged file is checked (number of runs, sum of ``z``) and deleted.

Two series show whether the cost per merged run stays flat, i.e. the merge is not quadratic:
more files of a fixed size (``--files`` at ``--runs``), and bigger files at a fixed count
(``--scale-runs`` at ``--scale-files``). ``copy`` is the time to copy the sources' bytes with
``shutil.copyfile`` (the I/O floor of any merge that writes a new file), per run.

Run with ``uv run python benchmarks/merge.py`` (about 1-2 minutes); ``--large`` adds the
100 files x 10,000 runs case (one repeat; its sources take a few minutes to write).
"""

from __future__ import annotations

import argparse
import math
import shutil
import statistics
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from workload import simulate, workload_points

import pypet_rebuild as pr


def make_sources(folder: Path, files: int, runs: int) -> list[Path]:
    """Write ``files`` files of ``runs`` runs each (reused if they exist, e.g. ``--workdir``)."""
    folder.mkdir(parents=True, exist_ok=True)
    xs, ys = workload_points(files * runs)
    paths = []
    for f in range(files):
        path = folder / f"part{f:03d}.h5"
        if not path.exists():
            traj = pr.Trajectory("part", seed=f)
            traj.add_parameter("x", 0.0)
            traj.add_parameter("y", 0)
            part = slice(f * runs, (f + 1) * runs)
            traj.explore(pr.zipped({"x": xs[part], "y": ys[part]}))
            pr.Environment(traj, storage=path).run(simulate, progress=False)
        paths.append(path)
    return paths


def expected_sum(n: int) -> float:
    xs, ys = workload_points(n)
    return float(sum(x * y for x, y in zip(xs, ys, strict=True)))


def time_merge(paths: Sequence[Path], out: Path, n: int, total: float) -> float:
    """Seconds of one merge of ``paths`` into the new file ``out`` (checked, then deleted)."""
    sources = [pr.load_trajectory(path) for path in paths]
    start = time.perf_counter()
    merged = pr.merge_trajectories(sources[0], *sources[1:], into=out)
    seconds = time.perf_counter() - start
    if len(merged) != n:
        raise RuntimeError(f"merged {len(merged)} runs, expected {n}")
    found = float(np.asarray(merged.results["z"][:]).sum())
    if not math.isclose(found, total, rel_tol=1e-9):
        raise RuntimeError(f"merged z sums to {found}, expected {total}")
    for source in [*sources, merged]:
        source.close()
    out.unlink()
    out.with_name(out.name + ".lock").unlink(missing_ok=True)
    return seconds


def time_copy(paths: Sequence[Path], folder: Path) -> float:
    """Seconds to copy the sources' bytes to new files."""
    start = time.perf_counter()
    copies = [folder / f"copy_{path.name}" for path in paths]
    for path, copy in zip(paths, copies, strict=True):
        shutil.copyfile(path, copy)
    seconds = time.perf_counter() - start
    for copy in copies:
        copy.unlink()
    return seconds


@dataclass
class Row:
    """The medians of one size."""

    files: int
    runs: int
    merge: list[float]
    copy: list[float]

    @property
    def n(self) -> int:
        return self.files * self.runs


def measure(work: Path, files: int, runs: int, repeats: int) -> Row:
    folder = work / f"sources_{files}x{runs}"
    paths = make_sources(folder, files, runs)
    n = files * runs
    total = expected_sum(n)
    row = Row(files, runs, [], [])
    for repeat in range(repeats):
        row.merge.append(time_merge(paths, work / f"merged_{n}_{repeat}.h5", n, total))
        row.copy.append(time_copy(paths, work))
    print(
        f"  F={files:>3} R={runs:>6,}: merge {statistics.median(row.merge):8.3f} s "
        f"({statistics.median(row.merge) / n * 1e6:6.1f} µs/run)",
        flush=True,
    )
    return row


def format_table(rows: Sequence[Row], reference: Row) -> str:
    per_run_ref = statistics.median(reference.merge) / reference.n
    lines = [
        (
            "| files F | runs per file R | merged runs | merge s | µs per merged run "
            f"| vs F={reference.files}, R={reference.runs:,} | copy µs/run |"
        ),
        "|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        merge = statistics.median(row.merge)
        per_run = merge / row.n
        lines.append(
            f"| {row.files} | {row.runs:,} | {row.n:,} | {merge:,.2f} | {per_run * 1e6:.1f} "
            f"| {per_run / per_run_ref:.2f}x | {statistics.median(row.copy) / row.n * 1e6:.2f} |"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0] if __doc__ else None)
    parser.add_argument("--files", type=int, nargs="+", default=[5, 10, 20, 40])
    parser.add_argument("--runs", type=int, default=1_000, help="runs per file of --files")
    parser.add_argument("--scale-runs", type=int, nargs="+", default=[250, 1_000, 4_000, 16_000])
    parser.add_argument("--scale-files", type=int, default=10, help="files of --scale-runs")
    parser.add_argument("--repeats", type=int, default=3, help="merges per size (median)")
    parser.add_argument(
        "--large", action="store_true", help="add 100 files x 10,000 runs (one repeat)"
    )
    parser.add_argument(
        "--workdir", type=Path, default=None, help="where files go (default: a temporary folder)"
    )
    args = parser.parse_args(argv)
    temporary = args.workdir is None
    work = Path(tempfile.mkdtemp(prefix="pypet_rebuild_merge_")) if temporary else args.workdir
    work.mkdir(parents=True, exist_ok=True)
    try:
        measure(work, 2, 100, 1)  # warm-up: lazy imports, first HDF5 file
        rows: dict[tuple[int, int], Row] = {}

        def row(files: int, runs: int, repeats: int) -> Row:
            if (files, runs) not in rows:
                rows[files, runs] = measure(work, files, runs, repeats)
            return rows[files, runs]

        print("more files of one size:")
        by_files = [row(f, args.runs, args.repeats) for f in args.files]
        print("bigger files, same count:")
        by_runs = [row(args.scale_files, r, args.repeats) for r in args.scale_runs]
        large = [row(100, 10_000, 1)] if args.large else []
    finally:
        if temporary:
            shutil.rmtree(work, ignore_errors=True)
    print()
    print(
        f"medians of {args.repeats} merges per size (one for 100 x 10,000), in one process; "
        "sources loaded before the timer starts"
    )
    print(format_table(by_files, by_files[0]))
    print()
    print(format_table(by_runs + large, by_runs[0]))


if __name__ == "__main__":
    main()
