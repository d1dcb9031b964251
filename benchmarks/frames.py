"""DataFrame results: one frame per run, stored column by column, against raw h5py.

Every run of ``--runs`` returns a DataFrame of ``--rows`` rows: ``t`` (float), ``v = x * t``
(float), ``k`` (int64) and ``label`` (str). Measured in one process, medians over ``--repeats``
(after one untimed pass), for three implementations:

``frame``
    pypet_rebuild with these frames (the ``frame`` layout: one dataset per column).
``packed``
    pypet_rebuild with ``label`` made categorical, which the ``frame`` layout does not hold:
    every run's frame is codec-encoded into the ``packed`` heap (what every frame was before).
``raw``
    h5py writing the concatenated columns plus each run's start and size from frames already
    in memory, and reading them back into per-run DataFrames with pandas.

Phases: ``store`` (the sweep into a new file; for raw, concatenating and writing the frames the
loop made), ``read all`` (every run's frame), ``one column`` (column ``v`` of every run as one
array: ``study.results["df"].frame(columns=["v"])`` for pypet_rebuild), ``one run`` (the frame
of run N // 2, opening the file included).

Run with ``uv run python benchmarks/frames.py [--runs 10000] [--rows 10] [--repeats 5]``.
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
import pandas as pd

import pypet_rebuild as pr

NAME = "frames"


def _frame(x: float, rows: int, categorical: bool) -> pd.DataFrame:
    t = np.arange(rows) * 0.1
    labels = pd.array([f"s{i % 4}" for i in range(rows)], dtype="str")
    return pd.DataFrame(
        {
            "t": t,
            "v": x * t,
            "k": np.arange(rows, dtype=np.int64),
            "label": pd.Categorical(labels) if categorical else labels,
        }
    )


def _store_rebuild(path: Path, runs: int, rows: int, categorical: bool) -> None:
    traj = pr.Trajectory(NAME)
    x = traj.add_parameter("x", 0.0)
    traj.explore(x.sweep(np.linspace(0.0, 1.0, runs).tolist()))

    def simulate(run: pr.Run) -> dict[str, object]:
        return {"df": _frame(run.x, rows, categorical)}

    pr.Environment(traj, storage=path).run(simulate, progress=False)


def _store_raw(path: Path, runs: int, rows: int) -> None:
    frames = [_frame(x, rows, False) for x in np.linspace(0.0, 1.0, runs).tolist()]
    sizes = np.array([len(frame) for frame in frames], dtype=np.int64)
    with h5py.File(path, "w") as file:
        group = file.create_group("df")
        group["size"] = sizes
        group["start"] = np.cumsum(sizes) - sizes
        for label in ("t", "v", "k"):
            group[label] = np.concatenate([frame[label].to_numpy() for frame in frames])
        texts = np.concatenate([np.asarray(frame["label"].tolist(), object) for frame in frames])
        group.create_dataset("label", data=texts, dtype=h5py.string_dtype())


def _read_all_raw(path: Path) -> list[pd.DataFrame]:
    with h5py.File(path, "r") as file:
        group = file["df"]
        starts, sizes = group["start"][:], group["size"][:]
        columns = {label: group[label][:] for label in ("t", "v", "k")}
        columns["label"] = group["label"].asstr()[:]
    return [
        pd.DataFrame({label: values[s : s + n] for label, values in columns.items()})
        for s, n in zip(starts.tolist(), sizes.tolist(), strict=True)
    ]


def _one_column_raw(path: Path) -> np.ndarray:
    with h5py.File(path, "r") as file:
        return np.asarray(file["df/v"][:])


def _one_run_raw(path: Path, run: int) -> pd.DataFrame:
    with h5py.File(path, "r") as file:
        group = file["df"]
        start, size = int(group["start"][run]), int(group["size"][run])
        data = {label: group[label][start : start + size] for label in ("t", "v", "k")}
        data["label"] = group["label"].asstr()[start : start + size]
    return pd.DataFrame(data)


def _time(action: Callable[[], object]) -> float:
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--rows", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    runs, rows = args.runs, args.rows
    folder = Path(tempfile.mkdtemp(prefix="pypet_rebuild_frames_"))
    times: dict[tuple[str, str], list[float]] = {}
    sizes: dict[str, int] = {}

    def record(impl: str, phase: str, seconds: float) -> None:
        times.setdefault((impl, phase), []).append(seconds)

    for repeat in range(args.repeats + 1):
        for impl in ("frame", "packed", "raw"):
            path = folder / f"{impl}-{repeat}.h5"
            if impl == "raw":
                stored = _time(lambda: _store_raw(path, runs, rows))  # noqa: B023
                read_all = _time(lambda: _read_all_raw(path))  # noqa: B023
                column = _time(lambda: _one_column_raw(path))  # noqa: B023
                one = _time(lambda: _one_run_raw(path, runs // 2))  # noqa: B023
            else:
                categorical = impl == "packed"
                stored = _time(lambda: _store_rebuild(path, runs, rows, categorical))  # noqa: B023
                with pr.load_trajectory(path, NAME) as study:
                    read_all = _time(lambda: study.results["df"][:])
                    column = _time(lambda: study.results["df"].frame(columns=["v"]))

                def one_run(path: Path = path) -> None:
                    with pr.load_trajectory(path, NAME) as study:
                        study.results["df"][runs // 2]

                one = _time(one_run)
            sizes[impl] = os.path.getsize(path)
            if repeat:  # the first pass warms up imports and caches
                for phase, seconds in (
                    ("store", stored),
                    ("read all", read_all),
                    ("one column", column),
                    ("one run", one),
                ):
                    record(impl, phase, seconds)
            path.unlink()
    print(f"{runs:,} runs of a {rows}-row DataFrame, medians of {args.repeats}")
    print()
    print("| phase | raw ms | frame ms | frame / raw | packed ms | packed / raw |")
    print("|---|---:|---:|---:|---:|---:|")
    for phase in ("store", "read all", "one column", "one run"):
        raw = statistics.median(times[("raw", phase)]) * 1e3
        frame = statistics.median(times[("frame", phase)]) * 1e3
        packed = statistics.median(times[("packed", phase)]) * 1e3
        print(
            f"| {phase} | {raw:,.2f} | {frame:,.2f} | {frame / raw:.2f}x | {packed:,.2f} | "
            f"{packed / raw:.2f}x |"
        )
    print()
    print(
        "| file | raw | frame | packed |\n|---|---:|---:|---:|\n"
        f"| bytes per run | {sizes['raw'] / runs:,.0f} | {sizes['frame'] / runs:,.0f} | "
        f"{sizes['packed'] / runs:,.0f} |"
    )
    shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
