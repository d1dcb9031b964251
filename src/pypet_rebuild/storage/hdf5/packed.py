"""The ``packed`` layout: one codec-encoded value per row, its bytes in a shared heap.

Version 2 (a group of four datasets, one row per run)::

    header  (rows,) variable-length UTF-8: the row's JSON header (empty: no value)
    start   (rows,) int64: where the row's bytes start in ``heap``
    size    (rows,) int64: how many bytes they take
    heap    (bytes,) uint8

A row's bytes may sit anywhere in the heap, so rows can be written in any order by appending
their bytes (a row written again leaves its old bytes behind until the next full rewrite).
Version 1 cut the heap with cumulative ``bounds`` (rows + 1), which forced run order; it still
reads.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

import h5py
import numpy as np
import numpy.typing as npt

from pypet_rebuild.storage.hdf5.layout import create_growable, grow, read_rows, write_rows
from pypet_rebuild.storage.hdf5.options import StorageOptions

__all__ = ["PackedRows", "Payload", "append_payloads", "create_packed", "is_packed"]

Payload = tuple[str, npt.NDArray[np.uint8]]
"""One row's JSON header and bytes (``("", empty)`` for a row without a value)."""

_TEXT: Final = h5py.string_dtype()


def is_packed(node: object) -> bool:
    """Whether ``node`` is a packed column (of either version)."""
    return isinstance(node, h5py.Group) and ("start" in node or "bounds" in node)


def create_packed(
    group: h5py.Group,
    name: str,
    rows: int,
    options: StorageOptions | None,
    payloads: Sequence[Payload] = (),
    *,
    cached: bool = False,
) -> h5py.Group:
    """Create packed column ``name`` of ``rows`` rows, the first ``len(payloads)`` filled.

    With ``options`` the datasets can grow (a main file); without, they are contiguous (a
    segment, written once). ``cached``: see :func:`.layout.create_growable`.
    """
    column = group.create_group(name)
    headers = np.array([header for header, _ in payloads] + [""] * (rows - len(payloads)), object)
    sizes = np.zeros(rows, dtype=np.int64)
    sizes[: len(payloads)] = [len(payload) for _, payload in payloads]
    starts = np.zeros(rows, dtype=np.int64)
    if len(payloads):
        starts[1 : len(payloads)] = np.cumsum(sizes[: len(payloads) - 1])
    parts = [np.asarray(payload, dtype=np.uint8) for _, payload in payloads]
    heap = np.concatenate(parts) if parts else np.empty(0, dtype=np.uint8)
    if options is None:
        column.create_dataset("header", data=headers, dtype=_TEXT)
        column.create_dataset("start", data=starts)
        column.create_dataset("size", data=sizes)
        column.create_dataset("heap", data=heap)
        return column
    create_growable(column, "header", (rows,), _TEXT, options, data=headers, cached=cached)
    create_growable(column, "start", (rows,), np.int64, options, data=starts, cached=cached)
    create_growable(column, "size", (rows,), np.int64, options, data=sizes, cached=cached)
    create_growable(column, "heap", heap.shape, np.uint8, options, data=heap, cached=cached)
    _describe(column)
    return column


_PARTS = {
    "header": "JSON header of each row's codec-encoded value (empty: no value)",
    "start": "where each row's bytes start in heap",
    "size": "how many bytes of heap each row's value takes",
    "heap": "the bytes of every row's encoded value",
}


def _describe(column: h5py.Group) -> None:
    for part, text in _PARTS.items():
        column[part].attrs["long_name"] = text


def append_payloads(
    column: h5py.Group, rows: npt.NDArray[np.int64], payloads: Sequence[Payload]
) -> None:
    """Write the payloads of ``rows`` (distinct rows, any order) by appending to the heap."""
    if not len(rows):
        return
    heap = column["heap"]
    sizes = np.array([len(payload) for _, payload in payloads], dtype=np.int64)
    end = int(heap.shape[0])
    starts = end + np.concatenate([[0], np.cumsum(sizes[:-1])]).astype(np.int64)
    total = int(sizes.sum())
    if total:
        grow(heap, end + total)
        heap[end : end + total] = np.concatenate(
            [np.asarray(payload, dtype=np.uint8) for _, payload in payloads]
        )
    write_rows(column["start"], rows, starts)
    write_rows(column["size"], rows, sizes)
    write_rows(column["header"], rows, np.array([header for header, _ in payloads], object))


class PackedRows:
    """Read access to the rows of a packed column (version 1 or 2)."""

    def __init__(self, column: h5py.Group) -> None:
        self.column = column
        self.heap: h5py.Dataset = column["heap"]
        self._v1 = "bounds" in column

    def spans(self, rows: npt.NDArray[np.int64]) -> tuple[list[int], list[int]]:
        """The start and stop byte of each of ``rows`` (any order)."""
        if self._v1:
            bounds = self.column["bounds"]
            if not len(rows):
                return [], []
            # Both ends of every row: one read of the span the rows cover.
            low, high = int(rows.min()), int(rows.max()) + 2
            block = bounds[low:high]
            return (block[rows - low].tolist(), block[rows - low + 1].tolist())
        starts = np.asarray(read_rows(self.column["start"], rows), dtype=np.int64)
        sizes = np.asarray(read_rows(self.column["size"], rows), dtype=np.int64)
        return starts.tolist(), (starts + sizes).tolist()

    def headers(self, rows: npt.NDArray[np.int64]) -> list[str]:
        """The JSON header of each of ``rows``."""
        raw = read_rows(self.column["header"], rows)
        return [item.decode() if isinstance(item, bytes) else str(item) for item in raw.tolist()]

    def read(self, rows: npt.NDArray[np.int64]) -> list[Payload]:
        """The header and bytes of each of ``rows``."""
        headers = self.headers(rows)
        starts, stops = self.spans(rows)
        heap = self.heap
        return [
            (header, np.asarray(heap[start:stop], dtype=np.uint8))
            for header, start, stop in zip(headers, starts, stops, strict=True)
        ]
