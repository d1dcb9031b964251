"""Write ``sweep_v1.hdf5``: a file of format version 1, for the tests that read old files.

Written with the library at commit 4db8fa4 (format version 1)::

    uv run python tests/data/v1/generate.py

The file holds two trajectories: ``sweep`` (six runs of ``x`` times ``label``, one failed run
with an error, captured output, results of every layout: a float, a fixed-shape array, a string,
a ragged array and a DataFrame; a derived result and two provenance records) and ``grown`` (an
expansion folded in). ``EXPECTED`` in ``tests/storage/test_hdf5_v1.py`` lists what it holds.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

import pypet_rebuild as pr

HERE = Path(__file__).parent


def simulate(run: pr.Run) -> dict[str, object]:
    if run.x == 2.0 and run.label == "b":
        print("about to fail")
        raise RuntimeError("boom at x=2")
    frame = pd.DataFrame({"a": np.arange(3) * run.x, "b": [run.label] * 3})
    return {
        "z": run.x * 10,
        "trace": np.arange(4) * run.x,
        "word": f"{run.label}{run.x}",
        "ragged": np.arange(int(run.x)),
        "frame": frame,
    }


def main() -> None:
    path = HERE / "sweep_v1.hdf5"
    path.unlink(missing_ok=True)
    traj = pr.Trajectory("sweep", seed=3, comment="a version-1 file")
    traj.add_parameter("x", 1.0, comment="the factor")
    traj.add_parameter("label", "a")
    traj.explore(pr.cartesian_product({"x": [1.0, 2.0, 3.0], "label": ["a", "b"]}))
    env = pr.Environment(traj, storage=path)
    env.run(simulate, on_error="continue", capture_output=True)
    study = pr.load_trajectory(path, name="sweep")
    study.add_derived("total", 42.0, comment="a derived result")
    grown = pr.Trajectory("grown", seed=4)
    grown.add_parameter("n", 0)
    grown.explore({"n": [1, 2]})
    storage = pr.HDF5StorageService(path)
    pr.Environment(grown, storage=storage).run(lambda run: {"sq": run.n * run.n})
    grown.expand({"n": [3]})
    pr.Environment(grown, storage=storage).run(lambda run: {"sq": run.n * run.n}, resume=True)


if __name__ == "__main__":
    main()
