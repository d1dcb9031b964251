"""Appending: folding segments into a main file's trajectory in place (format version 2).

:func:`~.folding.fold_trajectory` rewrites a trajectory from the old main file and its segments;
:func:`append_trajectory` reaches the same stored state by writing only what the segments add to
the trajectory group of a main file opened for writing: every per-run dataset grows by resizing
(version 2 chunks them with an unlimited run axis), runs the segments record overwrite their rows,
and packed values are appended to the heap. It costs what the segments hold, not what the main
file holds; the one exception is a fixed result column that a segment's values no longer fit
(a shape or type change), which is rewritten once as a packed column.

What "the same state" means is what the readers see (:class:`~.view.TrajectoryView`): the same
definition, run table, result values, layouts and comments, derived results and provenance.
Bytes may differ: a rewritten row leaves its old packed bytes in the heap, and errors/outputs are
an append-only list whose last entry per run wins (a rewrite stores only the live entries).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any, TypeAlias

import h5py
import numpy as np
import numpy.typing as npt

from pypet_rebuild.errors import FileFormatError
from pypet_rebuild.exploration import PointHashes
from pypet_rebuild.storage.hdf5.attributes import write_attrs
from pypet_rebuild.storage.hdf5.batch import BatchColumn, RunBatch
from pypet_rebuild.storage.hdf5.checks import check_segment
from pypet_rebuild.storage.hdf5.columns import (
    MASKS,
    ColumnSignature,
    ResultSource,
    create_fixed,
    create_mask,
    fill_value,
    renew_complete_mask,
    result_names,
    write_mask,
)
from pypet_rebuild.storage.hdf5.describe import detach, grow_run_scale, link_coordinates
from pypet_rebuild.storage.hdf5.explored import append_explored
from pypet_rebuild.storage.hdf5.extras import (
    append_provenance,
    read_definition,
    read_provenance,
    write_derived_result,
)
from pypet_rebuild.storage.hdf5.framed import (
    FrameSignature,
    clear_frames,
    copy_frames,
    create_frame,
    delete_frame,
)
from pypet_rebuild.storage.hdf5.layout import (
    LAYOUT_VERSION,
    dataset_at,
    grow,
    layout_version,
    read_rows,
    write_rows,
)
from pypet_rebuild.storage.hdf5.options import StorageOptions
from pypet_rebuild.storage.hdf5.packed import append_payloads, create_packed
from pypet_rebuild.storage.hdf5.run_table import RUN_COLUMNS, write_pending_rows
from pypet_rebuild.storage.hdf5.skeleton import (
    on_disk,
    read_run_columns,
    write_header,
)
from pypet_rebuild.storage.resume import snapshot_hashes
from pypet_rebuild.tree.nodes import Result
from pypet_rebuild.tree.snapshot import TrajectorySnapshot

__all__ = ["append_extras", "append_trajectory", "is_appendable"]

_TEXT = h5py.string_dtype()

_Store: TypeAlias = h5py.Group | RunBatch
"""What a fold takes runs from: a segment's trajectory group, or a batch in memory."""


def is_appendable(group: h5py.Group) -> bool:
    """Whether ``group`` (a trajectory in a main file) can take :func:`append_trajectory`.

    Only version-2 trajectories can: a version-1 one (its datasets cannot grow) is converted by
    :func:`~.folding.fold_trajectory` first.
    """
    return layout_version(group) == LAYOUT_VERSION


