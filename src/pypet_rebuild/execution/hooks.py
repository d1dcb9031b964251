"""Lifecycle hooks: plug a logger (MLflow, Weights & Biases, a database) into a sweep.

Hooks run in the process that drives the sweep (the one that called ``Environment.run``), never in
workers, so they may hold connections and file handles. A hook object implements the four
methods of :class:`SweepHooks`; subclass :class:`Hooks` to override only those you need.

Examples
--------
An MLflow logger in a few lines (MLflow is not a dependency of pypet_rebuild)::

    import mlflow
    import pypet_rebuild as pr

    class MLflowHooks(pr.Hooks):
        def before_sweep(self, trajectory, pending):
            mlflow.start_run(run_name=trajectory.name)

        def after_run(self, record):
            scalars = {k: v for k, v in record.results.items() if isinstance(v, (int, float))}
            mlflow.log_metrics(scalars, step=record.index)

        def after_sweep(self, report):
            mlflow.log_metric("failed_runs", report.failed)
            mlflow.end_run()

    env.run(simulate, hooks=[MLflowHooks()])
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:
    from pypet_rebuild.execution.report import RunReport
    from pypet_rebuild.storage.records import RunRecord
    from pypet_rebuild.tree.trajectory import Trajectory

__all__ = ["Hooks", "SweepHooks"]


@runtime_checkable
class SweepHooks(Protocol):
    """The four moments of a sweep at which user code can run."""

    def before_sweep(self, trajectory: Trajectory, pending: Sequence[int]) -> None:
        """Called once, after validation, before the first run; ``pending`` are the run indices."""
        ...

    def before_run(self, index: int, point: Mapping[str, object]) -> None:
        """Called before run ``index`` starts (for parallel executors: when it is submitted)."""
        ...

    def after_run(self, record: RunRecord) -> None:
        """Called once a finished run (done or failed) is stored, with its record and results."""
        ...

    def after_sweep(self, report: RunReport) -> None:
        """Called once at the end, also after a failure or an interruption."""
        ...


class Hooks:
    """No-op implementation of :class:`SweepHooks`; override the methods you need."""

    def before_sweep(self, trajectory: Trajectory, pending: Sequence[int]) -> None:
        """Do nothing before the sweep."""

    def before_run(self, index: int, point: Mapping[str, object]) -> None:
        """Do nothing before a run."""

    def after_run(self, record: RunRecord) -> None:
        """Do nothing after a run."""

    def after_sweep(self, report: RunReport) -> None:
        """Do nothing after the sweep."""
