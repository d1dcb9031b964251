"""Codec output (:class:`Encoded`) in HDF5: as a group of datasets, or packed into a byte heap.

A single value (a parameter default, a derived result) becomes a group: one dataset per named
array plus the codec id and its JSON attrs as attributes. Values of a result that cannot be
stacked across runs are *packed*: the arrays' bytes go to one shared ``uint8`` heap and a small
JSON header per run says where each array starts and what its dtype and shape are.
"""

from __future__ import annotations

import json
from typing import Any

import h5py
import numpy as np
import numpy.typing as npt

from pypet_rebuild.storage.codecs import Encoded
from pypet_rebuild.storage.hdf5.attributes import write_attrs

__all__ = ["pack", "read_encoded", "unpack", "write_encoded"]

_CODEC_ATTR = "codec"
_ATTRS_ATTR = "codec_attrs"


def dtype_to_json(dtype: np.dtype[Any]) -> Any:
    """A JSON-able description of a dtype (structured dtypes included)."""
    return np.lib.format.dtype_to_descr(dtype)


def dtype_from_json(descr: Any) -> np.dtype[Any]:
    """The dtype described by :func:`dtype_to_json`."""
    if isinstance(descr, str):
        return np.dtype(descr)
    return np.lib.format.descr_to_dtype(_fields(descr))


def _fields(descr: list[Any]) -> list[tuple[Any, ...]]:
    # JSON turned each field's tuples into lists: ``[name or [title, name], format(, shape)]``,
    # where the format is itself a field list for a nested struct. Each part is converted by
    # its position, at every depth (a nested field's title must come back as a tuple too).
    fields = []
    for name, form, *shape in descr:
        fields.append(
            (
                tuple(name) if isinstance(name, list) else name,
                _fields(form) if isinstance(form, list) else form,
                *(tuple(part) for part in shape),
            )
        )
    return fields


def write_encoded(group: h5py.Group, name: str, encoded: Encoded) -> h5py.Group:
    """Write ``encoded`` as the group ``name`` under ``group``."""
    target = group.create_group(name)
    write_attrs(target, {_CODEC_ATTR: encoded.codec, _ATTRS_ATTR: json.dumps(encoded.attrs)})
    for array_name, array in encoded.arrays.items():
        dataset = target.create_dataset(array_name, data=_c_order(array))
        long_name = f"array {array_name!r} of a value encoded by {encoded.codec}"
        write_attrs(dataset, {"long_name": long_name})
    return target


def _c_order(array: npt.NDArray[Any]) -> npt.NDArray[Any]:
    # Not np.ascontiguousarray: it turns a 0-d array into shape (1,), and a codec that stores a
    # 0-d array must read a 0-d array back (as it does from the memory backend).
    return np.asarray(array, order="C")


def read_encoded(group: h5py.Group) -> Encoded:
    """Read a group written by :func:`write_encoded`."""
    arrays: dict[str, npt.NDArray[Any]] = {}

    def collect(name: str, node: object) -> None:
        if isinstance(node, h5py.Dataset):
            # A 0-d dataset reads as a numpy scalar; codecs expect a 0-d array.
            arrays[name] = np.asarray(node[()])

    group.visititems(collect)
    return Encoded(str(group.attrs[_CODEC_ATTR]), arrays, json.loads(str(group.attrs[_ATTRS_ATTR])))


def pack(encoded: Encoded) -> tuple[str, list[npt.NDArray[np.uint8]], int]:
    """Pack ``encoded`` into a JSON header and byte chunks; returns ``(header, chunks, nbytes)``."""
    entries: list[list[Any]] = []
    chunks: list[npt.NDArray[np.uint8]] = []
    offset = 0
    for name, array in encoded.arrays.items():
        contiguous = _c_order(array)
        raw = contiguous.reshape(-1).view(np.uint8) if contiguous.size else np.empty(0, np.uint8)
        entries.append([name, dtype_to_json(contiguous.dtype), list(contiguous.shape), offset])
        chunks.append(raw)
        offset += raw.size
    header = json.dumps({"codec": encoded.codec, "attrs": encoded.attrs, "arrays": entries})
    return header, chunks, offset


def unpack(header: str, payload: npt.NDArray[np.uint8]) -> Encoded:
    """Rebuild the :class:`Encoded` packed by :func:`pack` (``payload`` is its byte range)."""
    meta = json.loads(header)
    arrays: dict[str, npt.NDArray[Any]] = {}
    for name, descr, shape, offset in meta["arrays"]:
        dtype = dtype_from_json(descr)
        count = int(np.prod(shape, dtype=np.int64))
        size = count * dtype.itemsize
        # A fresh copy is aligned and writable, so decoded arrays behave like the originals.
        raw = np.array(payload[offset : offset + size], dtype=np.uint8, copy=True)
        arrays[name] = raw.view(dtype).reshape(shape) if size else np.empty(shape, dtype)
    return Encoded(meta["codec"], arrays, meta["attrs"])
