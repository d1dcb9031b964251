"""Prey and predators (Lotka-Volterra), integrated with a fixed-step RK2 scheme.

``simulate(run)`` reads the rates and the initial populations from the run and returns the
populations over time as a :class:`Populations` (stored by its own codec) plus two scalars.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

import pypet_rebuild as pr
from pypet_rebuild.storage.codecs import DecodeContext, EncodeContext, Encoded


@dataclass(eq=False)
class Populations:
    """Prey and predator counts over time; ``dt`` is the step between two rows."""

    dt: float
    counts: np.ndarray[Any, np.dtype[np.float64]]

    @property
    def prey(self) -> np.ndarray[Any, np.dtype[np.float64]]:
        """The prey column."""
        return self.counts[:, 0]


class PopulationsCodec:
    """Stores ``counts`` as an array and ``dt`` as an attribute."""

    name = "predator_prey.Populations"

    def can_encode(self, value: object) -> bool:
        return True

    def encode(self, value: Populations, ctx: EncodeContext) -> Encoded:
        return Encoded(self.name, {"counts": value.counts}, {"dt": value.dt})

    def decode(self, encoded: Encoded, ctx: DecodeContext) -> Populations:
        dt = encoded.attrs["dt"]
        assert isinstance(dt, int | float)
        return Populations(float(dt), encoded.arrays["counts"])


pr.register_codec(Populations, PopulationsCodec(), replace=True)


def _rates(
    state: np.ndarray[Any, Any], alpha: float, beta: float, gamma: float, delta: float
) -> Any:
    prey, predators = state
    return np.array(
        [alpha * prey - beta * prey * predators, delta * prey * predators - gamma * predators]
    )


def simulate(run: pr.Run) -> dict[str, object]:
    """Integrate the model; results: the populations, the prey peak and the final predators."""
    dt = run["sim.dt"]
    state = np.array([run.prey0, run.predators0], dtype=np.float64)
    rows = [state]
    for _ in range(run["sim.steps"]):
        half = state + 0.5 * dt * _rates(state, run.alpha, run.beta, run.gamma, run.delta)
        state = state + dt * _rates(half, run.alpha, run.beta, run.gamma, run.delta)
        rows.append(state)
    counts = np.array(rows)
    return {
        "populations": Populations(dt, counts),
        "prey_peak": float(counts[:, 0].max()),
        "predators_final": float(counts[-1, 1]),
    }


def build_sweep(name: str = "lotka_volterra", *, steps: int = 200) -> pr.Trajectory:
    """The study: predation rate ``beta`` times initial prey, six runs."""
    traj = pr.Trajectory(name, seed=2024, comment="predation rate against initial prey")
    traj.add_parameter("alpha", 1.1, comment="prey growth rate")
    traj.add_parameter("beta", 0.4, comment="predation rate")
    traj.add_parameter("gamma", 0.4, comment="predator death rate")
    traj.add_parameter("delta", 0.1, comment="predator growth per prey eaten")
    traj.add_parameter("prey0", 10.0)
    traj.add_parameter("predators0", 10.0)
    traj.add_parameter("sim.dt", 0.01)
    traj.add_parameter("sim.steps", steps)
    traj.explore(pr.cartesian_product({"beta": [0.2, 0.4, 0.6], "prey0": [5.0, 10.0]}))
    return traj
