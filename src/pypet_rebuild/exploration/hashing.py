r"""Stable point hashes: one short hex string per combination of explored values.

A point hash identifies a run's parameter combination across processes, machines, numpy versions
and library releases. It is stored in the run table, used to find duplicate points, to resume a
sweep and to merge trajectories, so the encoding below is a **public, versioned format**. It never
uses ``repr``, ``pickle`` or Python's ``hash()``. A change to it gets a new `HASH_VERSION` and a
new domain prefix; version 1 stays readable forever.

Format, version 1
-----------------
``point_hash(point)`` is ``sha256(encoding).digest()[:16].hex()`` (32 lowercase hex characters),
where ``encoding`` is::

    b"pypet_rebuild.point.v1\0"  +  item  +  item  + ...

with one ``item`` per entry of the point, sorted by name (Python ``str`` order, which is the
order of the names' UTF-8 bytes). Each item is ``len(name) name value``. Below, ``len(b)`` is
the length of the byte string ``b`` as 8 bytes unsigned big-endian, ``utf8(s)`` is
``s.encode("utf-8", "surrogatepass")``, and each value starts with a one-byte ASCII tag:

==========  ===  ==========================================================================
value       tag  rest of the encoding
==========  ===  ==========================================================================
None        N    nothing
bool        ?    one byte, 0x00 or 0x01 (``bool`` and ``numpy.bool_``)
integer     i    ``len(d) d``, ``d`` the signed decimal ASCII digits, e.g. ``b"-12"``
                 (``int`` and every numpy integer type, any size)
float       f    the value as IEEE 754 binary64, 8 bytes big-endian (``float``,
                 ``numpy.float16/32/64``); every NaN is written as ``0x7FF8000000000000``
                 and ``-0.0`` as ``0.0``
complex     c    real part then imaginary part, each encoded like a float (``complex``,
                 ``numpy.complex64/128``)
str         s    ``len(utf8(s)) utf8(s)`` (``str`` and ``numpy.str_``)
bytes       y    ``len(b) b`` (``bytes``, ``bytearray``, ``numpy.bytes_``)
sequence    l    ``count`` (8 bytes big-endian) then each element's encoding; ``list`` and
                 ``tuple`` share the tag, so ``[1, 2]`` and ``(1, 2)`` hash equal
mapping     d    ``count`` then, per entry, ``key value``; entries sorted by the bytes of
                 the encoded key, then of the encoded value
array       a    numpy array of kind b, i, u, f, c, m or M: ``len(t) t``, ``t`` the
                 dtype string in little-endian form (``"<i8"``, ``"|b1"``, ``"<M8[ns]"``),
                 ``ndim`` (8 bytes) and each dimension (8 bytes each), then
                 ``len(data) data``, ``data`` the C-order little-endian bytes; in
                 floating and complex arrays every NaN is the quiet NaN with zero payload
                 and ``-0.0`` is ``0.0``
array       e    numpy array of kind U, S or O (element-wise): ``len(k) k``, ``k`` the
                 kind letter, then ``ndim`` and dimensions as above, then each element in C
                 order encoded as a value of its own (elements of ``U`` arrays as str, of
                 ``S`` arrays as bytes)
quantity    q    a value carrying physical units (a pint quantity, a Brian2, astropy or
                 unyt array; added in issue 14, no earlier value used the tag): ``len(u)
                 u``, ``u`` the UTF-8 text of its units (pint's ``str(units)``, Brian2's
                 ``str(dim)``...), then its magnitude encoded as a value
==========  ===  ==========================================================================

``numpy.datetime64`` and ``numpy.timedelta64`` scalars are encoded as 0-d arrays.

Decisions this format makes:

- ``1``, ``1.0``, ``1+0j`` and ``True`` all hash differently: the trajectory converts explored
  values to each parameter's declared type before hashing, so equal runs have equal types.
- ``-0.0`` and ``0.0`` hash equal, because they compare equal and no sweep means to run both;
  all NaNs hash equal, because a repeated NaN point is the same run.
- An array hashes by dtype, shape and data: ``np.array([1, 2])`` differs from ``[1, 2]``, and
  ``np.int32`` arrays differ from ``np.int64`` arrays with the same numbers (unlike scalars,
  whose numpy type is not kept by the trajectory). A 0-d array differs from a scalar.
- ``numpy.longdouble`` values are refused: their bytes depend on the platform.

Any other type raises `UnsupportedTypeError` naming the type and where it was found.
"""

