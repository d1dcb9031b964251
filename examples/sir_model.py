"""The SIR epidemic model and its simulate function, for ``examples/sir_sweep.ipynb``.

They live in a module, not in the notebook, because a process pool's workers must import the
simulate function: a function defined in a notebook cell cannot be pickled by reference.

The model, with population fractions ``S + I + R = 1``::

    dS/dt = -beta S I
    dI/dt =  beta S I - gamma I
    dR/dt =  gamma I

``beta`` is the transmission rate and ``gamma`` the recovery rate (per day); the basic
reproduction number is ``R0 = beta / gamma``. An outbreak grows only when ``R0 > 1``.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

import pypet_rebuild as pr

FloatArray = npt.NDArray[np.float64]


def sir_derivative(state: FloatArray, beta: float, gamma: float) -> FloatArray:
    """d(S, I, R)/dt."""
    s, i, _ = state
    infections = beta * s * i
    recoveries = gamma * i
    return np.array([-infections, infections - recoveries, recoveries])


def integrate_sir(
    beta: float, gamma: float, infected0: float, days: float, dt: float
) -> tuple[FloatArray, FloatArray]:
    """Fourth-order Runge-Kutta from ``(1 - infected0, infected0, 0)``.

    Returns
    -------
    times, states
        ``times`` of shape ``(n,)`` in days and ``states`` of shape ``(n, 3)``: S, I, R.
    """
    steps = round(days / dt)
    states = np.empty((steps + 1, 3))
    states[0] = (1.0 - infected0, infected0, 0.0)
    for k in range(steps):
        y = states[k]
        k1 = sir_derivative(y, beta, gamma)
        k2 = sir_derivative(y + 0.5 * dt * k1, beta, gamma)
        k3 = sir_derivative(y + 0.5 * dt * k2, beta, gamma)
        k4 = sir_derivative(y + dt * k3, beta, gamma)
        states[k + 1] = y + dt / 6.0 * (k1 + 2.0 * k2 + 2.0 * k3 + k4)
    return np.arange(steps + 1, dtype=np.float64) * dt, states


def simulate_sir(run: pr.Run) -> dict[str, object]:
    """One epidemic: the infected curve, its peak, when it peaks, and the final size."""
    times, states = integrate_sir(run.beta, run.gamma, run.infected0, run.days, run.dt)
    infected = states[:, 1]
    peak = int(np.argmax(infected))
    return {
        "infected": infected,  # the whole curve: one array per run
        "peak": float(infected[peak]),  # largest fraction infected at once
        "peak_day": float(times[peak]),
        "final_size": float(states[-1, 2]),  # fraction ever infected
    }