def append_trajectory(
    group: h5py.Group,
    segments: Sequence[h5py.Group],
    snapshot: TrajectorySnapshot | None,
    options: StorageOptions,
    batch: RunBatch | None = None,
) -> None:
    """Fold segment groups into the v2 trajectory ``group`` of a main file opened r+, in place.

    Leaves the group as :func:`~.folding.fold_trajectory` would write it from the same main file
    and segments (see the module docstring for what may differ in bytes only).

    Parameters
    ----------
    group
        The trajectory's group in the main file (opened for writing), of layout version 2.
    segments
        The trajectory's groups in the unfolded segment files, oldest first (later ones win
        where two record the same run).
    snapshot
        The definition, when the writer knows it (a sweep's session): its runs beyond the stored
        ones are added as pending. ``None`` (compacting without a session): the definition is the
        stored one extended by the expansions the segments hold.
    options
        The chunking and compression of datasets this creates.
    batch
        A last batch of runs, folded in after the segments straight from memory (it must be
        :attr:`~.batch.RunBatch.direct`): as if it were one more segment.

    Raises
    ------
    FileFormatError
        If ``group`` is not of layout version 2, or a segment is damaged.
    """
    if not is_appendable(group):
        raise FileFormatError(
            f"{group.file.filename!r}: the trajectory {group.name!r} has layout version "
            f"{layout_version(group)}; only version {LAYOUT_VERSION} grows in place (rewrite it "
            "with fold_trajectory, as compacting does)"
        )
    n_old = int(group.attrs["n_runs"])
    stored = n_old
    for segment in segments:
        stored = check_segment(segment, stored)
    n_new, explored, hashes = _definition(group, segments, snapshot, n_old)
    grow_run_scale(group, n_new)
    for path, values in explored.items():
        append_explored(group["explored"], path, values, options)
    stores: list[_Store] = [*segments, batch] if batch is not None else list(segments)
    owners = _append_runs(group, stores, n_old, n_new, hashes)
    # With no segment and no new runs (a resume with nothing left to do) no column changes.
    names = set(result_names(group["results"])) if stores or n_new > n_old else set()
    for segment in segments:
        if "results" in segment:
            names.update(result_names(segment["results"]))
    if batch is not None:
        names.update(batch.columns)
    for name in sorted(names):
        _append_column(group, stores, name, owners, n_new, options)
    link_coordinates(group)


def _definition(
    group: h5py.Group,
    segments: Sequence[h5py.Group],
    snapshot: TrajectorySnapshot | None,
    n_old: int,
) -> tuple[int, dict[str, Sequence[object]], PointHashes]:
    """The new run count, the appended explored values and point hashes; updates the header."""
    if snapshot is not None:
        write_header(group, snapshot)
        added: dict[str, Sequence[object]] = {
            path: values[n_old:] for path, values in snapshot.explored.items()
        }
        return snapshot.n_runs, added, PointHashes.from_hex(snapshot_hashes(snapshot)[n_old:])
    n_runs = n_old
    columns: dict[str, list[object]] = {
        path: [] for path in json.loads(group.attrs["explored_order"])
    }
    parts: list[PointHashes] = []
    for segment in segments:
        if "definition" not in segment:
            continue
        n_runs, values, appended = read_definition(segment)
        for path, column in columns.items():
            column.extend(values[path])
        parts.append(appended)
    if n_runs != n_old:
        # As the reader extends a definition by an expansion (TrajectoryView._expanded).
        group.attrs["n_runs"] = n_runs
        group.attrs["kind"] = "concatenated"
        group.attrs["grid"] = json.dumps(None)
        group.attrs["shape"] = json.dumps(None)
    return n_runs, dict(columns), PointHashes.concatenate(parts)


