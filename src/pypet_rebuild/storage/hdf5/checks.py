"""Structural checks of a stored trajectory, run when it is opened and when a part is first used.

A file is untrusted input: a damaged or hand-edited one must fail with a
:class:`~pypet_rebuild.errors.FileFormatError` naming the file and the problem, not with a
``KeyError`` deep in h5py or a numpy ``MemoryError`` for a run count of 10**15. These checks
read attributes and dataset shapes only (no values). Opening checks the definition and the run
count (:func:`check_header`); the run table and the explored columns are checked before their
first read (:func:`check_tables`), each result column before its first read (``columns.py``).
"""

from __future__ import annotations

from collections.abc import Iterator

import h5py
import numpy as np

from pypet_rebuild.errors import FileFormatError
from pypet_rebuild.storage.hdf5.attributes import attribute_names, read_attribute
from pypet_rebuild.storage.hdf5.layout import LAYOUT_ATTR, LAYOUT_VERSION

__all__ = ["check_header", "check_segment", "check_tables", "check_trajectory", "damaged"]

_HEADER_ATTRS = (
    "name",
    "comment",
    "seed",
    "kind",
    "grid",
    "shape",
    "n_runs",
    "created",
    "parameter_order",
    "explored_order",
)
_RUN_COLUMNS = ("index", "point_hash", "status", "started", "finished", "duration", "host", "pid")
_RUN_TEXTS = ("error_rows", "error_text", "output_rows", "output_text")


def damaged(group: h5py.Group, problem: str) -> FileFormatError:
    """The error for a trajectory group whose structure is not what this library writes."""
    filename = group.file.filename
    return FileFormatError(
        f"{filename!r} is damaged: in {group.name!r}, {problem}. It was not written (completely) "
        "by pypet_rebuild or was edited since; restore it from a copy, or re-run the sweep"
    )


def check_trajectory(group: h5py.Group) -> int:
    """Check the main group of a trajectory; returns its number of runs.

    :func:`check_header` and :func:`check_tables` together.

    Raises
    ------
    FileFormatError
        If an attribute or a run-table column is missing, the run count is not a non-negative
        integer, or a column's length differs from the run count.
    """
    n_runs = check_header(group)
    check_tables(group, n_runs)
    return n_runs


def check_header(group: h5py.Group) -> int:
    """Check what opening a trajectory reads; returns its number of runs.

    The layout version, the definition's attributes, the groups, and the run count against the
    dimension scale ``run`` (version 1, which has none: the run table's ``index`` column), so
    that no reader sizes an array by a run count the file does not hold.

    Raises
    ------
    FileFormatError
        If one of them is missing or the run count is not a non-negative integer matching them.
    """
    # The attributes' names in one pass: the checks below ask for a dozen of them.
    names = attribute_names(group)
    _check_version(group, names)
    missing = [name for name in _HEADER_ATTRS if name not in names]
    if missing:
        raise damaged(group, f"the attribute(s) {', '.join(map(repr, missing))} are missing")
    for name in ("parameters", "explored", "runs"):
        if not isinstance(_member(group, name), h5py.h5g.GroupID):
            raise damaged(group, f"the group {name!r} is missing")
    n_runs = _count(group, read_attribute(group, "n_runs"), "n_runs")  # there, as listed
    if LAYOUT_ATTR in names:
        # The dimension scale vouches for the run count; the run table (its index column
        # included) is checked before its first read (check_tables), as reading results does
        # not need it: opening its group and column was a tenth of opening a file.
        scale = _member(group, "run")
        if not isinstance(scale, h5py.h5d.DatasetID) or scale.shape != (n_runs,):
            raise damaged(
                group,
                "the dimension scale 'run' is missing or does not have one row per run "
                "(removed or resized by another tool?)",
            )
    else:
        # Version 1 has no dimension scale: the run table's index column vouches instead.
        _check_column(group["runs"], "index", n_runs)
    return n_runs


def _member(group: h5py.Group, name: str) -> h5py.h5o.ObjectID | None:
    """The low-level object ``name`` of ``group`` (``None`` if missing), as ``group.get`` finds it.

    Without the h5py object around it (for a dataset, h5py builds a ``File`` object too).
    """
    try:
        return h5py.h5o.open(group.id, name.encode())
    except KeyError:  # missing, or a dangling soft or external link
        return None


def check_tables(group: h5py.Group, n_runs: int) -> None:
    """Check the run table and the explored columns of a main group against ``n_runs``.

    Raises
    ------
    FileFormatError
        If a run-table column or attribute is missing, or a column's length differs from the run
        count.
    """
    _check_runs(group["runs"], n_runs)
    for name, node in _datasets(group["explored"]):
        if node.shape != (n_runs,):
            raise damaged(
                group,
                f"the explored column {name!r} has shape {node.shape}, but n_runs is {n_runs}",
            )


