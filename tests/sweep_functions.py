"""Module-level simulate functions for the executor tests.

Process pools under ``spawn``/``forkserver`` and Dask workers import simulate functions by
module and name, so they live here (tests import this module as ``sweep_functions``).
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import time
from pathlib import Path

import numpy as np

import pypet_rebuild as pr

FAIL_X = 2
"""The point ``x == FAIL_X, y == "b"`` fails in :func:`mixed`."""


class SweepFailureError(Exception):
    """The exception the failing run raises."""


def make_trajectory(name: str = "sweep") -> pr.Trajectory:
    """Eight runs: x in 0..3 crossed with the labels "a" and "b"."""
    traj = pr.Trajectory(name, seed=42)
    traj.add_parameter("x", 0)
    traj.add_parameter("label", "a")
    traj.add_parameter("scale", 1.5)
    traj.explore(pr.cartesian_product({"x": [0, 1, 2, 3], "label": ["a", "b"]}))
    return traj


def mixed(run: pr.Run) -> dict[str, object]:
    """Scalar, array and string results and rng draws; one run fails."""
    if run.x == FAIL_X and run.label == "b":
        raise SweepFailureError(f"run {run.index} fails on purpose")
    return {
        "scalar": run.x * run.scale,
        "array": np.arange(4, dtype=np.float64) * run.x + run.scale,
        "text": f"{run.label}-{run.x}",
        "draws": run.rng.normal(size=3),
    }


def square(run: pr.Run) -> dict[str, object]:
    """``y = x ** 2``."""
    return {"y": run.x**2}


def scaled(run: pr.Run, factor: float) -> dict[str, object]:
    """``y = factor * x``; bind ``factor`` with ``functools.partial``."""
    return {"y": factor * run.x}


def fail_first_attempts(run: pr.Run) -> dict[str, object]:
    """Fail while the marker file of this run counts fewer than ``run.attempts`` attempts.

    ``run.marker_dir`` holds one file per run; each attempt appends a line to it.
    """
    marker = Path(run.marker_dir) / f"run{run.index}.txt"
    with marker.open("a") as file:
        file.write("attempt\n")
    attempts = len(marker.read_text().splitlines())
    if attempts <= run.failures:
        raise SweepFailureError(f"attempt {attempts} of run {run.index} fails")
    return {"y": run.x, "attempts": attempts}


def sleepy(run: pr.Run) -> dict[str, object]:
    """Sleep ``run.x`` seconds in short naps (a thread timeout takes effect between them)."""
    end = time.monotonic() + run.x
    while time.monotonic() < end:
        time.sleep(0.005)
    return {"y": run.x}


def die(run: pr.Run) -> dict[str, object]:
    """Kill the worker process in run ``run.x == 1`` (os._exit) and ``run.x == 3`` (SIGKILL)."""
    if run.x == 1:
        os._exit(1)
    if run.x == 3:
        os.kill(os.getpid(), signal.SIGKILL)
    return {"y": run.x}


def die_once(run: pr.Run) -> dict[str, object]:
    """Kill the worker the first time run ``x == 1`` runs (marker file in ``marker_dir``)."""
    marker = Path(run.marker_dir) / f"died{run.index}"
    if run.x == 1 and not marker.exists():
        marker.touch()
        os._exit(1)
    return {"y": run.x}


def interrupted_at_x1(run: pr.Run) -> dict[str, object]:
    """Raise KeyboardInterrupt in run ``x == 1``, as a worker hit by the terminal's Ctrl-C."""
    if run.x == 1:
        raise KeyboardInterrupt
    return {"y": run.x}


def not_a_mapping(run: pr.Run) -> object:
    """Return a list instead of a mapping of results."""
    return [run.x]


def chatty(run: pr.Run) -> dict[str, object]:
    """Print to stdout and stderr, and log with the library logger's child."""
    print(f"hello from run {run.index}")
    print(f"warning from run {run.index}", file=sys.stderr)
    logging.getLogger("sweep_functions").warning("logged in run %d", run.index)
    return {"y": run.x}


def where(run: pr.Run) -> dict[str, object]:
    """Report the process the run executes in."""
    return {"pid": os.getpid()}


def big_array(run: pr.Run) -> dict[str, object]:
    """A ~4 MB float64 array per run."""
    return {"a": np.full(512 * 1024, float(run.x))}
