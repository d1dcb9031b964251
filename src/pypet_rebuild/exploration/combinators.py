"""Build parameter spaces from value lists: cartesian products (with linked axes) and zips."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, TypeAlias

from pypet_rebuild.errors import (
    EmptyExplorationError,
    ExplorationError,
    RaggedExplorationError,
    UnknownParameterError,
)

from .axis import Axis, check_name, values_tuple
from .limits import check_size
from .space import ParameterSpace

__all__ = ["AxisSpec", "cartesian_product", "zipped"]

# ``Sequence`` rather than ``Iterable`` of axes: a dict is an iterable too, and mypy then fails
# to infer ``{"x": [1.0], "y": ["a"]}`` as a mapping of value lists.
AxisSpec: TypeAlias = Mapping[str, Iterable[object]] | Axis[Any] | Sequence[Axis[Any]]
"""What the builders accept: ``{"path": values, ...}``, an `Axis`, or a sequence of axes."""


def cartesian_product(
    *specs: AxisSpec, linked: Sequence[Sequence[str]] = (), max_points: int | None = None
) -> ParameterSpace:
    """Return every combination of the given values (pypet's ``cartesian_product``).

    The first name varies slowest and the last fastest:
    ``cartesian_product({"a": [1, 2], "b": [3, 4]})`` gives ``a = 1, 1, 2, 2`` and
    ``b = 3, 4, 3, 4``.

    Parameters
    ----------
    *specs
        Mappings of path -> values and `Axis` objects (or sequences of them), merged in order.
    linked
        Groups of names that vary together, zipped within the group like pypet's
        ``combined_parameters``; a group takes the position of its first member in spec order.
    max_points
        Refuse to build more points than this (default:
        :data:`~pypet_rebuild.exploration.MAX_POINTS`, fifty million). The size is computed
        from the axis lengths first, so an oversized product fails at once instead of filling
        the memory.

    Returns
    -------
    ParameterSpace
        ``kind="grid"``, ``grid`` one tuple of names per dimension, ``shape`` their lengths.

    Raises
    ------
    EmptyExplorationError
        If no parameter is given or one has no values.
    ExplorationError
        If a name is given twice, is in two linked groups, or a group is malformed.
    UnknownParameterError
        If a linked name is not among the explored names.
    RaggedExplorationError
        If the members of a linked group have different numbers of values.
    SpaceTooLargeError
        If the product has more than ``max_points`` points (nothing is built).

    Examples
    --------
    >>> space = cartesian_product({"a": [1, 2], "b": [3, 4], "c": [5, 6]}, linked=[("b", "c")])
    >>> space.grid, [tuple(p.values()) for p in space]
    ((('a',), ('b', 'c')), [(1, 3, 5), (1, 4, 6), (2, 3, 5), (2, 4, 6)])
    """
    values = _merge_specs(specs)
    groups = _check_linked(linked, values)
    group_of = {name: group for group in groups for name in group}
    dims: list[tuple[str, ...]] = []
    for name in values:
        group = group_of.get(name, (name,))
        if group not in dims:
            dims.append(group)
    shape = tuple(len(values[dim[0]]) for dim in dims)
    total = math.prod(shape)
    check_size(
        "cartesian_product",
        [
            (" + ".join(repr(name) for name in dim), size)
            for dim, size in zip(dims, shape, strict=True)
        ],
        total,
        max_points,
    )
    columns: dict[str, tuple[object, ...]] = {}
    inner = total
    for dim, size in zip(dims, shape, strict=True):
        inner //= size
        outer = total // (size * inner)
        for name in dim:
            columns[name] = tuple(
                value for _ in range(outer) for value in values[name] for _ in range(inner)
            )
    ordered = {name: columns[name] for name in values}
    return ParameterSpace._trusted(ordered, kind="grid", grid=tuple(dims), shape=shape)


def zipped(*specs: AxisSpec) -> ParameterSpace:
    """Return the points formed by taking the i-th value of every parameter.

    Parameters
    ----------
    *specs
        Mappings of path -> values and `Axis` objects (or sequences of them), merged in order;
        all value lists must have the same length.

    Returns
    -------
    ParameterSpace
        ``kind="zipped"``, one point per position.

    Raises
    ------
    EmptyExplorationError
        If no parameter is given or the values are empty.
    RaggedExplorationError
        If the value lists have different lengths; the message lists each length.
    ExplorationError
        If a name is given twice.

    Examples
    --------
    >>> [tuple(p.values()) for p in zipped({"x": [1, 2], "y": ["a", "b"]})]
    [(1, 'a'), (2, 'b')]
    """
    values = _merge_specs(specs)
    lengths = {name: len(v) for name, v in values.items()}
    if len(set(lengths.values())) > 1:
        listed = ", ".join(f"{name!r} has {n}" for name, n in lengths.items())
        raise RaggedExplorationError(
            f"zipped parameters must have the same number of values: {listed}"
        )
    return ParameterSpace._trusted(values, kind="zipped")


def _merge_specs(specs: Sequence[object]) -> dict[str, tuple[object, ...]]:
    """Merge mappings and axes in order into path -> values, refusing repeats and empties."""
    merged: dict[str, tuple[object, ...]] = {}
    for position, spec in enumerate(specs):
        for name, values in _spec_items(spec, position):
            if name in merged:
                raise ExplorationError(
                    f"the parameter {name!r} is explored twice; give each name once"
                )
            merged[name] = values
    if not merged:
        raise EmptyExplorationError(
            "an exploration needs at least one parameter, e.g. cartesian_product({'x': [1, 2]})"
        )
    for name, values in merged.items():
        if not values:
            raise EmptyExplorationError(
                f"the parameter {name!r} has no values to explore; give at least one"
            )
    return merged


def _spec_items(spec: object, position: int) -> list[tuple[str, tuple[object, ...]]]:
    if isinstance(spec, Axis):
        return [(spec.name, spec.values)]
    if isinstance(spec, Mapping):
        return [(check_name(name), values_tuple(name, v)) for name, v in spec.items()]
    if isinstance(spec, Iterable) and not isinstance(spec, str | bytes):
        axes = list(spec)
        if all(isinstance(axis, Axis) for axis in axes):
            return [(axis.name, axis.values) for axis in axes]
    raise ExplorationError(
        f"argument {position} is a {type(spec).__name__}; pass mappings of "
        f"parameter path -> values, or Axis objects"
    )


def _check_linked(
    linked: Sequence[Sequence[str]], values: Mapping[str, tuple[object, ...]]
) -> list[tuple[str, ...]]:
    """Validate the linked groups against the explored names and return them as tuples."""
    example = "linked=[('b', 'c')]"
    if isinstance(linked, str):
        raise ExplorationError(
            f"linked must be a list of groups of names, e.g. {example}, got the string {linked!r}"
        )
    groups: list[tuple[str, ...]] = []
    seen: dict[str, tuple[str, ...]] = {}
    for raw in linked:
        if isinstance(raw, str) or not isinstance(raw, Iterable):
            raise ExplorationError(
                f"each linked group must be a sequence of names, e.g. {example}, got {raw!r}"
            )
        group = tuple(raw)
        if not group:
            raise ExplorationError(f"a linked group is empty; give its names, e.g. {example}")
        for name in group:
            if group.count(name) > 1:
                raise ExplorationError(
                    f"the parameter {name!r} appears twice in the linked group {group!r}"
                )
            if name not in values:
                available = ", ".join(repr(n) for n in values)
                raise UnknownParameterError(
                    f"the linked name {name!r} is not explored; explored parameters: {available}"
                )
            if name in seen:
                raise ExplorationError(
                    f"the parameter {name!r} is in two linked groups ({seen[name]!r} and "
                    f"{group!r}); put it in one"
                )
            seen[name] = group
        lengths = {name: len(values[name]) for name in group}
        if len(set(lengths.values())) > 1:
            listed = ", ".join(f"{name!r} has {n}" for name, n in lengths.items())
            raise RaggedExplorationError(
                f"the linked parameters {group!r} must have the same number of values: {listed}"
            )
        groups.append(group)
    return groups
