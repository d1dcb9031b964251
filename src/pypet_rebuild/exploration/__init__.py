"""Describe the work of a sweep: parameter spaces, their builders, samplers and point hashes.

A `ParameterSpace` is an immutable, ordered list of points (explored parameter path -> value).
Build one with `cartesian_product` or `zipped`, sample one with `random_sample`,
`latin_hypercube` or `sobol`, and combine them with ``+``/`ParameterSpace.concat`,
`ParameterSpace.union` and `ParameterSpace.filter`. `point_hash` gives each point a stable
identity across machines and versions. This layer knows nothing about the Trajectory.
"""

from typing import TYPE_CHECKING

from pypet_rebuild._lazy import LazyExports

if TYPE_CHECKING:
    from pypet_rebuild.exploration.axis import Axis, Point
    from pypet_rebuild.exploration.combinators import AxisSpec, cartesian_product, zipped
    from pypet_rebuild.exploration.description import SpaceDescription
    from pypet_rebuild.exploration.hashing import (
        HASH_VERSION,
        PointHashes,
        canonical_encoding,
        hash_columns,
        point_hash,
        same_value,
        value_hash,
    )
    from pypet_rebuild.exploration.limits import MAX_POINTS
    from pypet_rebuild.exploration.predicates import BoundPredicate, bind_predicate
    from pypet_rebuild.exploration.samplers import (
        Range,
        RangeSpec,
        latin_hypercube,
        random_sample,
        sobol,
    )
    from pypet_rebuild.exploration.space import KINDS, ParameterSpace

__all__ = [
    "HASH_VERSION",
    "KINDS",
    "MAX_POINTS",
    "Axis",
    "AxisSpec",
    "BoundPredicate",
    "ParameterSpace",
    "Point",
    "PointHashes",
    "Range",
    "RangeSpec",
    "SpaceDescription",
    "bind_predicate",
    "canonical_encoding",
    "cartesian_product",
    "hash_columns",
    "latin_hypercube",
    "point_hash",
    "random_sample",
    "same_value",
    "sobol",
    "value_hash",
    "zipped",
]

# Imported on first use (see pypet_rebuild._lazy): a process worker imports this package to
# run a simulate function and needs only a few of its modules.
_EXPORTS = LazyExports(
    __name__,
    {
        "Axis": "pypet_rebuild.exploration.axis",
        "Point": "pypet_rebuild.exploration.axis",
        "AxisSpec": "pypet_rebuild.exploration.combinators",
        "cartesian_product": "pypet_rebuild.exploration.combinators",
        "zipped": "pypet_rebuild.exploration.combinators",
        "SpaceDescription": "pypet_rebuild.exploration.description",
        "HASH_VERSION": "pypet_rebuild.exploration.hashing",
        "PointHashes": "pypet_rebuild.exploration.hashing",
        "canonical_encoding": "pypet_rebuild.exploration.hashing",
        "hash_columns": "pypet_rebuild.exploration.hashing",
        "point_hash": "pypet_rebuild.exploration.hashing",
        "same_value": "pypet_rebuild.exploration.hashing",
        "value_hash": "pypet_rebuild.exploration.hashing",
        "MAX_POINTS": "pypet_rebuild.exploration.limits",
        "BoundPredicate": "pypet_rebuild.exploration.predicates",
        "bind_predicate": "pypet_rebuild.exploration.predicates",
        "Range": "pypet_rebuild.exploration.samplers",
        "RangeSpec": "pypet_rebuild.exploration.samplers",
        "latin_hypercube": "pypet_rebuild.exploration.samplers",
        "random_sample": "pypet_rebuild.exploration.samplers",
        "sobol": "pypet_rebuild.exploration.samplers",
        "KINDS": "pypet_rebuild.exploration.space",
        "ParameterSpace": "pypet_rebuild.exploration.space",
    },
)


def __getattr__(name: str) -> object:
    return _EXPORTS.load(name)


def __dir__() -> list[str]:
    return _EXPORTS.names()
