"""Growing a study round by round: an optimiser proposes points, the Environment runs only those.

This is pypet's post-processing loop (``f_expand`` + ``f_run`` again) as an API. Every round
appends points to the same trajectory (``traj.expand``) and runs them with ``resume=True``, so the
file holds every round, and workers receive only the new points.

Examples
--------
With any ask/tell optimiser (Optuna, scikit-optimize, a bisection of your own)::

    sweep = pr.AdaptiveSweep(traj, simulate, storage="opt.h5")
    for _ in range(10):
        proposals = optimiser.ask()                  # e.g. [{"x": 0.3, "y": 2}, ...]
        outcome = sweep.evaluate(proposals)
        optimiser.tell(outcome.values("loss"))

With ``scipy.optimize`` (one run per call of the objective)::

    objective = sweep.objective("loss", ["x", "y"])
    scipy.optimize.minimize(objective, x0=[0.5, 1.0], method="Nelder-Mead")
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pypet_rebuild.analysis.study import StoredTrajectory
from pypet_rebuild.errors import ExplorationError, ResultNotFoundError
from pypet_rebuild.execution.environment import Environment
from pypet_rebuild.execution.report import RunReport
from pypet_rebuild.execution.run import Run
from pypet_rebuild.exploration import zipped
from pypet_rebuild.storage.backends import StorageTarget, open_storage
from pypet_rebuild.storage.protocol import StorageService, SupportsCompaction
from pypet_rebuild.storage.records import MISSING
from pypet_rebuild.tree.trajectory import Trajectory

__all__ = ["AdaptiveSweep", "Round"]

Points = Mapping[str, Sequence[object]] | Sequence[Mapping[str, object]]


@dataclass(frozen=True)
class Round:
    """What one :meth:`AdaptiveSweep.evaluate` call ran and got back.

    Parameters
    ----------
    number
        The round number, from 0.
    indices
        The run indices of the points of this round.
    points
        The explored values of each of those runs.
    results
        Each result's values in those runs (``None`` where a run has no value).
    report
        The Environment's report for this round.
    """

    number: int
    indices: tuple[int, ...]
    points: tuple[dict[str, object], ...]
    results: Mapping[str, list[object]] = field(default_factory=dict)
    report: RunReport | None = None

    def values(self, name: str) -> list[object]:
        """Result ``name`` for each point of the round, in the order the points were given."""
        try:
            return self.results[name]
        except KeyError:
            raise ResultNotFoundError(
                f"round {self.number} produced no result {name!r}; results: {list(self.results)}"
            ) from None


def _columns(points: Points) -> dict[str, list[object]]:
    if isinstance(points, Mapping):
        return {name: list(values) for name, values in points.items()}
    rows = list(points)
    if not rows:
        raise ExplorationError("a round needs at least one point; got an empty list")
    names = list(rows[0])
    for position, row in enumerate(rows):
        if set(row) != set(names):
            raise ExplorationError(
                f"point {position} has parameters {sorted(row)} but point 0 has {sorted(names)}; "
                "every point of a round must name the same parameters"
            )
    return {name: [row[name] for row in rows] for name in names}


class AdaptiveSweep:
    """Evaluate batches of proposed points in one growing, stored trajectory.

    Parameters
    ----------
    trajectory
        The study: a :class:`Trajectory` (declared parameters, explored or not yet), or a
        :class:`StoredTrajectory` to continue a stored study in its own storage.
    simulate
        The simulate function.
    storage
        Where runs go (a path or a :class:`StorageService`); default: the stored study's own
        storage, else memory. A path opens the file with ``compaction="auto"``: call
        :meth:`compact` (or use the sweep as a context manager) to fold every round into the
        single file at the end.
    **run_options
        Passed to every :meth:`Environment.run` (``executor=``, ``workers=``, ``on_error=``...).
    """

    def __init__(
        self,
        trajectory: Trajectory | StoredTrajectory,
        simulate: Callable[[Run], Any],
        storage: StorageTarget = None,
        **run_options: Any,
    ) -> None:
        if "resume" in run_options:
            raise TypeError(
                "AdaptiveSweep decides resume= itself (every round after the first resumes the "
                "stored study); leave it out of the run options"
            )
        if isinstance(trajectory, StoredTrajectory):
            if storage is None:
                storage = trajectory.storage
            trajectory = trajectory.trajectory
        resolved: StorageService
        if storage is None or isinstance(storage, StorageService):
            resolved = open_storage(storage, mode="w")
        else:
            # Rounds append segments; folding is amortised, so a round costs the same however
            # much is already stored. compact() folds everything into the single file.
            resolved = open_storage(storage, mode="w", compaction="auto")
        self.trajectory = trajectory
        self._simulate = simulate
        self._options = {"on_error": "continue", "progress": False, **run_options}
        self._environment = Environment(trajectory, resolved)
        self.rounds: list[Round] = []

    @property
    def storage(self) -> StorageService:
        """Where the rounds are stored."""
        return self._environment.storage

    @property
    def study(self) -> StoredTrajectory:
        """The stored study with every round so far."""
        return self._environment.study

    def evaluate(self, points: Points) -> Round:
        """Run the given points (and only those); return their results.

        Parameters
        ----------
        points
            A mapping of parameter name to values (zipped), or a list of points.

        Returns
        -------
        Round
            The runs of this round and their results, in the order of the points.
        """
        trajectory = self.trajectory
        storage = self._environment.storage
        columns = _columns(points)
        stored = trajectory.name in storage.trajectory_names()
        start = len(trajectory) if (stored or trajectory.space is not None) else 0
        if stored or trajectory.space is not None:
            trajectory.expand(zipped(columns))
        else:
            trajectory.explore(zipped(columns))
        report = self._environment.run(self._simulate, resume=stored, **self._options)
        indices = tuple(range(start, len(trajectory)))
        results = {
            name: [
                None if value is MISSING else value
                for value in storage.read_results(trajectory.name, name, indices)
            ]
            for name in storage.result_names(trajectory.name)
        }
        outcome = Round(
            number=len(self.rounds),
            indices=indices,
            points=tuple(trajectory.point(i) for i in indices),
            results=results,
            report=report,
        )
        self.rounds.append(outcome)
        return outcome

    def compact(self) -> None:
        """Fold the rounds' segment files into the main file (backends with compaction)."""
        storage = self._environment.storage
        # Nothing to fold for backends without segments, or before the first round.
        if isinstance(storage, SupportsCompaction) and (
            self.trajectory.name in storage.trajectory_names()
        ):
            storage.compact(self.trajectory.name)

    def __enter__(self) -> AdaptiveSweep:
        return self

    def __exit__(self, *exc: object) -> None:
        self.compact()

    def objective(self, result: str, names: Sequence[str]) -> Callable[[Sequence[float]], float]:
        """A function of a parameter vector for ``scipy.optimize``: one run per call.

        Parameters
        ----------
        result
            The scalar result to return (NaN when the run fails).
        names
            The parameters the vector's entries set, in order.
        """

        def evaluate_one(vector: Sequence[float]) -> float:
            point = {name: float(value) for name, value in zip(names, vector, strict=True)}
            value = self.evaluate([point]).values(result)[0]
            return math.nan if value is None else float(value)  # type: ignore[arg-type]

        return evaluate_one