class _Owners:
    """Which records of the segments a fold takes: for each run, its last record.

    Kept as one boolean per segment row (plus, while it is built, one per run of the new run
    table), so folding a sweep of a million runs holds no array of a million run indices at once:
    each segment's runs and rows are read again when asked for (:meth:`of`).
    """

    def __init__(self, segments: Sequence[_Store], n: int) -> None:
        self._segments = segments
        self._owned: list[npt.NDArray[np.bool_] | None] = [None] * len(segments)
        self.count = 0
        seen = np.zeros(n, dtype=bool)
        # Newest segment first: a run recorded again later is owned by the later record.
        for position in reversed(range(len(segments))):
            index = _run_index(segments[position])
            if index is None:
                continue
            owned = np.zeros(len(index), dtype=bool)
            inside = np.flatnonzero(index < n)[::-1]  # within a segment too, the last wins
            _, first = np.unique(index[inside], return_index=True)
            rows = inside[first]
            rows = rows[~seen[index[rows]]]
            owned[rows] = True
            seen[index[rows]] = True
            self._owned[position] = owned
            self.count += len(rows)

    def of(self, position: int) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
        """The runs whose last record is in segment ``position``, and their rows there."""
        owned = self._owned[position]
        if owned is None or not owned.any():
            empty = np.zeros(0, dtype=np.int64)
            return empty, empty
        rows = np.flatnonzero(owned).astype(np.int64)
        index = _run_index(self._segments[position])
        assert index is not None
        return index[rows], rows


def _run_index(store: _Store) -> npt.NDArray[np.int64] | None:
    """The run of each row of a segment's (or a batch's) run table; ``None``: it has none."""
    if isinstance(store, RunBatch):
        return store.runs.index
    if "runs" not in store:
        return None
    return np.asarray(store["runs"]["index"][...], dtype=np.int64)


_OUTCOME_COLUMNS = tuple(
    name for name in RUN_COLUMNS if name not in ("index", "point_hash", "seed")
)
"""The run-table columns a finished run changes: its index, point hash and seed were written with
the pending row (rewriting them would overwrite, and journal, pages of the old file for nothing)."""


def _append_runs(
    group: h5py.Group,
    segments: Sequence[_Store],
    n_old: int,
    n_new: int,
    hashes: PointHashes,
) -> _Owners:
    """Grow the run table by the new pending runs, then overwrite the rows segments record.

    One segment at a time: what is held at once is one segment's runs, not every folded run.
    """
    runs = group["runs"]
    datasets = {name: dataset_at(runs, name) for name in RUN_COLUMNS}
    if n_new > n_old:
        for dataset in datasets.values():
            grow(dataset, n_new)
        write_pending_rows(datasets, n_old, hashes, int(group.attrs["seed"]))
    owners = _Owners(segments, n_new)
    if not owners.count:
        return owners
    hosts: list[str] = list(json.loads(runs.attrs["hosts"]))
    texts: dict[str, list[tuple[int, str]]] = {"error": [], "output": []}
    for position, segment in enumerate(segments):
        targets, rows = owners.of(position)
        if not len(targets):
            continue
        # Which runs had a record before (only those can have a text to clear).
        earlier = targets < n_old
        recorded = np.zeros(len(targets), dtype=bool)
        recorded[earlier] = np.asarray(read_rows(runs["status"], targets[earlier])) != 0
        block = segment.runs if isinstance(segment, RunBatch) else read_run_columns(segment)
        codes = np.array([_code(hosts, host) for host in block.hosts], dtype=np.uint16)
        for name in _OUTCOME_COLUMNS:
            values = on_disk(name, getattr(block, name))[rows]
            write_rows(datasets[name], targets, codes[values] if name == "host" else values)
        # A run's seed is the pending row's unless the run came with its own (a merge keeps the
        # seeds runs had in their own study): only those rows are written.
        seeds = block.seed[rows]
        differs = np.asarray(read_rows(datasets["seed"], targets)) != seeds
        if differs.any():
            write_rows(datasets["seed"], targets[differs], seeds[differs])
        rerun = recorded.any()
        for kind, found in (("error", block.errors), ("output", block.outputs)):
            if not found and not rerun:
                continue  # the usual case: no texts, and no run had a record to clear
            for target, row, had in zip(
                targets.tolist(), rows.tolist(), recorded.tolist(), strict=True
            ):
                text = found.get(row, "")
                if text or had:
                    texts[kind].append((target, text))  # "" clears an earlier entry
    runs.attrs["hosts"] = json.dumps(hosts)
    for kind, entries in texts.items():
        _append_texts(runs, kind, entries)
    return owners