from __future__ import annotations

import hashlib
import math
import struct
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Final, overload

import numpy as np
import numpy.typing as npt

from pypet_rebuild._units import unit_library
from pypet_rebuild.errors import UnsupportedTypeError

if TYPE_CHECKING:
    from .axis import Point

__all__ = [
    "HASH_VERSION",
    "PointHashes",
    "canonical_encoding",
    "hash_columns",
    "point_hash",
    "same_value",
    "value_hash",
]

HASH_VERSION: Final[int] = 1
"""Version of the point-hash format documented in this module."""

_DOMAIN: Final[bytes] = b"pypet_rebuild.point.v1\0"
_HASH_DIGEST: Final = type(hashlib.sha256()).digest
"""``digest`` of a hashlib hash object, unbound (to ``map`` over many)."""
_VALUE_DOMAIN: Final[bytes] = b"pypet_rebuild.value.v1\0"
_CANONICAL_NAN: Final[bytes] = b"\x7f\xf8\x00\x00\x00\x00\x00\x00"
_NUMERIC_KINDS: Final[frozenset[str]] = frozenset("biufcmM")
_ELEMENTWISE_KINDS: Final[frozenset[str]] = frozenset("USO")
_PLATFORM_DEPENDENT: Final[frozenset[type]] = frozenset({np.longdouble, np.clongdouble}) - {
    np.float64,
    np.complex128,
}
# Quiet NaN with zero payload for each IEEE width, as unsigned integers of that width.
_NAN_BITS: Final[Mapping[int, int]] = {2: 0x7E00, 4: 0x7FC00000, 8: 0x7FF8000000000000}


def point_hash(point: Point) -> str:
    """Return the stable hash of a point (see the module docstring for the exact format).

    Parameters
    ----------
    point
        Explored parameter path -> value.

    Returns
    -------
    str
        32 lowercase hex characters; equal for equal points on every machine.

    Raises
    ------
    UnsupportedTypeError
        If a value (or a part of one) has a type the format does not cover.
    """
    return hashlib.sha256(canonical_encoding(point)).digest()[:16].hex()


def value_hash(value: object) -> str:
    r"""Return a stable hash of a single value, for counting distinct values of one parameter.

    Parameters
    ----------
    value
        Any value `point_hash` accepts.

    Returns
    -------
    str
        32 lowercase hex characters over ``b"pypet_rebuild.value.v1\\0"`` and the value's
        encoding.
    """
    out = bytearray(_VALUE_DOMAIN)
    _encode(value, out, "value")
    return hashlib.sha256(out).digest()[:16].hex()


def canonical_encoding(point: Point) -> bytes:
    """Return the bytes `point_hash` digests (the version-1 format of the module docstring).

    Parameters
    ----------
    point
        Explored parameter path -> value.

    Returns
    -------
    bytes
        The domain prefix followed by the encoded items, sorted by name.
    """
    out = bytearray(_DOMAIN)
    for name in sorted(point):
        if not isinstance(name, str):
            raise UnsupportedTypeError(
                f"point names must be str parameter paths, got {type(name).__name__} {name!r}"
            )
        _bytes_with_length(name.encode("utf-8", "surrogatepass"), out)
        _encode(point[name], out, name)
    return bytes(out)


