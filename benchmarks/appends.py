"""What adding to a stored file costs, as the file grows: appends must cost what they add.

For stored files of the WORKLOAD sweep of growing size (``--sizes``, runs; ~0.9 KB per run), this
script measures, in one process, medians over ``--repeats``:

``resume, nothing to do``
    ``env.run(simulate, resume=True)`` on the complete trajectory (it appends one provenance
    record).
``new 100-run sweep``
    A new 100-run trajectory stored into the same file.
``expand by 100 runs``
    The stored trajectory expanded by 100 points and resumed (only the new runs execute).
``raw h5py, 100 rows``
    The baseline: h5py opens the same file, grows four datasets by 100 rows and writes them.

plus the disk peak of each change: the largest size the file, its journal and its segment files
reach together, over the file's final size (``storage/hdf5/journal.py`` records the journal's
size each time it grows; the segment folder is measured before the final fold). A last table
times a 100-run sweep into a new file, after the first one in the process, against raw h5py
writing the same 100 rows into a new file.

Cost that does not grow with the file shows as flat rows down each column.

Run with ``uv run python benchmarks/appends.py [--sizes 10000 100000 300000] [--repeats 5]``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import h5py  # noqa: TID251
import numpy as np
from workload import K, simulate, workload_points, workload_trajectory

import pypet_rebuild as pr
from pypet_rebuild.storage.hdf5 import journal, service

_peak: dict[str, int] = {"journal": 0, "segments": 0}


def _instrument() -> None:
    """Record the journal's largest size and the segments' size before each final fold.

    (The final fold is ``_finish``, or ``_finish_with_runs`` when it takes the last batch.)
    """
    journal_pages = journal.JournaledFile._journal_pages

    def recording(self: journal.JournaledFile, pages: range | list[int]) -> None:
        journal_pages(self, pages)
        size = self.journal.stat().st_size if self.journal.exists() else 0
        _peak["journal"] = max(_peak["journal"], size)

    journal.JournaledFile._journal_pages = recording  # type: ignore[method-assign]
    finish = service.HDF5StorageService._finish

    def measured(self: service.HDF5StorageService, *args: object, **kwargs: object) -> None:
        folder = self.path.with_name(self.path.name + ".segments")
        if folder.is_dir():
            size = sum(entry.stat().st_size for entry in folder.iterdir())
            _peak["segments"] = max(_peak["segments"], size)
        finish(self, *args, **kwargs)  # type: ignore[arg-type]

    service.HDF5StorageService._finish = measured  # type: ignore[method-assign]
    # The final commit that takes the sweep's last batch (it writes no segment for it).
    finish_with_runs = service.HDF5StorageService._finish_with_runs

    def measured_last(self: service.HDF5StorageService, *args: object, **kwargs: object) -> None:
        folder = self.path.with_name(self.path.name + ".segments")
        if folder.is_dir():
            size = sum(entry.stat().st_size for entry in folder.iterdir())
            _peak["segments"] = max(_peak["segments"], size)
        finish_with_runs(self, *args, **kwargs)  # type: ignore[arg-type]

    service.HDF5StorageService._finish_with_runs = measured_last  # type: ignore[method-assign]


def _timed(action: Callable[..., object], *args: object, **kwargs: object) -> float:
    start = time.perf_counter()
    action(*args, **kwargs)
    return time.perf_counter() - start


def _peak_ratio(path: Path) -> float:
    """The disk peak of the last change over the file's final size (then reset)."""
    ratio = (path.stat().st_size + _peak["journal"] + _peak["segments"]) / path.stat().st_size
    _peak["journal"] = _peak["segments"] = 0
    return ratio


def _run(traj: pr.Trajectory, path: Path, *, resume: bool = False) -> None:
    env = pr.Environment(traj, storage=path)
    env.run(simulate, resume=resume, progress=False)
    env.storage.close()


def _raw_columns(n: int) -> list[tuple[str, np.ndarray]]:
    """The first ``n`` WORKLOAD rows as raw h5py stores them: ``x``, ``y``, ``z`` and ``arr``."""
    xs, ys = workload_points(n)
    x, y = np.asarray(xs), np.asarray(ys)
    z = x * y
    return [("x", x), ("y", y), ("z", z), ("arr", np.repeat(z[:, None], K, axis=1))]


