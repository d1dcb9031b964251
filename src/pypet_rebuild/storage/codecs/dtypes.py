"""Numpy dtypes as JSON, and the lossless mapping of any array onto native-dtype storage.

``to_storage`` returns an array of a dtype accepted by :func:`is_native_dtype` whose axis 0 is
still the input's axis 0; ``from_storage(to_storage(a), a.dtype)`` equals ``a`` bit for bit
(structured padding bytes excepted):

========================  ===============================================================
input dtype kind          storage
========================  ===============================================================
bool, int, float, complex  the same dtype in native byte order
``S`` / unstructured ``V`` ``uint8`` with one extra trailing axis of ``itemsize`` bytes
``U``                     ``uint32`` code points with one extra trailing axis of ``itemsize / 4``
``M`` / ``m``             ``int64`` (the unit is part of the dtype recorded in attrs)
structured                packed structured dtype with each field mapped as above
longdouble                float64 where it is float64 already; refused otherwise
========================  ===============================================================

Fixed-width strings keep a fixed width (instead of a ragged UTF-8 form) so that arrays of one
dtype have one storage shape, which lets a backend stack them across runs.
"""

from __future__ import annotations

from typing import Any, cast

import numpy as np

from pypet_rebuild.errors import UnsupportedTypeError
from pypet_rebuild.storage.codecs.base import Array, JSONValue

__all__ = ["dtype_from_json", "dtype_to_json", "from_storage", "to_storage"]


def dtype_to_json(dtype: np.dtype[Any]) -> JSONValue:
    """Describe ``dtype`` exactly (byte order, units, fields, offsets, titles) as JSON."""
    if dtype.names is not None:
        fields: list[JSONValue] = []
        for name in dtype.names:
            field_dtype, offset, *title = dtype.fields[name]  # type: ignore[index]
            entry: dict[str, JSONValue] = {
                "name": name,
                "dtype": dtype_to_json(field_dtype),
                "offset": offset,
            }
            if title:
                entry["title"] = str(title[0])
            fields.append(entry)
        return {"fields": fields, "itemsize": dtype.itemsize, "aligned": dtype.isalignedstruct}
    if dtype.subdtype is not None:
        base, shape = dtype.subdtype
        return {"base": dtype_to_json(base), "shape": list(shape)}
    return dtype.str


def dtype_from_json(spec: JSONValue) -> np.dtype[Any]:
    """Inverse of :func:`dtype_to_json`."""
    if isinstance(spec, str):
        return np.dtype(spec)
    assert isinstance(spec, dict)
    if "base" in spec:
        shape = spec["shape"]
        assert isinstance(shape, list)
        return np.dtype((dtype_from_json(spec["base"]), tuple(int(n) for n in shape)))  # type: ignore[arg-type]
    fields = spec["fields"]
    assert isinstance(fields, list)
    layout: dict[str, Any] = {
        "names": [f["name"] for f in fields],  # type: ignore[index,call-overload]
        "formats": [dtype_from_json(f["dtype"]) for f in fields],  # type: ignore[index,call-overload]
        "offsets": [f["offset"] for f in fields],  # type: ignore[index,call-overload]
        "itemsize": spec["itemsize"],
    }
    if any("title" in f for f in fields):  # type: ignore[operator]
        layout["titles"] = [f.get("title") for f in fields]  # type: ignore[union-attr]
    dtype: np.dtype[Any] = np.dtype(cast(Any, layout), align=bool(spec["aligned"]))
    return dtype


def _raw(array: Array, unit: np.dtype[Any], count: int) -> Array:
    flat = np.ascontiguousarray(array).reshape(-1)
    return flat.view(unit).reshape(*array.shape, count)


def to_storage(array: Array, path: str) -> Array:
    """Map ``array`` losslessly onto an array of native dtype (see the module docstring).

    Raises
    ------
    UnsupportedTypeError
        For object fields inside structured dtypes and for extended-precision floats.
    """
    dtype = array.dtype
    if dtype.names is not None:
        parts = [to_storage(array[name], path) for name in dtype.names]
        layout = [
            (name, part.dtype, part.shape[array.ndim :])
            for name, part in zip(dtype.names, parts, strict=True)
        ]
        out = np.empty(array.shape, dtype=np.dtype(layout))
        for name, part in zip(dtype.names, parts, strict=True):
            out[name] = part
        return out
    kind = dtype.kind
    if kind in "biufc":
        if dtype.char in "gG":
            if np.finfo(dtype).nmant != np.finfo(np.float64).nmant:
                raise UnsupportedTypeError(
                    f"cannot store a numpy array of dtype {dtype} at {path!r}: extended "
                    "precision has no portable storage; convert it to float64/complex128"
                )
            return array.astype(np.float64 if kind == "f" else np.complex128)
        return array if dtype.isnative else array.astype(dtype.newbyteorder("="))
    if kind in "SV":
        return _raw(array, np.dtype(np.uint8), dtype.itemsize)
    if kind == "U":
        codepoints = _raw(
            array, np.dtype(np.uint32).newbyteorder(dtype.byteorder), dtype.itemsize // 4
        )
        return codepoints.astype(np.uint32, copy=False)
    if kind in "Mm":
        return array.view(np.dtype(np.int64).newbyteorder(dtype.byteorder)).astype(
            np.int64, copy=False
        )
    raise UnsupportedTypeError(
        f"cannot store a numpy array of dtype {dtype} at {path!r}: inside structured dtypes "
        "only numbers, bool, bytes, str and datetimes are supported"
    )


def from_storage(stored: Array, dtype: np.dtype[Any]) -> Array:
    """Inverse of :func:`to_storage`: rebuild an array of ``dtype`` from its storage form."""
    if dtype.names is not None:
        out = np.zeros(stored.shape, dtype=dtype)
        for name in dtype.names:
            field_dtype = dtype.fields[name][0]  # type: ignore[index]
            base = field_dtype.subdtype[0] if field_dtype.subdtype else field_dtype
            out[name] = from_storage(stored[name], base)
        return out
    kind = dtype.kind
    if kind in "biufc":
        return stored.astype(dtype, copy=False)
    if kind in "SVU":
        raw = np.ascontiguousarray(stored.astype(stored.dtype.newbyteorder(dtype.byteorder)))
        shape = raw.shape[:-1]
        return raw.reshape(-1).view(dtype).reshape(shape)
    if kind in "Mm":
        native = dtype.newbyteorder("=")
        return stored.astype(np.int64, copy=False).view(native).astype(dtype, copy=False)
    raise UnsupportedTypeError(f"cannot rebuild a numpy array of dtype {dtype}")
