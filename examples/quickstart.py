"""Quickstart: pypet's classic first example, multiply x and y, plus an array result.

Run it with ``uv run examples/quickstart.py``. It sweeps a 3 x 4 grid, stores every run in
``quickstart.h5`` next to this script, reloads the file lazily and prints what it holds.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

import pypet_rebuild as pr


def simulate(run: pr.Run) -> dict[str, object]:
    """Multiply the two factors; also return a short trace of the product."""
    z = run.x * run.y
    return {"z": z, "trace": np.linspace(0.0, z, run.steps)}


def main(path: Path) -> None:
    traj = pr.Trajectory("multiply", comment="pypet's first example", seed=2026)
    traj.add_parameter("x", 1.0, comment="first factor")
    traj.add_parameter("y", 1, comment="second factor")
    traj.add_parameter("sim.steps", 5, comment="length of the trace")
    traj.explore(pr.cartesian_product({"x": [1.0, 2.0, 3.0], "y": [1, 2, 3, 4]}))
    print(traj.describe(), end="\n\n")

    path.unlink(missing_ok=True)
    report = pr.Environment(traj, storage=path).run(simulate)
    print(report, end="\n\n")

    loaded = pr.load_trajectory(path)  # lazy: nothing but the definition is read yet
    print("z of every run:     ", loaded.results["z"][:])
    print("trace[-1] per run:  ", loaded.results["trace"][:, -1])
    print("run 5:              ", loaded.run(5).params, loaded.run(5).results["z"])
    print("runs with x > 1, y = 2:", loaded.find_runs(lambda x, y: x > 1.0 and y == 2))
    print(loaded.to_pandas().to_string(), end="\n\n")
    print(f"stored in {path} ({path.stat().st_size / 1024:.1f} KiB)")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).with_name("quickstart.h5"))
