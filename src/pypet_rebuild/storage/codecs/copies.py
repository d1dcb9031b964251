"""Values held apart from the caller: what a backend that keeps no file (memory) stores.

:func:`encode_copy` turns a value into an :class:`EncodedCopy` that shares nothing mutable with
it, and :func:`decode_copy` rebuilds a fresh value from it each time, so neither mutating the
value after storing it nor mutating a value read back changes what is stored. It accepts and
refuses exactly what :func:`~pypet_rebuild.storage.codecs.encode_value` does (same
:class:`~pypet_rebuild.errors.UnsupportedTypeError`, same path, same ``allow_pickle``), and what
comes back is what a file backend gives back: the codec's decoding of arrays that were copied
into C order and attrs that went through JSON.

Two kinds of value skip the codecs, because a copy already gives the same observable result
and the common sweep (numbers and arrays) should cost next to nothing:

- immutable scalars of an exact type (``None``, ``bool``, ``int``, ``float``, ``complex``,
  ``str``, ``bytes`` and numpy numbers of a native dtype) are kept as they are: every codec
  accepts them, and decoding gives back an equal value of the same type;
- plain ``np.ndarray`` of a native, unstructured dtype is kept as a private copy, returned as
  another copy in the memory order the numpy codec restores (Fortran order if the array was
  Fortran-contiguous only, else C order).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from pypet_rebuild.storage import codecs
from pypet_rebuild.storage.codecs.base import Array, Encoded, is_native_dtype
from pypet_rebuild.storage.codecs.registry import CodecRegistry

__all__ = [
    "EncodedCopy",
    "all_plain_scalars",
    "decode_copy",
    "encode_copy",
    "is_plain_scalar",
    "keep",
    "keep_all",
    "restore",
]

_PLAIN_SCALARS: frozenset[type] = frozenset(
    {type(None), bool, int, float, complex, str, bytes}
    | {np.dtype(code).type for code in "?bhilqBHILQefdFD"}
)
_AS_IS = 0
_ARRAY = 1
_ENCODED = 2


def is_plain_scalar(value: object) -> bool:
    """Tell whether ``value`` is an immutable scalar that every backend stores unchanged.

    These are ``None``, exact ``bool``/``int``/``float``/``complex``/``str``/``bytes`` and numpy
    booleans and numbers of a native dtype (not ``np.longdouble``).
    """
    kind = type(value)
    if kind not in _PLAIN_SCALARS:
        return False
    return not isinstance(value, np.generic) or is_native_dtype(value.dtype)


def all_plain_scalars(values: Iterable[object]) -> bool:
    """Tell whether :func:`is_plain_scalar` holds for every value (column-wise: one pass in C)."""
    # Every numpy scalar type in _PLAIN_SCALARS has a native dtype, so the exact type decides.
    return set(map(type, values)) <= _PLAIN_SCALARS


@dataclass(frozen=True, slots=True, eq=False)
class EncodedCopy:
    """A stored value that shares no mutable state with the caller; build with :func:`encode_copy`.

    Instances compare by identity.
    """

    form: int
    value: object = None
    codec: str = ""
    arrays: tuple[tuple[str, Array], ...] = ()
    attrs: str = "{}"


def encode_copy(
    value: object,
    path: str = "<value>",
    *,
    allow_pickle: bool = False,
    registry: CodecRegistry | None = None,
) -> EncodedCopy:
    """Encode ``value`` into a form that no later change to ``value`` can reach.

    Parameters
    ----------
    value
        Any value :func:`~pypet_rebuild.storage.codecs.encode_value` accepts.
    path
        Where the value is stored, for error messages.
    allow_pickle
        Pickle values (anywhere in the structure) that have no codec.
    registry
        The registry to use; the default registry by default.

    Returns
    -------
    EncodedCopy
        The value, ready for :func:`decode_copy`.

    Raises
    ------
    UnsupportedTypeError
        Exactly where ``encode_value`` raises it, with the same message.
    """
    if type(value) in _KEPT_AS_IS or is_plain_scalar(value):
        return EncodedCopy(_AS_IS, value)
    if _is_plain_array(value):
        assert isinstance(value, np.ndarray)
        stored = value.copy(order=_order(value))
        stored.flags.writeable = False
        return EncodedCopy(_ARRAY, stored)
    encoded = codecs.encode_value(value, path, allow_pickle=allow_pickle, registry=registry)
    arrays = []
    for name, array in encoded.arrays.items():
        # A file backend writes and reads the arrays back in C order; 0-d stays 0-d.
        stored = np.array(array, order="C", copy=True)
        stored.flags.writeable = False
        arrays.append((name, stored))
    # Attrs through JSON, as a file stores them: a tuple in a codec's attrs reads back a list.
    return EncodedCopy(_ENCODED, None, encoded.codec, tuple(arrays), json.dumps(encoded.attrs))


_KEPT_AS_IS = frozenset(
    {bool, int, float, complex, str, bytes, np.bool_, np.int32, np.int64, np.float32, np.float64}
)
"""Exact types of immutable scalars every codec stores unchanged (``None`` is not one of them:
backends read ``None`` back as "no value")."""


def keep(value: object, path: str = "<value>", *, allow_pickle: bool = False) -> object:
    """The cheapest form of ``value`` that no later change can reach.

    Immutable scalars of the exact types in ``_KEPT_AS_IS`` (the bulk of a sweep's results) are
    returned as they are, a plain array as a private copy (an ``np.ndarray``), and
    everything else as an :class:`EncodedCopy`. Neither the scalars nor the arrays are objects
    the garbage collector tracks, so a million kept results do not slow down every later
    collection. Undo with :func:`restore`.
    """
    if type(value) in _KEPT_AS_IS:
        return value
    if _is_plain_array(value):
        assert isinstance(value, np.ndarray)
        return _private_copy(value)
    return encode_copy(value, path, allow_pickle=allow_pickle)


def keep_all(
    batch: Sequence[Mapping[str, object]], prefix: str, *, allow_pickle: bool = False
) -> list[dict[str, object]]:
    """:func:`keep` of every value of every mapping of ``batch`` (path: ``prefix + name``).

    The loop of :func:`keep`, inlined over a whole batch of runs: a sweep keeps a few values per
    run, millions of times. The dtype of the last plain array is remembered, so a column of
    arrays of one dtype (the usual case) decides plainness once per batch, not per value.
    """
    kept_batch: list[dict[str, object]] = []
    as_is, ndarray, plain_dtype = _KEPT_AS_IS, _NDARRAY, _plain_dtype
    last_plain: object = None
    for values in batch:
        kept: dict[str, object] = {}
        for name, value in values.items():
            kind = type(value)
            if kind in as_is:
                kept[name] = value
            elif kind is ndarray and (value.dtype is last_plain or plain_dtype(value)):  # type: ignore[attr-defined]
                array: Any = value  # a plain np.ndarray: _private_copy, inlined
                last_plain = array.dtype
                # A 1-d array is C-contiguous or neither: copy() gives what _order would.
                kept[name] = (
                    array.copy()
                    if array.ndim == 1 or array.flags.c_contiguous
                    else array.copy(order=_order(array))
                )
            else:
                kept[name] = encode_copy(value, prefix + name, allow_pickle=allow_pickle)
        kept_batch.append(kept)
    return kept_batch


def restore(kept: object, *, allow_pickle: bool = False, where: str = "<value>") -> object:
    """A fresh value from what :func:`keep` returned."""
    kind = type(kept)
    if kind is EncodedCopy:
        assert isinstance(kept, EncodedCopy)
        return decode_copy(kept, allow_pickle=allow_pickle, where=where)
    if kind is np.ndarray:
        # Only a plain array's private copy is kept as an ndarray.
        assert isinstance(kept, np.ndarray)
        return _private_copy(kept)
    return kept


def decode_copy(
    copy: EncodedCopy,
    *,
    allow_pickle: bool = False,
    where: str = "<value>",
    registry: CodecRegistry | None = None,
) -> object:
    """Rebuild a fresh value from ``copy`` (every call returns a new, writable value).

    Parameters
    ----------
    copy
        The output of :func:`encode_copy`.
    allow_pickle
        Unpickle values that were pickled (refused otherwise, as when reading a file).
    where
        The value's place, named by a refusal.
    registry
        The registry to use; the default registry by default.

    Returns
    -------
    object
        A value equal to the one encoded, of the same type and dtype.

    Raises
    ------
    UnsupportedTypeError
        If the codec that encoded it is no longer registered.
    """
    if copy.form == _AS_IS:
        return copy.value
    if copy.form == _ARRAY:
        stored = copy.value
        assert isinstance(stored, np.ndarray)
        return stored.copy(order=_order(stored))
    arrays = {name: array.copy() for name, array in copy.arrays}
    encoded = Encoded(copy.codec, arrays, json.loads(copy.attrs))
    return codecs.decode_value(encoded, allow_pickle=allow_pickle, where=where, registry=registry)


def _is_plain_array(value: object) -> bool:
    if type(value) is not np.ndarray:
        return False
    return _plain_dtype(value)


_NDARRAY = np.ndarray


def _plain_dtype(array: Any) -> bool:
    """Whether an ``np.ndarray``'s dtype is native and unstructured (cached per dtype object)."""
    dtype = array.dtype
    # Decided once per dtype object: a sweep stores the same few dtypes millions of times, and
    # hashing a dtype costs more than this whole check. Keyed by identity; the entry keeps the
    # dtype alive, so its id cannot be reused by another object.
    known = _PLAIN_ARRAY_DTYPES.get(id(dtype))
    if known is None:
        plain = dtype.names is None and dtype.subdtype is None and is_native_dtype(dtype)
        known = _PLAIN_ARRAY_DTYPES[id(dtype)] = (dtype, plain)
    return known[1]


_PLAIN_ARRAY_DTYPES: dict[int, tuple[np.dtype[Any], bool]] = {}


def _private_copy(array: Array) -> Array:
    """A copy of a plain array in the memory order the numpy codec restores.

    Not made read-only, unlike the arrays of an :class:`EncodedCopy`: nothing but
    :func:`restore` ever sees it, which copies it again, and the flag costs more than the copy
    of a small array (this runs for every array result of every run).
    """
    if array.flags.c_contiguous:
        return array.copy()
    return array.copy(order=_order(array))


def _order(array: Array) -> Any:
    # The numpy codec restores Fortran order only for arrays that are Fortran-contiguous alone.
    flags = array.flags
    return "F" if flags.f_contiguous and not flags.c_contiguous else "C"
