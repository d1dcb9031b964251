"""Writing scalar attributes through h5py's low-level API: the same attributes, a third the cost.

``node.attrs[name] = value`` goes through h5py's ``AttributeManager.create``, which rebuilds the
HDF5 datatypes and dataspace of every value (about 25 µs an attribute): a sweep into a new file
writes about a hundred, mostly small strings and integers. :func:`write_attrs` writes scalar
``str``, ``int`` and ``float`` values with HDF5 types built once per process and one shared
scalar dataspace, by the same ``h5a`` calls h5py makes (delete an existing attribute, create,
write): the stored attribute is the same, byte for byte (a variable-length UTF-8 string, a
64-bit little-endian integer, a 64-bit float; also NumPy's 32- and 64-bit float scalars). Any
other value (arrays, booleans, bytes) goes through h5py's own path.

Reading has two shortcuts of the same kind, for the checks run when a file is opened:
:func:`attribute_names` lists a node's attributes in one pass (instead of asking for each name
in turn), and :func:`read_attribute` reads a scalar integer or text by the low-level calls alone;
any other value is read as ``node.attrs[name]`` reads it, so a hand-edited attribute is judged as
before.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

import h5py
import numpy as np
from h5py import h5a, h5s, h5t

__all__ = ["Attributes", "attribute_names", "read_attribute", "write_attrs"]

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


def attribute_names(node: h5py.HLObject) -> frozenset[str]:
    """The names of the attributes of ``node``, from one pass over them.

    Cheaper than ``name in node.attrs`` for each of several names (each asks HDF5 to look the
    name up in the node's attribute index).

    Parameters
    ----------
    node
        An open group, dataset or file.

    Returns
    -------
    frozenset of str
        The names, decoded as h5py decodes them; a name that is not UTF-8 (another tool wrote
        it; h5py lists it as bytes) is decoded with ``surrogateescape``: it matches no name
        this library asks for, as under h5py.
    """
    found: list[bytes] = []
    # ``append`` returns None, which tells HDF5 to go on.
    h5a.iterate(node.id, found.append)
    return frozenset(name.decode("utf-8", "surrogateescape") for name in found)


_NOT_SCALAR: Final = object()
_INT64: Final = h5t.NATIVE_INT64
_TEXT_MEMORY: Final = h5t.py_create(_TEXT)
_DEFAULT_IS_ERROR: Final = object()


def read_attribute(node: h5py.HLObject, name: str, default: Any = _DEFAULT_IS_ERROR) -> Any:
    """Attribute ``name`` of ``node``, the value ``node.attrs[name]`` gives, read faster.

    A scalar of an HDF5 integer type that ``int64`` holds exactly (returned as ``int``) and a
    scalar variable-length UTF-8 text (as ``str``) are read by the low-level calls alone, with
    memory types built once (``node.attrs[name]`` builds them anew, and turns a text into a
    one-element array and back); any other value is ``node.attrs[name]`` itself.

    Parameters
    ----------
    node
        An open group, dataset or file.
    name
        The attribute.
    default
        What to return if there is no such attribute; without it, a missing attribute raises.

    Raises
    ------
    KeyError
        If there is no such attribute and no ``default`` was given.
    """
    oid = node.id
    key = name.encode()
    if default is not _DEFAULT_IS_ERROR and not h5a.exists(oid, key):
        return default
    attribute = h5a.open(oid, key)
    value = _scalar(attribute)
    return node.attrs[name] if value is _NOT_SCALAR else value


def _scalar(attribute: h5a.AttrID) -> Any:
    """The value of a scalar integer or UTF-8 text attribute; ``_NOT_SCALAR`` for any other."""
    if attribute.shape != ():
        return _NOT_SCALAR
    stored = attribute.get_type()
    kind = stored.get_class()
    size = stored.get_size()
    # An integer type wider than eight bytes (hand-made; h5py refuses it) would be clipped.
    if kind == h5t.INTEGER and (size < 8 or (size == 8 and stored.get_sign() == h5t.SGN_2)):
        number = np.empty((), dtype=np.int64)
        attribute.read(number, mtype=_INT64)
        return int(number)
    if kind == h5t.STRING and stored.is_variable_str() and stored.get_cset() == h5t.CSET_UTF8:
        # As h5py reads it: into an object array of its text dtype, bytes decoded the same way.
        text = np.zeros((), dtype=_TEXT)
        attribute.read(text, mtype=_TEXT_MEMORY)
        value: object = text[()]
        return value.decode("utf-8", "surrogateescape") if isinstance(value, bytes) else value
    return _NOT_SCALAR


class Attributes:
    """A node's attributes for reading: what ``node.attrs`` gives, by :func:`read_attribute`.

    Parameters
    ----------
    node
        An open group, dataset or file.
    """

    def __init__(self, node: h5py.HLObject) -> None:
        self._node = node

    def __getitem__(self, name: str) -> Any:
        return read_attribute(self._node, name)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and bool(h5a.exists(self._node.id, name.encode()))
