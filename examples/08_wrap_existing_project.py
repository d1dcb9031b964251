"""Wrapping an existing project: sweep code you already have, without changing it.

``examples/cellular_automaton/`` stands for your existing simulation package: elementary
cellular automata with its own functions and conventions (an integer seed, a rule number, numpy
arrays out) and no import of pypet_rebuild. All the glue is one small simulate function here that

* reads this run's parameter values from ``run``,
* calls the project's functions as they are (passing ``run.seed``, the reproducible seed derived
  for this run's point, where the project wants an integer seed),
* returns what should be stored.

The sweep crosses Wolfram's rule number with the initial density of live cells, and sorts rules
by how random their patterns look (class 1 freezes, class 3 looks random).

Run it with ``uv run examples/08_wrap_existing_project.py`` (writes
``08_wrap_existing_project.h5`` next to this script), or ``... OUT.h5 --size 20`` for a smaller
ring of cells.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import cellular_automaton as ca  # the existing project, imported like any package

import pypet_rebuild as pr


def simulate_automaton(run: pr.Run) -> dict[str, object]:
    """The glue: parameters in, the project's functions as they are, results out."""
    initial = ca.random_initial_state(run.cells, run.initial_density, seed=run.seed)
    pattern = ca.run_automaton(initial, ca.make_rule_table(run.rule), run.steps)
    return {
        "pattern": pattern,  # (steps + 1, cells) uint8: stored as one dataset across runs
        "density": ca.density(pattern),  # live fraction per time step
        "entropy": ca.pattern_entropy(pattern),  # a scalar to sort and query by
    }


def main(path: Path, size: int = 80) -> None:
    """Sweep 6 rules x 3 densities on a ring of ``size`` cells for ``size`` steps."""
    traj = pr.Trajectory("automata", comment="elementary cellular automata", seed=110)
    rule = traj.add_parameter("rule", 30, comment="Wolfram rule number, 0-255")
    initial_density = traj.add_parameter("initial_density", 0.5, comment="live cells at t = 0")
    traj.add_parameter("cells", size, comment="cells on the ring")
    traj.add_parameter("steps", size, comment="time steps")
    traj.explore(
        pr.cartesian_product(
            rule.sweep([4, 30, 54, 90, 110, 184]), initial_density.sweep([0.1, 0.5, 0.9])
        )
    )

    path.unlink(missing_ok=True)
    print(pr.Environment(traj, storage=path).run(simulate_automaton, progress=False), end="\n\n")

    loaded = pr.load_trajectory(path)
    # Entropy by rule and initial density: the explored values become the table's index.
    table = loaded.to_pandas(["entropy"], metadata=False, index="explored")
    print(table["entropy"].unstack("initial_density").round(3).to_string(), end="\n\n")

    # The project's own tools work on the stored arrays as they come back.
    (run,) = loaded.find_runs(rule=30, initial_density=0.5)
    pattern = loaded.results["pattern"][run, :12]  # only the first 12 rows are read
    print(f"rule 30 from density 0.5, first rows of run {run}:")
    print(ca.to_text(pattern[:, :72]))
    print(f"\nfinal live fraction, every run: {loaded.results['density'][:, -1].round(2)}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "path",
        nargs="?",
        type=Path,
        default=Path(__file__).with_name("08_wrap_existing_project.h5"),
    )
    parser.add_argument("--size", type=int, default=80, help="cells on the ring (and steps)")
    arguments = parser.parse_args()
    main(arguments.path, arguments.size)
