"""An adaptive loop: an optimiser proposes points, pypet_rebuild runs and stores them.

Instead of a grid fixed in advance, each round looks at the results so far and decides where to
run next (pypet's "post-processing expands the trajectory" loop). ``pr.AdaptiveSweep`` appends
each round's points to one trajectory, runs only those, and keeps every round in the file.

Two classic loops:

1. **Bisection** (here a multisection: several points per round, which a process pool could run
   in parallel): the smallest input current that makes a leaky integrate-and-fire neuron fire
   within 50 ms (its rheobase). The answer is known in closed form, so we can check it.
2. **scipy.optimize.minimize**: fit the growth rate and capacity of a logistic model to noisy
   observations. ``sweep.objective`` turns the sweep into a function of a parameter vector; every
   evaluation Nelder-Mead asks for is one stored run.

Reloading the file shows every round of both searches.

Run it with ``uv run examples/07_adaptive_loop.py`` (writes ``07_adaptive_loop.h5`` next to this
script), or ``... OUT.h5 --size 2 --evaluations 20`` for a quick one. Needs scipy
(``pypet_rebuild[scipy]``).
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import numpy as np
import scipy.optimize

import pypet_rebuild as pr

# -- 1. Bisection ----------------------------------------------------------------------------


def fires(run: pr.Run) -> dict[str, object]:
    """Does a LIF neuron driven by a constant current spike within the simulated time?"""
    steps = round(run.duration / run.dt)
    decay = math.exp(-run.dt / run.tau)
    v = 0.0
    for _ in range(steps):
        v = run.current + (v - run.current) * decay  # exact for a constant input
        if v >= run.threshold:
            return {"fired": True}
    return {"fired": False}


def find_rheobase(path: Path, rounds: int, per_round: int = 4) -> float:
    """Narrow the bracket [0, 2] around the rheobase by multisection; return its upper end."""
    traj = pr.Trajectory("rheobase", comment="smallest current that fires in 50 ms", seed=7)
    traj.add_parameter("current", 1.0)
    traj.add_parameter("round", 0, comment="the round that proposed this point")
    traj.add_parameter("tau", 10.0, annotations={"unit": "ms"})
    traj.add_parameter("threshold", 1.0)
    traj.add_parameter("duration", 50.0, annotations={"unit": "ms"})
    traj.add_parameter("dt", 0.01, annotations={"unit": "ms"})

    low, high = 0.0, 2.0  # silent at 0, firing at 2
    # As a context manager, the sweep folds every round's segment file into the main file at
    # the end (rounds only append, so each round costs the same however many came before).
    with pr.AdaptiveSweep(traj, fires, storage=path) as sweep:
        for number in range(rounds):
            currents = list(np.linspace(low, high, per_round + 2)[1:-1])
            # Each point names every explored parameter; "round" labels the points in the file.
            outcome = sweep.evaluate({"current": currents, "round": [number] * per_round})
            fired = outcome.values("fired")
            # The new bracket: the last silent and the first firing current.
            for current, did_fire in zip(currents, fired, strict=True):
                if did_fire:
                    high = min(high, float(current))
                else:
                    low = max(low, float(current))
            print(f"  round {number}: {len(currents)} runs, bracket [{low:.6f}, {high:.6f}]")
    return high


# -- 2. scipy.optimize.minimize --------------------------------------------------------------

TIMES = np.linspace(0.0, 10.0, 25)
TRUE_RATE, TRUE_CAPACITY = 0.9, 50.0


def logistic(rate: float, capacity: float, start: float = 2.0) -> np.ndarray:
    """The logistic growth curve at ``TIMES``."""
    return capacity / (1.0 + (capacity / start - 1.0) * np.exp(-rate * TIMES))


# The "observations": the true curve plus noise, fixed by a seed.
OBSERVED = logistic(TRUE_RATE, TRUE_CAPACITY) + np.random.default_rng(3).normal(
    0.0, 1.0, TIMES.size
)


def misfit(run: pr.Run) -> dict[str, object]:
    """Mean squared error between the model at this run's parameters and the observations."""
    if run.capacity <= 0:
        raise ValueError(f"capacity must be positive, got {run.capacity}")  # a failed run
    curve = logistic(run.rate, run.capacity)
    return {"loss": float(np.mean((curve - OBSERVED) ** 2)), "curve": curve}


def fit_logistic(path: Path, evaluations: int) -> tuple[float, float]:
    """Minimise the misfit with Nelder-Mead; every function evaluation is a stored run."""
    traj = pr.Trajectory("logistic_fit", comment="least-squares fit of a logistic curve", seed=8)
    traj.add_parameter("rate", 0.5, annotations={"unit": "1/day"})
    traj.add_parameter("capacity", 30.0)
    with pr.AdaptiveSweep(traj, misfit, storage=path) as sweep:
        objective = sweep.objective("loss", ["rate", "capacity"])  # NaN for a failed run
        found = scipy.optimize.minimize(
            objective,
            x0=[0.5, 30.0],
            method="Nelder-Mead",
            options={"maxfev": evaluations, "xatol": 1e-3, "fatol": 1e-4},
        )
        print(f"  {len(sweep.rounds)} evaluations, loss {found.fun:.4f} at {np.round(found.x, 3)}")
    return float(found.x[0]), float(found.x[1])


def main(path: Path, size: int = 6, evaluations: int = 120) -> None:
    """``size`` bisection rounds and at most ``evaluations`` fit runs into ``path``; reload."""
    path.unlink(missing_ok=True)

    print("multisection for the rheobase:")
    estimate = find_rheobase(path, rounds=size)
    # Closed form: v(t) = I (1 - exp(-t / tau)) reaches 1 at t = 50 ms when I = 1 / (1 - e^-5).
    exact = 1.0 / (1.0 - math.exp(-50.0 / 10.0))
    print(f"  estimate {estimate:.6f}, closed form {exact:.6f}\n")

    print("Nelder-Mead fit of a logistic curve:")
    rate, capacity = fit_logistic(path, evaluations)
    print(f"  true values: rate {TRUE_RATE}, capacity {TRUE_CAPACITY}\n")

    # Every round is in the file.
    bisection = pr.load_trajectory(path, "rheobase")
    table = bisection.to_pandas()
    print(f"{bisection.name}: {len(bisection)} runs in {table['round'].nunique()} rounds")
    summary = table.groupby("round").agg(
        lowest=("current", "min"), highest=("current", "max"), firing=("fired", "sum")
    )
    print(summary.to_string(), end="\n\n")

    fit = pr.load_trajectory(path, "logistic_fit")
    frame = fit.to_pandas().sort_values("loss")
    print(f"{fit.name}: {len(fit)} runs; the three best:")
    print(frame.head(3).to_string())
    best = frame.index[0]
    print(f"best run {best}: curve ends at {fit.results['curve'][best, -1]:.2f}")
    print(f"fitted: rate {rate:.3f}, capacity {capacity:.2f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "path", nargs="?", type=Path, default=Path(__file__).with_name("07_adaptive_loop.h5")
    )
    parser.add_argument("--size", type=int, default=6, help="bisection rounds")
    parser.add_argument("--evaluations", type=int, default=120, help="most fit evaluations")
    arguments = parser.parse_args()
    main(arguments.path, arguments.size, arguments.evaluations)
