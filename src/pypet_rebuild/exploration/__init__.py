"""Describe the work of a sweep: parameter spaces, their builders, samplers and point hashes.

A `ParameterSpace` is an immutable, ordered list of points (explored parameter path -> value).
Build one with `cartesian_product` or `zipped`, sample one with `random_sample`,
`latin_hypercube` or `sobol`, and combine them with ``+``/`ParameterSpace.concat`,
`ParameterSpace.union` and `ParameterSpace.filter`. `point_hash` gives each point a stable
identity across machines and versions. This layer knows nothing about the Trajectory.
"""

from .axis import Axis, Point
from .combinators import AxisSpec, cartesian_product, zipped
from .description import SpaceDescription
from .hashing import (
    HASH_VERSION,
    PointHashes,
    canonical_encoding,
    hash_columns,
    point_hash,
    same_value,
    value_hash,
)
from .limits import MAX_POINTS
from .predicates import BoundPredicate, bind_predicate
from .samplers import Range, RangeSpec, latin_hypercube, random_sample, sobol
from .space import KINDS, ParameterSpace

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
