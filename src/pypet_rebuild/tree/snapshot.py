"""A plain-data description of a trajectory, the form in which storage backends keep it."""

from __future__ import annotations

import builtins
import importlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from pypet_rebuild.tree.values import ValueType

__all__ = ["ParameterSpec", "TrajectorySnapshot", "type_from_name", "type_to_name"]


def type_to_name(python_type: type[Any]) -> str:
    """Name a type so that :func:`type_from_name` can find it again (``"float"``, ``"mod.Cls"``)."""
    if python_type.__module__ == "builtins":
        return python_type.__qualname__
    return f"{python_type.__module__}.{python_type.__qualname__}"


def type_from_name(name: str) -> type[Any] | None:
    """Find a type by the name :func:`type_to_name` gave it (``None`` if it cannot be imported)."""
    if "." not in name:
        found = getattr(builtins, name, None)
        return found if isinstance(found, type) else None
    module_name, _, qualname = name.rpartition(".")
    while module_name:
        try:
            target: Any = importlib.import_module(module_name)
        except ImportError:
            module_name, _, head = module_name.rpartition(".")
            qualname = f"{head}.{qualname}"
            continue
        for part in qualname.split("."):
            target = getattr(target, part, None)
        return target if isinstance(target, type) else None
    return None


@dataclass(frozen=True)
class ParameterSpec:
    """One parameter as stored: path, default and declared type.

    Parameters
    ----------
    path
        The full dotted path.
    default
        The default value.
    type_name
        The declared Python type, as :func:`type_to_name` writes it.
    dtype
        The element dtype of array parameters (``str(np.dtype)``), else ``None``.
    ndim
        The number of dimensions of array parameters, else ``None``.
    comment
        The parameter's comment.
    annotations
        The parameter's annotations.
    """

    path: str
    default: object
    type_name: str
    dtype: str | None = None
    ndim: int | None = None
    comment: str = ""
    annotations: Mapping[str, object] = field(default_factory=dict)

    def value_type(self) -> ValueType:
        """Rebuild the declared type (falls back to the default's type if it cannot be imported)."""
        python_type = type_from_name(self.type_name)
        if python_type is None:
            return ValueType.of(self.default)
        if python_type is np.ndarray and self.dtype is not None:
            return ValueType(np.ndarray, np.dtype(self.dtype), self.ndim)
        return ValueType(python_type)


@dataclass(frozen=True)
class TrajectorySnapshot:
    """Everything that defines a trajectory's sweep, as plain data.

    Parameters
    ----------
    name
        The trajectory name.
    comment
        The trajectory comment.
    seed
        The seed from which every run's random generator derives.
    parameters
        Every parameter, in declaration order.
    explored
        The explored values by parameter path (empty when nothing is explored).
    grid
        The grid dimensions of a cartesian exploration (each a tuple of linked names), if any.
    shape
        The length of each grid dimension, if any.
    kind
        The kind of exploration (``"grid"``, ``"zipped"``, ...), ``""`` when nothing is explored.
    hashes
        The point hash of every run, when already known (saves hashing the points again).
    """

    name: str
    comment: str
    seed: int
    parameters: tuple[ParameterSpec, ...]
    explored: Mapping[str, tuple[object, ...]]
    grid: tuple[tuple[str, ...], ...] | None = None
    shape: tuple[int, ...] | None = None
    kind: str = ""
    hashes: tuple[str, ...] | None = field(default=None, compare=False, repr=False)

    @property
    def n_runs(self) -> int:
        """The number of runs the exploration defines (1 when nothing is explored)."""
        for values in self.explored.values():
            return len(values)
        return 1
