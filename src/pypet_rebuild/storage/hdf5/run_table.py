"""Writing a whole run table one column at a time, in blocks of rows.

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
from pypet_rebuild.storage.hdf5.skeleton import RunColumns, pending_columns, write_run_texts

__all__ = ["fold_run_table", "write_pending_run_table"]

_BLOCK: Final[int] = 65536
"""Rows of pending runs built at a time."""

_COLUMNS: Final[tuple[str, ...]] = (*RunColumns.ARRAYS, "seed")


def write_pending_run_table(group: h5py.Group, hashes: PointHashes, trajectory_seed: int) -> None:
    """Write the ``runs`` group of ``group``: one pending run per point hash.

    Parameters
    ----------
    group
        The trajectory's group in the new main file.
    hashes
        The point hash of every run, in run order.
    trajectory_seed
        The trajectory's seed (each run's seed derives from it and the run's point hash).
    """
    n = len(hashes)
    runs = group.create_group("runs")
    empty = RunColumns(0)
    datasets = {
        name: runs.create_dataset(name, shape=(n,), dtype=getattr(empty, name).dtype)
        for name in _COLUMNS
    }
    for start in range(0, n, _BLOCK):
        stop = min(start + _BLOCK, n)
        block = pending_columns(hashes[start:stop], trajectory_seed)
        block.index += start
        for name, dataset in datasets.items():
            dataset[start:stop] = getattr(block, name)
    runs.attrs["hosts"] = json.dumps(empty.hosts)
    write_run_texts(runs, {}, {})


def fold_run_table(
    group: h5py.Group,
    main: h5py.Group,
    segments: list[h5py.Group],
    hashes: PointHashes,
    trajectory_seed: int,
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
    for name in _COLUMNS:
        column = _grown_column(name, stored[name][:kept], n, hashes, trajectory_seed)
        for block, host_map in zip(blocks, host_maps, strict=True):
            targets, rows = _targets(block, n)
            values = block[name][...][rows]
            column[targets] = host_map[values] if name == "host" else values
        runs.create_dataset(name, data=column)
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
    write_run_texts(runs, errors, outputs)


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
    column = np.empty(n, dtype=head.dtype)
    column[: len(head)] = head
    for start in range(len(head), n, _BLOCK):
        stop = min(start + _BLOCK, n)
        block = pending_columns(hashes[start:stop], trajectory_seed)
        block.index += start
        column[start:stop] = getattr(block, name)
    return column


def _targets(block: h5py.Group, n: int) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """The runs a segment records (below ``n``) and the rows holding them in the segment."""
    index = block["index"][...]
    rows = np.flatnonzero(index < n).astype(np.int64)
    return index[rows], rows


def _texts(runs: h5py.Group, kind: str, below: int | None) -> dict[int, str]:
    """The error or output texts of a run-table group by row (rows ``< below`` when given)."""
    rows = runs[f"{kind}_rows"][...].tolist()
    if not rows:
        return {}
    texts = runs[f"{kind}_text"].asstr()[...].tolist()
    return {
        row: text for row, text in zip(rows, texts, strict=True) if below is None or row < below
    }
