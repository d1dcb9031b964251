"""pypet_rebuild: typed parameter exploration for numerical simulations.

Declare typed parameters in a :class:`Trajectory`, explore them (:func:`cartesian_product`,
:func:`zipped`, samplers), and let an :class:`Environment` run a simulate function at every
point, storing parameters, results and run metadata through a :class:`StorageService`.
"""

from pypet_rebuild import errors
from pypet_rebuild.execution import Environment, Hooks, Run, RunFailure, RunReport, SweepHooks
from pypet_rebuild.exploration import (
    Axis,
    ParameterSpace,
    Range,
    SpaceDescription,
    cartesian_product,
    latin_hypercube,
    point_hash,
    random_sample,
    sobol,
    zipped,
)
from pypet_rebuild.storage import (
    MemoryStorageService,
    RunRecord,
    RunStatus,
    StorageService,
)
from pypet_rebuild.tree import Group, Parameter, Result, Trajectory

__version__ = "0.1.0"

__all__ = [
    "Axis",
    "Environment",
    "Group",
    "Hooks",
    "MemoryStorageService",
    "Parameter",
    "ParameterSpace",
    "Range",
    "Result",
    "Run",
    "RunFailure",
    "RunRecord",
    "RunReport",
    "RunStatus",
    "SpaceDescription",
    "StorageService",
    "SweepHooks",
    "Trajectory",
    "__version__",
    "cartesian_product",
    "errors",
    "latin_hypercube",
    "point_hash",
    "random_sample",
    "sobol",
    "zipped",
]
