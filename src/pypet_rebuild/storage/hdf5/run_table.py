"""Writing a whole run table one column at a time, in blocks of rows (format version 2).

The run table of a million runs is ~63 MB as arrays (`RunColumns`). The writer builds it twice
per sweep: all pending when the sweep starts, and merged with the segments' records when they
are folded. Holding every column at once would cost the driver that much at its peak, so both
writers here hold one column (or one block of rows) at a time: the run table costs the driver at
most 16 bytes per run (the point-hash column), whatever the number of runs.
"""

from __future__ import annotations

import json
from typing import Final

import h5py
import numpy as np
import numpy.typing as npt

from pypet_rebuild.exploration import PointHashes
from pypet_rebuild.storage.hdf5.attributes import write_attrs
from pypet_rebuild.storage.hdf5.describe import RUN
from pypet_rebuild.storage.hdf5.layout import create_growable
from pypet_rebuild.storage.hdf5.options import StorageOptions
from pypet_rebuild.storage.hdf5.skeleton import (
    RunColumns,
    describe_run_column,
    on_disk,
    pending_columns,
    read_run_texts,
    run_column_dtype,
    write_run_texts,
)

__all__ = ["RUN_COLUMNS", "fold_run_table", "write_pending_rows", "write_pending_run_table"]

_BLOCK: Final[int] = 65536
"""Rows of pending runs built at a time."""

RUN_COLUMNS: Final[tuple[str, ...]] = (*RunColumns.ARRAYS, "seed")
"""The per-run arrays of a run table (besides the sparse error and output texts)."""


def write_pending_run_table(
    group: h5py.Group, hashes: PointHashes, trajectory_seed: int, options: StorageOptions
) -> None:
    """Write the ``runs`` group of ``group``: one pending run per point hash.

    Parameters
    ----------
    group
        The trajectory's group in the new main file.
    hashes
        The point hash of every run, in run order.
    trajectory_seed
        The trajectory's seed (each run's seed derives from it and the run's point hash).
    options
        The chunking of the (growable) columns.
    """
    n = len(hashes)
    runs = group.create_group("runs")
    scale = group.get(RUN)
    datasets = {name: _create_column(runs, name, n, options, group, scale) for name in RUN_COLUMNS}
    write_pending_rows(datasets, 0, hashes, trajectory_seed)
    write_attrs(runs, {"hosts": json.dumps(RunColumns(0).hosts)})
    write_run_texts(runs, {}, {}, options)


PENDING_FILL: dict[str, float | int] = {
    "status": 0,
    "started": np.nan,
    "finished": np.nan,
    "duration": np.nan,
    "host": 0,
    "pid": -1,
}
"""What a pending run holds in the columns a run's outcome fills: their fill values.

Those columns of a pending run table are never written, so HDF5 allocates none of their chunks
until runs finish: the fold then writes them at the end of the file instead of overwriting (and
journaling) pages of the old file.
"""


def _create_column(
    runs: h5py.Group,
    name: str,
    n: int,
    options: StorageOptions,
    trajectory: h5py.Group | None = None,
    scale: h5py.Dataset | None = None,
) -> h5py.Dataset:
    shape = (n, 16) if name == "point_hash" else (n,)
    dataset = create_growable(
        runs, name, shape, run_column_dtype(name), options, fillvalue=PENDING_FILL.get(name)
    )
    # The trajectory group and its run scale, when the caller has them: one lookup per table.
    describe_run_column(dataset, runs.parent if trajectory is None else trajectory, scale, name)
    return dataset


def _pending_by_fill(dataset: h5py.Dataset, name: str) -> bool:
    """Whether unwritten rows of ``dataset`` already read as a pending run's value."""
    if name not in PENDING_FILL:
        return False
    fill = np.asarray(dataset.fillvalue, dtype=np.float64)
    return bool(np.array_equal(fill, np.float64(PENDING_FILL[name]), equal_nan=True))


