"""A plain-data description of a trajectory, the form in which storage backends keep it."""

from __future__ import annotations

import builtins
import copy
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from pypet_rebuild.errors import PickleRefusedError
from pypet_rebuild.exploration import PointHashes
from pypet_rebuild.tree.values import ValueType

__all__ = [
    "ParameterSpec",
    "PickledValue",
    "TrajectorySnapshot",
    "register_type",
    "type_from_name",
    "type_to_name",
]

_KNOWN_TYPES: dict[str, type[Any]] = {}


def type_to_name(python_type: type[Any]) -> str:
    """Name a type so that :func:`type_from_name` can find it again (``"float"``, ``"mod.Cls"``)."""
    if python_type.__module__ == "builtins":
        return python_type.__qualname__
    return f"{python_type.__module__}.{python_type.__qualname__}"


def register_type(python_type: type[Any]) -> None:
    """Let :func:`type_from_name` find ``python_type`` by its name.

    Every type that gets a codec (``pypet_rebuild.register_codec``, and the built-in numpy,
    pandas and scipy codecs) is registered, so a stored parameter declared with it resolves.
    """
    _KNOWN_TYPES[type_to_name(python_type)] = python_type


def type_from_name(name: str) -> type[Any] | None:
    """Find a type by the name :func:`type_to_name` gave it (``None`` if it is not known).

    The name comes from a file, so it is looked up, never imported: builtin types and the types
    given to :func:`register_type` (every type with a codec) are found; any other name gives
    ``None``, and importing a module that the file names (which would run its code) never
    happens.
    """
    if "." not in name:
        found = getattr(builtins, name, None)
        return found if isinstance(found, type) else None
    return _KNOWN_TYPES.get(name)


class PickledValue:
    """Stands in for a stored pickle that the reader did not allow to be unpickled.

    Opening a file keeps working when a parameter default or a derived result is a pickle: the
    value is replaced by this placeholder, and using it (any attribute) raises
    :class:`~pypet_rebuild.errors.PickleRefusedError` saying how to opt in. A writer copies the
    stored bytes it stands for unchanged (nothing is unpickled to fold a file).

    Parameters
    ----------
    message
        Why it was not unpickled: the refusal naming the node and the opt-in.
    payload
        The stored (still encoded) value, for writers that copy it.
    """

    __slots__ = ("message", "payload")

    def __init__(self, message: str, payload: object) -> None:
        object.__setattr__(self, "message", message)
        object.__setattr__(self, "payload", payload)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)  # protocols probed by copy, pickle, numpy...
        raise PickleRefusedError(self.message)

    def __setattr__(self, name: str, value: object) -> None:
        raise PickleRefusedError(self.message)

    def __repr__(self) -> str:
        return "<pickled value, not unpickled: load with allow_pickle=True if you trust the file>"


register_type(PickledValue)


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
        """Rebuild the declared type (falls back to the default's type if it is not known).

        The stored type name is only looked up (see :func:`type_from_name`), never imported.
        """
        if isinstance(self.default, PickledValue):
            return ValueType(PickledValue)
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
    hashes: PointHashes | None = field(default=None, compare=False, repr=False)

    @property
    def n_runs(self) -> int:
        """The number of runs the exploration defines (1 when nothing is explored)."""
        for values in self.explored.values():
            return len(values)
        return 1

    def detached(self) -> TrajectorySnapshot:
        """A copy whose mutable values (defaults, explored values) are fresh copies.

        For backends that keep a decoded snapshot: what a caller does to the copy's values
        never reaches the next one. Immutable values (numbers, strings, the point hashes) are
        shared, so a sweep of numbers costs no copy.
        """
        parameters = tuple(replace(spec, default=_fresh(spec.default)) for spec in self.parameters)
        explored = {
            path: values if all(_is_immutable(v) for v in values) else tuple(map(_fresh, values))
            for path, values in self.explored.items()
        }
        return replace(self, parameters=parameters, explored=explored)


_IMMUTABLE: frozenset[type] = frozenset(
    {type(None), bool, int, float, complex, str, bytes, PickledValue}
)


def _is_immutable(value: object) -> bool:
    return type(value) in _IMMUTABLE or (
        isinstance(value, np.generic) and not isinstance(value, np.void)
    )


def _fresh(value: object) -> object:
    if _is_immutable(value):
        return value
    if type(value) is np.ndarray:
        return value.copy(order="K")
    return copy.deepcopy(value)
