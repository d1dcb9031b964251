"""Writing scalar attributes through h5py's low-level API: the same attributes, a third the cost.

``node.attrs[name] = value`` goes through h5py's ``AttributeManager.create``, which rebuilds the
HDF5 datatypes and dataspace of every value (about 25 µs an attribute): a sweep into a new file
writes about a hundred, mostly small strings and integers. :func:`write_attrs` writes scalar
``str``, ``int`` and ``float`` values with HDF5 types built once per process and one shared
scalar dataspace, by the same ``h5a`` calls h5py makes (delete an existing attribute, create,
write): the stored attribute is the same, byte for byte (a variable-length UTF-8 string, a
64-bit little-endian integer, a 64-bit float; also NumPy's 32- and 64-bit float scalars). Any
other value (arrays, booleans, bytes) goes through h5py's own path.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

import h5py
import numpy as np
from h5py import h5a, h5s, h5t

__all__ = ["write_attrs"]

_TEXT: Final = h5py.string_dtype()
_SCALAR: Final = h5s.create(h5s.SCALAR)


def _types(dtype: np.dtype[Any]) -> tuple[h5t.TypeID, h5t.TypeID]:
    """The file type and the memory type h5py's ``attrs.create`` derives from ``dtype``."""
    return h5t.py_create(dtype, logical=True), h5t.py_create(dtype)


# Keyed by the exact Python type: ``bool`` (an ``int`` subclass h5py stores as an enum) and
# NumPy scalars are not keys, so they take h5py's path.
_BY_TYPE: Final[dict[type, tuple[np.dtype[Any], tuple[h5t.TypeID, h5t.TypeID]]]] = {
    str: (_TEXT, _types(_TEXT)),
    int: (np.dtype(np.int64), _types(np.dtype(np.int64))),
    float: (np.dtype(np.float64), _types(np.dtype(np.float64))),
    np.float64: (np.dtype(np.float64), _types(np.dtype(np.float64))),
    np.float32: (np.dtype(np.float32), _types(np.dtype(np.float32))),
}


def write_attrs(node: h5py.HLObject, values: Mapping[str, Any]) -> None:
    """Set the attributes ``values`` of ``node``, replacing any of the same names.

    Stores exactly what ``node.attrs[name] = value`` stores for each value.

    Parameters
    ----------
    node
        An open group, dataset or file.
    values
        Attribute names and values; scalar ``str``, ``int`` (within int64), ``float``,
        ``numpy.float64`` and ``numpy.float32`` values take the fast path, any other h5py's.
    """
    oid = node.id
    for name, value in values.items():
        known = _BY_TYPE.get(type(value))
        if known is None or (type(value) is int and not -(2**63) <= value < 2**63):
            node.attrs[name] = value
            continue
        dtype, (file_type, memory_type) = known
        key = name.encode()
        if h5a.exists(oid, key):
            h5a.delete(oid, key)
        attribute = h5a.create(oid, key, file_type, _SCALAR)
        try:
            attribute.write(np.array(value, dtype=dtype), mtype=memory_type)
        except BaseException:
            attribute.close()
            h5a.delete(oid, key)
            raise
        attribute.close()
