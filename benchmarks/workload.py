"""The standard benchmark workload (``../shared/bench/WORKLOAD.md``), shared by every script.

Parameters ``x`` (float) and ``y`` (int) on a trimmed cartesian grid, ``x`` outer and ``y``
inner; ``simulate`` computes ``z = x * y`` and ``arr = np.full(K, x * y)``. Importing this module
does not import pypet_rebuild, so the raw-h5py baseline of ``storage.py`` stays free of it.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import pypet_rebuild as pr

K = 100
"""Length of the ``arr`` result."""
PAYLOAD_PER_RUN = 8 + 8 * K + 16
"""Raw payload of one run in bytes: ``z``, ``arr``, ``x`` and ``y``."""


def workload_points(n: int) -> tuple[list[float], list[int]]:
    """The first ``n`` points of the WORKLOAD grid (``x`` outer, ``y`` inner), in run order."""
    nx = math.ceil(math.sqrt(n))
    ny = math.ceil(n / nx)
    grid: list[float] = np.linspace(0.0, 1.0, nx).tolist()
    return [grid[i // ny] for i in range(n)], [i % ny for i in range(n)]


def simulate_values(x: float, y: int) -> dict[str, Any]:
    """The workload's simulate function on plain values (the bare loop's body)."""
    z = x * y
    return {"z": z, "arr": np.full(K, z)}


def simulate(run: Any) -> dict[str, object]:
    """The same function as pypet_rebuild calls it (``run`` is a ``pr.Run``)."""
    z = run.x * run.y
    return {"z": z, "arr": np.full(K, z)}


def workload_trajectory(n: int, name: str = "workload", seed: int = 0) -> pr.Trajectory:
    """A trajectory exploring the first ``n`` WORKLOAD points."""
    import pypet_rebuild as pr

    xs, ys = workload_points(n)
    traj = pr.Trajectory(name, seed=seed)
    traj.add_parameter("x", 0.0)
    traj.add_parameter("y", 0)
    traj.explore(pr.zipped({"x": xs, "y": ys}))
    return traj
