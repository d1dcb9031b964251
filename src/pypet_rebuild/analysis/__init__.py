"""Reading stored sweeps: lazy result handles, run views and queries."""

from pypet_rebuild.analysis.results import ResultColumn, ResultsView, RunView

__all__ = ["ResultColumn", "ResultsView", "RunView"]
