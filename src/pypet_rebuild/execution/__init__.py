"""Running sweeps: the Environment, the Run a simulate function sees, hooks and reports."""

from pypet_rebuild.execution.environment import Environment, OnError
from pypet_rebuild.execution.hooks import Hooks, SweepHooks
from pypet_rebuild.execution.report import RunFailure, RunReport
from pypet_rebuild.execution.run import Run

__all__ = ["Environment", "Hooks", "OnError", "Run", "RunFailure", "RunReport", "SweepHooks"]
