"""pypet_rebuild: typed parameter exploration for numerical simulations.

Declare typed parameters in a :class:`Trajectory`, explore them (:func:`cartesian_product`,
:func:`zipped`, samplers), and let an :class:`Environment` run a simulate function at every
point, storing parameters, results and run metadata through a :class:`StorageService`.
"""

import logging
from typing import TYPE_CHECKING

from pypet_rebuild import errors
from pypet_rebuild._lazy import LazyExports

if TYPE_CHECKING:
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
    from pypet_rebuild.legacy import PypetStorageService, convert_pypet
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

# A library must not print through logging's last-resort handler; users configure logging.
logging.getLogger("pypet_rebuild").addHandler(logging.NullHandler())

# Imported on first use (PEP 562, see pypet_rebuild._lazy): every process worker imports this
# package when it starts, and needs only the few modules that run a simulate function, not the
# HDF5 backend, the analysis layer or the pypet reader (PyTables' conventions, pandas).
_EXPORTS = LazyExports(
    __name__,
    {
        "__version__": "pypet_rebuild._version",
        "merge_trajectories": "pypet_rebuild.analysis.merge",
        "StoredTrajectory": "pypet_rebuild.analysis.study",
        "load_trajectory": "pypet_rebuild.analysis.study",
        "Environment": "pypet_rebuild.execution",
        "Hooks": "pypet_rebuild.execution",
        "Run": "pypet_rebuild.execution",
        "RunFailure": "pypet_rebuild.execution",
        "RunReport": "pypet_rebuild.execution",
        "SweepHooks": "pypet_rebuild.execution",
        "AdaptiveSweep": "pypet_rebuild.execution.adaptive",
        "Round": "pypet_rebuild.execution.adaptive",
        "Axis": "pypet_rebuild.exploration",
        "ParameterSpace": "pypet_rebuild.exploration",
        "PointHashes": "pypet_rebuild.exploration",
        "Range": "pypet_rebuild.exploration",
        "SpaceDescription": "pypet_rebuild.exploration",
        "cartesian_product": "pypet_rebuild.exploration",
        "latin_hypercube": "pypet_rebuild.exploration",
        "point_hash": "pypet_rebuild.exploration",
        "random_sample": "pypet_rebuild.exploration",
        "sobol": "pypet_rebuild.exploration",
        "zipped": "pypet_rebuild.exploration",
        "MemoryStorageService": "pypet_rebuild.storage",
        "RunRecord": "pypet_rebuild.storage",
        "RunStatus": "pypet_rebuild.storage",
        "StorageService": "pypet_rebuild.storage",
        "open_storage": "pypet_rebuild.storage.backends",
        "register_codec": "pypet_rebuild.storage.codecs",
        "HDF5StorageService": "pypet_rebuild.storage.hdf5",
        "StorageOptions": "pypet_rebuild.storage.hdf5",
        "Group": "pypet_rebuild.tree",
        "Parameter": "pypet_rebuild.tree",
        "Result": "pypet_rebuild.tree",
        "Trajectory": "pypet_rebuild.tree",
        "PypetStorageService": "pypet_rebuild.legacy",
        "convert_pypet": "pypet_rebuild.legacy",
    },
)


def __getattr__(name: str) -> object:
    return _EXPORTS.load(name)


def __dir__() -> list[str]:
    return _EXPORTS.names()


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
