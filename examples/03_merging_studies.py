"""Merging studies: two sweeps run on different machines become one trajectory.

The model: random walkers with a drift and noise, started at 0; how long until they first reach
a barrier at 1? Machine A sweeps small noise levels, machine B larger ones; both ran the noise
level in the middle, so one point was simulated twice (with different seeds).

What it shows:

* two studies of the same parameters, each in its own file (as they come back from two machines);
* ``pr.merge_trajectories`` with ``drop_duplicates=True``: the repeated point is kept once;
* the same merge with a trial counter (``trial_parameter="trial"``): both repetitions are kept,
  numbered 0 and 1, and can be averaged;
* lineage: the merged trajectory's provenance lists the files, trajectories and provenance it
  came from.

Run it with ``uv run examples/03_merging_studies.py`` (writes ``03_merging_studies.h5`` and the
two machines' files next to this script), or ``... OUT.h5 --size 2`` for fewer points.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

import pypet_rebuild as pr


def first_passage(run: pr.Run) -> dict[str, object]:
    """Simulate ``walkers`` drifting random walks; return when each first reaches 1."""
    dt = run.dt
    steps = round(run.t_max / dt)
    # run.rng is reproducible: derived from the trajectory seed and this run's point.
    increments = run.drift * dt + run.noise * np.sqrt(dt) * run.rng.standard_normal(
        (run.walkers, steps)
    )
    positions = np.cumsum(increments, axis=1)
    crossed = positions >= 1.0
    # The first step at which each walker crossed; walkers that never crossed get t_max (NaN
    # would do too, but a finite value keeps the mean honest about the cut-off).
    first = np.where(crossed.any(axis=1), crossed.argmax(axis=1) + 1, steps) * dt
    return {
        "passage_times": first,
        "mean_passage": float(first.mean()),
        "fraction_crossed": float(crossed.any(axis=1).mean()),
    }


def study(name: str, noises: list[float], drifts: list[float], seed: int) -> pr.Trajectory:
    """The same parameters on both machines; only the explored values and the seed differ."""
    traj = pr.Trajectory(name, comment="first passage of a drifting random walk", seed=seed)
    traj.add_parameter("drift", 0.5, comment="mean velocity", annotations={"unit": "1/s"})
    traj.add_parameter("noise", 0.5, comment="diffusion amplitude")
    traj.add_parameter("walkers", 200, comment="walkers per run")
    traj.add_parameter("dt", 0.01, annotations={"unit": "s"})
    traj.add_parameter("t_max", 10.0, annotations={"unit": "s"})
    traj.explore(pr.cartesian_product({"noise": noises, "drift": drifts}))
    return traj


def main(path: Path, size: int = 3) -> None:
    """Run the two studies into their own files, then merge them into ``path``."""
    drifts = [float(d) for d in np.linspace(0.2, 1.0, size)]
    file_a = path.with_name(path.stem + "_machine_a.h5")
    file_b = path.with_name(path.stem + "_machine_b.h5")
    for file in (path, file_a, file_b):
        file.unlink(missing_ok=True)

    # "Machine A" and "machine B": two independent sweeps, two files. Both explore noise 0.3.
    study_a = study("walks", [0.1, 0.2, 0.3], drifts, seed=1)
    study_b = study("walks", [0.3, 0.4, 0.5], drifts, seed=2)
    pr.Environment(study_a, storage=file_a).run(first_passage, progress=False)
    pr.Environment(study_b, storage=file_b).run(first_passage, progress=False)

    # Back on one machine: load both (lazily) and merge them.
    a = pr.load_trajectory(file_a)
    b = pr.load_trajectory(file_b)
    print(f"machine A: {len(a)} runs, machine B: {len(b)} runs")

    # 1. Drop duplicates: a point explored by both is kept once (A's run: the target comes
    #    first). Identity is the stable point hash, so 0.3 and np.float64(0.3) are the same.
    #    ``into=`` writes a new file and leaves both sources untouched.
    unique = pr.merge_trajectories(a, b, into=path, name="walks_unique", drop_duplicates=True)
    print(f"{unique.name}: {len(unique)} runs (the {len(drifts)} repeated points kept once)")
    print(unique.to_pandas(["mean_passage"], metadata=False).to_string(), end="\n\n")

    # 2. Keep both repetitions and count them in an int parameter "trial" (added to the
    #    merged trajectory; 0 for the first occurrence of a point, 1 for the next ...).
    trials = pr.merge_trajectories(a, b, into=path, name="walks_trials", trial_parameter="trial")
    repeated = trials.find_runs(trial=1)
    print(f"{trials.name}: {len(trials)} runs; second trials at runs {repeated}")
    frame = trials.to_pandas(["mean_passage"])
    # Average the repetitions of each (noise, drift) point.
    means = frame.groupby(["noise", "drift"])["mean_passage"].agg(["mean", "count"])
    print(means.to_string(), end="\n\n")

    # Lineage: the merge is recorded in the provenance, with the provenance of every source.
    (record,) = trials.provenance
    print("operation:", record["operation"], "-", record["runs"], "runs")
    sources = record["merged_from"]
    assert isinstance(sources, list)
    for source in sources:
        print(f"  from {source['file']} [{source['trajectory']}]: {source['runs']} runs")

    # Both merged trajectories live in one file, next to nothing else.
    for stored in (a, b, unique, trials):
        stored.close()
    storage = pr.open_storage(path)
    print("trajectories in", path.name, storage.trajectory_names())
    storage.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "path", nargs="?", type=Path, default=Path(__file__).with_name("03_merging_studies.h5")
    )
    parser.add_argument("--size", type=int, default=3, help="number of drift values")
    arguments = parser.parse_args()
    main(arguments.path, arguments.size)
