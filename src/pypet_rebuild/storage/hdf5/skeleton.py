"""The skeleton of a stored trajectory: its definition (snapshot) and its run table.

Layout under ``/<trajectory>/`` (format version 2; ``docs/file-format.md`` has all of it)::

    attrs         layout_version, name, comment, seed, kind, grid, shape, n_runs, created
    run           the ``run`` dimension scale (main file only)
    parameters/   one group per parameter (codec'd default; path, type, comment, annotations)
    explored/     one column per explored parameter (see :mod:`.explored`)
    runs/         the run table, one dataset per column (see ``RunColumns.ARRAYS``)
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from operator import attrgetter
from typing import Any

import h5py
import numpy as np
import numpy.typing as npt

from pypet_rebuild.exploration import PointHashes
from pypet_rebuild.storage.codecs import decode_or_placeholder, encode_value
from pypet_rebuild.storage.hdf5.attributes import write_attrs
from pypet_rebuild.storage.hdf5.describe import TIME_UNITS, attach_run, describe, write_run_scale
from pypet_rebuild.storage.hdf5.encoded import read_encoded, write_encoded
from pypet_rebuild.storage.hdf5.explored import read_explored_column, write_explored_column
from pypet_rebuild.storage.hdf5.layout import (
    LAYOUT_ATTR,
    LAYOUT_VERSION,
    STATUS_DTYPE,
    create_growable,
    digests_to_rows,
)
from pypet_rebuild.storage.hdf5.options import StorageOptions
from pypet_rebuild.storage.records import RunRecord, RunStatus, RunTable
from pypet_rebuild.tree.seeding import seed_mixer
from pypet_rebuild.tree.snapshot import ParameterSpec, TrajectorySnapshot

__all__ = [
    "STATUS_CODES",
    "RunColumns",
    "pending_columns",
    "read_explored",
    "read_point_hashes",
    "read_run_columns",
    "read_snapshot_header",
    "write_run_columns",
    "write_run_texts",
    "write_snapshot",
]

STATUS_CODES = {RunStatus.PENDING: 0, RunStatus.DONE: 1, RunStatus.FAILED: 2}
STATUS_NAMES = np.array([s.value for s in STATUS_CODES], dtype=object)


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return repr(value)


def _annotations_json(annotations: Mapping[str, object]) -> str:
    return json.dumps(dict(annotations), default=_json_default)


def write_header(group: h5py.Group, snapshot: TrajectorySnapshot) -> None:
    """Write (or overwrite) the attributes of a trajectory's definition, but ``created``."""
    write_attrs(
        group,
        {
            LAYOUT_ATTR: LAYOUT_VERSION,
            "name": snapshot.name,
            "comment": snapshot.comment,
            "seed": str(snapshot.seed),
            "kind": snapshot.kind,
            "grid": json.dumps(None if snapshot.grid is None else list(snapshot.grid)),
            "shape": json.dumps(None if snapshot.shape is None else list(snapshot.shape)),
            "n_runs": snapshot.n_runs,
            "parameter_order": json.dumps([spec.path for spec in snapshot.parameters]),
            "explored_order": json.dumps(list(snapshot.explored)),
        },
    )


def write_snapshot(
    group: h5py.Group, snapshot: TrajectorySnapshot, created: float, options: StorageOptions
) -> None:
    """Write a trajectory's definition into its (new, empty) group of a main file."""
    write_header(group, snapshot)
    write_attrs(group, {"created": created})
    parameters = group.create_group("parameters")
    # Each parameter's comment and annotations as stored, for its explored column if any.
    described: dict[str, tuple[str, str]] = {}
    for spec in snapshot.parameters:
        node = write_encoded(parameters, spec.path, encode_value(spec.default, spec.path))
        described[spec.path] = (spec.comment, _annotations_json(spec.annotations))
        write_attrs(
            node,
            {
                "type_name": spec.type_name,
                "dtype": spec.dtype or "",
                "ndim": -1 if spec.ndim is None else spec.ndim,
                "comment": spec.comment,
                "annotations": described[spec.path][1],
            },
        )
    write_run_scale(group, np.arange(snapshot.n_runs, dtype=np.int64), options)
    explored = group.create_group("explored")
    for path, values in snapshot.explored.items():
        write_explored_column(explored, path, values, options, described=described.get(path))