def _code(hosts: list[str], host: str) -> int:
    if host not in hosts:
        hosts.append(host)
    return hosts.index(host)


def _append_texts(runs: h5py.Group, kind: str, entries: list[tuple[int, str]]) -> None:
    """Append ``(run, text)`` entries to the error or output list (the last entry wins)."""
    if not entries:
        return
    entries.sort(key=lambda entry: entry[0])
    rows, texts = runs[f"{kind}_rows"], runs[f"{kind}_text"]
    start = rows.shape[0]
    grow(rows, start + len(entries))
    grow(texts, start + len(entries))
    rows[start:] = np.array([run for run, _ in entries], dtype=np.int64)
    texts[start:] = np.array([text for _, text in entries], dtype=object)


def _append_column(
    group: h5py.Group,
    segments: Sequence[_Store],
    name: str,
    owners: _Owners,
    n: int,
    options: StorageOptions,
) -> None:
    """Grow result column ``name`` to ``n`` rows and write the rows the segments own."""
    sources = [_source(segment, name) for segment in segments]
    results, masks = group["results"], group[MASKS]
    # The rows the column gains: they hold no value unless a segment gives them one. Their
    # mask is built here and written in one block at the end.
    start = 0
    if name in results:
        stored = masks.get(name)
        start = stored.shape[0] if isinstance(stored, h5py.Dataset) else n
        # Grown first: the column then has the rows the (already updated) header promises.
        _grow_column(results[name], stored, n)
    added = np.zeros(max(0, n - start), dtype=bool)
    complete = True  # whether every row this writes says present
    main = ResultSource(group, name) if name in results else None
    signature = _signature(main, sources)
    if main is None:
        node: h5py.Dataset | h5py.Group
        if isinstance(signature, FrameSignature):
            node = create_frame(results, name, n, signature, options, cached=True)
        elif signature is not None:
            node = create_fixed(results, name, n, signature, options, cached=True, trajectory=group)
        else:
            node = create_packed(results, name, n, options, cached=True)
            write_attrs(node, {"layout": "packed"})
        write_attrs(node, {"comment": "", "long_name": f"result {name}"})
        # Unwritten: the rows without a value are written below, with the others' mask.
        mask = create_mask(masks, name, n, options, cached=True, trajectory=group)
    else:
        if main.layout_signature is not None and signature is None:
            _to_packed(group, main, options)
        node = results[name]
        mask = masks[name]
    for position, source in enumerate(sources):
        targets, rows = owners.of(position)
        if not len(targets):
            continue
        # Every run a segment owns gets its mask from that segment (absent there: missing).
        has = source.present[rows] if source is not None else np.zeros(len(rows), dtype=bool)
        new = targets >= start
        added[targets[new] - start] = has[new]
        # Runs recorded again (their rows were there before): written as they come.
        write_mask(mask, targets[~new], has[~new])
        complete = complete and bool(has.all())
        # A run recorded again without this result: its old value must not show.
        cleared = targets[~has]
        if isinstance(node, h5py.Dataset) and fill_value(node.dtype) is not None and len(cleared):
            blank = np.full((len(cleared), *node.shape[1:]), np.nan, node.dtype)
            write_rows(node, cleared, blank)
        elif isinstance(node, h5py.Group) and isinstance(signature, FrameSignature):
            clear_frames(node, cleared)
        if source is None:
            continue
        targets, rows = targets[has], rows[has]
        if isinstance(node, h5py.Dataset):
            if isinstance(source, BatchColumn):
                write_rows(node, targets, source.fixed_rows(rows))
            else:
                assert source.values is not None
                write_rows(node, targets, read_rows(source.values, rows))
        elif isinstance(signature, FrameSignature):
            assert isinstance(source, ResultSource)
            assert source.frame is not None
            copy_frames(source.frame, rows, node, targets)
        else:
            append_payloads(node, targets, source.read_packed(rows))
    # Every new row is written (a mask's unwritten rows read True) unless all of them already
    # read as they should: a sweep whose runs all have the value leaves its mask unwritten.
    write_mask(mask, np.arange(start, n, dtype=np.int64), added)
    if complete and bool(added.all()) and (start < n or len(segments)):
        # A sweep's last fold: its mask, written while runs were pending, may be all True now.
        renew_complete_mask(masks, name, options, group)
    for source in reversed(sources):
        if source is not None and source.comment:
            node.attrs["comment"] = source.comment
            break


