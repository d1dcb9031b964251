"""Low-level reads of the HDF5 files PyTables wrote for pypet, with h5py.

The traps are those of ``docs`` / the format notes: every string is NUL-terminated on disk, so
h5py's normal read stops at the first NUL byte of a pickle (read raw instead); booleans are HDF5
bitfields that h5py returns as ``uint8``; attribute strings are bytes (UTF-8, ASCII in Python 2
era files); and compressed datasets may need filter plugins that libhdf5 does not ship.
"""

from __future__ import annotations

from typing import Any

import h5py
import numpy as np
import numpy.typing as npt

from pypet_rebuild._optional import missing_dependency
from pypet_rebuild.errors import MissingDependencyError

__all__ = [
    "attr_text",
    "attribute_names",
    "bitfield_fields",
    "decode_text",
    "ensure_filters",
    "is_bitfield",
    "is_pickled_string",
    "read_attribute",
    "read_raw",
]

# HDF5 filters built into libhdf5 (deflate, shuffle, fletcher32, szip, nbit, scale-offset).
_BUILTIN_FILTERS = frozenset({1, 2, 3, 4, 5, 6})
_FILTER_NAMES = {32001: "blosc", 32026: "blosc2", 305: "lzo", 307: "bzip2", 32004: "lz4"}


def decode_text(value: object) -> str:
    """A string attribute or cell as ``str`` (bytes are UTF-8; undecodable bytes are escaped)."""
    if isinstance(value, bytes | np.bytes_):
        return bytes(value).decode("utf-8", "backslashreplace")
    if isinstance(value, np.ndarray) and value.shape == ():
        return decode_text(value[()])
    return str(value)


def attr_text(obj: h5py.HLObject, key: str, default: str = "") -> str:
    """The text of attribute ``key`` of ``obj`` (``default`` if absent)."""
    if key not in obj.attrs:
        return default
    return decode_text(obj.attrs[key])


def is_bitfield(type_id: h5py.h5t.TypeID) -> bool:
    """Whether an HDF5 type is a bitfield (how PyTables stores booleans)."""
    return bool(type_id.get_class() == h5py.h5t.BITFIELD)


def bitfield_fields(dataset: h5py.Dataset) -> frozenset[str]:
    """The names of the compound fields of ``dataset`` stored as bitfields (booleans)."""
    type_id = dataset.id.get_type()
    if type_id.get_class() != h5py.h5t.COMPOUND:
        return frozenset()
    assert isinstance(type_id, h5py.h5t.TypeCompoundID)
    names = set()
    for i in range(type_id.get_nmembers()):
        member = type_id.get_member_type(i)
        if member.get_class() == h5py.h5t.ARRAY:
            member = member.get_super()  # a column with a shape (a list of bools)
        if is_bitfield(member):
            names.add(type_id.get_member_name(i).decode())
    return frozenset(names)


def _has_strings(dtype: np.dtype[Any]) -> bool:
    if dtype.fields is None:
        return dtype.kind == "S" or (dtype.subdtype is not None and dtype.subdtype[0].kind == "S")
    return any(_has_strings(field[0]) for field in dtype.fields.values())


def read_raw(dataset: h5py.Dataset) -> npt.NDArray[Any]:
    """Read a whole dataset, keeping the bytes of strings after an embedded NUL.

    h5py converts NUL-terminated strings and stops at the first NUL; reading with the file's
    own type as memory type copies the bytes as they are (trailing NULs are lost in any case).
    """
    ensure_filters(dataset)
    if not _has_strings(dataset.dtype) or dataset.size == 0:
        return np.asarray(dataset[()])
    out = np.empty(dataset.shape, dtype=dataset.dtype)
    dataset.id.read(h5py.h5s.ALL, h5py.h5s.ALL, out, mtype=dataset.id.get_type())
    return out


def ensure_filters(dataset: h5py.Dataset) -> None:
    """Make sure every filter of ``dataset`` can be decoded, loading ``hdf5plugin`` if needed.

    Raises
    ------
    MissingDependencyError
        If a filter (blosc, lzo, bzip2...) is not available; it names the filter and the
        package that provides it.
    """
    plist = dataset.id.get_create_plist()
    for i in range(plist.get_nfilters()):
        code = int(plist.get_filter(i)[0])
        if code in _BUILTIN_FILTERS or h5py.h5z.filter_avail(code):
            continue
        plugins = True
        try:
            import hdf5plugin  # noqa: F401 - importing it registers the filters with libhdf5
        except ImportError:
            plugins = False
        if not h5py.h5z.filter_avail(code):
            name = _FILTER_NAMES.get(code, f"HDF5 filter {code}")
            what = f"{dataset.name!r} (compressed with {name}, HDF5 filter {code})"
            if not plugins:
                raise missing_dependency(f"reading {what}", "hdf5plugin", "legacy")
            raise MissingDependencyError(
                f"{what} cannot be decoded: neither libhdf5 nor the installed hdf5plugin has "
                "this filter"
            )


def attribute_names(oid: h5py.h5o.ObjectID) -> list[str]:
    """The attribute names of an object, by the low-level API.

    A walk of thousands of run groups spends its time here; h5py's high-level attribute access
    costs about ten times more.
    """
    names: list[str] = []

    def collect(name: bytes, *_: object) -> None:
        names.append(name.decode("utf-8", "backslashreplace"))

    h5py.h5a.iterate(oid, collect)
    return names


def read_attribute(oid: h5py.h5o.ObjectID, name: str) -> object:
    """One attribute's value, strings as ``bytes`` (NULs after the first one kept)."""
    aid = h5py.h5a.open(oid, name.encode())
    type_id = aid.get_type()
    dtype = type_id.dtype
    if dtype.kind == "O":  # variable-length data: not PyTables', let h5py convert it
        parent = h5py.Group(oid) if isinstance(oid, h5py.h5g.GroupID) else h5py.Dataset(oid)
        return parent.attrs[name]
    buf = np.empty(aid.shape if aid.shape is not None else (), dtype=dtype)
    aid.read(buf, mtype=type_id)
    if buf.shape == ():
        value: object = buf[()]
        return bytes(value) if isinstance(value, np.bytes_) else value
    return buf


def is_pickled_string(oid: h5py.h5o.ObjectID, name: str) -> bool:
    """Whether attribute ``name`` is an ASCII-charset string, as PyTables marks its pickles."""
    type_id = h5py.h5a.open(oid, name.encode()).get_type()
    return bool(
        type_id.get_class() == h5py.h5t.STRING and type_id.get_cset() == h5py.h5t.CSET_ASCII
    )
