"""Access and storage: a leaky integrate-and-fire neuron, its parameter tree and its file.

What it shows:

* parameters in groups (``neuron.tau``, ``synapse.tau``, ``sim.dt``) and the three ways to reach
  them: full path, attribute through the groups, and a unique leaf name; an ambiguous leaf name
  (``tau``) is an error that lists the candidates;
* storing a sweep, then reloading it lazily: nothing but the definition is read until asked;
* the stored study (``pr.load_trajectory``): one run (``study.run(i)``), the run table (status,
  duration, host, pid, seed), provenance;
* a derived (trajectory-level) result added after the sweep;
* several trajectories in one file.

Run it with ``uv run examples/02_access_and_storage.py`` (writes ``02_access_and_storage.h5``
next to this script), or ``... OUT.h5 --size 3`` for fewer input currents.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

import pypet_rebuild as pr


def simulate_neuron(run: pr.Run) -> dict[str, object]:
    """Integrate a leaky integrate-and-fire neuron driven by a low-pass filtered current."""
    # Read the parameters once into locals: the loop below runs thousands of times.
    tau = run.neuron.tau  # attribute access through the group
    tau_syn = run["synapse.tau"]  # full path: same thing
    threshold = run.threshold  # a unique leaf name works too
    reset = run.neuron.reset
    refractory = run.neuron.refractory
    current = run.neuron.current
    dt = run.sim.dt
    steps = round(run.sim.duration / dt)

    voltage = np.empty(steps)
    v, i_syn, blocked_until = reset, 0.0, -1.0
    spikes: list[float] = []
    for k in range(steps):
        t = k * dt
        i_syn += dt * (current - i_syn) / tau_syn  # the synapse filters the input
        if t >= blocked_until:
            v += dt * (i_syn - v) / tau  # the membrane leaks towards the input
            if v >= threshold:
                spikes.append(t)
                v, blocked_until = reset, t + refractory
        voltage[k] = v

    return {
        "voltage": voltage,  # one array per run, always the same shape: stored stacked
        "spike_times": np.array(spikes),  # a different length per run: stored packed
        "rate": 1000.0 * len(spikes) / run.sim.duration,  # a number: spikes per second
    }


def declare(name: str, duration: float) -> pr.Trajectory:
    """The parameter tree. Dotted paths create groups."""
    traj = pr.Trajectory(name, comment="LIF neuron: firing rate against input current", seed=11)
    traj.add_parameter(
        "neuron.tau", 10.0, comment="membrane time constant", annotations={"unit": "ms"}
    )
    traj.add_parameter("neuron.threshold", 1.0, comment="spike threshold (dimensionless)")
    traj.add_parameter("neuron.reset", 0.0, comment="voltage after a spike")
    traj.add_parameter("neuron.refractory", 2.0, annotations={"unit": "ms"})
    traj.add_parameter("neuron.current", 1.0, comment="input current (dimensionless)")
    traj.add_parameter(
        "synapse.tau", 5.0, comment="input filter time constant", annotations={"unit": "ms"}
    )
    traj.add_parameter("sim.dt", 0.1, annotations={"unit": "ms"})
    traj.add_parameter("sim.duration", duration, annotations={"unit": "ms"})
    return traj


def show_access(traj: pr.Trajectory) -> None:
    """The ways to reach a parameter, before anything runs."""
    print(traj["neuron.tau"])  # full path: the Parameter itself
    print(traj.neuron.tau.default)  # attribute through the group
    print(traj.threshold.comment)  # unique leaf name
    print("in group 'neuron':", [p.path for p in traj.neuron.parameters()])
    try:
        traj.tau  # noqa: B018 - two parameters are called "tau"
    except pr.errors.AmbiguousNameError as error:
        print("traj.tau ->", error)


def main(path: Path, size: int = 6) -> None:
    """Run two trajectories into ``path`` and show how to read them back."""
    path.unlink(missing_ok=True)

    traj = declare("lif", duration=200.0)
    show_access(traj)
    currents = np.linspace(0.8, 3.0, size)  # below threshold (silent) to strongly driven
    traj.explore(
        pr.cartesian_product({"neuron.current": currents, "neuron.tau": [5.0, 10.0, 20.0]})
    )
    print(traj.describe(), end="\n\n")
    print(pr.Environment(traj, storage=path).run(simulate_neuron, progress=False), end="\n\n")

    # A second study in the same file: a longer simulation of a few currents (zipped with
    # membrane time constants rather than crossed). Each trajectory has its own group.
    longer = declare("lif_long", duration=1000.0)
    longer.explore(pr.zipped({"neuron.current": [1.5, 2.5], "neuron.tau": [10.0, 20.0]}))
    pr.Environment(longer, storage=path).run(simulate_neuron, progress=False)
    storage = pr.open_storage(path)  # the backend a path resolves to (by its signature: HDF5)
    print("trajectories in the file:", storage.trajectory_names())
    storage.close()

    # Reload: a stored study (pr.StoredTrajectory), which owns all reading. With two
    # trajectories in the file, name the one you want. This reads the parameter tree and the
    # number of runs, nothing else.
    loaded = pr.load_trajectory(path, name="lif")
    print(loaded, end="\n\n")  # a summary: parameters, explored ranges, run counts, results

    # Result handles are lazy and index like numpy arrays whose first axis is the run.
    voltage = loaded.results["voltage"]
    print("final voltage of every run:", np.round(voltage[:, -1], 3))
    print("run 4, every 500th sample:  ", np.round(voltage[4, ::500], 3))
    print("spike times of run 4 (ms):  ", loaded.results["spike_times"][4][:5], "...")

    # One run: its parameters, explored point, results, status and run-table row.
    run = loaded.run(4)
    print("run 4 point:  ", run.point)
    print("run 4 params: ", run.params)
    print("run 4 results:", sorted(run.results))
    print("run 4 status: ", run.status, "on host", run.metadata["host"])

    # The run table with the explored values and scalar results, as a pandas DataFrame.
    table = loaded.to_pandas(metadata=["status", "duration", "host", "pid", "seed"])
    print(table.to_string(), end="\n\n")

    # Provenance: one record per Environment.run call (versions, host, git commit, executor).
    provenance = loaded.provenance[-1]
    for key in ("python", "version_pypet_rebuild", "version_numpy", "hostname", "executor"):
        print(f"  provenance {key}: {provenance[key]}")

    # A derived result: an analysis product of the whole study (here the f-I curve for
    # tau = 10 ms), stored in the file at once, with the runs it was computed from.
    runs = loaded.find_runs(**{"neuron.tau": 10.0})
    f_i = np.stack([currents, loaded.results["rate"][runs]], axis=1)
    loaded.add_derived(
        "f_i_curve", f_i, comment="rate (Hz) against current, tau = 10 ms", runs=runs
    )
    loaded.close()
    with pr.load_trajectory(path, "lif") as again:
        print("f-I curve (stored as a derived result):\n", again.derived["f_i_curve"].value)

    # The other trajectory, loaded with only one of its results visible.
    other = pr.load_trajectory(path, name="lif_long", load_only=["rate"])
    rates = other.results["rate"][:]
    print(f"{other.name}: {len(other)} runs, results {list(other.results)}, rates {rates}")
    other.close()
    print(f"stored in {path} ({path.stat().st_size / 1024:.1f} KiB)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "path", nargs="?", type=Path, default=Path(__file__).with_name("02_access_and_storage.h5")
    )
    parser.add_argument("--size", type=int, default=6, help="number of input currents")
    arguments = parser.parse_args()
    main(arguments.path, arguments.size)