def _source(store: _Store, name: str) -> ResultSource | BatchColumn | None:
    """Result ``name`` of a segment or a batch, if it holds one."""
    if isinstance(store, RunBatch):
        return store.columns.get(name)
    return ResultSource(store, name) if "results" in store and name in store["results"] else None


def _grow_column(node: h5py.Dataset | h5py.Group, mask: h5py.Dataset | None, n: int) -> None:
    """Grow a stored result column (and its mask, if it has one) to ``n`` rows.

    A packed or frame column grows its per-run datasets; the rows of a frame grow as values
    are appended.
    """
    if mask is not None:
        grow(mask, n)
    if isinstance(node, h5py.Dataset):
        grow(node, n)
        return
    for part in ("header", "start", "size"):
        if part in node:
            grow(node[part], n)


def _signature(
    main: ResultSource | None, sources: Sequence[ResultSource | BatchColumn | None]
) -> ColumnSignature | None:
    """The layout a rewrite would choose: the signature every store with values shares, if any.

    Fixed or frame when they share one, ``None`` (packed) otherwise. The main file's column
    counts as holding values (reading its mask to check would cost every stored run); a stored
    column without any value is the one case where this may pick ``packed`` where a rewrite
    picks ``fixed`` (it holds no value, so nothing reads differently).
    """
    found: ColumnSignature | None = None
    stores: list[ResultSource | BatchColumn] = [main] if main is not None else []
    stores += [source for source in sources if source is not None and source.present.any()]
    for source in stores:
        signature = source.layout_signature
        if signature is None or (found is not None and signature != found):
            return None
        found = signature
    return found


def _to_packed(group: h5py.Group, main: ResultSource, options: StorageOptions) -> None:
    """Rewrite a fixed or frame column as packed (its values no longer share one signature)."""
    results = group["results"]
    rows = np.arange(main.present.shape[0], dtype=np.int64)
    payloads = main.read_packed(rows)
    comment = main.comment
    if main.values is not None:
        detach(main.values)
        del results[main.name]
    else:
        assert isinstance(main.node, h5py.Group)
        delete_frame(main.node)
    node = create_packed(results, main.name, len(rows), options, payloads, cached=True)
    node.attrs["layout"] = "packed"
    node.attrs["comment"] = comment
    node.attrs["long_name"] = f"result {main.name}"


def append_extras(
    group: h5py.Group,
    provenance: Mapping[str, object] | None,
    derived: Sequence[Result[Any]],
    allow_pickle: bool,
    segments: Sequence[h5py.Group],
) -> None:
    """Add derived results and provenance to a v2 trajectory ``group`` in place.

    Takes in the derived results and provenance records the ``segments`` hold (oldest first),
    then ``derived`` (replacing stored results of the same name) and the ``provenance`` record
    of this sweep, appended last: as :func:`~.folding.write_extras` writes them on a rewrite.
    Stored derived results are copied as stored, never decoded (so never unpickled).
    """
    target = group.require_group("derived")
    for segment in segments:
        if "derived" not in segment:
            continue
        for path, node in segment["derived"].items():
            if path in target:
                del target[path]
            node.file.copy(node, target, name=path)
    for result in derived:
        write_derived_result(target, result, allow_pickle=allow_pickle)
    records: list[Mapping[str, object]] = []
    for segment in segments:
        records.extend(read_provenance(segment))
    if provenance is not None:
        records.append(dict(provenance))
    append_provenance(group, records)
