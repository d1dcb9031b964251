"""The codec contract: :class:`Encoded`, the :class:`Codec` protocol and :class:`EncodedBuilder`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, TypeAlias, TypeVar

import numpy as np
from numpy.typing import NDArray

if TYPE_CHECKING:
    from pypet_rebuild.storage.codecs.registry import DecodeContext, EncodeContext

__all__ = [
    "CHILDREN",
    "RAGGED",
    "ROW_ARRAYS",
    "Array",
    "Codec",
    "Encoded",
    "EncodedBuilder",
    "JSONValue",
    "is_native_dtype",
    "json_ints",
]

JSONValue: TypeAlias = bool | int | float | str | list["JSONValue"] | dict[str, "JSONValue"] | None
"""A value that :func:`json.dumps` accepts as it is."""

Array: TypeAlias = NDArray[Any]
"""A numpy array of any dtype."""

CHILDREN = "children"
"""Attrs key: ``{child name: {"codec": id, "attrs": {...}}}`` of the nested values."""
ROW_ARRAYS = "row_arrays"
"""Attrs key: names of the arrays whose axis 0 is the value's row axis."""
RAGGED = "ragged"
"""Attrs key: ``{data array: lengths array}`` for flat data cut into rows by a lengths array."""

T = TypeVar("T")

_NATIVE_SIZES = {"b": (1,), "f": (2, 4, 8), "c": (8, 16), "i": (1, 2, 4, 8), "u": (1, 2, 4, 8)}


def is_native_dtype(dtype: np.dtype[Any]) -> bool:
    """Tell whether every storage backend can hold arrays of ``dtype`` as they are.

    These are bool, the signed and unsigned integers, float16/32/64 and complex64/128 in the
    machine's byte order, and structured dtypes (also nested, also with subarray fields) made
    only of those. Codecs emit nothing else.

    Parameters
    ----------
    dtype
        The dtype to check.

    Returns
    -------
    bool
        ``True`` when arrays of this dtype may appear in :attr:`Encoded.arrays`.
    """
    if dtype.names is not None:
        return all(is_native_dtype(dtype.fields[name][0]) for name in dtype.names)  # type: ignore[index]
    if dtype.subdtype is not None:
        return is_native_dtype(dtype.subdtype[0])
    return (
        dtype.itemsize in _NATIVE_SIZES.get(dtype.kind, ())
        and dtype.isnative
        and dtype.char not in "gG"
    )


def json_ints(value: JSONValue) -> tuple[int, ...]:
    """Read a JSON list of integers (a shape, say) as a tuple."""
    assert isinstance(value, list)
    return tuple(int(item) for item in value)  # type: ignore[arg-type]


@dataclass(frozen=True, eq=False)
class Encoded:
    """A value re-expressed as named arrays of native dtype plus small JSON metadata.

    Instances compare by identity: the arrays make ``==`` ambiguous.

    Parameters
    ----------
    codec
        The stable id of the codec that wrote it and that reads it back.
    arrays
        Named data arrays; names are ``/``-separated relative paths. Arrays may share memory with
        the encoded value, so treat them as read-only.
    attrs
        Small JSON-serialisable metadata.
    """

    codec: str
    arrays: Mapping[str, Array] = field(default_factory=dict)
    attrs: Mapping[str, JSONValue] = field(default_factory=dict)

    @property
    def row_arrays(self) -> tuple[str, ...]:
        """Names of the arrays whose axis 0 is the row axis (empty when there is none)."""
        names = self.attrs.get(ROW_ARRAYS, [])
        assert isinstance(names, list)
        return tuple(str(name) for name in names)

    @property
    def ragged(self) -> Mapping[str, str]:
        """Map each flat data array to the row-axis array holding its per-row lengths."""
        pairs = self.attrs.get(RAGGED, {})
        assert isinstance(pairs, dict)
        return {data: str(lengths) for data, lengths in pairs.items()}

    @property
    def nbytes(self) -> int:
        """Total size of the arrays in bytes."""
        return sum(array.nbytes for array in self.arrays.values())


class Codec(Protocol[T]):
    """Turns values of one type into :class:`Encoded` and back.

    The law every codec obeys: ``decode(encode(x))`` equals ``x`` and has the same type (and
    dtype, where there is one).
    """

    name: str
    """Stable codec id stored in files; never change it once files exist."""

    def can_encode(self, value: object) -> bool:
        """Refine the type match: return ``False`` to let the registry look further."""
        ...

    def encode(self, value: T, ctx: EncodeContext) -> Encoded:
        """Re-express ``value``; use ``ctx.encode_child`` for nested values. Never write."""
        ...

    def decode(self, encoded: Encoded, ctx: DecodeContext) -> T:
        """Rebuild the value; use ``ctx.decode_child`` for nested values."""
        ...


class EncodedBuilder:
    """Collect the arrays, attrs and children of one value, then :meth:`build` it.

    Parameters
    ----------
    codec
        The codec id of the value being built.
    attrs
        Initial attrs.
    """

    def __init__(self, codec: str, attrs: Mapping[str, JSONValue] | None = None) -> None:
        self.codec = codec
        self.attrs: dict[str, JSONValue] = dict(attrs or {})
        self.arrays: dict[str, Array] = {}
        self._children: dict[str, JSONValue] = {}
        self._rows: list[JSONValue] = []
        self._ragged: dict[str, JSONValue] = {}

    def add_array(self, name: str, array: Array, *, rows: bool = False) -> None:
        """Add a data array; ``rows=True`` marks its axis 0 as the row axis."""
        if name in self.arrays:
            raise ValueError(f"array {name!r} was added twice to a {self.codec!r} value")
        self.arrays[name] = array
        if rows:
            self._rows.append(name)

    def add_ragged(self, prefix: str, data: Array, lengths: Array, *, rows: bool = True) -> None:
        """Add flat ``data`` cut by ``lengths`` as ``prefix + "data"`` / ``prefix + "lengths"``."""
        self.add_array(prefix + "data", data)
        self.add_array(prefix + "lengths", lengths, rows=rows)
        self._ragged[prefix + "data"] = prefix + "lengths"

    def add_child(self, name: str, child: Encoded, *, rows: bool = False) -> None:
        """Nest ``child`` under the prefix ``name``; ``rows=True`` inherits its row arrays."""
        if name in self._children:
            raise ValueError(f"child {name!r} was added twice to a {self.codec!r} value")
        self._children[name] = {"codec": child.codec, "attrs": dict(child.attrs)}
        for key, array in child.arrays.items():
            self.add_array(f"{name}/{key}", array)
        if rows:
            self._rows.extend(f"{name}/{key}" for key in child.row_arrays)
            for data, lengths in child.ragged.items():
                self._ragged[f"{name}/{data}"] = f"{name}/{lengths}"

    def build(self) -> Encoded:
        """Return the finished :class:`Encoded`."""
        attrs = dict(self.attrs)
        if self._children:
            attrs[CHILDREN] = self._children
        if self._rows:
            attrs[ROW_ARRAYS] = self._rows
        if self._ragged:
            attrs[RAGGED] = self._ragged
        return Encoded(self.codec, self.arrays, attrs)
