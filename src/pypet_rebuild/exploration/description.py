"""A readable summary of a parameter space: sizes, distinct values, ranges and duplicates."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, cast

import numpy as np

from .hashing import value_hash

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

__all__ = ["SpaceDescription", "describe_columns"]

Number = int | float


@dataclass(frozen=True)
class SpaceDescription:
    """What a parameter space holds, as returned by ``ParameterSpace.describe()``.

    Parameters
    ----------
    n_points
        Number of points (runs).
    names
        Explored parameter paths, in order.
    kind
        How the space was built: ``"grid"``, ``"zipped"``, ``"sampled"``, ``"concatenated"``,
        ``"filtered"`` or ``"union"``.
    shape
        Lengths of the grid dimensions, outermost first; ``None`` if not a grid.
    n_unique
        Number of distinct points (by point hash).
    duplicates
        Groups of indices of identical points, each sorted, groups ordered by first index;
        points that occur once are in no group. This replaces pypet's ``find_unique_points``.
    distinct_values
        Number of distinct values of each parameter.
    value_ranges
        ``(min, max)`` of each parameter whose values are all real numbers (NaN ignored).
    grid
        The grid dimensions, each a tuple of linked names; ``None`` if not a grid.
    """

    n_points: int
    names: tuple[str, ...]
    kind: str
    shape: tuple[int, ...] | None
    n_unique: int
    duplicates: tuple[tuple[int, ...], ...]
    distinct_values: Mapping[str, int]
    value_ranges: Mapping[str, tuple[Number, Number]] = field(
        default_factory=lambda: MappingProxyType({})
    )
    grid: tuple[tuple[str, ...], ...] | None = None

    @property
    def n_duplicates(self) -> int:
        """Number of points that repeat an earlier point."""
        return self.n_points - self.n_unique

    def __str__(self) -> str:
        """Return a multi-line summary: kind, size, shape, duplicates, then one line per name."""
        plural = "" if self.n_points == 1 else "s"
        header = f"ParameterSpace(kind={self.kind!r}, {self.n_points} point{plural}"
        if self.shape is not None:
            header += ", shape " + " x ".join(str(n) for n in self.shape)
        header += f", {self.n_duplicates} duplicate"
        header += "" if self.n_duplicates == 1 else "s"
        lines = [header + ")"]
        linked = _linked_partners(self.grid)
        for name in self.names:
            count = self.distinct_values.get(name, 0)
            line = f"  {name}: {count} distinct value" + ("" if count == 1 else "s")
            if name in self.value_ranges:
                low, high = self.value_ranges[name]
                line += f" in [{low!r}, {high!r}]"
            if linked.get(name):
                line += " (linked with " + ", ".join(linked[name]) + ")"
            lines.append(line)
        return "\n".join(lines)


def _linked_partners(grid: tuple[tuple[str, ...], ...] | None) -> dict[str, list[str]]:
    partners: dict[str, list[str]] = {}
    for dimension in grid or ():
        for name in dimension:
            partners[name] = [other for other in dimension if other != name]
    return partners


def describe_columns(
    columns: Mapping[str, tuple[object, ...]],
    hashes: Sequence[str],
    *,
    kind: str,
    shape: tuple[int, ...] | None,
    grid: tuple[tuple[str, ...], ...] | None,
) -> SpaceDescription:
    """Build the `SpaceDescription` of columns whose point hashes are ``hashes``."""
    groups: dict[str, list[int]] = {}
    for index, digest in enumerate(hashes):
        groups.setdefault(digest, []).append(index)
    duplicates = tuple(tuple(g) for g in groups.values() if len(g) > 1)
    distinct = {name: _count_distinct(values) for name, values in columns.items()}
    ranges = {}
    for name, values in columns.items():
        found = _numeric_range(values)
        if found is not None:
            ranges[name] = found
    return SpaceDescription(
        n_points=len(hashes),
        names=tuple(columns),
        kind=kind,
        shape=shape,
        n_unique=len(groups),
        duplicates=duplicates,
        distinct_values=MappingProxyType(distinct),
        value_ranges=MappingProxyType(ranges),
        grid=grid,
    )


def _count_distinct(values: tuple[object, ...]) -> int:
    kinds = {type(v) for v in values}
    if kinds in ({int}, {str}, {bytes}):
        return len(set(values))
    if kinds == {float}:
        # NaN != NaN, so count all NaNs as one value apart from the set.
        finite = {v for v in values if v == v}  # noqa: PLR0124
        return len(finite) + (len(finite) < len(set(values)))
    return len({_distinct_key(v) for v in values})


def _distinct_key(value: object) -> tuple[str, object]:
    """Return a key equal for values `value_hash` treats as equal; cheap for common scalars."""
    if isinstance(value, bool | np.bool_):
        return ("?", bool(value))
    if isinstance(value, int | np.integer):
        return ("i", int(value))
    if isinstance(value, float | np.float64 | np.float32 | np.float16):
        number = float(value)
        return ("f", "nan") if math.isnan(number) else ("f", number + 0.0)
    if isinstance(value, str):
        return ("s", str(value))
    return ("h", value_hash(value))


def _numeric_range(values: tuple[object, ...]) -> tuple[Number, Number] | None:
    kinds = {type(v) for v in values}
    if kinds and kinds <= {int, float}:
        not_nan = [v for v in cast("tuple[Number, ...]", values) if v == v]  # noqa: PLR0124
        return (min(not_nan), max(not_nan)) if not_nan else None
    numbers: list[Number] = []
    for value in values:
        if isinstance(value, bool | np.bool_):
            return None
        if isinstance(value, int | np.integer):
            numbers.append(int(value))
        elif isinstance(value, float | np.floating) and not math.isnan(value):
            numbers.append(float(value))
        elif not isinstance(value, float | np.floating):
            return None
    if not numbers:
        return None
    return min(numbers), max(numbers)
