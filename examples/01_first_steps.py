"""First steps: pypet's classic example, multiply ``x`` and ``y``, explained line by line.

What it shows:

* declaring typed parameters, with a comment and free-form annotations (units, notes);
* exploring a grid, and describing it before anything runs;
* a simulate function that adds results with a comment;
* a run that fails (the square root of a negative product), recorded with its traceback
  while the sweep goes on (``on_error="continue"``);
* the run report, and reading the stored file back.

Run it with ``uv run examples/01_first_steps.py`` (writes ``01_first_steps.h5`` next to this
script), or ``uv run examples/01_first_steps.py OUT.h5 --size 3`` for a 3 x 3 grid.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import pypet_rebuild as pr


# The simulate function. It must take one argument, a ``pr.Run``: the parameter values of this
# run are its attributes (``run.x``), whether explored or not. Define it at module level, so the
# same script also works with ``executor="process"`` later on.
def multiply(run: pr.Run) -> None:
    """Multiply the two factors and take the square root of the product."""
    z = run.x * run.y
    # Results can be returned as a mapping, or added one by one, here with a comment that is
    # stored next to the values in the file.
    run.add_result("z", z, comment="the product x * y")
    # math.sqrt raises ValueError for a negative product: that run fails. With
    # on_error="continue" the failure is stored with its traceback and the sweep goes on.
    # A failed run keeps no results: its "z" above is dropped too.
    run.add_result("root", math.sqrt(z), comment="square root of the product")


def build(size: int) -> pr.Trajectory:
    """Declare the parameters and the grid of ``size`` x ``size`` points."""
    # A trajectory is one study: a name, a comment and a seed (recorded, for reproducibility).
    traj = pr.Trajectory("first_steps", comment="multiply two numbers", seed=42)

    # The default value fixes the type: 1.0 declares a float parameter, 1 an int parameter.
    # ``add_parameter`` returns a typed handle (Parameter[float], Parameter[int]).
    x = traj.add_parameter("x", 1.0, comment="first factor", annotations={"unit": "m"})
    y = traj.add_parameter(
        "y", 1, comment="second factor", annotations={"unit": "1", "note": "a count"}
    )

    # ``x.sweep`` is checked by mypy (a string for x would be a type error) and again at run
    # time. The first x value is negative on purpose: those runs will fail.
    x_values = [-1.0, *(float(k) for k in range(1, size))]
    y_values = list(range(1, size + 1))
    traj.explore(pr.cartesian_product(x.sweep(x_values), y.sweep(y_values)))
    return traj


def main(path: Path, size: int = 4) -> pr.RunReport:
    """Run the sweep into ``path`` and print what the file holds."""
    traj = build(size)

    # Before anything runs: the number of runs, the grid shape, the values per parameter.
    print(traj.describe(), end="\n\n")

    # A path means an HDF5 file. Running a trajectory whose name is already stored is refused
    # (to protect earlier results), so this example starts from a fresh file.
    path.unlink(missing_ok=True)
    env = pr.Environment(traj, storage=path)
    report = env.run(multiply, on_error="continue", progress=False)

    # The report: counts, wall time, run-time statistics and the first failures.
    print(report, end="\n\n")
    for failure in report.failures:
        print(f"  run {failure.index} at {failure.point}: {failure.error_type}: {failure.message}")
    print()

    # Reload. ``load_trajectory`` reads only the definition; results are read when indexed.
    loaded = pr.load_trajectory(path)
    print("x is annotated with:", loaded["x"].annotations)
    print("z comment:          ", loaded.results["z"].comment)
    print("z of every run:     ", loaded.results["z"][:])
    # Failed runs have no results: the arrays are masked there.
    print("root of every run:  ", loaded.results["root"][:])
    first_failed = report.failures[0].index if report.failures else 0
    failed_run = loaded.run(first_failed)
    print(f"run {first_failed} is {failed_run.status}; its stored error ends with:")
    print("   ", str(failed_run.metadata["error"]).strip().splitlines()[-1])
    # One table of everything: explored values, scalar results, status and duration.
    print(loaded.to_pandas().to_string(), end="\n\n")
    print(f"stored in {path} ({path.stat().st_size / 1024:.1f} KiB)")
    return report


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "path", nargs="?", type=Path, default=Path(__file__).with_name("01_first_steps.h5")
    )
    parser.add_argument("--size", type=int, default=4, help="values per factor (default 4)")
    arguments = parser.parse_args()
    main(arguments.path, arguments.size)