def read_snapshot_header(
    group: h5py.Group, *, allow_pickle: bool = False
) -> tuple[TrajectorySnapshot, int]:
    """The definition without explored values (cheap, for opening), and the number of runs.

    A parameter default stored as a pickle is unpickled only with ``allow_pickle``; otherwise it
    is a :class:`~pypet_rebuild.tree.snapshot.PickledValue` that raises when used.
    """
    specs: list[ParameterSpec] = []
    parameters = group["parameters"]
    for path in json.loads(group.attrs["parameter_order"]):
        node = parameters[path]
        ndim = int(node.attrs["ndim"])
        specs.append(
            ParameterSpec(
                path=path,
                default=decode_or_placeholder(
                    read_encoded(node),
                    allow_pickle=allow_pickle,
                    where=f"the default of parameter {path!r}",
                ),
                type_name=str(node.attrs["type_name"]),
                dtype=str(node.attrs["dtype"]) or None,
                ndim=None if ndim < 0 else ndim,
                comment=str(node.attrs["comment"]),
                annotations=json.loads(node.attrs["annotations"]),
            )
        )
    grid = json.loads(group.attrs["grid"])
    shape = json.loads(group.attrs["shape"])
    snapshot = TrajectorySnapshot(
        name=str(group.attrs["name"]),
        comment=str(group.attrs["comment"]),
        seed=int(group.attrs["seed"]),
        parameters=tuple(specs),
        explored={},
        grid=None if grid is None else tuple(tuple(dim) for dim in grid),
        shape=None if shape is None else tuple(shape),
        kind=str(group.attrs["kind"]),
    )
    return snapshot, int(group.attrs["n_runs"])


def read_explored(
    group: h5py.Group, *, allow_pickle: bool = False
) -> dict[str, tuple[object, ...]]:
    """The explored values by parameter path, as Python values (pickles only if allowed)."""
    explored = group["explored"]
    return {
        path: read_explored_column(explored[path], path, allow_pickle=allow_pickle)
        for path in json.loads(group.attrs["explored_order"])
    }


