"""A custom stored type: the Lorenz attractor, with an array parameter and a result class.

What it shows:

* an ``numpy.ndarray`` parameter (the initial condition), explored over several arrays;
* integrating the Lorenz system with a classic fourth-order Runge-Kutta scheme (numpy only);
* a result of your own type, a ``@dataclass LorenzTrajectory``, stored through a codec
  registered with ``pr.register_codec`` (without a codec it would be refused, by name, before
  anything is written; pickling is opt-in);
* reloading: every value comes back as a ``LorenzTrajectory`` equal to the one computed.

The codec turns a value into named numpy arrays plus small JSON attributes and back; the law it
must obey is ``decode(encode(x)) == x`` with the same type. Its ``name`` is written to the file:
never change it once files exist.

Run it with ``uv run examples/04_lorenz_custom_type.py`` (writes ``04_lorenz_custom_type.h5``
next to this script), or ``... OUT.h5 --size 2`` for fewer initial conditions.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

import pypet_rebuild as pr
from pypet_rebuild.storage.codecs import DecodeContext, EncodeContext, Encoded, JSONValue

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True, eq=False)
class LorenzTrajectory:
    """One solution of the Lorenz system: the constants and the states at every time step."""

    sigma: float
    rho: float
    beta: float
    dt: float
    states: FloatArray  # (steps + 1, 3): x, y, z

    @property
    def times(self) -> FloatArray:
        """The time of every state."""
        return np.arange(len(self.states), dtype=np.float64) * self.dt

    def __eq__(self, other: object) -> bool:
        # Arrays make the dataclass' generated == ambiguous; compare them explicitly.
        if not isinstance(other, LorenzTrajectory):
            return NotImplemented
        return (self.sigma, self.rho, self.beta, self.dt) == (
            other.sigma,
            other.rho,
            other.beta,
            other.dt,
        ) and np.array_equal(self.states, other.states)

    __hash__ = None  # type: ignore[assignment]  # mutable contents: not hashable


def _number(value: JSONValue) -> float:
    """A JSON attribute that holds a number, as a float."""
    if not isinstance(value, int | float):
        raise TypeError(f"expected a number in the stored attributes, got {value!r}")
    return float(value)


class LorenzCodec:
    """Stores a :class:`LorenzTrajectory` as one float array plus four numbers."""

    name = "examples.LorenzTrajectory"  # stable id stored in the file

    def can_encode(self, value: object) -> bool:
        return isinstance(value, LorenzTrajectory)

    def encode(self, value: LorenzTrajectory, ctx: EncodeContext) -> Encoded:
        # Arrays must have a native dtype (float64 is); attributes must be JSON.
        attrs: dict[str, JSONValue] = {
            "sigma": value.sigma,
            "rho": value.rho,
            "beta": value.beta,
            "dt": value.dt,
        }
        return Encoded(self.name, {"states": value.states}, attrs)

    def decode(self, encoded: Encoded, ctx: DecodeContext) -> LorenzTrajectory:
        attrs = encoded.attrs
        return LorenzTrajectory(
            sigma=_number(attrs["sigma"]),
            rho=_number(attrs["rho"]),
            beta=_number(attrs["beta"]),
            dt=_number(attrs["dt"]),
            states=np.asarray(encoded.arrays["states"], dtype=np.float64),
        )


# Register once, at import time, in every process that stores or loads the type.
pr.register_codec(LorenzTrajectory, LorenzCodec())


def lorenz_rhs(state: FloatArray, sigma: float, rho: float, beta: float) -> FloatArray:
    """The Lorenz equations: d(x, y, z)/dt."""
    x, y, z = state
    return np.array([sigma * (y - x), x * (rho - z) - y, x * y - beta * z])


def integrate(
    initial: FloatArray, sigma: float, rho: float, beta: float, dt: float, steps: int
) -> FloatArray:
    """Classic fourth-order Runge-Kutta with a fixed step; returns ``steps + 1`` states."""
    states = np.empty((steps + 1, 3))
    states[0] = initial
    for k in range(steps):
        s = states[k]
        k1 = lorenz_rhs(s, sigma, rho, beta)
        k2 = lorenz_rhs(s + 0.5 * dt * k1, sigma, rho, beta)
        k3 = lorenz_rhs(s + 0.5 * dt * k2, sigma, rho, beta)
        k4 = lorenz_rhs(s + dt * k3, sigma, rho, beta)
        states[k + 1] = s + dt / 6.0 * (k1 + 2.0 * k2 + 2.0 * k3 + k4)
    return states


def simulate_lorenz(run: pr.Run) -> dict[str, object]:
    """Integrate from this run's initial condition; return the solution as one object."""
    states = integrate(run.initial, run.sigma, run.rho, run.beta, run.dt, run.steps)
    solution = LorenzTrajectory(run.sigma, run.rho, run.beta, run.dt, states)
    return {
        "solution": solution,  # the custom type: stored through LorenzCodec
        "final_state": states[-1],  # a plain array: stored stacked across runs
    }


