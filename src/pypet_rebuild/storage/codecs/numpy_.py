"""Codecs for numpy arrays (``"numpy.ndarray"``) and numpy scalars (``"numpy.generic"``).

An array ``a`` of any fixed dtype becomes ``arrays={"values": to_storage(a)}`` (just ``a`` when its
dtype is native) with attrs ``dtype`` (exact, see :mod:`.dtypes`), ``shape`` and, for
Fortran-ordered input, ``order="F"``. ``values`` is a row array whenever ``a.ndim >= 1``.

Object arrays and numpy's variable-width ``StringDType`` arrays get attrs ``objects``:

- ``"str"`` / ``"bytes"``: every element is exactly ``str`` (or ``bytes``) or ``None``; stored in
  the ragged form of :mod:`.ragged` (``data`` + ``lengths`` shaped like the array);
- ``"elements"``: anything else; each element is encoded on its own as child ``items/<i>`` (flat
  C order), so attrs grow with the number of elements.

Scalars are encoded as the 0-d array ``np.asarray(x)`` and come back as ``array[()]``.

A masked array (``"numpy.ma.MaskedArray"``, what ``study.results[name][:]`` returns) is two
children: ``data``, the underlying array, and ``mask``, the mask as a full boolean array. Its
``fill_value`` is not kept (it comes back as numpy's default for the dtype).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from pypet_rebuild.storage.codecs.base import Array, Encoded, EncodedBuilder, json_ints
from pypet_rebuild.storage.codecs.dtypes import (
    dtype_from_json,
    dtype_to_json,
    from_storage,
    to_storage,
)
from pypet_rebuild.storage.codecs.ragged import (
    all_of,
    pack_bytes,
    pack_texts,
    unpack_bytes,
    unpack_texts,
)
from pypet_rebuild.storage.codecs.registry import CodecRegistry, DecodeContext, EncodeContext

__all__ = [
    "MaskedArrayCodec",
    "NdarrayCodec",
    "NumpyScalarCodec",
    "decode_ndarray",
    "encode_ndarray",
    "install_numpy_codecs",
]

_STRING_DTYPE = "T"  # numpy's variable-width StringDType has no parseable dtype.str


def encode_ndarray(array: Array, ctx: EncodeContext, codec: str) -> Encoded:
    """Encode any numpy array under the codec id ``codec`` (see the module docstring)."""
    dtype = array.dtype
    rows = array.ndim > 0
    builder = EncodedBuilder(codec, {"shape": list(array.shape)})
    if array.flags.f_contiguous and not array.flags.c_contiguous:
        builder.attrs["order"] = "F"
    if dtype.kind in "OT":
        if dtype.kind == "T" and hasattr(dtype, "na_object"):
            raise ctx.unsupported(
                "a numpy StringDType array with an na_object", "use a plain StringDType()"
            )
        builder.attrs["dtype"] = _STRING_DTYPE if dtype.kind == "T" else dtype.str
        _encode_objects(array, ctx, builder, rows=rows)
    else:
        builder.attrs["dtype"] = dtype_to_json(dtype)
        builder.add_array("values", to_storage(array, ctx.path), rows=rows)
    return builder.build()


def _encode_objects(
    array: Array, ctx: EncodeContext, builder: EncodedBuilder, *, rows: bool
) -> None:
    items: list[Any] = list(array.reshape(-1))
    if all_of(items, str, allow_none=True):
        data, lengths = pack_texts(items)
        builder.attrs["objects"] = "str"
    elif all_of(items, bytes, allow_none=True):
        data, lengths = pack_bytes(items)
        builder.attrs["objects"] = "bytes"
    else:
        builder.attrs["objects"] = "elements"
        for i, item in enumerate(items):
            name = f"items/{i}"
            builder.add_child(name, ctx.encode_child(item, name))
        return
    builder.add_ragged("", data, lengths.reshape(array.shape), rows=rows)


def decode_ndarray(encoded: Encoded, ctx: DecodeContext) -> Array:
    """Inverse of :func:`encode_ndarray`."""
    attrs = encoded.attrs
    shape = json_ints(attrs["shape"])
    objects = attrs.get("objects")
    if objects is None:
        out = from_storage(encoded.arrays["values"], dtype_from_json(attrs["dtype"])).reshape(shape)
    else:
        if objects == "elements":
            items: list[Any] = [ctx.decode_child(f"items/{i}") for i in range(int(np.prod(shape)))]
        elif objects == "bytes":
            items = unpack_bytes(encoded.arrays["data"], encoded.arrays["lengths"])
        else:
            items = unpack_texts(encoded.arrays["data"], encoded.arrays["lengths"])
        if attrs["dtype"] == _STRING_DTYPE:
            out = np.array(items, dtype=np.dtypes.StringDType()).reshape(shape)
        else:
            out = np.empty(shape, dtype=object)
            flat = out.reshape(-1)
            for i, item in enumerate(items):
                flat[i] = item  # one by one: a list slice would be broadcast into the array
    return np.asfortranarray(out) if attrs.get("order") == "F" else out


class NdarrayCodec:
    """Codec ``"numpy.ndarray"`` for plain :class:`numpy.ndarray` (subclasses are refused)."""

    name = "numpy.ndarray"

    def can_encode(self, value: object) -> bool:
        """Accept exact ndarrays only: a subclass (masked, matrix) would lose its meaning."""
        return type(value) is np.ndarray

    def encode(self, value: Array, ctx: EncodeContext) -> Encoded:
        """Encode the array (see the module docstring)."""
        return encode_ndarray(value, ctx, self.name)

    def decode(self, encoded: Encoded, ctx: DecodeContext) -> Array:
        """Rebuild the array with its dtype, shape and memory order."""
        return decode_ndarray(encoded, ctx)


class MaskedArrayCodec:
    """Codec ``"numpy.ma.MaskedArray"``: the data and the mask, each a plain array."""

    name = "numpy.ma.MaskedArray"

    def can_encode(self, value: object) -> bool:
        """Accept exact masked arrays."""
        return type(value) is np.ma.MaskedArray

    def encode(self, value: np.ma.MaskedArray[Any, Any], ctx: EncodeContext) -> Encoded:
        """Encode the data and the full mask as children."""
        builder = EncodedBuilder(self.name)
        data: Array = np.ma.getdata(value)
        mask: Array = np.ma.getmaskarray(value)
        builder.add_child("data", ctx.encode_child(np.array(data), "data"))
        builder.add_child("mask", ctx.encode_child(np.array(mask), "mask"))
        return builder.build()

    def decode(self, encoded: Encoded, ctx: DecodeContext) -> np.ma.MaskedArray[Any, Any]:
        """Rebuild the masked array from its data and mask."""
        data = np.asarray(ctx.decode_child("data"))
        mask: Any = ctx.decode_child("mask")  # bool, or a structured mask of bools
        masked: np.ma.MaskedArray[Any, Any] = np.ma.MaskedArray(data, mask=mask)
        return masked


class NumpyScalarCodec:
    """Codec ``"numpy.generic"`` for numpy scalars: ``np.float32(1)`` comes back as np.float32."""

    name = "numpy.generic"

    def can_encode(self, value: object) -> bool:
        """Accept every numpy scalar."""
        return isinstance(value, np.generic)

    def encode(self, value: np.generic[Any], ctx: EncodeContext) -> Encoded:
        """Encode the scalar as a 0-d array."""
        return encode_ndarray(np.asarray(value), ctx, self.name)

    def decode(self, encoded: Encoded, ctx: DecodeContext) -> np.generic[Any]:
        """Rebuild the scalar with its exact numpy type."""
        scalar: np.generic[Any] = decode_ndarray(encoded, ctx)[()]  # type: ignore[assignment]
        return scalar


def install_numpy_codecs(registry: CodecRegistry) -> None:
    """Register the numpy codecs into ``registry``.

    ``np.str_`` and ``np.bytes_`` are registered on their own because they subclass ``str`` and
    ``bytes``, which come before ``np.generic`` in their MRO.
    """
    registry.register(np.ndarray, NdarrayCodec())
    registry.register(np.ma.MaskedArray, MaskedArrayCodec())
    scalars = NumpyScalarCodec()
    for kind in (np.generic, np.str_, np.bytes_):
        registry.register(kind, scalars)
