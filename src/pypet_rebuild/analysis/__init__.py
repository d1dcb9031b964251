"""Reading stored sweeps: the stored study, lazy result handles, run views and queries."""

from pypet_rebuild.analysis.results import ResultColumn, ResultsView, RunView
from pypet_rebuild.analysis.study import StoredTrajectory, load_trajectory

__all__ = ["ResultColumn", "ResultsView", "RunView", "StoredTrajectory", "load_trajectory"]