def main(path: Path, size: int = 4, steps: int = 3000) -> None:
    """Sweep ``size`` nearby initial conditions for two values of rho; store and reload."""
    traj = pr.Trajectory("lorenz", comment="sensitivity to the initial condition", seed=63)
    # An array default declares an array parameter: float64, one dimension. Explored values
    # must be arrays (or nested lists) with that number of dimensions and a safe dtype.
    initial = traj.add_parameter("initial", np.array([1.0, 1.0, 1.0]), comment="initial (x, y, z)")
    traj.add_parameter("sigma", 10.0)
    rho = traj.add_parameter("rho", 28.0, comment="28: chaotic; 14: decays to a fixed point")
    traj.add_parameter("beta", 8.0 / 3.0)
    traj.add_parameter("dt", 0.01, annotations={"unit": "time units"})
    traj.add_parameter("steps", steps)

    # Initial conditions a millionth apart.
    starts = [np.array([1.0 + 1e-6 * k, 1.0, 1.0]) for k in range(size)]
    traj.explore(pr.cartesian_product(rho.sweep([14.0, 28.0]), initial.sweep(starts)))
    print(traj.describe(), end="\n\n")

    path.unlink(missing_ok=True)
    print(pr.Environment(traj, storage=path).run(simulate_lorenz, progress=False), end="\n\n")

    # Reload. The codec is registered (at import above), so the values decode to the type.
    loaded = pr.load_trajectory(path)
    print("initial is declared as", loaded["initial"].value_type.name)
    first = loaded.results["solution"][0]
    assert isinstance(first, LorenzTrajectory)
    print(
        f"run 0: a {type(first).__name__}, {len(first.states)} states up to t = {first.times[-1]}"
    )

    # Check every stored solution: the constants match the run's parameters, and the states
    # equal a fresh integration from the stored (array) initial condition.
    for index in range(len(loaded)):
        point = loaded.point(index)  # {"rho": ..., "initial": array([...])}
        stored = loaded.results["solution"][index]
        assert isinstance(stored, LorenzTrajectory)
        assert stored.rho == point["rho"]
        start = np.asarray(point["initial"])
        expected = integrate(start, stored.sigma, stored.rho, stored.beta, stored.dt, steps)
        assert np.array_equal(stored.states, expected), f"run {index} differs"
    print(f"all {len(loaded)} stored solutions equal a fresh integration")

    # The science: how far apart do solutions from starts a millionth apart end up?
    finals = loaded.results["final_state"][:]  # (runs, 3), one read
    for rho_value in (14.0, 28.0):
        runs = loaded.find_runs(rho=rho_value)
        spread = float(np.ptp(finals[runs], axis=0).max())
        print(f"rho = {rho_value}: final states spread over {spread:.3g}")
    print(f"stored in {path} ({path.stat().st_size / 1024:.1f} KiB)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "path", nargs="?", type=Path, default=Path(__file__).with_name("04_lorenz_custom_type.h5")
    )
    parser.add_argument("--size", type=int, default=4, help="number of initial conditions")
    parser.add_argument("--steps", type=int, default=3000, help="integration steps")
    arguments = parser.parse_args()
    main(arguments.path, arguments.size, arguments.steps)