def check_segment(group: h5py.Group, runs_before: int) -> int:
    """Check a trajectory group in a segment file; returns the number of runs after it.

    ``runs_before`` is the number of runs before this segment (an expansion only adds runs).
    """
    _check_version(group)
    n_runs = runs_before
    definition = group.get("definition")
    if definition is not None:
        if "n_runs" not in definition.attrs or not isinstance(
            definition.get("point_hash"), h5py.Dataset
        ):
            raise damaged(definition, "the expansion has no 'n_runs' or no 'point_hash'")
        n_runs = _count(definition, definition.attrs["n_runs"], "n_runs")
        added = definition["point_hash"].shape[:1]
        if n_runs < runs_before or added != (n_runs - runs_before,):
            raise damaged(
                definition,
                f"the expansion to n_runs={n_runs} from {runs_before} runs lists the hashes "
                f"of {added[0] if added else 0} new points",
            )
        _check_digests(definition)
    runs = group.get("runs")
    if runs is not None:
        if not isinstance(runs, h5py.Group) or not isinstance(runs.get("index"), h5py.Dataset):
            raise damaged(group, "the run table has no 'index' column")
        index = runs["index"]
        _check_runs(runs, int(index.shape[0]) if index.ndim == 1 else -1)
    return n_runs


def _count(group: h5py.Group, raw: object, what: str) -> int:
    try:
        value: int = int(raw)  # type: ignore[call-overload]
    except (TypeError, ValueError):
        raise damaged(group, f"{what} is {raw!r}, not an integer") from None
    if value < 0 or value != raw:
        raise damaged(group, f"{what} is {raw}, not a non-negative integer")
    return value


def _check_runs(runs: h5py.Group, n_runs: int) -> None:
    if n_runs < 0:
        raise damaged(runs, "the 'index' column is not one-dimensional")
    if "hosts" not in runs.attrs:
        raise damaged(runs, "the attribute 'hosts' is missing")
    for name in (*_RUN_COLUMNS, "seed"):
        _check_column(runs, name, n_runs)
    _check_digests(runs)
    for name in _RUN_TEXTS:
        node = runs.get(name)
        if not isinstance(node, h5py.Dataset) or node.ndim != 1:
            raise damaged(runs, f"the run-table column {name!r} is missing")


def _check_column(runs: h5py.Group, name: str, n_runs: int) -> None:
    node = runs.get(name)
    if not isinstance(node, h5py.Dataset):
        raise damaged(runs, f"the run-table column {name!r} is missing")
    if node.shape[:1] != (n_runs,):
        raise damaged(
            runs,
            f"the run-table column {name!r} has shape {node.shape}, expected ({n_runs},) "
            "(one row per run)",
        )


def _check_digests(group: h5py.Group) -> None:
    """The ``point_hash`` column of ``group`` must hold 16-byte digests.

    Version 2 stores them as ``(n, 16)`` bytes, version 1 as ``S16`` items.
    """
    node = group["point_hash"]
    dtype = node.dtype
    if dtype == np.uint8 and node.ndim == 2 and node.shape[1] == 16:
        return
    if dtype.kind not in "SV" or dtype.itemsize != 16 or node.ndim != 1:
        raise damaged(
            group,
            f"the column 'point_hash' has dtype {dtype} and shape {node.shape}, expected "
            "16-byte digests",
        )


def _check_version(group: h5py.Group, names: frozenset[str] | None = None) -> None:
    """Refuse a trajectory group of a newer layout than this library writes.

    ``names`` are the group's attribute names, if the caller has them.
    """
    if names is None:
        raw = read_attribute(group, LAYOUT_ATTR, 1)
    else:
        raw = read_attribute(group, LAYOUT_ATTR) if LAYOUT_ATTR in names else 1
    try:
        version = int(raw)
    except (TypeError, ValueError):
        raise damaged(group, f"the layout version is {raw!r}, not an integer") from None
    if version > LAYOUT_VERSION:
        raise FileFormatError(
            f"{group.file.filename!r}: the trajectory {group.name!r} has layout version "
            f"{version}, newer than this pypet_rebuild reads (version {LAYOUT_VERSION}); "
            "upgrade pypet_rebuild"
        )


def _datasets(group: h5py.Group) -> Iterator[tuple[str, h5py.Dataset]]:
    for name, node in group.items():
        if isinstance(node, h5py.Dataset):
            yield name, node