class PointHashes(Sequence[str]):
    """The point hashes of a sweep, in run order: a read-only sequence of hex strings.

    Each item is what `point_hash` returns for that run's point (32 lowercase hex characters),
    but the sequence keeps only the 16 raw digest bytes per run in one numpy array: a million
    runs cost 16 MB instead of ~90 MB of Python strings. Items and iteration give ``str``;
    slicing gives a `PointHashes`; equality holds with any sequence of the same strings.

    Parameters
    ----------
    digests
        The raw 16-byte digests, one per run: an array of dtype ``V16`` or ``S16`` of shape
        ``(n,)``, or ``uint8`` of shape ``(n, 16)``. The array is copied unless it already is a
        read-only ``V16`` array.

    See Also
    --------
    point_hash : The hash of one point.
    """

    __slots__ = ("_digests",)

    def __init__(self, digests: npt.NDArray[Any]) -> None:
        array = np.asarray(digests)
        if array.dtype == np.uint8 and array.ndim == 2 and array.shape[1] == 16:
            array = np.ascontiguousarray(array).view("V16").reshape(len(array))
        elif array.dtype.itemsize == 16 and array.dtype.kind in "SV" and array.ndim == 1:
            array = np.ascontiguousarray(array).view("V16")
        else:
            raise ValueError(
                "point hash digests must be 16 bytes each: an array of dtype V16/S16 of shape "
                f"(n,) or uint8 of shape (n, 16), got {array.dtype} of shape {array.shape}"
            )
        if array.flags.writeable:
            array = array.copy()
            array.flags.writeable = False
        self._digests: npt.NDArray[np.void] = array

    @classmethod
    def from_hex(cls, hashes: Iterable[str]) -> PointHashes:
        """Build from hex strings as `point_hash` returns them.

        Parameters
        ----------
        hashes
            32-character hex strings (a `PointHashes` is returned as it is).

        Returns
        -------
        PointHashes
        """
        if isinstance(hashes, PointHashes):
            return hashes
        raw = bytes.fromhex("".join(hashes))
        return cls(np.frombuffer(raw, dtype="V16").copy())

    @classmethod
    def concatenate(cls, parts: Iterable[Sequence[str]]) -> PointHashes:
        """Join several sequences of point hashes, in order.

        Parameters
        ----------
        parts
            `PointHashes` or other sequences of hex strings.

        Returns
        -------
        PointHashes
        """
        arrays = [cls.from_hex(part).digests for part in parts]
        if not arrays:
            return cls(np.empty(0, dtype="V16"))
        return cls(np.concatenate(arrays))

    @property
    def digests(self) -> npt.NDArray[np.void]:
        """The raw digests as a read-only ``V16`` array (``.view("S16")`` for HDF5)."""
        return self._digests

    def take(self, indices: Sequence[int] | npt.NDArray[np.integer[Any]]) -> PointHashes:
        """The hashes at ``indices``, in that order.

        Parameters
        ----------
        indices
            Run positions.

        Returns
        -------
        PointHashes
        """
        return PointHashes(self._digests[np.asarray(indices, dtype=np.int64)])

    def first_difference(self, other: PointHashes) -> int | None:
        """The first position where this sequence and ``other`` differ, over their common length.

        Parameters
        ----------
        other
            Another sequence of point hashes.

        Returns
        -------
        int or None
            ``None`` if the shorter one is a prefix of the longer one.
        """
        n = min(len(self), len(other))
        mine = self._digests[:n].view(np.uint8).reshape(n, 16)
        theirs = other._digests[:n].view(np.uint8).reshape(n, 16)
        differs = np.flatnonzero((mine != theirs).any(axis=1))
        return int(differs[0]) if len(differs) else None

    def __len__(self) -> int:
        return len(self._digests)

    @overload
    def __getitem__(self, index: int) -> str: ...

    @overload
    def __getitem__(self, index: slice) -> PointHashes: ...

    def __getitem__(self, index: int | slice) -> str | PointHashes:
        if isinstance(index, slice):
            return PointHashes(self._digests[index])
        return bytes(self._digests[index]).hex()

    def __iter__(self) -> Iterator[str]:
        # In blocks: a list of a million bytes objects at once would undo the compact storage.
        for start in range(0, len(self._digests), _BLOCK):
            yield from map(bytes.hex, self._digests[start : start + _BLOCK].tolist())

    def __contains__(self, value: object) -> bool:
        if not isinstance(value, str) or len(value) != 32:
            return False
        try:
            wanted = np.void(bytes.fromhex(value))
        except ValueError:
            return False
        return bool((self._digests == wanted).any())

    def __eq__(self, other: object) -> bool:
        if isinstance(other, PointHashes):
            return len(self) == len(other) and self.first_difference(other) is None
        if isinstance(other, Sequence) and not isinstance(other, (str, bytes)):
            return len(self) == len(other) and all(
                mine == theirs for mine, theirs in zip(self, other, strict=True)
            )
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self._digests.tobytes())

    def __repr__(self) -> str:
        shown = ", ".join(repr(h) for h in self[:2])
        more = ", ..." if len(self) > 2 else ""
        return f"PointHashes({len(self)} runs: [{shown}{more}])"


