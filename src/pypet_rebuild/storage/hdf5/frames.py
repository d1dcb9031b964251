"""Partial reads of pandas DataFrame results in the ``packed`` layout.

A packed run value keeps each of its arrays as a separate byte range of the heap, and a frame's
arrays are named by role: ``index/...``, ``labels/...`` (the column labels) and ``columns/<i>/...``.
Reading a subset of columns therefore reads the labels, the index and only those columns' byte
ranges — never the other columns.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import h5py
import numpy as np
import numpy.typing as npt

from pypet_rebuild.errors import NodeNotFoundError
from pypet_rebuild.storage.codecs import Encoded, decode_value, encode_value
from pypet_rebuild.storage.hdf5.encoded import dtype_from_json
from pypet_rebuild.storage.hdf5.packed import PackedRows

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["read_frame_columns"]


def _child(meta: dict[str, Any], heap: h5py.Dataset, start: int, prefix: str) -> Encoded:
    """Read only the arrays of child ``prefix`` and return it as an :class:`Encoded`."""
    entry = meta["attrs"]["children"][prefix]
    arrays: dict[str, npt.NDArray[Any]] = {}
    for name, descr, shape, offset in meta["arrays"]:
        if not name.startswith(prefix + "/"):
            continue
        dtype = dtype_from_json(descr)
        size = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
        raw = np.asarray(heap[start + offset : start + offset + size], dtype=np.uint8).copy()
        arrays[name[len(prefix) + 1 :]] = (
            raw.view(dtype).reshape(shape) if size else np.empty(shape, dtype)
        )
    return Encoded(str(entry["codec"]), arrays, entry["attrs"])


def read_frame_columns(
    column: PackedRows,
    row: int,
    labels: Sequence[object],
    result: str,
    allow_pickle: bool = False,
) -> pd.DataFrame:
    """The columns ``labels`` of the DataFrame stored in ``row`` of a packed result ``column``.

    Pickled parts (a column of objects stored with ``allow_pickle``) are unpickled only with
    ``allow_pickle``.
    """
    where = f"the DataFrame of result {result!r}"
    import pandas as pd  # imported here: importing pypet_rebuild must not pay for pandas

    rows = np.array([row], dtype=np.int64)
    meta = json.loads(column.headers(rows)[0])
    if meta["codec"] != "pandas.DataFrame":
        raise TypeError(
            f"result {result!r} holds {meta['codec']!r} values, not DataFrames; read the whole "
            "value with traj.results[name][i]"
        )
    start = column.spans(rows)[0][0]
    heap = column.heap
    stored_labels = decode_value(
        _child(meta, heap, start, "labels"), allow_pickle=allow_pickle, where=where
    )
    assert isinstance(stored_labels, pd.Index)
    positions = []
    for label in labels:
        found = np.flatnonzero(stored_labels == label)
        if not len(found):
            raise NodeNotFoundError(
                f"the DataFrame of result {result!r} has no column {label!r}; its columns are "
                f"{list(stored_labels)}"
            )
        positions.extend(found.tolist())
    # Rebuild a frame of just these columns and let the DataFrame codec decode it, so dtypes,
    # index and labels come back exactly as a full read would give them.
    index = _child(meta, heap, start, "index")
    picked = encode_value(stored_labels[positions])
    arrays = {f"index/{k}": v for k, v in index.arrays.items()}
    arrays.update({f"labels/{k}": v for k, v in picked.arrays.items()})
    children: dict[str, Any] = {
        "index": meta["attrs"]["children"]["index"],
        "labels": {"codec": picked.codec, "attrs": dict(picked.attrs)},
    }
    for j, p in enumerate(positions):
        child = _child(meta, heap, start, f"columns/{p}")
        arrays.update({f"columns/{j}/{k}": v for k, v in child.arrays.items()})
        children[f"columns/{j}"] = meta["attrs"]["children"][f"columns/{p}"]
    attrs = {"n_rows": meta["attrs"]["n_rows"], "n_columns": len(positions), "children": children}
    frame = decode_value(
        Encoded("pandas.DataFrame", arrays, attrs), allow_pickle=allow_pickle, where=where
    )
    assert isinstance(frame, pd.DataFrame)
    return frame