class RunColumns:
    """Run-table columns for a block of runs, in the on-disk encoding.

    Parameters
    ----------
    n
        The number of rows.
    """

    def __init__(self, n: int) -> None:
        self.index = np.arange(n, dtype=np.int64)
        self.point_hash = np.zeros(n, dtype="S16")
        self.status = np.zeros(n, dtype=np.uint8)
        self.started = np.full(n, np.nan)
        self.finished = np.full(n, np.nan)
        self.duration = np.full(n, np.nan)
        self.host = np.zeros(n, dtype=np.uint16)
        self.pid = np.full(n, -1, dtype=np.int32)
        self.seed = np.zeros(n, dtype=np.uint64)
        self.hosts: list[str] = [""]
        self.errors: dict[int, str] = {}
        self.outputs: dict[int, str] = {}

    ARRAYS = ("index", "point_hash", "status", "started", "finished", "duration", "host", "pid")
    """The columns stored as arrays, besides ``seed`` (which the read table also holds)."""

    @classmethod
    def from_records(cls, records: Sequence[RunRecord]) -> RunColumns:
        """The columns of a batch of finished runs (built column by column, not cell by cell).

        Each column is one ``np.fromiter`` over ``map(attrgetter(...))``: no Python frame per
        record (a generator expression per column cost twice as much, for every stored run).
        """
        n = len(records)
        columns = cls(n)

        def column(field: str, dtype: Any) -> npt.NDArray[Any]:
            return np.fromiter(map(attrgetter(field), records), dtype, n)

        columns.index = column("index", np.int64)
        digests = bytes.fromhex("".join(map(attrgetter("point_hash"), records)))
        if len(digests) != 16 * n:
            raise ValueError("a run record's point hash is not 16 bytes of hexadecimal")
        columns.point_hash = np.frombuffer(digests, dtype="S16").copy()
        statuses = map(attrgetter("status"), records)
        columns.status = np.fromiter(map(STATUS_CODES.__getitem__, statuses), np.uint8, n)
        columns.started = column("started", np.float64)
        columns.finished = column("finished", np.float64)
        columns.duration = column("duration", np.float64)
        hosts = list(map(attrgetter("host"), records))
        host_codes = {"": 0}
        for host in dict.fromkeys(hosts):
            host_codes.setdefault(host, len(host_codes))
        columns.host = np.fromiter(map(host_codes.__getitem__, hosts), np.uint16, n)
        columns.pid = column("pid", np.int32)
        columns.seed = column("seed", np.uint64)
        # Texts are rare (failed runs, captured output): find them without a loop per record.
        for field, texts in (("error", columns.errors), ("output", columns.outputs)):
            values = list(map(attrgetter(field), records))
            if any(values):
                texts.update((row, text) for row, text in enumerate(values) if text)
        columns.hosts = list(host_codes)
        return columns

    def take(
        self, rows: npt.NDArray[np.int64], into: RunColumns, at: npt.NDArray[np.int64]
    ) -> None:
        """Copy rows ``rows`` of this block to positions ``at`` of ``into``."""
        for name in ("point_hash", "status", "started", "finished", "duration", "pid", "seed"):
            getattr(into, name)[at] = getattr(self, name)[rows]
        codes = {host: into._host_code(host) for host in self.hosts}
        remap = np.array([codes[host] for host in self.hosts], dtype=np.uint16)
        into.host[at] = remap[self.host[rows]]
        for row, target in zip(rows.tolist(), at.tolist(), strict=True):
            into.errors.pop(target, None)
            into.outputs.pop(target, None)
            if row in self.errors:
                into.errors[target] = self.errors[row]
            if row in self.outputs:
                into.outputs[target] = self.outputs[row]

    def _host_code(self, host: str) -> int:
        if host not in self.hosts:
            self.hosts.append(host)
        return self.hosts.index(host)

    def hashes(self) -> PointHashes:
        """The point hashes (viewed as ``V16``: ``S16`` items would drop trailing zero bytes)."""
        return PointHashes(self.point_hash)

    def to_table(self) -> RunTable:
        """The run table as the protocol returns it (index order is row order)."""
        n = len(self.index)
        error = np.full(n, "", dtype=object)
        for row, text in self.errors.items():
            error[row] = text
        output = np.full(n, "", dtype=object)
        for row, text in self.outputs.items():
            output[row] = text
        hosts = np.array(self.hosts, dtype=object)
        return RunTable(
            index=self.index.copy(),
            point_hash=np.array(list(self.hashes()), dtype=object),
            status=STATUS_NAMES[self.status],
            started=self.started.copy(),
            finished=self.finished.copy(),
            duration=self.duration.copy(),
            host=hosts[self.host],
            pid=self.pid.astype(np.int64),
            seed=self.seed.copy(),
            error=error,
            output=output,
        )


def write_run_columns(group: h5py.Group, columns: RunColumns) -> None:
    """Write a run table as the ``runs`` group of a segment's trajectory group ``group``."""
    group.attrs[LAYOUT_ATTR] = LAYOUT_VERSION
    # No dimension scales or descriptions in a segment: they cost about a millisecond per
    # batch, and only this library reads segments (folding gives the main file both).
    runs = group.create_group("runs")
    for name in (*RunColumns.ARRAYS, "seed"):
        runs.create_dataset(
            name, data=on_disk(name, getattr(columns, name)), dtype=run_column_dtype(name)
        )
    runs.attrs["hosts"] = json.dumps(columns.hosts)
    write_run_texts(runs, columns.errors, columns.outputs, None)


def on_disk(name: str, column: npt.NDArray[Any]) -> npt.NDArray[Any]:
    """A run-table column as version 2 stores it (the point hashes as ``(n, 16)`` bytes)."""
    return digests_to_rows(column) if name == "point_hash" else column


RUN_COLUMN_TEXTS: dict[str, tuple[str, str | None]] = {
    "index": ("run index", None),
    "point_hash": ("point hash: 16 bytes of the hash of the run's parameter point", None),
    "status": ("run status (an enum: pending, done, failed)", None),
    "started": ("start time of the run", TIME_UNITS),
    "finished": ("end time of the run", TIME_UNITS),
    "duration": ("duration of the run", "s"),
    "host": ("host that ran the run: an index into the attribute 'hosts'", None),
    "pid": ("process id that ran the run (-1: not run)", None),
    "seed": ("random seed of the run", None),
}
"""``long_name`` and ``units`` of each run-table column."""


def describe_run_column(
    dataset: h5py.Dataset,
    trajectory: h5py.Group,
    scale: h5py.Dataset | None = None,
    name: str | None = None,
) -> None:
    """Attach the run dimension to a run-table column and say what it holds.

    ``scale`` (the ``run`` scale) and ``name`` (the column's) spare a lookup when known.
    """
    attach_run(dataset, trajectory, scale)
    long_name, units = RUN_COLUMN_TEXTS[name or str(dataset.name).rpartition("/")[2]]
    describe(dataset, long_name, units=units)


