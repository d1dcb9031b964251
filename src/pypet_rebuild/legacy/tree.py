"""Walk one pypet trajectory group: leaves, groups, links, runs. No data item is read.

pypet keeps its whole tree as HDF5 groups: a leaf is a group with ``SRVC_LEAF``, its data items
are the datasets inside it. Full names map 1:1 to paths (``results.runs.run_00000003.z`` is
``/<traj>/results/runs/run_00000003/z``), and a node belongs to run ``i`` when one of its path
components is ``run_%08d``.
"""

from __future__ import annotations

import pickle
import re
from dataclasses import dataclass, field

import h5py
import numpy as np

from pypet_rebuild.errors import FileFormatError
from pypet_rebuild.legacy.h5read import (
    attribute_names,
    decode_text,
    is_pickled_string,
    read_attribute,
    read_raw,
)
from pypet_rebuild.tree.snapshot import PickledValue

__all__ = ["LegacyGroup", "LegacyLeaf", "LegacyTree", "scan_trajectory"]

_RUN = re.compile(r"run_(\d{8})\Z")
_RUN_SET = re.compile(r"run_set_(\d{5})\Z")
BRANCHES = ("config", "parameters", "derived_parameters", "results")
_GROUP_CLASSES = {
    "config": "ConfigGroup",
    "parameters": "ParameterGroup",
    "derived_parameters": "DerivedParameterGroup",
    "results": "ResultGroup",
}
# Placeholders pypet writes for runs that have not finished (overview/runs, see §6 of the notes).
PLACEHOLDER_TIMESTAMP = 42.0


@dataclass
class LegacyLeaf:
    """One pypet leaf, as found in the file (its items are read on demand)."""

    full_name: str
    hdf5_path: str
    class_name: str
    comment: str
    annotations: dict[str, object]
    run: int | None
    item_names: tuple[str, ...] = ()
    """Item names (dotted for nested items), pypet's internals (``__pckl_prtcl__``) left out."""
    has_protocol: bool = False
    """Whether it holds ``__pckl_prtcl__`` (the pickle protocol of pickling leaves)."""

    @property
    def branch(self) -> str:
        """The first component of the full name (``parameters``, ``results``, ...)."""
        return self.full_name.split(".", 1)[0]

    @property
    def is_parameter(self) -> bool:
        """Whether pypet stored it with a parameter class."""
        return self.class_name.endswith("Parameter") or self.branch in (
            "config",
            "parameters",
            "derived_parameters",
        )


@dataclass
class LegacyGroup:
    """A group node of the pypet tree (class, comment, annotations)."""

    full_name: str
    hdf5_path: str
    class_name: str
    comment: str
    annotations: dict[str, object]


@dataclass
class LegacyTree:
    """Everything about one trajectory that is not item data."""

    name: str
    hdf5_path: str
    comment: str
    annotations: dict[str, object]
    info: dict[str, object]
    runs: list[dict[str, object]]
    explored_names: tuple[str, ...]
    leaves: dict[str, LegacyLeaf] = field(default_factory=dict)
    groups: dict[str, LegacyGroup] = field(default_factory=dict)
    links: dict[str, str] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)
    length_marked: list[str] = field(default_factory=list)
    """Leaves with ``SRVC_INIT_LENGTH``: how files before pypet 0.4 mark explored parameters."""

    @property
    def n_runs(self) -> int:
        """The number of runs (rows of ``overview/runs``)."""
        return len(self.runs)


def run_of(full_name: str) -> int | None:
    """The run a node belongs to (``None`` if none): a ``run_%08d`` component names it."""
    for part in full_name.split("."):
        match = _RUN.match(part)
        if match:
            return int(match.group(1))
    return None


def strip_runs(parts: list[str]) -> list[str]:
    """Drop the run groups (``runs.run_00000003``, ``run_set_00000.run_00000003``) from a name."""
    out: list[str] = []
    for i, part in enumerate(parts):
        nxt = parts[i + 1] if i + 1 < len(parts) else ""
        if _RUN.match(part) or _RUN_SET.match(part):
            continue
        if part == "runs" and (_RUN.match(nxt) or _RUN_SET.match(nxt)):
            continue
        out.append(part)
    return out


def annotations_of(
    oid: h5py.h5o.ObjectID, names: list[str], *, allow_pickle: bool
) -> dict[str, object]:
    """The ``SRVC_AN_<key>`` annotations of a node; a refused pickle becomes a stand-in."""
    out: dict[str, object] = {}
    for key in names:
        if not key.startswith("SRVC_AN_"):
            continue
        value = read_attribute(oid, key)
        if isinstance(value, bytes):
            if is_pickled_string(oid, key) and value.endswith(b"."):
                if allow_pickle:
                    value = pickle.loads(value)  # the reader opted in
                else:
                    value = PickledValue(
                        f"the annotation {key[8:]!r} of {oid_name(oid)!r} is a pickled value; "
                        "unpickling runs code from the file, so it is refused. If you trust the "
                        "file, read it with pr.load_trajectory(path, allow_pickle=True) "
                        "(command line: --allow-pickle)",
                        None,
                    )
            else:
                value = np.str_(value.decode("utf-8", "backslashreplace"))
        out[key[8:]] = value
    return out


def oid_name(oid: h5py.h5o.ObjectID) -> str:
    """The HDF5 path of an object."""
    return decode_text(h5py.h5i.get_name(oid))


