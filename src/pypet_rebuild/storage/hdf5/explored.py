"""Explored columns: one parameter's value in every run, one row per run.

Version 2 stores a column as what any HDF5 reader understands when the values allow:

* Python numbers of one type (``bool``, ``int`` within int64, ``float``, ``complex``): a plain
  numeric dataset;
* strings: a variable-length UTF-8 dataset;
* anything else (mixed types, ``None``, tuples, arrays): a packed column (see :mod:`.packed`),
  each run's value encoded by the codec registry on its own, so an expansion appends rows.

The attribute ``python_type`` (``"int"``, ``"str"``...; empty for packed) says how to box the
values read back. Version 1 stored the non-numeric case as one codec-encoded list; it still reads.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import h5py
import numpy as np

from pypet_rebuild.errors import FileFormatError
from pypet_rebuild.storage.codecs import decode_value, encode_value
from pypet_rebuild.storage.hdf5.attributes import write_attrs
from pypet_rebuild.storage.hdf5.columns import plain_text
from pypet_rebuild.storage.hdf5.describe import attach_run, describe, detach, units_of
from pypet_rebuild.storage.hdf5.encoded import pack, read_encoded, unpack
from pypet_rebuild.storage.hdf5.layout import attribute, create_growable, grow
from pypet_rebuild.storage.hdf5.options import StorageOptions
from pypet_rebuild.storage.hdf5.packed import (
    PackedRows,
    Payload,
    append_payloads,
    create_packed,
    is_packed,
)

__all__ = ["append_explored", "read_explored_column", "write_explored_column"]

_NATIVE = {bool: np.bool_, int: np.int64, float: np.float64, complex: np.complex128}
_TEXT = h5py.string_dtype()


def _kind(values: Sequence[object]) -> str:
    """The Python type name of the values when a plain dataset holds them, else ``""``."""
    kinds = {type(v) for v in values}
    if len(kinds) != 1:
        return ""
    (kind,) = kinds
    if kind is str:
        return "str" if all(plain_text(v) for v in values) else ""  # type: ignore[arg-type]
    if kind not in _NATIVE:
        return ""
    if kind is int and not all(-(2**63) <= v < 2**63 for v in values):  # type: ignore[operator]
        return ""
    return kind.__name__


_BY_NAME = {kind.__name__: dtype for kind, dtype in _NATIVE.items()}


def _dtype(kind: str) -> Any:
    return _TEXT if kind == "str" else _BY_NAME[kind]


def write_explored_column(
    group: h5py.Group,
    path: str,
    values: Sequence[object],
    options: StorageOptions | None = None,
    *,
    described: tuple[str, str] | None = None,
) -> None:
    """Write one explored column (growable with ``options``, contiguous in a segment).

    ``described`` is the parameter's comment and annotations (JSON) as stored, when the caller
    has them at hand; otherwise they are read from the trajectory's ``parameters`` group.
    """
    kind = _kind(values)
    trajectory = group.parent
    node: h5py.Dataset | h5py.Group
    if kind:
        data = np.array(list(values), dtype=object if kind == "str" else _dtype(kind))
        if options is None:
            node = group.create_dataset(path, data=data, dtype=_dtype(kind))
        else:
            node = create_growable(group, path, data.shape, _dtype(kind), options, data=data)
        attach_run(node, trajectory)
    else:
        payloads = [_payload(value, path) for value in values]
        node = create_packed(group, path, len(values), options, payloads)
    write_attrs(node, {"python_type": kind})
    if described is None:
        parameter = trajectory.get("parameters", {}).get(path)
        comment = "" if parameter is None else str(parameter.attrs.get("comment", ""))
        annotations = "{}" if parameter is None else str(parameter.attrs.get("annotations", "{}"))
    else:
        comment, annotations = described
    units = units_of(annotations)
    describe(node, f"explored values of parameter {path}", comment=comment, units=units)


def _payload(value: object, path: str) -> Payload:
    header, parts, _ = pack(encode_value(value, f"explored.{path}"))
    return header, np.concatenate(parts) if parts else np.empty(0, dtype=np.uint8)


def read_explored_column(
    node: h5py.Dataset | h5py.Group, path: str, *, allow_pickle: bool = False
) -> tuple[object, ...]:
    """The values of an explored column (either format version) as Python values."""
    where = f"the explored values of parameter {path!r}"
    if isinstance(node, h5py.Dataset):
        if attribute(node, "python_type", None) == "str":
            return tuple(node.asstr()[...].tolist())
        return tuple(node[...].tolist())
    if is_packed(node):
        rows = np.arange(node["header"].shape[0], dtype=np.int64)
        return tuple(
            decode_value(unpack(header, payload), allow_pickle=allow_pickle, where=where)
            for header, payload in PackedRows(node).read(rows)
        )
    values = decode_value(read_encoded(node), allow_pickle=allow_pickle, where=where)
    if not isinstance(values, list):
        raise FileFormatError(f"the explored values of parameter {path!r} are not a list")
    return tuple(values)


def append_explored(
    group: h5py.Group, path: str, tail: Sequence[object], options: StorageOptions
) -> None:
    """Append ``tail`` to explored column ``path`` of a main file's ``explored`` group.

    Costs the appended values when the column's form holds them (the usual case); a column whose
    form does not (integers, then a float) is rewritten in the form the whole column needs.
    """
    if not len(tail):
        return
    node = group[path]
    stored = str(node.attrs.get("python_type", ""))
    if isinstance(node, h5py.Dataset) and stored and _kind(tail) == stored:
        start = node.shape[0]
        grow(node, start + len(tail))
        node[start:] = np.array(list(tail), dtype=object if stored == "str" else _dtype(stored))
        return
    if isinstance(node, h5py.Group) and "start" in node and node["header"].shape[0]:
        # Values of mixed forms stay mixed whatever is appended: append the new rows.
        start = node["header"].shape[0]
        for name in ("header", "start", "size"):
            grow(node[name], start + len(tail))
        rows = np.arange(start, start + len(tail), dtype=np.int64)
        append_payloads(node, rows, [_payload(value, path) for value in tail])
        return
    # The rare case (integers, then a float): rewrite the column in the form all values need.
    values = read_explored_column(node, path) + tuple(tail)
    if isinstance(node, h5py.Dataset):
        detach(node)
    del group[path]
    write_explored_column(group, path, values, options)