def run_column_dtype(name: str) -> Any:
    """The version-2 dtype of run-table column ``name`` (the status is an HDF5 enum)."""
    if name == "status":
        return STATUS_DTYPE
    return getattr(_EMPTY, name).dtype if name != "point_hash" else np.dtype(np.uint8)


def write_run_texts(
    runs: h5py.Group,
    errors: Mapping[int, str],
    outputs: Mapping[int, str],
    options: StorageOptions | None,
) -> None:
    """Write the sparse error and output texts of a run table (by row) into ``runs``.

    Each is a list of ``(row, text)`` entries; in version 2 a writer may append entries, and
    the last entry of a row wins (an empty text clears the row). With ``options`` the lists can
    grow (a main file).
    """
    text = h5py.string_dtype()
    for name, entries in (("error", errors), ("output", outputs)):
        rows = np.array(sorted(entries), dtype=np.int64)
        texts = np.array([entries[r] for r in rows.tolist()], dtype=object)
        if options is None:
            index = runs.create_dataset(f"{name}_rows", data=rows)
            values = runs.create_dataset(f"{name}_text", data=texts, dtype=text)
        else:
            index = create_growable(runs, f"{name}_rows", rows.shape, np.int64, options, data=rows)
            values = create_growable(runs, f"{name}_text", texts.shape, text, options, data=texts)
        if options is not None:
            # The rows are the texts' coordinate: netCDF readers show each text beside its run.
            index.make_scale(f"{name}_rows")
            values.dims[0].attach_scale(index)
            describe(index, f"the run of each {name} text")
            describe(values, f"{name} text of the run (the last entry of a run wins)")


def read_run_texts(runs: h5py.Group, kind: str) -> dict[int, str]:
    """The error or output texts of a run table by row (the last entry of a row wins)."""
    rows = runs[f"{kind}_rows"][...].tolist()
    if not rows:
        return {}
    texts = runs[f"{kind}_text"].asstr()[...].tolist()
    found = dict(zip(rows, texts, strict=True))
    return {row: text for row, text in found.items() if text}


def read_run_columns(group: h5py.Group) -> RunColumns:
    """Read the ``runs`` group of ``group`` (either format version)."""
    runs = group["runs"]
    n = runs["index"].shape[0]
    columns = RunColumns(n)
    for name in (*RunColumns.ARRAYS, "seed"):
        setattr(columns, name, runs[name][...])
    columns.point_hash = _digest_items(columns.point_hash)
    columns.hosts = json.loads(runs.attrs["hosts"])
    columns.errors.update(read_run_texts(runs, "error"))
    columns.outputs.update(read_run_texts(runs, "output"))
    return columns


def _digest_items(digests: npt.NDArray[Any]) -> npt.NDArray[Any]:
    """Digests as ``S16`` items (version 1 stores them so; version 2 as ``(n, 16)`` bytes)."""
    if digests.ndim == 2:
        return np.ascontiguousarray(digests).view("S16").reshape(len(digests))
    return digests


def read_point_hashes(group: h5py.Group) -> PointHashes:
    """The point hashes of the run table of ``group``, without reading its other columns."""
    return PointHashes(group["runs"]["point_hash"][...])


_EMPTY = RunColumns(0)


def pending_columns(hashes: Sequence[str], trajectory_seed: int) -> RunColumns:
    """A run table of ``len(hashes)`` pending runs, with the seeds of ``trajectory_seed``.

    Column-wise: a million runs cost a few arrays, not a million Python ints and byte strings.
    The seeds are those of :func:`~pypet_rebuild.tree.seeding.run_seed` (the first 64 bits of
    the point hash, big-endian, XOR the mixed trajectory seed).
    """
    columns = RunColumns(len(hashes))
    if not len(hashes):
        return columns
    digests = PointHashes.from_hex(hashes).digests
    raw = digests.view(np.uint8).reshape(len(hashes), 16)
    columns.point_hash = digests.view("S16").copy()
    high = raw[:, :8].copy().view(">u8").reshape(len(hashes)).astype(np.uint64)
    columns.seed = high ^ np.uint64(seed_mixer(trajectory_seed))
    return columns