_BLOCK: Final[int] = 4096
"""Points hashed (or hex strings made) at a time: bounds the temporary Python objects."""

_MEMO_LIMIT: Final[int] = 65536
"""Encodings remembered per column: repeated grid values hit; random samples do not grow it."""


def hash_columns(columns: Mapping[str, Sequence[object]]) -> PointHashes:
    """Return the `point_hash` of every point of equally long columns, faster than one by one.

    Values that repeat down a column (as in every grid) are encoded once. The points are hashed
    in blocks, so the temporary encodings stay small whatever the number of points.

    Parameters
    ----------
    columns
        Explored parameter path -> the values of all points.

    Returns
    -------
    PointHashes
        Equal to ``[point_hash(point) for point in rows]``.

    Raises
    ------
    ValueError
        If the columns have different lengths.
    """
    names = sorted(columns)
    prefixes: list[bytes] = []
    for name in names:
        if not isinstance(name, str):
            raise UnsupportedTypeError(
                f"point names must be str parameter paths, got {type(name).__name__} {name!r}"
            )
        prefix = bytearray()
        _bytes_with_length(name.encode("utf-8", "surrogatepass"), prefix)
        prefixes.append(bytes(prefix))
    if prefixes:
        # The domain tag opens every point's message: it rides on the first column's items.
        prefixes[0] = _DOMAIN + prefixes[0]
    lengths = {len(columns[name]) for name in names}
    if len(lengths) > 1:
        raise ValueError(f"columns of different lengths cannot be hashed together: {lengths}")
    n = lengths.pop() if lengths else 0
    digests = np.empty(n, dtype="V16")
    out = digests.view(np.uint8).reshape(n, 16)
    memos: list[dict[tuple[type, object], bytes]] = [{} for _ in names]
    sha256 = hashlib.sha256
    for start in range(0, n, _BLOCK):
        stop = min(start + _BLOCK, n)
        encoded = [
            _encode_column(columns[name][start:stop], name, prefix, memo)
            for name, prefix, memo in zip(names, prefixes, memos, strict=True)
        ]
        # Message, hash object and digest of each point by map over C functions: no Python
        # frame per point. The digests are cut to 16 bytes in one numpy step.
        messages = map(b"".join, zip(*encoded, strict=True))
        joined = b"".join(map(_HASH_DIGEST, map(sha256, messages)))
        out[start:stop] = np.frombuffer(joined, dtype=np.uint8).reshape(stop - start, 32)[:, :16]
    digests.flags.writeable = False  # handed over without a copy
    return PointHashes(digests)


def _encode_column(
    values: Sequence[object], where: str, prefix: bytes, memo: dict[tuple[type, object], bytes]
) -> list[bytes]:
    """The items (``prefix`` + value encoding) of ``values``, reusing ``memo`` across blocks."""
    result: list[bytes] = []
    for value in values:
        kind = type(value)
        if kind in _MEMO_TYPES:
            # Equal values of one of these exact types always have equal encodings.
            key = (kind, value)
            item = memo.get(key)
            if item is None:
                out = bytearray(prefix)
                _encode(value, out, where)
                item = bytes(out)
                if len(memo) >= _MEMO_LIMIT:
                    memo.clear()
                memo[key] = item
        else:
            out = bytearray(prefix)
            _encode(value, out, where)
            item = bytes(out)
        result.append(item)
    return result


