"""pypet_rebuild: typed parameter exploration for numerical simulations.

Declare typed parameters in a :class:`Trajectory`, explore them (:func:`cartesian_product`,
:func:`zipped`, samplers), and let an :class:`Environment` run a simulate function at every
point, storing parameters, results and run metadata through a :class:`StorageService`.
"""

import logging
from typing import TYPE_CHECKING, Any

from pypet_rebuild import errors
from pypet_rebuild._version import __version__
from pypet_rebuild.analysis.merge import merge_trajectories
from pypet_rebuild.analysis.study import StoredTrajectory, load_trajectory
from pypet_rebuild.execution import Environment, Hooks, Run, RunFailure, RunReport, SweepHooks
from pypet_rebuild.execution.adaptive import AdaptiveSweep, Round
from pypet_rebuild.exploration import (
    Axis,
    ParameterSpace,
    PointHashes,
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
from pypet_rebuild.storage.backends import open_storage
from pypet_rebuild.storage.codecs import register_codec
from pypet_rebuild.storage.hdf5 import HDF5StorageService, StorageOptions
from pypet_rebuild.tree import Group, Parameter, Result, Trajectory

if TYPE_CHECKING:
    from pypet_rebuild.legacy import PypetStorageService, convert_pypet

# A library must not print through logging's last-resort handler; users configure logging.
logging.getLogger("pypet_rebuild").addHandler(logging.NullHandler())

# Imported on first use (PEP 562): reading pypet's files needs modules (PyTables' conventions,
# pandas for converted frames) that a sweep never does, and every process worker imports this
# package when it starts.
_LAZY = {
    "PypetStorageService": "pypet_rebuild.legacy",
    "convert_pypet": "pypet_rebuild.legacy",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'pypet_rebuild' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later lookups find it without calling this again
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


__all__ = [
    "AdaptiveSweep",
    "Axis",
    "Environment",
    "Group",
    "HDF5StorageService",
    "Hooks",
    "MemoryStorageService",
    "Parameter",
    "ParameterSpace",
    "PointHashes",
    "PypetStorageService",
    "Range",
    "Result",
    "Round",
    "Run",
    "RunFailure",
    "RunRecord",
    "RunReport",
    "RunStatus",
    "SpaceDescription",
    "StorageOptions",
    "StorageService",
    "StoredTrajectory",
    "SweepHooks",
    "Trajectory",
    "__version__",
    "cartesian_product",
    "convert_pypet",
    "errors",
    "latin_hypercube",
    "load_trajectory",
    "merge_trajectories",
    "open_storage",
    "point_hash",
    "random_sample",
    "register_codec",
    "sobol",
    "zipped",
]
