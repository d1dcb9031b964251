"""Per-round cost of an ask/tell loop: does a round get slower as the stored study grows?

A random search around the best point so far proposes ``--points`` points per round for
``--rounds`` rounds; ``pr.AdaptiveSweep(traj, simulate, storage=path)`` runs each round (only the
new points) and hands back the results. Every run stores a scalar ``loss`` and an array ``trace``
of ``--kb`` KB. The script prints the median round time of the first and of the last 20 rounds,
the mean over all rounds (folds included), how many rounds folded the segments into the main
file (rewrote it), and the time of the final ``compact()``.

``auto`` is what ``AdaptiveSweep`` uses for a path (``compaction="auto"``: rounds append segment
files; they are folded into the main file once they reach a quarter of its size, or 128 files).
``always`` (the ``HDF5StorageService`` default, folding at every sweep) is shown for comparison.

Every loop runs ``--repeats`` times (default 3); each round's time is the median over the loops
(the machines these run on are shared, and single rounds are noisy).

Run with ``uv run python benchmarks/adaptive.py [--rounds 200] [--points 10] [--kb 10]``.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

import pypet_rebuild as pr


def make_simulate(length: int) -> object:
    def simulate(run: pr.Run) -> dict[str, object]:
        loss = (run.x - 0.3) ** 2 + (run.y + 0.1) ** 2
        return {"loss": loss, "trace": np.full(length, loss)}

    return simulate


def main_file_identity(path: Path) -> tuple[int, int] | None:
    """Changes whenever the main file is rewritten (inode numbers alone may be reused)."""
    if not path.exists():
        return None
    info = path.stat()
    return info.st_ino, info.st_mtime_ns


@dataclass
class Series:
    """One ask/tell loop."""

    compaction: str
    rounds: list[float]
    folds: int
    compact: float
    size: int
    runs: int


def run_series(work: Path, compaction: str, rounds: int, points: int, kb: int) -> Series:
    path = work / f"adaptive_{compaction}.h5"
    for leftover in work.glob(f"adaptive_{compaction}.h5*"):
        if leftover.is_dir():
            shutil.rmtree(leftover)
        else:
            leftover.unlink()
    traj = pr.Trajectory("search", seed=1)
    traj.add_parameter("x", 0.0)
    traj.add_parameter("y", 0.0)
    storage = pr.HDF5StorageService(path, compaction=compaction)  # type: ignore[arg-type]
    simulate = make_simulate(kb * 1024 // 8)
    sweep = pr.AdaptiveSweep(traj, simulate, storage=storage)  # type: ignore[arg-type]
    rng = np.random.default_rng(0)
    best, best_loss, radius = np.array([1.0, 1.0]), np.inf, 1.0
    times: list[float] = []
    folds = 0
    for _ in range(rounds):
        before = main_file_identity(path)
        proposals = best + radius * rng.uniform(-1, 1, size=(points, 2))  # ask
        start = time.perf_counter()
        outcome = sweep.evaluate({"x": proposals[:, 0].tolist(), "y": proposals[:, 1].tolist()})
        times.append(time.perf_counter() - start)
        losses = np.array(outcome.values("loss"), dtype=float)  # tell
        if losses.min() < best_loss:
            best_loss, best = float(losses.min()), proposals[int(losses.argmin())]
        radius *= 0.98
        # A fold rewrites the main file under a new name and renames it over the old one.
        folds += main_file_identity(path) != before
    start = time.perf_counter()
    sweep.compact()
    compact = time.perf_counter() - start
    stored = pr.load_trajectory(path)
    if len(stored) != rounds * points or stored.find_runs("status != 'done'"):
        raise RuntimeError("the stored study does not hold every round")
    size = path.stat().st_size
    stored.close()
    storage.close()
    return Series(compaction, times, folds, compact, size, len(stored))


def combine(loops: Sequence[Series]) -> Series:
    """One series of the repeats: round by round, the median over the loops."""
    rounds = [statistics.median(times) for times in zip(*(s.rounds for s in loops), strict=True)]
    return Series(
        loops[0].compaction,
        rounds,
        round(statistics.median(s.folds for s in loops)),
        statistics.median(s.compact for s in loops),
        loops[0].size,
        loops[0].runs,
    )


def format_table(series: Sequence[Series]) -> str:
    lines = [
        (
            "| compaction | rounds x points | first 20 rounds ms | last 20 rounds ms "
            "| last / first | mean ms (all rounds) | rounds that folded | final compact ms | file |"
        ),
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for s in series:
        first = statistics.median(s.rounds[:20])
        last = statistics.median(s.rounds[-20:])
        lines.append(
            f"| {s.compaction} | {len(s.rounds)} x {s.runs // len(s.rounds)} | {first * 1e3:.1f} "
            f"| {last * 1e3:.1f} | {last / first:.2f}x | {statistics.mean(s.rounds) * 1e3:.1f} "
            f"| {s.folds} | {s.compact * 1e3:.0f} | {s.size / 1e6:.1f} MB |"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0] if __doc__ else None)
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument("--points", type=int, default=10, help="points per round")
    parser.add_argument("--kb", type=int, default=10, help="size of each run's array result")
    parser.add_argument(
        "--repeats", type=int, default=3, help="loops per mode; round times are medians"
    )
    parser.add_argument(
        "--compaction",
        nargs="+",
        choices=["auto", "always", "manual"],
        default=["auto", "always"],
    )
    parser.add_argument(
        "--workdir", type=Path, default=None, help="where files go (default: a temporary folder)"
    )
    args = parser.parse_args(argv)
    temporary = args.workdir is None
    work = Path(tempfile.mkdtemp(prefix="pypet_rebuild_adaptive_")) if temporary else args.workdir
    work.mkdir(parents=True, exist_ok=True)
    try:
        run_series(work, "auto", 3, 2, 1)  # warm-up: lazy imports
        series = []
        for mode in args.compaction:
            loops = [
                run_series(work, mode, args.rounds, args.points, args.kb)
                for _ in range(args.repeats)
            ]
            series.append(combine(loops))
        for s in series:
            print(
                f"  {s.compaction}: rounds (ms) " + " ".join(f"{t * 1e3:.0f}" for t in s.rounds),
                flush=True,
            )
    finally:
        if temporary:
            shutil.rmtree(work, ignore_errors=True)
    print()
    print(
        f"{args.rounds} rounds of {args.points} points, {args.kb} KB array + 1 scalar per run; "
        "round time = AdaptiveSweep.evaluate (expand, run the new points, read their results), "
        f"median over {args.repeats} loops round by round"
    )
    print(format_table(series))


if __name__ == "__main__":
    main()