def _length(n: int) -> bytes:
    return n.to_bytes(8, "big")


def _bytes_with_length(data: bytes, out: bytearray) -> None:
    out += _length(len(data))
    out += data


def _float_bytes(x: float) -> bytes:
    if math.isnan(x):
        return _CANONICAL_NAN
    return struct.pack(">d", x + 0.0)  # x + 0.0 turns -0.0 into 0.0


def _encode(value: object, out: bytearray, where: str) -> None:
    """Append the tagged encoding of ``value``; ``where`` names it in error messages."""
    if type(value) in _PLATFORM_DEPENDENT:
        raise UnsupportedTypeError(
            f"cannot hash a value of type {_type_name(value)} at {where!r}: its bytes depend on "
            f"the platform; convert it to float or complex first"
        )
    if unit_library(value) is not None:
        _encode_quantity(value, out, where)
        return
    encoder = next((enc for types, enc in _ENCODERS if isinstance(value, types)), None)
    if encoder is None:
        raise UnsupportedTypeError(
            f"cannot hash a value of type {_type_name(value)} at {where!r}: point values must "
            f"be None, bool, int, float, complex, str, bytes, lists/tuples/dicts of these, or "
            f"numpy scalars and arrays"
        )
    encoder(value, out, where)


def _encode_quantity(value: object, out: bytearray, where: str) -> None:
    # pint: magnitude + units; an ndarray subclass (Brian2, astropy, unyt): its plain values
    # + the first unit attribute it has.
    if isinstance(value, np.ndarray):
        magnitude: object = value.view(np.ndarray)
        units = next(
            getattr(value, name)
            for name in ("dim", "dimensions", "unit", "units")
            if hasattr(value, name)
        )
    else:
        magnitude, units = getattr(value, "magnitude"), getattr(value, "units")  # noqa: B009
    out += b"q"
    _bytes_with_length(str(units).encode("utf-8", "surrogatepass"), out)
    _encode(magnitude, out, where)


def _encode_none(value: object, out: bytearray, where: str) -> None:
    out += b"N"


def _encode_bool(value: object, out: bytearray, where: str) -> None:
    out += b"?\x01" if value else b"?\x00"


def _encode_int(value: object, out: bytearray, where: str) -> None:
    assert isinstance(value, int | np.integer)
    out += b"i"
    _bytes_with_length(str(int(value)).encode("ascii"), out)


def _encode_float(value: object, out: bytearray, where: str) -> None:
    assert isinstance(value, float | np.floating)
    out += b"f"
    out += _float_bytes(float(value))


def _encode_complex(value: object, out: bytearray, where: str) -> None:
    assert isinstance(value, complex | np.complexfloating)
    c = complex(value)
    out += b"c"
    out += _float_bytes(c.real)
    out += _float_bytes(c.imag)


def _encode_str(value: object, out: bytearray, where: str) -> None:
    assert isinstance(value, str)
    out += b"s"
    _bytes_with_length(value.encode("utf-8", "surrogatepass"), out)


def _encode_bytes(value: object, out: bytearray, where: str) -> None:
    assert isinstance(value, bytes | bytearray)
    out += b"y"
    _bytes_with_length(bytes(value), out)


def _encode_sequence(value: object, out: bytearray, where: str) -> None:
    assert isinstance(value, list | tuple)
    out += b"l"
    out += _length(len(value))
    for i, item in enumerate(value):
        _encode(item, out, f"{where}[{i}]")


def _encode_mapping(value: object, out: bytearray, where: str) -> None:
    assert isinstance(value, Mapping)
    entries: list[tuple[bytes, bytes]] = []
    for key, item in value.items():
        key_out, item_out = bytearray(), bytearray()
        _encode(key, key_out, f"{where} key {key!r}")
        _encode(item, item_out, f"{where}[{key!r}]")
        entries.append((bytes(key_out), bytes(item_out)))
    out += b"d"
    out += _length(len(entries))
    for key_bytes, item_bytes in sorted(entries):
        out += key_bytes
        out += item_bytes


