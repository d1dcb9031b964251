"""The read-only storage backend for files written by the original pypet (0.7.0 and older).

It serves the same :class:`~pypet_rebuild.storage.protocol.StorageService` contract as the
native backends, so ``load_trajectory("old_pypet.hdf5")`` returns the usual stored study.
How pypet's tree maps onto a stored study:

* every parameter, config and trajectory-level derived parameter keeps its pypet full name
  (``parameters.x``, ``config.hdf5.complevel``); the explored ones form the exploration;
* per-run results are named by their full name without ``results.`` and without the run groups
  (``results.runs.run_00000003.z`` and ``results.run_set_00000.run_00000003.z`` are result
  ``z``, run 3); a leaf holding several items gives one result per item (``stats.mean``);
  per-run derived parameters keep their ``derived_parameters.`` prefix;
* results outside any run (trajectory-level, ``run_ALL``, groups outside the four branches) are
  the study's derived results;
* what has no place in the native model (leaf classes, per-run comments and annotations, group
  comments, soft links, pypet's own run-table strings) is the study's provenance record
  ``{"kind": "pypet", ...}``, which conversion copies into the new file.
"""

from __future__ import annotations

import dataclasses
import os
import re
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from pypet_rebuild.errors import (
    FileFormatError,
    PypetRebuildError,
    StorageError,
    TrajectoryNotFoundError,
    UnsupportedTypeError,
)
from pypet_rebuild.exploration import ParameterSpace, PointHashes, point_hash
from pypet_rebuild.legacy.columns import DIFFERENT, ItemLayout
from pypet_rebuild.legacy.h5read import attr_text, read_raw
from pypet_rebuild.legacy.items import SPARSE_SUFFIX, ItemReader
from pypet_rebuild.legacy.tagging import tag
from pypet_rebuild.legacy.tree import (
    PLACEHOLDER_TIMESTAMP,
    LegacyLeaf,
    LegacyTree,
    scan_trajectory,
    strip_runs,
)
from pypet_rebuild.storage.protocol import WriterSession
from pypet_rebuild.storage.records import MISSING, RunStatus, RunTable
from pypet_rebuild.tree.nodes import Result
from pypet_rebuild.tree.snapshot import ParameterSpec, TrajectorySnapshot, type_to_name

__all__ = ["IncompletePypetFileWarning", "PypetStorageService", "is_pypet_file"]


class IncompletePypetFileWarning(UserWarning):
    """A pypet file lacks what pypet writes at the end of a sweep (it probably crashed).

    The message says what is missing; what is there (runs, results) stays readable.
    """


_RUNTIME = re.compile(r"(?:(\d+) days?, )?(\d+):(\d\d):(\d\d(?:\.\d+)?)\Z")


def _looks_like_trajectory(group: h5py.Group) -> bool:
    return "overview" in group or any(str(key).startswith("SRVC_") for key in group.attrs)


_PYTABLES_MARK = b"PYTABLES_FORMAT_VERSION"
_HEAD = 1 << 20


def is_pypet_file(path: Path) -> bool:
    """Whether ``path`` is an HDF5 file with a pypet trajectory (or pypet's attributes) in it.

    Reads only the top-level groups and their attributes; a file of this library (it has the
    ``pypet_rebuild_format_version`` attribute) is never claimed. A file that HDF5 cannot open
    (truncated) is claimed when its first megabyte holds PyTables' root attribute and pypet's
    ``SRVC_`` prefix, so that the error says what it is.
    """
    try:
        with h5py.File(path, "r") as file:
            if "pypet_rebuild_format_version" in file.attrs:
                return False
            return any(
                isinstance(group, h5py.Group) and _looks_like_trajectory(group)
                for group in file.values()
            )
    except (OSError, ValueError):
        try:
            with path.open("rb") as raw:
                head = raw.read(_HEAD)
        except OSError:
            return False
        return _PYTABLES_MARK in head and b"SRVC_" in head