def _raw_append(path: Path, rows: int) -> None:
    """The baseline: grow four resizable datasets of ``path`` by ``rows`` and write them."""
    with h5py.File(path, "a") as file:
        for name, block in _raw_columns(rows):
            dataset = file[name]
            start = dataset.shape[0]
            dataset.resize(start + rows, axis=0)
            dataset[start:] = block


def _raw_file(path: Path, n: int) -> None:
    """A raw h5py file of ``n`` WORKLOAD rows in resizable datasets."""
    with h5py.File(path, "w") as file:
        for name, block in _raw_columns(n):
            file.create_dataset(name, data=block, maxshape=(None, *block.shape[1:]), chunks=True)


def measure_size(n: int, repeats: int, workdir: Path) -> dict[str, float]:
    """The medians (ms) and disk peaks for a stored file of ``n`` runs."""
    path = workdir / f"stored-{n}.h5"
    raw = workdir / f"raw-{n}.h5"
    traj = workload_trajectory(n)
    _run(traj, path)
    _raw_file(raw, n)
    size_mb = path.stat().st_size / 1e6
    resume, new, expand, raw_times = [], [], [], []
    peaks: dict[str, list[float]] = {"resume": [], "new": [], "expand": []}
    for repeat in range(repeats):
        _peak["journal"] = _peak["segments"] = 0
        resume.append(_timed(_run, traj, path, resume=True))
        peaks["resume"].append(_peak_ratio(path))
        extra = workload_trajectory(100, name=f"extra{repeat}")
        new.append(_timed(_run, extra, path))
        peaks["new"].append(_peak_ratio(path))
        grown = pr.load_trajectory(path, name="workload").trajectory
        grown.expand({"x": [2.0 + repeat + i / 100 for i in range(100)], "y": [1] * 100})
        expand.append(_timed(_run, grown, path, resume=True))
        peaks["expand"].append(_peak_ratio(path))
        traj = grown
        raw_times.append(_timed(_raw_append, raw, 100))
    return {
        "size_mb": size_mb,
        "resume": statistics.median(resume) * 1e3,
        "new": statistics.median(new) * 1e3,
        "expand": statistics.median(expand) * 1e3,
        "raw": statistics.median(raw_times) * 1e3,
        "peak_resume": max(peaks["resume"]),
        "peak_new": max(peaks["new"]),
        "peak_expand": max(peaks["expand"]),
    }


def measure_new_files(repeats: int, workdir: Path) -> tuple[float, float]:
    """Median ms of a 100-run sweep into a new file (after a first one) and of raw h5py."""
    _run(workload_trajectory(100), workdir / "first.h5")
    rebuild, raw = [], []
    for repeat in range(max(repeats, 10)):
        rebuild.append(_timed(_run, workload_trajectory(100), workdir / f"new{repeat}.h5"))
        raw.append(_timed(_raw_file, workdir / f"raw-new{repeat}.h5", 100))
    return statistics.median(rebuild) * 1e3, statistics.median(raw) * 1e3


def main() -> None:
    """Print the tables."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 300_000])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--workdir", type=Path, default=None)
    args = parser.parse_args()
    _instrument()
    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="pypet-rebuild-appends-"))
    workdir.mkdir(parents=True, exist_ok=True)
    try:
        print(f"medians of {args.repeats}; ms; disk peak = (file + journal + segments) / file\n")
        print(
            "| stored runs | file MB | resume, nothing to do | new 100-run sweep | "
            "expand by 100 | raw h5py, 100 rows | new / raw | peak resume | peak new | "
            "peak expand |"
        )
        print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        for n in args.sizes:
            row = measure_size(n, args.repeats, workdir)
            print(
                f"| {n:,} | {row['size_mb']:.1f} | {row['resume']:.1f} | {row['new']:.1f} | "
                f"{row['expand']:.1f} | {row['raw']:.1f} | {row['new'] / row['raw']:.1f}x | "
                f"{row['peak_resume']:.3f} | {row['peak_new']:.3f} | {row['peak_expand']:.3f} |"
            )
        rebuild, raw = measure_new_files(args.repeats, workdir)
        print("\n| 100-run sweep into a new file (after the first) | rebuild ms | raw ms | ratio |")
        print("|---|---:|---:|---:|")
        print(f"| WORKLOAD, 100 runs | {rebuild:.1f} | {raw:.1f} | {rebuild / raw:.1f}x |")
    finally:
        if args.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)
        os.sync()


if __name__ == "__main__":
    main()