def _text(oid: h5py.h5o.ObjectID, names: list[str], key: str) -> str:
    return decode_text(read_attribute(oid, key)) if key in names else ""


def _rows(table: h5py.Dataset) -> list[dict[str, object]]:
    data = read_raw(table)
    names = data.dtype.names or ()
    rows: list[dict[str, object]] = []
    for row in data:
        cells: dict[str, object] = {}
        for name in names:
            cell = row[name]
            cells[name] = decode_text(cell) if data.dtype[name].kind == "S" else cell.item()
        rows.append(cells)
    return rows


def _children(gid: h5py.h5g.GroupID) -> list[tuple[str, bool]]:
    """The links of a group: (name, is a soft link), in name order."""
    out: list[tuple[str, bool]] = []

    def collect(name: bytes, info: h5py.h5l.LinkInfo) -> None:
        out.append((name.decode("utf-8", "backslashreplace"), info.type == h5py.h5l.TYPE_SOFT))

    gid.links.iterate(collect, info=True)
    return out


def _item_names(gid: h5py.h5g.GroupID, prefix: str = "") -> list[str]:
    """Item names of a leaf; pypet's own bookkeeping (``__pckl_prtcl__``) is kept dunder."""
    names: list[str] = []
    for key, soft in _children(gid):
        if soft:
            continue
        # get_objinfo tells a group from a dataset without opening it (4x cheaper).
        if h5py.h5g.get_objinfo(gid, key.encode()).type == h5py.h5g.GROUP:
            child = h5py.h5g.open(gid, key.encode())
            if _text(child, attribute_names(child), "SRVC_STORE") == "NESTED_GROUP":
                names.extend(_item_names(child, f"{prefix}{key}."))
                continue
        names.append(prefix + key)
    return names


def scan_trajectory(group: h5py.Group, *, allow_pickle: bool) -> LegacyTree:
    """Read the structure of the trajectory stored in ``group``.

    Raises
    ------
    FileFormatError
        If ``group`` is not a pypet trajectory (no ``overview/runs`` table).
    """
    overview = group.get("overview")
    if not isinstance(overview, h5py.Group) or "runs" not in overview:
        raise FileFormatError(
            f"{group.name!r} in {group.file.filename!r} carries pypet attributes but has no "
            "overview/runs table, so it is not a trajectory written by pypet (or the file is "
            "damaged); nothing to read"
        )
    info_rows = _rows(overview["info"]) if "info" in overview else []
    info = info_rows[0] if info_rows else {}
    runs = _rows(overview["runs"])
    explored: tuple[str, ...] = ()
    if "explorations" in overview:
        explored = tuple(str(r["explorations"]) for r in _rows(overview["explorations"]))
    name = group.name.rsplit("/", 1)[-1]
    attrs = attribute_names(group.id)
    tree = LegacyTree(
        name=name,
        hdf5_path=group.name,
        comment=_text(group.id, attrs, "SRVC_INIT_COMMENT"),
        annotations=annotations_of(group.id, attrs, allow_pickle=allow_pickle),
        info=info,
        runs=runs,
        explored_names=explored,
    )
    if "explorations" not in overview:
        # Files before pypet 0.4 mark explored parameters with SRVC_INIT_LENGTH instead.
        tree.explored_names = ()
    _walk(group.id, group.name, [], tree, allow_pickle=allow_pickle)
    if not tree.explored_names:
        tree.explored_names = tuple(sorted(tree.length_marked))
    for branch in ("parameters", "config"):
        if branch not in group:
            tree.missing.append(branch)
    return tree


def _is_internal(name: str) -> bool:
    last = name.rpartition(".")[2]
    return last.startswith("__") and last.endswith("__")


def _walk(
    gid: h5py.h5g.GroupID, where: str, parts: list[str], tree: LegacyTree, *, allow_pickle: bool
) -> None:
    # Low-level h5py throughout: a file of 3,000 runs has 6,000 run groups and leaves to visit.
    for key, soft in _children(gid):
        if not parts and key == "overview":
            continue
        full = ".".join([*parts, key])
        if soft:
            target = decode_text(gid.links.get_val(key.encode()))
            tree.links[full] = ".".join(target.strip("/").split("/")[1:])
            continue
        if h5py.h5g.get_objinfo(gid, key.encode()).type != h5py.h5g.GROUP:
            continue
        child = h5py.h5g.open(gid, key.encode())
        path = f"{where}/{key}"
        attrs = attribute_names(child)
        class_name = _text(child, attrs, "SRVC_INIT_CLASS_NAME")
        comment = _text(child, attrs, "SRVC_INIT_COMMENT")
        annotations = annotations_of(child, attrs, allow_pickle=allow_pickle)
        if "SRVC_LEAF" in attrs:
            items = _item_names(child)
            tree.leaves[full] = LegacyLeaf(
                full_name=full,
                hdf5_path=path,
                class_name=class_name,
                comment=comment,
                annotations=annotations,
                run=run_of(full),
                item_names=tuple(n for n in items if not _is_internal(n)),
                has_protocol="__pckl_prtcl__" in items,
            )
            if "SRVC_INIT_LENGTH" in attrs:
                tree.length_marked.append(full)
            continue
        branch = parts[0] if parts else key
        tree.groups[full] = LegacyGroup(
            full_name=full,
            hdf5_path=path,
            class_name=class_name or _GROUP_CLASSES.get(branch, "NNGroupNode"),
            comment=comment,
            annotations=annotations,
        )
        _walk(child, path, [*parts, key], tree, allow_pickle=allow_pickle)
