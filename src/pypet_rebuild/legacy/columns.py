"""Reading one result across many runs quickly: the layout of its first item, reused.

pypet stores each run's value of a result as its own dataset, with its type in attributes. A
sweep writes the same type in every run, so the attributes of the first run's dataset describe
the others: each further dataset is opened and read with h5py's low-level API, its dtype and
collection type compared with the first, and read the slow way when they differ.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import h5py
import numpy as np

from pypet_rebuild.legacy.h5read import attr_text, ensure_filters, read_attribute
from pypet_rebuild.legacy.items import SPARSE_SUFFIX, recall

__all__ = ["DIFFERENT", "ItemLayout"]

DIFFERENT = object()
"""Returned by :meth:`ItemLayout.read` for a dataset laid out unlike the first one."""

_FAST_STORES = frozenset({"ARRAY", "CARRAY", "EARRAY"})


def _has_strings(dtype: np.dtype[Any]) -> bool:
    return dtype.kind == "S" or (dtype.subdtype is not None and dtype.subdtype[0].kind == "S")


@dataclass(frozen=True)
class ItemLayout:
    """How a result's first dataset is stored, to read the same result in other runs."""

    dtype: np.dtype[Any]
    coll_type: str
    scalar_type: str
    is_bool: bool

    @classmethod
    def of(cls, node: object, class_name: str, item: str) -> ItemLayout | None:
        """The layout of ``node``, or ``None`` if it needs the general reader."""
        if not isinstance(node, h5py.Dataset) or class_name == "PickleResult":
            return None
        if item.endswith(SPARSE_SUFFIX) or attr_text(node, "SRVC_STORE") not in _FAST_STORES:
            return None
        if node.dtype.fields is not None or node.dtype.kind == "O":
            return None
        ensure_filters(node)  # every dataset of a pypet file has the file's filters
        scalar_type = attr_text(node, "SRVC_DATA_SCALAR_TYPE")
        is_bitfield = node.id.get_type().get_class() == h5py.h5t.BITFIELD
        return cls(
            dtype=node.dtype,
            coll_type=attr_text(node, "SRVC_DATA_COLL_TYPE", "COLL_NDARRAY"),
            scalar_type=scalar_type,
            is_bool="bool" in scalar_type or bool(is_bitfield),
        )

    def _unambiguous(self, dataset: h5py.h5d.DatasetID, shape: tuple[int, ...]) -> bool:
        # Where dtype and layout alone tell the collection type, its attribute is not read
        # (a read of it costs as much as the data): pypet writes scalars as 0-d ARRAYs, and
        # non-empty ndarrays as chunked CARRAYs (lists and tuples are contiguous ARRAYs, and a
        # matrix is 2-d).
        if self.coll_type == "COLL_SCALAR":
            return shape == ()
        if self.coll_type == "COLL_NDARRAY" and len(shape) not in (0, 2):
            return dataset.get_offset() is None  # chunked
        return False

    def read(self, file: h5py.File, path: str) -> object:
        """The value at ``path``, or :data:`DIFFERENT` if it is not laid out like the first."""
        dataset = h5py.h5d.open(file.id, path.encode())
        if dataset.dtype != self.dtype:
            return DIFFERENT
        shape = dataset.shape if dataset.shape is not None else ()
        if not self._unambiguous(dataset, shape):
            coll = read_attribute(dataset, "SRVC_DATA_COLL_TYPE")
            if not isinstance(coll, bytes) or coll.decode() != self.coll_type:
                return DIFFERENT
        out = np.empty(shape, dtype=self.dtype)
        if out.size:
            # The file's own type as memory type keeps the bytes after a NUL in strings.
            mtype = dataset.get_type() if _has_strings(self.dtype) else None
            dataset.read(h5py.h5s.ALL, h5py.h5s.ALL, out, mtype=mtype)
        return recall(out, self.coll_type, self.scalar_type, self.is_bool)
