"""Folding: writing a trajectory into a new main file from the old one plus its segments.

Every rewrite of the main file goes through here (see :mod:`.service` for when): the other
trajectories are copied as they are, and the rewritten one gets its definition, the merged run
table, every result column folded from all stores, its derived results and its provenance. The
rewrite always writes format version 2, so it also converts a version-1 trajectory.

Folding in place, without the rewrite, is :func:`append_trajectory` (in :mod:`.appending`,
re-exported here): it reaches the same stored state at the cost of what the segments add.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import h5py
import numpy as np
import numpy.typing as npt

from pypet_rebuild.storage.hdf5.appending import append_extras, append_trajectory, is_appendable
from pypet_rebuild.storage.hdf5.attributes import write_attrs
from pypet_rebuild.storage.hdf5.columns import (
    MASKS,
    ResultSource,
    copy_rows,
    create_fixed,
    create_mask,
)
from pypet_rebuild.storage.hdf5.describe import link_coordinates, reattach_scales
from pypet_rebuild.storage.hdf5.extras import derived_nodes, write_derived, write_provenance
from pypet_rebuild.storage.hdf5.files import FORMAT_ATTR, FORMAT_VERSION
from pypet_rebuild.storage.hdf5.framed import (
    FRAME,
    FrameSignature,
    copy_frames,
    create_frame,
    reattach_frame,
)
from pypet_rebuild.storage.hdf5.options import StorageOptions
from pypet_rebuild.storage.hdf5.packed import Payload, create_packed
from pypet_rebuild.storage.hdf5.run_table import fold_run_table, write_pending_run_table
from pypet_rebuild.storage.hdf5.skeleton import write_snapshot
from pypet_rebuild.storage.hdf5.view import TrajectoryView
from pypet_rebuild.storage.resume import snapshot_hashes
from pypet_rebuild.tree.nodes import Result
from pypet_rebuild.tree.snapshot import TrajectorySnapshot

__all__ = [
    "append_extras",
    "append_trajectory",
    "copy_trajectory",
    "fold_trajectory",
    "is_appendable",
    "start_main_file",
    "write_extras",
]


def start_main_file(new: h5py.File, old: h5py.File | None, replaced: str) -> None:
    """Mark a new main file as ours and copy every trajectory of the old one but ``replaced``."""
    write_attrs(new, {FORMAT_ATTR: FORMAT_VERSION})
    if old is not None:
        for name in old:
            if name != replaced:
                copy_trajectory(old[name], new, name)


def copy_trajectory(source: h5py.Group, target: h5py.File, name: str) -> None:
    """Copy a stored trajectory into another file as it is, with working dimension scales."""
    source.file.copy(source, target, name=name)
    group = target[name]
    reattach_scales(group)
    for node in group.get("results", {}).values():
        if isinstance(node, h5py.Group) and node.attrs.get("layout") == FRAME:
            reattach_frame(node)


def fold_trajectory(
    new: h5py.File,
    trajectory: str,
    view: TrajectoryView | None,
    snapshot: TrajectorySnapshot | None,
    options: StorageOptions,
) -> None:
    """Write ``trajectory`` into ``new``: definition, merged run table and folded results."""
    if snapshot is None:
        assert view is not None, "folding needs a stored trajectory or a new definition"
        snapshot = view.snapshot()
    group = new.create_group(trajectory)
    created = time.time() if view is None else float(view.main.attrs["created"])
    write_snapshot(group, snapshot, created, options)
    n = snapshot.n_runs
    hashes = snapshot_hashes(snapshot)
    group.create_group(MASKS)
    if view is None:
        write_pending_run_table(group, hashes, snapshot.seed, options)
        group.create_group("results")
        link_coordinates(group)
        return
    fold_run_table(group, view.main, view.segments, hashes, snapshot.seed, options)
    results = group.create_group("results")
    store, row = view.location()
    if len(store) < n:
        store = np.concatenate([store, np.full(n - len(store), -1, dtype=np.int16)])
        row = np.concatenate([row, np.arange(len(row), n, dtype=np.int64)])
    for name in view.result_names():
        _fold_column(results, name, view, store, row, n, options)
    link_coordinates(group)


def _fold_column(
    results: h5py.Group,
    name: str,
    view: TrajectoryView,
    store: npt.NDArray[np.int16],
    row: npt.NDArray[np.int64],
    n: int,
    options: StorageOptions,
) -> None:
    sources = view.sources(name)
    signature = view.column_layout(name)
    present = np.zeros(n, dtype=bool)
    owners = _owners(sources, store, row, n)
    node: h5py.Dataset | h5py.Group
    if isinstance(signature, FrameSignature):
        node = create_frame(results, name, n, signature, options)
        for source, targets, rows in owners:
            assert source.frame is not None
            has = source.present[rows]
            present[targets[has]] = True
            copy_frames(source.frame, rows[has], node, targets[has])
    elif signature is not None:
        values = create_fixed(results, name, n, signature, options)
        for source, targets, rows in owners:
            assert source.values is not None
            has = source.present[rows]
            present[targets[has]] = True
            copy_rows(source.values, rows[has], values, targets[has])
        node = values
    else:
        packed: dict[int, Payload] = {}
        for source, targets, rows in owners:
            has = source.present[rows]
            packed.update(zip(targets[has].tolist(), source.read_packed(rows[has]), strict=True))
        present[list(packed)] = True
        payloads = [packed.get(target, _NONE) for target in range(n)]
        del packed
        node = create_packed(results, name, n, options, payloads)
        node.attrs["layout"] = "packed"
    node.attrs["comment"] = view.comment(name)
    node.attrs["long_name"] = f"result {name}"
    create_mask(results.parent[MASKS], name, n, options, present=present)


_NONE: Payload = ("", np.empty(0, dtype=np.uint8))


def _owners(
    sources: Sequence[ResultSource | None],
    store: npt.NDArray[np.int16],
    row: npt.NDArray[np.int64],
    n: int,
) -> Iterator[tuple[ResultSource, npt.NDArray[np.int64], npt.NDArray[np.int64]]]:
    """For each store with this result: the runs it owns and their rows in that store.

    One store at a time: the index arrays of every store at once would cost 16 bytes per run.
    """
    for position, source in enumerate(sources):
        if source is None:
            continue
        targets = np.flatnonzero(store[:n] == position)
        rows = row[targets]
        inside = rows < len(source.present)
        if not inside.all():
            targets, rows = targets[inside], rows[inside]
        yield source, targets, rows


def write_extras(
    group: h5py.Group,
    view: TrajectoryView | None,
    provenance: Mapping[str, object] | None,
    derived: Sequence[Result[Any]],
    allow_pickle: bool = False,
) -> None:
    """Carry over (and extend) the derived results and the provenance list.

    Stored derived results are copied as stored (see :func:`write_derived`): folding never
    decodes them, so it never unpickles one, whatever ``allow_pickle`` says.
    """
    kept = derived_nodes(view.stores) if view is not None else {}
    write_derived(group, derived, allow_pickle=allow_pickle, kept=kept)
    records = view.provenance() if view is not None else []
    if provenance is not None:
        records.append(dict(provenance))
    write_provenance(group, records, StorageOptions())
