"""Running sweeps: the Environment, the Run a simulate function sees, hooks and reports."""

from typing import TYPE_CHECKING

from pypet_rebuild._lazy import LazyExports

if TYPE_CHECKING:
    from pypet_rebuild.execution.environment import Environment, OnError
    from pypet_rebuild.execution.hooks import Hooks, SweepHooks
    from pypet_rebuild.execution.report import RunFailure, RunReport
    from pypet_rebuild.execution.run import Run

__all__ = ["Environment", "Hooks", "OnError", "Run", "RunFailure", "RunReport", "SweepHooks"]

# Imported on first use (see pypet_rebuild._lazy): a process worker imports this package to
# run a simulate function and needs only a few of its modules.
_EXPORTS = LazyExports(
    __name__,
    {
        "Environment": "pypet_rebuild.execution.environment",
        "OnError": "pypet_rebuild.execution.environment",
        "Hooks": "pypet_rebuild.execution.hooks",
        "SweepHooks": "pypet_rebuild.execution.hooks",
        "RunFailure": "pypet_rebuild.execution.report",
        "RunReport": "pypet_rebuild.execution.report",
        "Run": "pypet_rebuild.execution.run",
    },
)


def __getattr__(name: str) -> object:
    return _EXPORTS.load(name)


def __dir__() -> list[str]:
    return _EXPORTS.names()
