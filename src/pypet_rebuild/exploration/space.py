"""`ParameterSpace`: the immutable, ordered list of points a sweep runs."""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Iterator, Mapping, Sequence
from types import MappingProxyType
from typing import Final

import numpy as np

from pypet_rebuild.errors import EmptyExplorationError, ExplorationError, RaggedExplorationError

from .axis import check_name, values_tuple
from .description import SpaceDescription, describe_columns
from .hashing import PointHashes, hash_columns, value_hash
from .predicates import bind_predicate

__all__ = ["KINDS", "ParameterSpace"]

KINDS: Final[frozenset[str]] = frozenset(
    {"grid", "zipped", "sampled", "concatenated", "filtered", "union"}
)
"""The values `ParameterSpace.kind` takes."""

Grid = tuple[tuple[str, ...], ...]


class ParameterSpace:
    """Immutable ordered list of points over a fixed set of explored names.

    Build one with `cartesian_product`, `zipped` or a sampler rather than directly; the
    constructor is for code that already holds the columns (e.g. a loaded run table).

    Parameters
    ----------
    columns
        Explored parameter path -> the value of that parameter in each point, all of the same
        length (the number of points).
    grid
        For a pure cartesian product: the grid dimensions, outermost first, each a tuple of the
        names that vary together (one name unless linked). Every name appears exactly once.
    kind
        How the space was built (one of `KINDS`); defaults to ``"grid"`` when ``grid`` is given,
        else ``"zipped"``.
    shape
        The lengths of the grid dimensions; needed with a grid of several dimensions (values
        may repeat along a dimension, so it cannot be inferred). Ignored without ``grid``.

    Raises
    ------
    EmptyExplorationError
        If there are no names or no points.
    RaggedExplorationError
        If the columns have different lengths; the message lists each name's length.
    ExplorationError
        If a name is not a non-empty string, or ``grid``/``shape``/``kind`` do not fit.

    Examples
    --------
    >>> space = ParameterSpace({"x": [1.0, 2.0], "y": [10, 20]})
    >>> len(space), space.point(-1)
    (2, {'x': 2.0, 'y': 20})
    """

    __slots__ = ("_columns", "_grid", "_hashes", "_kind", "_length", "_names", "_shape")

    _columns: dict[str, tuple[object, ...]]
    _names: tuple[str, ...]
    _grid: Grid | None
    _shape: tuple[int, ...] | None
    _kind: str
    _length: int
    _hashes: PointHashes | None

    def __init__(
        self,
        columns: Mapping[str, Sequence[object]],
        *,
        grid: Grid | None = None,
        kind: str | None = None,
        shape: tuple[int, ...] | None = None,
    ) -> None:
        if not isinstance(columns, Mapping):
            raise ExplorationError(
                f"columns must be a mapping of parameter path -> values, got "
                f"{type(columns).__name__}"
            )
        if not columns:
            raise EmptyExplorationError(
                "a parameter space needs at least one explored parameter, got no columns"
            )
        checked = {check_name(name): values_tuple(name, v) for name, v in columns.items()}
        lengths = {name: len(values) for name, values in checked.items()}
        if len(set(lengths.values())) > 1:
            listed = ", ".join(f"{name!r} has {n}" for name, n in lengths.items())
            raise RaggedExplorationError(
                f"explored parameters must have the same number of values: {listed}"
            )
        length = next(iter(lengths.values()))
        if length == 0:
            listed = ", ".join(repr(name) for name in checked)
            raise EmptyExplorationError(
                f"the parameter space has no points: no values given for {listed}"
            )
        kind = _check_kind(kind, grid)
        if grid is not None:
            grid, shape = _check_grid(grid, shape, checked, length)
        else:
            shape = None
        self._set(checked, grid=grid, shape=shape, kind=kind, hashes=None)

    @classmethod
    def _trusted(
        cls,
        columns: dict[str, tuple[object, ...]],
        *,
        kind: str,
        grid: Grid | None = None,
        shape: tuple[int, ...] | None = None,
        hashes: PointHashes | None = None,
    ) -> ParameterSpace:
        """Build a space from columns this package already validated (no checks, no copies)."""
        space = cls.__new__(cls)
        space._set(columns, grid=grid, shape=shape, kind=kind, hashes=hashes)
        return space

    def _set(
        self,
        columns: dict[str, tuple[object, ...]],
        *,
        grid: Grid | None,
        shape: tuple[int, ...] | None,
        kind: str,
        hashes: PointHashes | None,
    ) -> None:
        self._columns = columns
        self._names = tuple(columns)
        self._grid = grid
        self._shape = shape
        self._kind = kind
        self._length = len(next(iter(columns.values())))
        self._hashes = hashes

    @property
    def names(self) -> tuple[str, ...]:
        """The explored parameter paths, in order."""
        return self._names

    @property
    def columns(self) -> Mapping[str, tuple[object, ...]]:
        """Read-only view: explored path -> the values of all points."""
        return MappingProxyType(self._columns)

    @property
    def grid(self) -> Grid | None:
        """Grid dimensions (outermost first, each a tuple of linked names), or ``None``."""
        return self._grid

    @property
    def shape(self) -> tuple[int, ...] | None:
        """Lengths of the grid dimensions, or ``None`` if the space is not a grid."""
        return self._shape

    @property
    def kind(self) -> str:
        """How the space was built; one of `KINDS`."""
        return self._kind

    def __len__(self) -> int:
        return self._length

    def point(self, index: int) -> dict[str, object]:
        """Return the point at ``index`` (negative indices count from the end).

        Parameters
        ----------
        index
            Position of the point.

        Returns
        -------
        dict
            Explored path -> value.

        Raises
        ------
        IndexError
            If ``index`` is out of range.
        """
        position = operator.index(index)
        if not -self._length <= position < self._length:
            raise IndexError(
                f"point index {index} is out of range for a space of {self._length} points"
            )
        return {name: values[position] for name, values in self._columns.items()}

    def __iter__(self) -> Iterator[dict[str, object]]:
        names = self._names
        for row in zip(*self._columns.values(), strict=True):
            yield dict(zip(names, row, strict=True))

    def __add__(self, other: ParameterSpace) -> ParameterSpace:
        candidate: object = other  # untyped callers may pass anything
        if not isinstance(candidate, ParameterSpace):
            return NotImplemented
        return self.concat(candidate)

    def concat(self, *others: ParameterSpace) -> ParameterSpace:
        """Return the points of this space followed by those of ``others``.

        Parameters
        ----------
        *others
            Spaces over the same set of names (in any order).

        Returns
        -------
        ParameterSpace
            ``kind="concatenated"``, names in this space's order; ``self`` if no others.

        Raises
        ------
        ExplorationError
            If a space has different names; the message lists the differences.
        """
        if not others:
            return self
        spaces = (self, *others)
        for position, other in enumerate(others, start=1):
            self._check_same_names(other, position)
        columns = {
            name: tuple(v for space in spaces for v in space._columns[name]) for name in self._names
        }
        hashes: PointHashes | None = None
        if all(space._hashes is not None for space in spaces):
            hashes = PointHashes.concatenate(space.hashes() for space in spaces)
        return ParameterSpace._trusted(columns, kind="concatenated", hashes=hashes)

    def union(self, *others: ParameterSpace) -> ParameterSpace:
        """Concatenate, keeping only the first occurrence of each point (by point hash).

        Parameters
        ----------
        *others
            Spaces over the same set of names.

        Returns
        -------
        ParameterSpace
            ``kind="union"``; order of first occurrences kept. Duplicates within this space
            are dropped too.

        Raises
        ------
        ExplorationError
            If a space has different names.
        """
        joined = self.concat(*others) if others else self
        seen: set[str] = set()
        keep: list[int] = []
        for index, digest in enumerate(joined.hashes()):
            if digest not in seen:
                seen.add(digest)
                keep.append(index)
        return joined._select(keep, kind="union")

    def filter(self, predicate: Callable[..., object]) -> ParameterSpace:
        """Keep the points for which ``predicate`` is true, in order.

        Parameters
        ----------
        predicate
            A function whose parameters name explored paths (see `bind_predicate`), e.g.
            ``lambda x, sim__steps: x > 1``.

        Returns
        -------
        ParameterSpace
            ``kind="filtered"``.

        Raises
        ------
        EmptyExplorationError
            If no point satisfies the predicate.
        UnknownParameterError
            If a parameter of ``predicate`` names no explored path.
        """
        bound = bind_predicate(predicate, self._names)
        keep = [index for index, point in enumerate(self) if bound(point)]
        if not keep:
            raise EmptyExplorationError(
                f"no point of the space satisfies the predicate {_callable_name(predicate)} "
                f"(tried {self._length} points)"
            )
        return self._select(keep, kind="filtered")

    def map_columns(self, convert: Callable[[str, int, object], object]) -> ParameterSpace:
        """Return a space with every value replaced by ``convert(name, position, value)``.

        Parameters
        ----------
        convert
            Called once per value with the explored path, the point index and the value.
            The Trajectory uses it to convert values to the declared parameter types.

        Returns
        -------
        ParameterSpace
            Same names, kind, grid and shape; point hashes recomputed on demand.
        """
        columns = {
            name: tuple(convert(name, i, value) for i, value in enumerate(values))
            for name, values in self._columns.items()
        }
        return ParameterSpace._trusted(columns, kind=self._kind, grid=self._grid, shape=self._shape)

    def hashes(self) -> PointHashes:
        """Return the `point_hash` of every point, in order (computed once, then cached).

        Returns
        -------
        PointHashes
            A sequence of one 32-hex-character hash per point, 16 bytes per point in memory.
        """
        if self._hashes is None:
            self._hashes = hash_columns(self._columns)
        return self._hashes

    def describe(self) -> SpaceDescription:
        """Summarise the space: sizes, distinct values, numeric ranges and duplicate points.

        Returns
        -------
        SpaceDescription
            Its ``str()`` is the readable summary ``repr(space)`` shows.
        """
        return describe_columns(
            self._columns, self.hashes(), kind=self._kind, shape=self._shape, grid=self._grid
        )

    def __repr__(self) -> str:
        return str(self.describe())

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ParameterSpace):
            return NotImplemented
        if self is other:
            return True
        return (
            self._names == other._names
            and self._grid == other._grid
            and self._shape == other._shape
            and self._length == other._length
            and self.hashes() == other.hashes()
        )

    def __hash__(self) -> int:
        return hash((self._names, self._grid, self._shape, self.hashes()))

    def _select(self, indices: Sequence[int], *, kind: str) -> ParameterSpace:
        columns = {
            name: tuple(values[i] for i in indices) for name, values in self._columns.items()
        }
        hashes = None if self._hashes is None else self._hashes.take(indices)
        return ParameterSpace._trusted(columns, kind=kind, hashes=hashes)

    def _check_same_names(self, other: object, position: int) -> None:
        if not isinstance(other, ParameterSpace):
            raise ExplorationError(
                f"can only concatenate parameter spaces, got {type(other).__name__} "
                f"at position {position}"
            )
        missing = [n for n in self._names if n not in other._columns]
        extra = [n for n in other._names if n not in self._columns]
        if missing or extra:
            problems = []
            if missing:
                problems.append("lacks " + ", ".join(repr(n) for n in missing))
            if extra:
                problems.append("has extra " + ", ".join(repr(n) for n in extra))
            raise ExplorationError(
                f"cannot combine parameter spaces over different parameters: space {position} "
                f"{' and '.join(problems)} compared with space 0 ({', '.join(self._names)})"
            )