def _encode_shape(shape: tuple[int, ...], out: bytearray) -> None:
    out += _length(len(shape))
    for dim in shape:
        out += _length(dim)


def _encode_array(value: object, out: bytearray, where: str) -> None:
    array = np.asarray(value)
    kind = array.dtype.kind
    if kind in _NUMERIC_KINDS and not (kind in "fc" and array.dtype.itemsize > _max_size(kind)):
        dtype = array.dtype.newbyteorder("<")
        data = np.ascontiguousarray(array, dtype=dtype)
        if kind in "fc":
            data = _canonical_floats(data)
        out += b"a"
        _bytes_with_length(dtype.str.encode("ascii"), out)
        _encode_shape(array.shape, out)
        _bytes_with_length(data.tobytes(order="C"), out)
        return
    if kind in _ELEMENTWISE_KINDS:
        out += b"e"
        _bytes_with_length(kind.encode("ascii"), out)
        _encode_shape(array.shape, out)
        for index, item in enumerate(array.flat):
            _encode(item, out, f"{where}.flat[{index}]")
        return
    raise UnsupportedTypeError(
        f"cannot hash a numpy array of dtype {array.dtype} at {where!r}: arrays must hold "
        f"booleans, numbers (up to 64-bit floats), datetimes, strings, bytes or objects"
    )


def _max_size(kind: str) -> int:
    return 8 if kind == "f" else 16


def _canonical_floats(data: np.ndarray) -> np.ndarray:
    """Return a flat copy of a little-endian float/complex array with canonical NaNs and zeros."""
    width = data.dtype.itemsize if data.dtype.kind == "f" else data.dtype.itemsize // 2
    # Complex numbers are pairs of floats; a flat view of the components handles both kinds.
    parts = np.array(data, copy=True).reshape(-1).view(f"<f{width}")
    parts += 0.0  # -0.0 + 0.0 == 0.0 under round-to-nearest
    bits = parts.view(f"<u{width}")
    bits[np.isnan(parts)] = _NAN_BITS[width]
    return parts


_Encoder = Callable[[object, bytearray, str], None]

# Checked in order, first match wins: bool is an int, np.float64 is a float, np.str_ is a str.
_ENCODERS: Final[tuple[tuple[type | tuple[type, ...], _Encoder], ...]] = (
    (type(None), _encode_none),
    ((bool, np.bool_), _encode_bool),
    ((int, np.integer), _encode_int),
    ((float, np.floating), _encode_float),
    ((complex, np.complexfloating), _encode_complex),
    (str, _encode_str),
    ((bytes, bytearray), _encode_bytes),
    ((list, tuple), _encode_sequence),
    (Mapping, _encode_mapping),
    ((np.ndarray, np.datetime64, np.timedelta64), _encode_array),
)


_MEMO_TYPES: Final[frozenset[type]] = frozenset(
    {
        type(None),
        bool,
        int,
        float,
        complex,
        str,
        bytes,
        np.bool_,
        np.int8,
        np.int16,
        np.int32,
        np.int64,
        np.uint8,
        np.uint16,
        np.uint32,
        np.uint64,
        np.float16,
        np.float32,
        np.float64,
    }
)


def _type_name(value: object) -> str:
    cls = type(value)
    module = cls.__module__
    return cls.__qualname__ if module == "builtins" else f"{module}.{cls.__qualname__}"


def same_value(left: object, right: object) -> bool:
    """Whether two values are the same for the purposes of a study (resume, merge).

    Values the canonical encoding covers compare by hash, so ``1`` equals ``np.int64(1)`` and
    arrays compare by dtype, shape and content. Values of other types (a parameter may hold any
    type) compare with ``==``.
    """
    try:
        return value_hash(left) == value_hash(right)
    except UnsupportedTypeError:
        pass
    try:
        return bool(np.all(left == right))
    except Exception:
        return False
