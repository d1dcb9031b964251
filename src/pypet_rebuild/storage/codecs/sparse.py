"""Codec ``"scipy.sparse"`` for every scipy sparse matrix and array format.

attrs ``format`` (``"csr"``, ``"csc"``, ``"coo"``, ``"bsr"``, ``"dia"``, ``"lil"``, ``"dok"``),
``container`` (``"matrix"`` or ``"array"``), ``shape`` and ``dtype`` (of the stored values). Arrays:

- csr, csc, bsr: ``data``, ``indices``, ``indptr`` as scipy holds them (``data`` is 3-d for bsr);
- coo, and dia/lil/dok through coo: ``data`` and ``coords/<axis>``.

Index arrays may come back with a narrower integer dtype (scipy picks it); values, shape, the
format, the container kind and the value dtype are preserved.
"""

from __future__ import annotations

import functools
from typing import Any

import scipy.sparse as sp

from pypet_rebuild.storage.codecs.base import Encoded, EncodedBuilder, json_ints
from pypet_rebuild.storage.codecs.dtypes import (
    dtype_from_json,
    dtype_to_json,
    from_storage,
    to_storage,
)
from pypet_rebuild.storage.codecs.registry import CodecRegistry, DecodeContext, EncodeContext

__all__ = ["FORMATS", "SparseCodec", "install_sparse_codecs"]

FORMATS = ("csr", "csc", "coo", "bsr", "dia", "lil", "dok")
"""The sparse formats handled."""
_COMPRESSED = ("csr", "csc", "bsr")


class SparseCodec:
    """Codec ``"scipy.sparse"`` (see the module docstring)."""

    name = "scipy.sparse"

    def can_encode(self, value: object) -> bool:
        """Accept the exact scipy classes of :data:`FORMATS`, matrix and array kinds."""
        return type(value) in _classes()

    def encode(self, value: Any, ctx: EncodeContext) -> Encoded:
        """Encode the sparse structure and values."""
        fmt = value.format
        container = "array" if isinstance(value, sp.sparray) else "matrix"
        attrs = {
            "format": fmt,
            "container": container,
            "shape": list(value.shape),
            "dtype": dtype_to_json(value.dtype),
        }
        builder = EncodedBuilder(self.name, attrs)
        if fmt in _COMPRESSED:
            builder.add_array("indices", value.indices)
            builder.add_array("indptr", value.indptr)
            if fmt == "bsr":
                builder.attrs["blocksize"] = list(value.blocksize)
        else:
            value = value.tocoo()
            for axis, coords in enumerate(value.coords):
                builder.add_array(f"coords/{axis}", coords)
        builder.add_array("data", to_storage(value.data, ctx.path))
        return builder.build()

    def decode(self, encoded: Encoded, ctx: DecodeContext) -> Any:
        """Rebuild the sparse matrix or array in its format."""
        attrs = encoded.attrs
        fmt, container = str(attrs["format"]), str(attrs["container"])
        shape = json_ints(attrs["shape"])
        arrays = encoded.arrays
        data = from_storage(arrays["data"], dtype_from_json(attrs["dtype"]))
        if fmt in _COMPRESSED:
            cls = getattr(sp, f"{fmt}_{container}")
            return cls((data, arrays["indices"], arrays["indptr"]), shape=shape)
        coords = tuple(arrays[f"coords/{axis}"] for axis in range(len(shape)))
        coo = getattr(sp, f"coo_{container}")((data, coords), shape=shape)
        return coo if fmt == "coo" else coo.asformat(fmt)


@functools.cache
def _classes() -> tuple[type, ...]:
    return tuple(
        cls
        for fmt in FORMATS
        for kind in ("matrix", "array")
        if (cls := getattr(sp, f"{fmt}_{kind}", None)) is not None
    )


def install_sparse_codecs(registry: CodecRegistry) -> None:
    """Register :class:`SparseCodec` for every scipy sparse class into ``registry``."""
    codec = SparseCodec()
    for cls in _classes():
        registry.register(cls, codec)