def _check_kind(kind: str | None, grid: Grid | None) -> str:
    if kind is None:
        return "zipped" if grid is None else "grid"
    if kind not in KINDS:
        raise ExplorationError(
            f"unknown parameter space kind {kind!r}; use one of {', '.join(sorted(KINDS))}"
        )
    if (kind == "grid") != (grid is not None):
        raise ExplorationError(
            f"a parameter space of kind {kind!r} "
            + ("needs grid=" if grid is None else "cannot have a grid; use kind='grid'")
        )
    return kind


def _check_grid(
    grid: Grid,
    shape: tuple[int, ...] | None,
    columns: dict[str, tuple[object, ...]],
    length: int,
) -> tuple[Grid, tuple[int, ...]]:
    dims = tuple(tuple(dim) for dim in grid)
    flat = [name for dim in dims for name in dim]
    if any(not dim for dim in dims) or sorted(flat) != sorted(columns):
        raise ExplorationError(
            f"grid {dims!r} must name every explored parameter ({', '.join(columns)}) exactly "
            f"once, in non-empty dimensions"
        )
    if shape is None:
        if len(dims) != 1:
            raise ExplorationError(
                f"a grid of {len(dims)} dimensions needs shape= (the length of each dimension)"
            )
        shape = (length,)
    shape = tuple(operator.index(n) for n in shape)
    if len(shape) != len(dims) or any(n < 1 for n in shape) or math.prod(shape) != length:
        raise ExplorationError(
            f"grid shape {shape} does not fit {len(dims)} dimensions and {length} points"
        )
    inner = length
    for dim, size in zip(dims, shape, strict=True):
        inner //= size
        for name in dim:
            values = columns[name]
            wrong = next(
                (
                    i
                    for i in range(length)
                    if not _same(values[i], values[i // inner % size * inner])
                ),
                None,
            )
            if wrong is not None:
                raise ExplorationError(
                    f"the values of {name!r} do not follow grid {dims!r} with shape {shape}: "
                    f"point {wrong} breaks the pattern of its dimension"
                )
    return dims, shape


def _same(a: object, b: object) -> bool:
    if a is b:
        return True
    try:
        equal: object = a == b
    except (TypeError, ValueError):
        equal = False
    if isinstance(equal, bool | np.bool_) and equal:
        return True
    return value_hash(a) == value_hash(b)


def _callable_name(func: Callable[..., object]) -> str:
    return str(getattr(func, "__qualname__", repr(func)))
