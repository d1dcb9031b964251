"""The read side of one stored trajectory: the main file plus its unfolded segments.

Every store (the main file, then each segment in write order) holds a run table and result
columns for some runs. A run's current record is in the newest store that has it; its results
are in that same store. Segments may also carry an expansion (points appended to the
exploration), derived results or provenance records. Nothing is read until asked for, and then
only what is asked for.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import h5py
import numpy as np
import numpy.typing as npt

from pypet_rebuild.errors import PypetRebuildError
from pypet_rebuild.exploration import PointHashes
from pypet_rebuild.storage.hdf5.checks import check_header, check_segment, check_tables, damaged
from pypet_rebuild.storage.hdf5.columns import (
    ColumnSignature,
    FixedSignature,
    ResultSource,
    is_result,
    read_rows,
    result_names,
)
from pypet_rebuild.storage.hdf5.extras import read_definition, read_derived, read_provenance
from pypet_rebuild.storage.hdf5.frames import read_frame_columns
from pypet_rebuild.storage.hdf5.journal import FileView
from pypet_rebuild.storage.hdf5.layout import read_span
from pypet_rebuild.storage.hdf5.skeleton import (
    RunColumns,
    pending_columns,
    read_explored,
    read_point_hashes,
    read_run_columns,
    read_snapshot_header,
)
from pypet_rebuild.storage.records import MISSING
from pypet_rebuild.storage.resume import snapshot_hashes
from pypet_rebuild.tree.nodes import Result
from pypet_rebuild.tree.snapshot import TrajectorySnapshot

__all__ = ["TrajectoryView"]


class TrajectoryView:
    """Lazy, merged access to a trajectory stored in a main group and segment groups.

    Parameters
    ----------
    main
        The trajectory's group in the main file.
    segments
        The trajectory's groups in the unfolded segment files, oldest first.
    allow_pickle
        Unpickle values stored as pickles (runs code from the file: only for trusted files).
        Without it, reading such a value raises :class:`~pypet_rebuild.errors.PickleRefusedError`
        (parameter defaults and derived results become stand-ins that raise when used).
    main_view
        The plain view the main file was opened through, read-only (``None``: through a journal
        view, or unknown). Whole columns are then read from it where HDF5 says their chunks
        are (see :func:`~.layout.read_span`).
    """

    def __init__(
        self,
        main: h5py.Group,
        segments: Sequence[h5py.Group],
        *,
        allow_pickle: bool = False,
        main_view: FileView | None = None,
    ) -> None:
        self._main = main
        self._main_view = main_view
        self.allow_pickle = allow_pickle
        # The run table and the explored columns are checked when first read (see ``main``):
        # reading a result needs neither, and their checks are most of the cost of opening.
        self._tables_checked = False
        self.main_runs = check_header(main)
        # The definition (every parameter's attributes and decoded default) is read on first
        # use, like the run table: reading results needs only the run count, and decoding the
        # definition was a third of the cost of opening a file and reading one result.
        self._header: TrajectorySnapshot | None = None
        self.segments: list[h5py.Group] = []
        self.stores: list[h5py.Group] = [main]
        self.expansions: list[h5py.Group] = []
        self.n_runs = self.main_runs
        # What has been read, and up to which segment (or expansion) it is up to date: a
        # segment added later is read into each cache when that cache is next used.
        self._snapshot: tuple[TrajectorySnapshot, int] | None = None
        self._columns: tuple[RunColumns, int] | None = None
        self._location: tuple[npt.NDArray[np.int16], npt.NDArray[np.int64], int] | None = None
        self._sources: dict[str, list[ResultSource | None]] = {}
        self._results: dict[int, h5py.Group | None] = {}
        self._result_names: tuple[set[str], int] | None = None
        for segment in segments:
            self.add_segment(segment)

    @property
    def header(self) -> TrajectorySnapshot:
        """The definition without explored values (read on first use, then kept).

        Raises
        ------
        FileFormatError
            If the definition's attributes or a parameter's stored default cannot be decoded
            (checked on first use; opening checks only that the attributes are there). A
            default stored as a refused pickle is no error here: it becomes a stand-in that
            raises when used.
        """
        if self._header is None:
            try:
                header, _ = read_snapshot_header(self._main, allow_pickle=self.allow_pickle)
            except (KeyError, ValueError, TypeError) as error:
                if isinstance(error, PypetRebuildError):
                    raise  # already says what is wrong
                raise damaged(self._main, f"the definition cannot be read ({error})") from error
            self._header = header
        return self._header

    @property
    def main(self) -> h5py.Group:
        """The trajectory's group in the main file, its run table and explored columns checked.

        Raises
        ------
        FileFormatError
            If a run-table or explored column is missing or not one row per run (checked on
            first use: opening a study checks only what it reads).
        """
        if not self._tables_checked:
            check_tables(self._main, self.main_runs)
            self._tables_checked = True
        return self._main

    def add_segment(self, segment: h5py.Group) -> None:
        """Append a newer segment; what was already read is kept and updated when next used.

        The writer calls this after each segment it writes, so a long series of small sweeps (an
        adaptive loop) reads every store once, not all of them again in every round.
        """
        n_runs = check_segment(segment, self.n_runs)
        self.segments.append(segment)
        self.stores.append(segment)
        if "definition" in segment:
            self.expansions.append(segment)
            self.n_runs = n_runs

    # -- definition and run table ---------------------------------------------------------------

    def snapshot(self) -> TrajectorySnapshot:
        """The full definition, explored values included (read on first use).

        The point hashes come from the stored run table, so nothing is hashed again.
        """
        if self._snapshot is None:
            header = self.header
            stored = read_explored(self.main, allow_pickle=self.allow_pickle)
            explored = {path: tuple(values) for path, values in stored.items()}
            snapshot = TrajectorySnapshot(
                name=header.name,
                comment=header.comment,
                seed=header.seed,
                parameters=header.parameters,
                explored=explored,
                grid=header.grid,
                shape=header.shape,
                kind=header.kind,
                hashes=read_point_hashes(self.main) if explored else None,
            )
            self._snapshot = (snapshot, 0)
        snapshot, applied = self._snapshot
        if applied < len(self.expansions):
            for segment in self.expansions[applied:]:
                snapshot = _expanded(snapshot, segment, self.allow_pickle)
            self._snapshot = (snapshot, len(self.expansions))
        return snapshot

    def run_columns(self, extended: TrajectorySnapshot | None = None) -> RunColumns:
        """The merged run table; with ``extended``, padded with its new runs as pending."""
        if self._columns is None:
            self._columns = (read_run_columns(self.main), 0)
        columns, applied = self._columns
        if applied < len(self.segments):
            if self.n_runs > len(columns.index):
                columns = _grown(columns, self.snapshot())
            for segment in self.segments[applied:]:
                _apply_runs(columns, segment)
            self._columns = (columns, len(self.segments))
        if extended is None or extended.n_runs == len(columns.index):
            return columns
        return _grown(columns, extended)

    def explored_names(self) -> tuple[str, ...]:
        """The paths of the explored parameters (from an attribute: no value is read)."""
        return tuple(json.loads(self._main.attrs["explored_order"]))

    def point_hashes(self) -> PointHashes | None:
        """The stored point hashes, expansions included, without decoding any explored value.

        ``None`` for a trajectory that explores nothing (its one run has the empty point).
        """
        if self._snapshot is not None and self._snapshot[1] == len(self.expansions):
            return self._snapshot[0].hashes
        if not self.explored_names():
            return None
        expanded = [PointHashes(seg["definition"]["point_hash"][...]) for seg in self.expansions]
        parts = [read_point_hashes(self.main), *expanded]
        return parts[0] if len(parts) == 1 else PointHashes.concatenate(parts)

    def status_codes(self) -> npt.NDArray[np.uint8]:
        """The merged ``status`` column alone (the stored runs; what a resume needs to know).

        Reads one byte per run, not the whole run table.
        """
        if self._columns is not None and self._columns[1] == len(self.segments):
            return np.asarray(self._columns[0].status, dtype=np.uint8)
        status = np.asarray(self.main["runs"]["status"][...], dtype=np.uint8)
        if self.n_runs > len(status):
            status = np.concatenate([status, np.zeros(self.n_runs - len(status), np.uint8)])
        for segment in self.segments:
            if "runs" in segment:
                index = segment["runs"]["index"][...]
                keep = index < len(status)
                status[index[keep]] = np.asarray(segment["runs"]["status"][...], np.uint8)[keep]
        return status

    def derived(self) -> dict[str, Result[Any]]:
        """Trajectory-level results of the main file, replaced or extended by segments."""
        found = read_derived(self._main, allow_pickle=self.allow_pickle)
        for segment in self.segments:
            found.update(read_derived(segment, allow_pickle=self.allow_pickle))
        return found

    def provenance(self) -> list[dict[str, object]]:
        """Provenance records of the main file, then of the segments, oldest first."""
        records = read_provenance(self._main)
        for segment in self.segments:
            records.extend(read_provenance(segment))
        return records

    def location(self) -> tuple[npt.NDArray[np.int16], npt.NDArray[np.int64]]:
        """For every run: the store holding its current record, and the row within that store."""
        if self._location is None:
            store = np.zeros(self.main_runs, dtype=np.int16)
            self._location = (store, np.arange(self.main_runs, dtype=np.int64), 0)
        store, row, applied = self._location
        if applied < len(self.segments) or len(store) < self.n_runs:
            if len(store) < self.n_runs:
                # Runs appended by an expansion: no store has them until a segment records them.
                added = self.n_runs - len(store)
                store = np.concatenate([store, np.full(added, -1, dtype=np.int16)])
                row = np.concatenate([row, np.arange(len(row), self.n_runs, dtype=np.int64)])
            for position in range(applied, len(self.segments)):
                _apply_location(store, row, position + 1, self.segments[position])
            self._location = (store, row, len(self.segments))
        return store, row

    # -- results --------------------------------------------------------------------------------

    def result_names(self) -> tuple[str, ...]:
        """The result names of any store, sorted."""
        if self._result_names is None:
            self._result_names = (set(), 0)
        names, applied = self._result_names
        for store in self.stores[applied:]:
            if "results" in store:
                names.update(result_names(store["results"]))
        self._result_names = (names, len(self.stores))
        return tuple(sorted(names))

    def has_result(self, name: str) -> bool:
        """Whether any store holds result ``name`` (without listing the others)."""
        if self._result_names is not None and self._result_names[1] == len(self.stores):
            return name in self._result_names[0]
        for position in range(len(self.stores)):
            results = self._results_group(position)
            if results is not None and is_result(results, name):
                return True
        return False

    def _results_group(self, position: int) -> h5py.Group | None:
        """The ``results`` group of store ``position`` (``None`` if it has none), opened once."""
        if position not in self._results:
            store = self.stores[position]
            # Asked first: h5py's ``get`` of a missing name turns HDF5's error into a KeyError
            # the slow way (a segment without results has none).
            self._results[position] = store["results"] if "results" in store else None  # noqa: SIM401
        return self._results[position]

    def sources(self, name: str) -> list[ResultSource | None]:
        """The column of result ``name`` in each store (``None`` where a store has none)."""
        found = self._sources.setdefault(name, [])
        while len(found) < len(self.stores):
            position = len(found)
            results = self._results_group(position)
            if results is None or name not in results:
                found.append(None)
                continue
            found.append(
                ResultSource(
                    self.stores[position],
                    name,
                    allow_pickle=self.allow_pickle,
                    results=results,
                    # The main group's run count is checked on opening (check_header).
                    rows=self.main_runs if position == 0 else None,
                    file=self._main_view if position == 0 else None,
                )
            )
        return found

    def comment(self, name: str) -> str:
        """The comment of result ``name`` (from the newest store that has one)."""
        for source in reversed(self.sources(name)):
            if source is not None and source.comment:
                return source.comment
        return ""

    def _read_span(
        self, name: str, start: int, stop: int, item: tuple[Any, ...]
    ) -> tuple[npt.NDArray[Any], npt.NDArray[np.bool_]] | None:
        """:meth:`read_array` of runs ``start:stop`` of a main file without segments: slices.

        The values are read as they are stored (a missing run holds the fill value), without
        building an index array per run or copying into a second array.
        """
        if start < 0 or stop > self.n_runs:
            self._check_runs(np.array([start, stop - 1], dtype=np.int64))
        signature = self.fixed_signature(name)
        if signature is None:
            return None
        source = self.sources(name)[0]
        if source is None or source.values is None:
            template = np.zeros((1, *signature.shape), dtype=signature.dtype)
            block = np.zeros((stop - start, *template[(slice(None), *item)].shape[1:]))
            return block.astype(signature.dtype), np.zeros(stop - start, dtype=bool)
        present = np.asarray(source.present[start:stop], dtype=bool)
        if not item:
            # The only store is the main file: its chunks can be read through its view.
            values = read_span(source.values, start, stop, file=self._main_view)
            return source.with_dtype(values), present
        return source.with_dtype(source.values[(slice(start, stop), *item)]), present

    def _by_store(
        self, runs: npt.NDArray[np.int64]
    ) -> list[tuple[int, npt.NDArray[np.int64], npt.NDArray[np.int64]]]:
        """Split runs into ``(store, positions in runs, rows in store)``."""
        if not self.segments:
            return [(0, np.arange(len(runs), dtype=np.int64), runs)]
        store, row = self.location()
        owners = store[runs]
        groups = []
        for owner in np.unique(owners).tolist():
            if owner < 0:
                continue  # runs appended by an expansion that no store holds yet
            positions = np.flatnonzero(owners == owner).astype(np.int64)
            groups.append((int(owner), positions, row[runs[positions]]))
        return groups

    def _check_runs(self, runs: npt.NDArray[np.int64]) -> None:
        # Run indices address rows directly: a negative one would silently wrap (or break the
        # sliced read), one past the end would fail deep inside h5py.
        outside = (runs < 0) | (runs >= self.n_runs)
        if outside.any():
            bad = int(runs[outside][0])
            raise IndexError(
                f"run index {bad} is out of range: {self.header.name!r} has runs "
                f"0..{self.n_runs - 1}"
            )

    def read_values(self, name: str, runs: npt.NDArray[np.int64]) -> list[object]:
        """Result ``name`` in the given runs as Python objects, ``MISSING`` where absent."""
        self._check_runs(runs)
        values: list[object] = [MISSING] * len(runs)
        sources = self.sources(name)
        for owner, positions, rows in self._by_store(runs):
            source = sources[owner]
            if source is None:
                continue
            read = source.read_values(rows, runs[positions])
            for position, value in zip(positions.tolist(), read, strict=True):
                values[position] = value
        return values

    def read_frame(self, name: str, run: int, columns: Sequence[object]) -> object:
        """Only ``columns`` of the DataFrame result ``name`` in ``run`` (``MISSING`` if none)."""
        self._check_runs(np.array([run], dtype=np.int64))
        for owner, _, rows in self._by_store(np.array([run], dtype=np.int64)):
            source = self.sources(name)[owner]
            row = int(rows[0])
            if source is None or not source.present[row]:
                return MISSING
            if source.frame is not None:
                return source.frame.read(np.array([row], dtype=np.int64), columns)[0]
            if source.packed is None:
                raise TypeError(f"result {name!r} holds numbers or arrays, not DataFrames")
            return read_frame_columns(source.packed, row, columns, name, self.allow_pickle)
        return MISSING

    def read_frames(
        self,
        name: str,
        runs: npt.NDArray[np.int64],
        columns: Sequence[object] | None,
        part: slice | None,
    ) -> object | None:
        """The DataFrames of ``runs`` that have one, stacked with a ``run`` level, or ``None``.

        Only for a ``frame`` column of a main file without segments (``None`` otherwise: the
        caller reads run by run).
        """
        self._check_runs(runs)
        if self.segments:
            return None
        source = self.sources(name)[0]
        if source is None or source.frame is None:
            return None
        _, first = np.unique(runs, return_index=True)
        runs = runs[np.sort(first)]  # each run once, in the order asked
        runs = runs[source.present[runs]]
        return source.frame.read_stacked(runs, runs, columns, part)

    def presence(self, name: str) -> npt.NDArray[np.bool_]:
        """Which runs hold a value of result ``name`` (reads only the presence masks)."""
        present = np.zeros(self.n_runs, dtype=bool)
        sources = self.sources(name)
        for owner, positions, rows in self._by_store(np.arange(self.n_runs, dtype=np.int64)):
            source = sources[owner]
            if source is not None:
                inside = rows < len(source.present)
                present[positions[inside]] = source.present[rows[inside]]
        return present

    def fixed_signature(self, name: str) -> FixedSignature | None:
        """The shared signature if every store holding values of ``name`` stacks (``fixed``)."""
        found = self.column_signature(name)
        return found if found is not None and found.stackable else None

    def column_signature(self, name: str) -> FixedSignature | None:
        """The shared signature if every store holding values of ``name`` uses ``fixed``."""
        found = self.column_layout(name)
        return found if isinstance(found, FixedSignature) else None

    def column_layout(self, name: str) -> ColumnSignature | None:
        """The shared fixed or frame signature of the stores holding values of ``name``.

        ``None`` when they differ, or one of them is ``packed``: the values then fold into a
        ``packed`` column.
        """
        found: ColumnSignature | None = None
        for source in self.sources(name):
            if source is None or not source.present.any():
                continue
            signature = source.layout_signature
            if signature is None or (found is not None and signature != found):
                return None
            found = signature
        return found

    def read_span(
        self, name: str, start: int, stop: int, item: tuple[Any, ...]
    ) -> tuple[npt.NDArray[Any], npt.NDArray[np.bool_]] | None:
        """:meth:`read_array` of runs ``start:stop``, without an index array of the runs."""
        if self.segments:
            return self.read_array(name, np.arange(start, stop, dtype=np.int64), item)
        return self._read_span(name, start, stop, item)

    def read_array(
        self, name: str, runs: npt.NDArray[np.int64], item: tuple[Any, ...]
    ) -> tuple[npt.NDArray[Any], npt.NDArray[np.bool_]] | None:
        """Result ``name`` in ``runs`` as one array (each run's value indexed by ``item``).

        Returns the stacked values and a mask of which runs have a value, or ``None`` if the
        result is not stored in the ``fixed`` layout everywhere (the caller falls back to
        :meth:`read_values`).
        """
        span = _contiguous(runs)
        if span is not None and not self.segments:
            return self._read_span(name, *span, item)
        self._check_runs(runs)
        signature = self.fixed_signature(name)
        if signature is None:
            return None
        sources = self.sources(name)
        groups = self._by_store(runs)
        if len(groups) == 1 and sources[groups[0][0]] is not None:
            owner, _, rows = groups[0]
            source = sources[owner]
            assert source is not None
            has = source.present[rows]
            if has.all():  # the usual case: one read straight into the result, no copy
                assert source.values is not None
                return source.with_dtype(read_rows(source.values, rows, item)), has
        template = np.zeros((1, *signature.shape), dtype=signature.dtype)[(slice(None), *item)]
        block = np.zeros((len(runs), *template.shape[1:]), dtype=signature.dtype)
        present = np.zeros(len(runs), dtype=bool)
        for owner, positions, rows in groups:
            source = sources[owner]
            if source is None:
                continue
            has = source.present[rows]
            if has.any():
                assert source.values is not None
                block[positions[has]] = read_rows(source.values, rows[has], item)
            present[positions] = has
        return block, present


def _contiguous(runs: npt.NDArray[np.int64]) -> tuple[int, int] | None:
    """``(start, stop)`` if ``runs`` is ``start, start + 1, ..., stop - 1``, else ``None``.

    The ends decide most cases at once; only a candidate range is checked element-wise.
    """
    if len(runs) == 0:
        return None
    first, last = int(runs[0]), int(runs[-1])
    if last - first + 1 != len(runs):
        return None
    if len(runs) > 1 and not bool(np.all(runs[1:] > runs[:-1])):
        return None
    return first, last + 1


def _expanded(
    snapshot: TrajectorySnapshot, segment: h5py.Group, allow_pickle: bool
) -> TrajectorySnapshot:
    """``snapshot`` with the points an expansion segment appends."""
    _, columns, appended = read_definition(segment, allow_pickle=allow_pickle)
    explored = {
        path: tuple(values) + tuple(columns[path]) for path, values in snapshot.explored.items()
    }
    return replace(
        snapshot,
        explored=explored,
        grid=None,
        shape=None,
        kind="concatenated",
        hashes=PointHashes.concatenate([snapshot_hashes(snapshot), appended]) if explored else None,
    )


def _grown(columns: RunColumns, snapshot: TrajectorySnapshot) -> RunColumns:
    """A new run table: ``columns`` followed by the snapshot's further runs, pending.

    Only the new runs' seeds are derived (a hash each), so growing a large table by a few runs
    costs a few runs, not the whole table again.
    """
    hashes = snapshot_hashes(snapshot)
    kept = min(len(columns.index), len(hashes))
    added = hashes[kept:]
    tail = pending_columns(added, snapshot.seed)
    tail.index += kept
    merged = RunColumns(0)
    for name in (*RunColumns.ARRAYS, "seed"):
        head = getattr(columns, name)[:kept]
        setattr(merged, name, np.concatenate([head, getattr(tail, name)]))
    merged.hosts = list(columns.hosts)
    merged.errors = {row: text for row, text in columns.errors.items() if row < kept}
    merged.outputs = {row: text for row, text in columns.outputs.items() if row < kept}
    return merged


def _apply_runs(columns: RunColumns, segment: h5py.Group) -> None:
    """Overlay the run records of ``segment`` (if it has any) on ``columns``."""
    if "runs" not in segment:
        return
    block = read_run_columns(segment)
    keep = block.index < len(columns.index)
    rows = np.flatnonzero(keep).astype(np.int64)
    block.take(rows, columns, block.index[keep])


def _apply_location(
    store: npt.NDArray[np.int16], row: npt.NDArray[np.int64], position: int, segment: h5py.Group
) -> None:
    """Point the runs that ``segment`` (store ``position``) records at their rows in it."""
    if "runs" not in segment:
        return
    index = segment["runs"]["index"][...]
    keep = index < len(store)
    store[index[keep]] = position
    row[index[keep]] = np.flatnonzero(keep)