def write_pending_rows(
    datasets: dict[str, h5py.Dataset], first: int, hashes: PointHashes, trajectory_seed: int
) -> None:
    """Write pending runs ``first, first + 1, ...`` (one per hash) into the run-table columns.

    Columns whose fill value is the pending value are left unwritten (see ``PENDING_FILL``).
    """
    written = {
        name: dataset for name, dataset in datasets.items() if not _pending_by_fill(dataset, name)
    }
    for start in range(0, len(hashes), _BLOCK):
        stop = min(start + _BLOCK, len(hashes))
        block = pending_columns(hashes[start:stop], trajectory_seed)
        block.index += first + start
        for name, dataset in written.items():
            dataset[first + start : first + stop] = on_disk(name, getattr(block, name))


def fold_run_table(
    group: h5py.Group,
    main: h5py.Group,
    segments: list[h5py.Group],
    hashes: PointHashes,
    trajectory_seed: int,
    options: StorageOptions,
) -> None:
    """Write the ``runs`` group of ``group``: the main file's run table overlaid by ``segments``.

    The result equals writing ``TrajectoryView.run_columns(snapshot)``: rows beyond the main
    file's table (runs an expansion added) start pending, and each segment's records replace
    the rows they name, in segment order.

    Parameters
    ----------
    group
        The trajectory's group in the new main file.
    main
        The trajectory's group in the current main file.
    segments
        Its unfolded segment groups, oldest first (those without run records are skipped).
    hashes
        The point hash of every run of the folded definition, in run order.
    trajectory_seed
        The trajectory's seed.
    options
        The chunking of the (growable) columns.
    """
    n = len(hashes)
    stored = main["runs"]
    kept = min(stored["index"].shape[0], n)
    blocks = [segment["runs"] for segment in segments if "runs" in segment]
    hosts: list[str] = list(json.loads(stored.attrs["hosts"]))
    host_maps: list[npt.NDArray[np.uint16]] = []
    for block in blocks:
        names = json.loads(block.attrs["hosts"])
        for host in names:
            if host not in hosts:
                hosts.append(host)
        host_maps.append(np.array([hosts.index(host) for host in names], dtype=np.uint16))
    runs = group.create_group("runs")
    for name in RUN_COLUMNS:
        head = on_disk(name, stored[name][:kept])
        column = _grown_column(name, head, n, hashes, trajectory_seed)
        for block, host_map in zip(blocks, host_maps, strict=True):
            targets, rows = _targets(block, n)
            values = on_disk(name, block[name][...])[rows]
            column[targets] = host_map[values] if name == "host" else values
        dataset = _create_column(runs, name, n, options)
        if n:
            dataset[...] = column
        del column
    runs.attrs["hosts"] = json.dumps(hosts)
    errors = _texts(stored, "error", kept)
    outputs = _texts(stored, "output", kept)
    for block in blocks:
        targets, rows = _targets(block, n)
        block_errors = _texts(block, "error", None)
        block_outputs = _texts(block, "output", None)
        # A segment's record replaces the run's error and output, even with none (in row order,
        # so the last record of a run wins, as in the reader's merged table).
        for row, target in zip(rows.tolist(), targets.tolist(), strict=True):
            for entries, texts in ((errors, block_errors), (outputs, block_outputs)):
                entries.pop(target, None)
                if row in texts:
                    entries[target] = texts[row]
    write_run_texts(runs, errors, outputs, options)


def _grown_column(
    name: str,
    head: npt.NDArray[np.generic],
    n: int,
    hashes: PointHashes,
    trajectory_seed: int,
) -> npt.NDArray[np.generic]:
    """``head`` (the main file's rows) followed by pending rows up to ``n``, built in blocks."""
    if len(head) >= n:
        return head
    column = np.empty((n, *head.shape[1:]), dtype=head.dtype)
    column[: len(head)] = head
    for start in range(len(head), n, _BLOCK):
        stop = min(start + _BLOCK, n)
        block = pending_columns(hashes[start:stop], trajectory_seed)
        block.index += start
        column[start:stop] = on_disk(name, getattr(block, name))
    return column


def _targets(block: h5py.Group, n: int) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """The runs a segment records (below ``n``) and the rows holding them in the segment."""
    index = block["index"][...]
    rows = np.flatnonzero(index < n).astype(np.int64)
    return index[rows], rows


def _texts(runs: h5py.Group, kind: str, below: int | None) -> dict[int, str]:
    """The error or output texts of a run-table group by row (rows ``< below`` when given)."""
    texts = read_run_texts(runs, kind)
    return {row: text for row, text in texts.items() if below is None or row < below}