@dataclasses.dataclass(frozen=True)
class _Item:
    """Where one result value is: a leaf and one of its items (``None``: the leaf's value)."""

    leaf: LegacyLeaf
    item: str | None


@dataclasses.dataclass
class _Index:
    """Per-run results and trajectory-level results by name (built on first use, no data)."""

    per_run: dict[str, dict[int, _Item]]
    derived: dict[str, _Item]
    names: dict[tuple[str, str | None], str]


class PypetStorageService:
    """Reads a file written by the original pypet as stored studies (read-only).

    Parameters
    ----------
    path
        The pypet HDF5 file.
    allow_pickle
        Unpickle pickled payloads (``PickleParameter``, ``PickleResult``, pickled pandas parts
        and annotations). Unpickling runs code from the file: pass ``True`` only for files you
        trust. Without it a pickled value raises
        :class:`~pypet_rebuild.errors.PickleRefusedError` naming the node when it is read
        (parameter defaults and annotations become stand-ins that raise when used), and
        everything else stays readable.

    Raises
    ------
    FileFormatError
        If the file is missing, truncated, or holds no pypet trajectory.
    """

    def __init__(self, path: str | os.PathLike[str], *, allow_pickle: bool = False) -> None:
        self.path = Path(path)
        self.allow_pickle = allow_pickle
        try:
            self._file = h5py.File(self.path, "r")
        except FileNotFoundError:
            raise FileFormatError(
                f"no such file: {str(self.path)!r}; check the path (cwd: {Path.cwd()})"
            ) from None
        except OSError as exc:
            raise FileFormatError(
                f"{str(self.path)!r} looks like a file of the original pypet (written by "
                f"PyTables) but is truncated or corrupted and cannot be opened as HDF5 ({exc}); "
                "if it was copied, copy it again"
            ) from exc
        self._trees: dict[str, LegacyTree] = {}
        self._indexes: dict[str, _Index] = {}
        self._run_hashes: dict[str, PointHashes] = {}
        names = self.trajectory_names()
        if not names:
            self._file.close()
            raise FileFormatError(
                f"{str(self.path)!r} holds no trajectory of the original pypet (no top-level "
                "group with pypet's SRVC_* attributes and an overview table)"
            )

    # -- the reader ----------------------------------------------------------------------------

    def items(self, *, stand_in: bool = False, keep_pickles: bool = False) -> ItemReader:
        """The decoder of data items (``stand_in``: refused pickles become stand-ins)."""
        return ItemReader(
            self._file,
            str(self.path),
            allow_pickle=self.allow_pickle,
            stand_in=stand_in,
            keep_pickles=keep_pickles,
        )

    def tree(self, trajectory: str) -> LegacyTree:
        """The structure of a trajectory (leaves, groups, links, runs), read once."""
        if trajectory not in self._trees:
            if trajectory not in self.trajectory_names():
                listed = ", ".join(repr(n) for n in self.trajectory_names()) or "none"
                raise TrajectoryNotFoundError(
                    f"no trajectory {trajectory!r} in {str(self.path)!r}; it holds: {listed}"
                )
            tree = scan_trajectory(self._file[trajectory], allow_pickle=self.allow_pickle)
            self._trees[trajectory] = tree
            absent = [n for n in tree.explored_names if n not in tree.leaves]
            if tree.missing or absent:
                warnings.warn(
                    IncompletePypetFileWarning(
                        f"the pypet trajectory {trajectory!r} in {str(self.path)!r} is incomplete "
                        f"(no {', '.join(b + '/' for b in tree.missing) or 'explored'} data; "
                        "pypet stores parameters and config only when a sweep ends, so this "
                        f"sweep probably crashed); missing explored parameters: "
                        f"{', '.join(absent) or 'none'}. Its {tree.n_runs} runs, their results "
                        "and run table are readable"
                    ),
                    stacklevel=2,
                )
        return self._trees[trajectory]

    @property
    def location(self) -> str:
        """The resolved path of the file."""
        return str(self.path.resolve())

    def trajectory_names(self) -> tuple[str, ...]:
        """The trajectories in the file, in PyTables' (byte-wise alphabetical) order."""
        return tuple(
            sorted(
                (
                    name
                    for name, group in self._file.items()
                    if isinstance(group, h5py.Group) and _looks_like_trajectory(group)
                ),
                key=lambda n: n.encode(),
            )
        )

    # -- parameters ----------------------------------------------------------------------------

    def parameter_value(
        self, leaf: LegacyLeaf, *, stand_in: bool = False, keep_pickles: bool = False
    ) -> tuple[object, list[object] | None]:
        """A parameter leaf's stored value (``None`` if empty) and its explored range."""
        group = self._file[leaf.hdf5_path]
        reader = self.items(stand_in=stand_in, keep_pickles=keep_pickles)
        where = leaf.full_name
        explored: list[object] | None = None
        if "data__rr__" in group:
            default = reader.read(group["data__rr__"], where)
            if "explored_data__rr__" in group:
                explored = [
                    reader.read(group[f"explored__rr__/set_{i // 1000:05d}/xa_{i:08d}"], where)
                    for i in reader.indices(group["explored_data__rr__"])
                ]
        elif f"data{SPARSE_SUFFIX}" in group:
            default = reader.read_sparse(group[f"data{SPARSE_SUFFIX}"], where)
            if f"explored_data{SPARSE_SUFFIX}" in group:
                explored = [
                    reader.read_sparse(group[f"xspm{SPARSE_SUFFIX}{i:08d}"], where)
                    for i in reader.indices(group[f"explored_data{SPARSE_SUFFIX}"])
                ]
        elif leaf.class_name == "PickleParameter" and "data" in group:
            default = reader.unpickle(reader.read_bytes(group["data"]), where)
            if "explored_data" in group:
                indices = reader.indices(group["explored_data"])
                explored = [
                    reader.unpickle(reader.read_bytes(group[f"xp_{i:08d}"]), f"{where}[{n}]")
                    for n, i in enumerate(indices)
                ]
        elif "data" in group:
            data = group["data"]
            if attr_text(data, "SRVC_STORE") == "TABLE":
                default = reader.table_column(data, "data")[0]
            else:
                default = reader.read(data, where)
            if "explored_data" in group:
                explored = reader.table_column(group["explored_data"], "data")
        else:
            default = None  # an empty parameter
        return default, explored

    def _specs(
        self, tree: LegacyTree, *, keep_pickles: bool = False
    ) -> list[tuple[ParameterSpec, list[object] | None]]:
        out = []
        for leaf in tree.leaves.values():
            if not leaf.is_parameter or leaf.run is not None:
                continue
            default, explored = self.parameter_value(leaf, stand_in=True, keep_pickles=keep_pickles)
            dtype = ndim = None
            if isinstance(default, np.ndarray) and type(default) is np.ndarray:
                dtype, ndim = str(default.dtype), default.ndim
            type_name = type_to_name(type(default))
            if isinstance(default, np.generic) or (
                explored is not None and any(type(v) is not type(default) for v in explored)
            ):
                # pypet keeps numpy scalar types, and records a type per table (a range may
                # hold another type than the default); declared as object, every value reads
                # back exactly as pypet gave it (the native types would convert them).
                type_name = "object"
            spec = ParameterSpec(
                path=leaf.full_name,
                default=default,
                type_name=type_name,
                dtype=dtype,
                ndim=ndim,
                comment=leaf.comment,
                annotations=dict(leaf.annotations),
            )
            out.append((spec, explored))
        return out

    def _snapshot(
        self, trajectory: str, *, explored_values: bool, keep_pickles: bool = False
    ) -> TrajectorySnapshot:
        tree = self.tree(trajectory)
        specs = self._specs(tree, keep_pickles=keep_pickles)
        explored: dict[str, tuple[object, ...]] = {}
        if explored_values:
            wanted = set(tree.explored_names)
            for spec, values in specs:
                if spec.path in wanted and values is not None:
                    explored[spec.path] = tuple(values)
        return TrajectorySnapshot(
            name=trajectory,
            comment=tree.comment,
            seed=0,
            parameters=tuple(spec for spec, _ in specs),
            explored=explored,
            kind="zipped" if explored else "",
            hashes=self._hashes(tree, explored) if explored_values else None,
        )

    def _hashes(self, tree: LegacyTree, explored: dict[str, tuple[object, ...]]) -> PointHashes:
        if explored:
            try:
                return ParameterSpace(explored, kind="zipped").hashes()
            except UnsupportedTypeError:
                pass  # sparse matrices or pickles: no stable hash of the value, hash the run
        return PointHashes.from_hex(
            [point_hash({"pypet_run": str(row.get("name", i))}) for i, row in enumerate(tree.runs)]
            or [point_hash({})]
        )

    def load_header(self, trajectory: str) -> tuple[TrajectorySnapshot, int]:
        """The definition without explored values, and the number of runs."""
        return self._snapshot(trajectory, explored_values=False), max(
            self.tree(trajectory).n_runs, 1
        )

    def load_snapshot(self, trajectory: str, *, keep_pickles: bool = False) -> TrajectorySnapshot:
        """The definition: parameters with their defaults, the explored ranges.

        ``keep_pickles``: pickled parameters stay stand-ins carrying their bytes (conversion).
        """
        snapshot = self._snapshot(trajectory, explored_values=True, keep_pickles=keep_pickles)
        if snapshot.hashes is not None:
            self._run_hashes.setdefault(trajectory, snapshot.hashes)
        return snapshot

    # -- runs ----------------------------------------------------------------------------------

    def load_run_table(self, trajectory: str) -> RunTable:
        """The run table: ``completed`` runs are done, the others pending; pypet's timings."""
        tree = self.tree(trajectory)
        if trajectory not in self._run_hashes:
            self.load_snapshot(trajectory)
        hashes = self._run_hashes[trajectory]
        table = RunTable.pending(hashes[: tree.n_runs])  # pypet had no per-run seeds
        for i, row in enumerate(tree.runs):
            if int(row.get("completed", 0)):  # type: ignore[call-overload]
                table.status[i] = RunStatus.DONE.value
            started = float(row.get("timestamp", np.nan))  # type: ignore[arg-type]
            if started == PLACEHOLDER_TIMESTAMP:
                continue
            table.started[i] = started
            table.finished[i] = float(row.get("finish_timestamp", np.nan))  # type: ignore[arg-type]
            table.duration[i] = _seconds(str(row.get("runtime", "")))
        return table

    # -- results -------------------------------------------------------------------------------

    def _index(self, trajectory: str) -> _Index:
        if trajectory in self._indexes:
            return self._indexes[trajectory]
        tree = self.tree(trajectory)
        index = _Index({}, {}, {})
        for leaf in tree.leaves.values():
            if leaf.is_parameter and leaf.run is None:
                continue  # a parameter of the definition
            parts = strip_runs(leaf.full_name.split("."))
            if parts[0] == "results" and len(parts) > 1:
                parts = parts[1:]
            base = ".".join(parts)
            entries: list[tuple[str, str | None]]
            if leaf.is_parameter:
                entries = [(base, None)]
            else:
                shown = [name.removesuffix(SPARSE_SUFFIX) for name in leaf.item_names]
                fast = shown == [parts[-1]]
                entries = [
                    (base if fast else f"{base}.{name}", item)
                    for name, item in zip(shown, leaf.item_names, strict=True)
                ]
            for name, item in entries:
                index.names[(leaf.full_name, item)] = name
                if leaf.run is None:
                    index.derived[name] = _Item(leaf, item)
                else:
                    index.per_run.setdefault(name, {})[leaf.run] = _Item(leaf, item)
        self._indexes[trajectory] = index
        return index

    def result_name(self, trajectory: str, full_name: str, item: str | None) -> str:
        """The stored-study name of item ``item`` of pypet leaf ``full_name``."""
        return self._index(trajectory).names[(full_name, item)]

    def read_item(self, found: _Item, *, stand_in: bool = False) -> object:
        """The value of one item of one leaf.

        Raises
        ------
        FileFormatError
            If the item is stored in a way this reader does not know; the message names the
            pypet version that wrote the file.
        """
        try:
            return self._read_item(found, stand_in=stand_in)
        except (ValueError, KeyError, TypeError, FileFormatError) as exc:
            if isinstance(exc, PypetRebuildError) and not isinstance(exc, FileFormatError):
                raise  # a refused pickle, a missing filter: already says what to do
            trajectory = found.leaf.hdf5_path.split("/")[1]
            version = self.tree(trajectory).info.get("version", "unknown")
            raise FileFormatError(
                f"cannot read {found.leaf.full_name!r} (item {found.item!r}) of "
                f"{str(self.path)!r}: {exc}. The file was written by pypet {version}; this "
                "reader knows the format of pypet 0.7.0 and the older layouts it still reads "
                "(sparse matrices of pypet before 0.6.0, for one, are not supported)"
            ) from exc

    def _read_item(self, found: _Item, *, stand_in: bool) -> object:
        leaf = found.leaf
        if found.item is None:
            return self.parameter_value(leaf, stand_in=stand_in)[0]
        reader = self.items(stand_in=stand_in)
        node = self._file[f"{leaf.hdf5_path}/{found.item.replace('.', '/')}"]
        where = f"{leaf.full_name} (item {found.item!r})"
        if found.item.endswith(SPARSE_SUFFIX):
            return reader.read_sparse(node, where)
        if leaf.class_name == "PickleResult":
            return reader.unpickle(reader.read_bytes(node), where)
        return reader.read(node, where)

    def result_names(self, trajectory: str) -> tuple[str, ...]:
        """The names of the per-run results, sorted."""
        return tuple(sorted(self._index(trajectory).per_run))

    def read_results(self, trajectory: str, name: str, runs: Sequence[int]) -> list[object]:
        """One result's values in the given runs (``MISSING`` where a run has none)."""
        return self.read_column(trajectory, name, runs)

    def read_column(
        self, trajectory: str, name: str, runs: Sequence[int], *, stand_in: bool = False
    ) -> list[object]:
        """One result's values in ``runs``; ``stand_in``: refused pickles as stand-ins.

        The first run's dataset gives the layout the others are read with (see
        :mod:`pypet_rebuild.legacy.columns`), which makes reading a column of thousands of
        runs several times faster than reading each value on its own.
        """
        stored = self._index(trajectory).per_run.get(name, {})
        layout: ItemLayout | None = None
        tried = False
        out: list[object] = []
        for run in runs:
            found = stored.get(int(run))
            if found is None:
                out.append(MISSING)
                continue
            if found.item is not None and not tried:
                tried = True
                node = self._file[f"{found.leaf.hdf5_path}/{found.item.replace('.', '/')}"]
                layout = ItemLayout.of(node, found.leaf.class_name, found.item)
            if layout is not None and found.item is not None:
                path = f"{found.leaf.hdf5_path}/{found.item.replace('.', '/')}"
                value = layout.read(self._file, path)
                if value is not DIFFERENT:
                    out.append(value)
                    continue
            out.append(self.read_item(found, stand_in=stand_in))
        return out

    def run_comment(self, trajectory: str, name: str, run: int) -> str:
        """The comment of the leaf holding result ``name`` in ``run`` (``""`` if none)."""
        found = self._index(trajectory).per_run.get(name, {}).get(run)
        return "" if found is None else found.leaf.comment

    def result_comment(self, trajectory: str, name: str) -> str:
        """The comment of the result's leaf in the first run that has one."""
        stored = self._index(trajectory).per_run.get(name, {})
        for run in sorted(stored):
            if stored[run].leaf.comment:
                return stored[run].leaf.comment
        return ""

    def load_derived(self, trajectory: str, *, stand_in: bool = False) -> dict[str, Result[Any]]:
        """Results stored outside any run (trajectory-level, ``run_ALL``, other groups)."""
        return {
            name: Result(
                name,
                self.read_item(found, stand_in=stand_in),
                found.leaf.comment,
                dict(found.leaf.annotations),
            )
            for name, found in self._index(trajectory).derived.items()
        }

    def load_provenance(self, trajectory: str) -> list[dict[str, object]]:
        """One record: what pypet stored that has no place in the native model."""
        return [self.pypet_record(trajectory)]

    def pypet_record(self, trajectory: str) -> dict[str, object]:
        """Pypet's metadata of a trajectory as JSON-able data (see the module docstring)."""
        tree = self.tree(trajectory)
        index = self._index(trajectory)
        leaves: dict[str, object] = {}
        for leaf in tree.leaves.values():
            entry: dict[str, object] = {
                "class": leaf.class_name,
                "hdf5_path": leaf.hdf5_path,
                "comment": leaf.comment,
                "annotations": {k: tag(v) for k, v in leaf.annotations.items()},
            }
            if leaf.is_parameter:
                if leaf.run is not None:
                    entry["result"] = index.names[(leaf.full_name, None)]
            else:
                entry["items"] = {
                    item.removesuffix(SPARSE_SUFFIX): index.names[(leaf.full_name, item)]
                    for item in leaf.item_names
                }
            if leaf.has_protocol:
                protocol = read_raw(self._file[f"{leaf.hdf5_path}/__pckl_prtcl__"])
                entry["protocol"] = int(protocol[()])
            if leaf.run is not None:
                entry["run"] = leaf.run
            leaves[leaf.full_name] = entry
        info = tree.info
        return {
            "kind": "pypet",
            "source": str(self.path),
            "started": info.get("timestamp"),
            "pypet_version": info.get("version", ""),
            "python_version": info.get("python", ""),
            "time": info.get("time", ""),
            "timestamp": info.get("timestamp"),
            "comment": tree.comment,
            "annotations": {k: tag(v) for k, v in tree.annotations.items()},
            "explored_parameters": list(tree.explored_names),
            "missing": list(tree.missing),
            "leaves": leaves,
            "groups": {
                g.full_name: {
                    "class": g.class_name,
                    "hdf5_path": g.hdf5_path,
                    "comment": g.comment,
                    "annotations": {k: tag(v) for k, v in g.annotations.items()},
                }
                for g in tree.groups.values()
            },
            "links": dict(tree.links),
            "runs": tree.runs,
        }

    # -- writing is not supported --------------------------------------------------------------

    def _read_only(self) -> StorageError:
        return StorageError(
            f"{str(self.path)!r} is a file of the original pypet, which this library reads but "
            "never writes; convert it first: pypet-rebuild convert OLD.hdf5 NEW.h5 "
            "(or pr.convert_pypet(old, new))"
        )

    def begin_sweep(self, snapshot: TrajectorySnapshot, *, resume: bool) -> WriterSession:
        """Refused: pypet files are read-only (convert them first)."""
        raise self._read_only()

    def open_writer(self, trajectory: str) -> WriterSession:
        """Refused: pypet files are read-only (convert them first)."""
        raise self._read_only()

    def close(self) -> None:
        """Close the file; safe to call twice."""
        if self._file.id.valid:
            self._file.close()

    def __repr__(self) -> str:
        return f"PypetStorageService({str(self.path)!r})"


def _seconds(runtime: str) -> float:
    """Pypet's ``str(timedelta)`` run time in seconds (NaN if it is not one)."""
    match = _RUNTIME.match(runtime.strip())
    if match is None:
        return float("nan")
    days, hours, minutes, seconds = match.groups()
    return int(days or 0) * 86400 + int(hours) * 3600 + int(minutes) * 60 + float(seconds)
