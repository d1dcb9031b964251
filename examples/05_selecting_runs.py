"""Selecting runs: which runs of a sweep match a condition?

The model: the steady-state response of a damped, driven harmonic oscillator, "measured" with
a little noise. A coarse grid of drive frequencies and dampings is refined near the resonance;
the refinement repeats a few points of the coarse grid, and the undamped oscillator driven
exactly at resonance has no steady state (that run fails).

What it shows, after the sweep is stored and reloaded:

* ``find_runs`` with a predicate function; its argument names pick parameters (full path, unique
  leaf name, or ``a__b`` for ``a.b``) and results, and only the named results are read;
* ``find_runs`` with keyword conditions (equality);
* ``find_runs`` with a query string (pandas syntax) over explored values, scalar results and run
  metadata such as ``status`` and ``duration``;
* the same selections on the ``to_pandas()`` table;
* ``unique_points()``: the distinct points and the runs that explore each.

Run it with ``uv run examples/05_selecting_runs.py`` (writes ``05_selecting_runs.h5`` next to
this script), or ``... OUT.h5 --size 3`` for a coarser grid.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import numpy as np

import pypet_rebuild as pr


def respond(run: pr.Run) -> dict[str, object]:
    """Steady-state response x(t) = A cos(w t - phase), sampled with measurement noise."""
    w, w0 = run.drive.omega, run.oscillator.omega0
    detuning = w0**2 - w**2
    # Undamped and exactly at resonance: the denominator is 0 and this raises
    # ZeroDivisionError -- a failed run, recorded with its traceback.
    amplitude = run.drive.force / math.sqrt(detuning**2 + (run.damping * w) ** 2)
    phase = math.atan2(run.damping * w, detuning)
    t = np.linspace(0.0, 20.0, 400)
    trace = amplitude * np.cos(w * t - phase) + run.noise * run.rng.standard_normal(t.size)
    measured = float(trace.max() - trace.min()) / 2.0
    return {
        "trace": trace,  # an array result
        "amplitude": measured,  # scalar results: usable in query strings
        "phase": phase,
        "resonant": bool(measured > 2.0 * run.drive.force),  # a bool result
    }


def main(path: Path, size: int = 5) -> None:
    """Sweep, store and reload; then select runs in every way."""
    traj = pr.Trajectory("oscillator", comment="resonance of a driven oscillator", seed=5)
    omega = traj.add_parameter("drive.omega", 1.0, comment="drive frequency")
    traj.add_parameter("drive.force", 1.0, comment="drive amplitude")
    traj.add_parameter("oscillator.omega0", 1.0, comment="natural frequency")
    damping = traj.add_parameter("oscillator.damping", 0.1)
    traj.add_parameter("noise", 0.05, comment="measurement noise (standard deviation)")

    coarse = pr.cartesian_product(
        omega.sweep([round(float(w), 6) for w in np.linspace(0.5, 1.5, size)]),
        damping.sweep([0.0, 0.1, 0.5]),
    )
    refined = pr.cartesian_product(
        omega.sweep([0.9, 0.95, 1.0, 1.05, 1.1]), damping.sweep([0.0, 0.1])
    )
    # "+" concatenates explorations; describe() counts the points repeated between them.
    traj.explore(coarse + refined)
    print(traj.space, end="\n\n")

    path.unlink(missing_ok=True)
    report = pr.Environment(traj, storage=path).run(respond, on_error="continue", progress=False)
    print(report, end="\n\n")

    loaded = pr.load_trajectory(path)

    # 1. A predicate. Argument names select values: here two parameters by leaf name.
    near = loaded.find_runs(lambda omega, damping: abs(omega - 1.0) <= 0.05 and damping > 0)
    print("near resonance, damped:        ", near)
    # Arguments that name results read those results (only those); runs without a value
    # (the failed one) never match.
    print("amplitude above 3:             ", loaded.find_runs(lambda amplitude: amplitude > 3))
    # Array results arrive as arrays; a full path is spelled with "__" for the dot.
    print(
        "trace peak above 5 at w < 1:   ",
        loaded.find_runs(lambda trace, drive__omega: trace.max() > 5 and drive__omega < 1),
    )

    # 2. Keyword conditions: equality, combined with "and". Unique leaf names work as keywords;
    #    for a dotted path, unpack a dict.
    print("damping == 0.5:                ", loaded.find_runs(damping=0.5))
    print("omega == 1 and damping == 0.1: ", loaded.find_runs(**{"drive.omega": 1.0}, damping=0.1))

    # 3. Query strings (pandas' DataFrame.query syntax). Dotted paths go in backticks; run
    #    metadata (status, duration, host, pid, seed, started, finished) can be used too.
    print(
        "query, resonant and damped:    ", loaded.find_runs("resonant and `oscillator.damping` > 0")
    )
    print("query, failed runs:            ", loaded.find_runs("status == 'failed'"))
    print("query and keyword combined:    ", loaded.find_runs("amplitude > 1", damping=0.1))

    # 4. The same questions on the table (one row per run: explored values, scalar results,
    #    status, duration). Everything pandas offers applies.
    frame = loaded.to_pandas()
    done = frame[frame["status"] == "done"]
    print(
        "\nthe five largest amplitudes:\n",
        done.nlargest(5, "amplitude")[["drive.omega", "oscillator.damping", "amplitude"]],
    )
    peak = done.groupby("oscillator.damping")["amplitude"].max()
    print("\npeak amplitude by damping:\n", peak.to_string())

    # 5. Repeated points: the refinement re-ran points of the coarse grid. Identical points
    #    draw identical random numbers (run.rng derives from the point), so they agree.
    repeated = [(point, runs) for point, runs in loaded.unique_points() if len(runs) > 1]
    print(f"\n{len(loaded.unique_points())} distinct points in {len(loaded)} runs; repeated:")
    for point, runs in repeated:
        values = loaded.results["amplitude"][runs]
        print(f"  {point} at runs {runs}: amplitudes {np.round(values, 4).tolist()}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "path", nargs="?", type=Path, default=Path(__file__).with_name("05_selecting_runs.h5")
    )
    parser.add_argument("--size", type=int, default=5, help="drive frequencies in the coarse grid")
    arguments = parser.parse_args()
    main(arguments.path, arguments.size)
