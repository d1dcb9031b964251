"""What makes a version-2 file readable without this library: dimension scales and attributes.

The trajectory group holds the dataset ``run``: the run index of each row, made an HDF5
dimension scale named ``run``. Every per-run dataset (run-table columns, explored columns, fixed
results and their masks) has it attached to its first axis, so netCDF readers (xarray with
``h5netcdf`` or ``netcdf4``) see one shared ``run`` dimension instead of ``phony_dim_*``. Further
axes get netCDF-style dimensions without values (``<dataset>.axis<k>``: h5netcdf refuses a
variable with some axes named and others not). Explored columns are hard-linked into the
``results`` group and named in each result's CF ``coordinates`` attribute, because netCDF takes
coordinates from the variable's own group only.

Every dataset carries a ``long_name`` (and ``comment``/``units`` where known).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Final

import h5py
import numpy as np
import numpy.typing as npt

from pypet_rebuild.storage.hdf5.attributes import write_attrs
from pypet_rebuild.storage.hdf5.layout import create_growable, dataset_at, grow
from pypet_rebuild.storage.hdf5.options import StorageOptions

__all__ = [
    "NOT_A_VARIABLE",
    "RUN",
    "TIME_UNITS",
    "attach_run",
    "describe",
    "detach",
    "grow_run_scale",
    "link_coordinates",
    "reattach_scales",
    "units_of",
    "write_run_scale",
]

RUN: Final = "run"
"""The name of the run dimension (and of its scale dataset in the trajectory group)."""

TIME_UNITS: Final = "seconds since 1970-01-01T00:00:00Z"

NOT_A_VARIABLE: Final = b"This is a netCDF dimension but not a netCDF variable. %10d"
"""netCDF-4's name of a dimension scale without coordinate values (``% length``); netCDF-C and
h5netcdf both write and read it."""


def write_run_scale(
    group: h5py.Group, index: npt.NDArray[np.int64], options: StorageOptions | None
) -> h5py.Dataset:
    """Create the ``run`` dimension scale of a trajectory group (``index``: each row's run).

    Growable with ``options`` (a main file, where it is ``0, 1, ...``); contiguous in a segment.
    """
    if options is None:
        scale = group.create_dataset(RUN, data=index)
    else:
        scale = create_growable(group, RUN, index.shape, np.int64, options, data=index)
    scale.make_scale(RUN)
    write_attrs(scale, {"long_name": "run index"})
    return scale


def grow_run_scale(group: h5py.Group, n: int) -> None:
    """Extend the ``run`` scale of a main file's trajectory group to ``n`` runs."""
    scale = dataset_at(group, RUN)
    start = scale.shape[0]
    if n > start:
        grow(scale, n)
        scale[start:] = np.arange(start, n, dtype=np.int64)


def attach_run(
    dataset: h5py.Dataset, trajectory: h5py.Group, scale: h5py.Dataset | None = None
) -> None:
    """Attach the ``run`` scale to the first axis of ``dataset``, unnamed dimensions to the rest.

    The trajectory group has no ``run`` scale when it was written before version 2 (a segment
    of an old writer): then nothing is attached. ``scale`` is the ``run`` scale when the caller
    has it at hand (a writer attaching it to many datasets saves a lookup each).
    """
    if scale is None:
        try:
            scale = dataset_at(trajectory, RUN)
        except KeyError:
            return
    # What ``dataset.dims[0].attach_scale(scale)`` calls, without its two wrapper objects.
    h5py.h5ds.attach_scale(dataset.id, scale.id, 0)
    for axis, size in enumerate(dataset.shape[1:], start=1):
        name = f"{str(dataset.name).rpartition('/')[2]}.axis{axis}"
        parent = dataset.parent
        if name not in parent:
            dim = parent.create_dataset(name, shape=(size,), dtype=">f4")
            dim.make_scale(NOT_A_VARIABLE % size)
        dataset.dims[axis].attach_scale(parent[name])


def reattach_scales(group: h5py.Group) -> None:
    """Rebuild the dimension scales of a trajectory group copied from another file.

    HDF5 copies the object references that tie datasets to their scales as they are, so after a
    copy between files (``Group.copy``, even with ``expand_refs``) they point nowhere and netCDF
    readers fail on the group. This drops them and attaches the scales again.
    """
    if RUN not in group:
        return  # version 1: no scales

    def drop(_: str, node: object) -> None:
        if isinstance(node, h5py.Dataset):
            for attr in ("DIMENSION_LIST", "REFERENCE_LIST"):
                if attr in node.attrs:
                    del node.attrs[attr]

    group.visititems(drop)
    runs = group["runs"]
    texts = {f"{kind}_{part}" for kind in ("error", "output") for part in ("rows", "text")}
    per_run = [node for name, node in runs.items() if name not in texts and _per_run(node, group)]
    for name in ("explored", "results", "present"):
        if name in group:
            per_run += [
                node
                for node in group[name].values()
                # The links in results/ to explored columns are attached through explored/.
                if _per_run(node, group) and (name != "results" or "layout" in node.attrs)
            ]
    for dataset in per_run:
        attach_run(dataset, group)
    for kind in ("error", "output"):
        if f"{kind}_rows" in runs:
            runs[f"{kind}_text"].dims[0].attach_scale(runs[f"{kind}_rows"])


def _per_run(node: object, group: h5py.Group) -> bool:
    """Whether ``node`` is a per-run dataset of ``group`` (not a scale, not a packed column)."""
    if not isinstance(node, h5py.Dataset) or "CLASS" in node.attrs:
        return False
    return bool(node.shape) and node.shape[0] == group[RUN].shape[0]


def detach(dataset: h5py.Dataset) -> None:
    """Detach every dimension scale of ``dataset`` before it is deleted.

    A deleted dataset would otherwise stay listed in the scale's back references, which netCDF
    readers follow.
    """
    leaf = str(dataset.name).rpartition("/")[2]
    parent = dataset.parent
    for axis, dim in enumerate(dataset.dims):
        for scale in list(dim.values()):
            dim.detach_scale(scale)
        name = f"{leaf}.axis{axis}"
        if axis and name in parent:
            del parent[name]


def describe(
    dataset: h5py.HLObject,
    long_name: str,
    *,
    comment: str = "",
    units: str | None = None,
) -> None:
    """Say what ``dataset`` is in CF-style attributes."""
    values = {"long_name": long_name}
    if comment:
        values["comment"] = comment
    if units:
        values["units"] = units
    write_attrs(dataset, values)


def units_of(annotations: Mapping[str, object] | str) -> str | None:
    """The ``units`` of a parameter's annotations (a mapping, or its JSON), if they name any."""
    found = json.loads(annotations) if isinstance(annotations, str) else annotations
    units = found.get("units") if isinstance(found, Mapping) else None
    return units if isinstance(units, str) and units else None


def link_coordinates(group: h5py.Group) -> None:
    """Link the explored columns into ``results`` and name them in each result's ``coordinates``.

    Only plain datasets can be coordinates (a packed column is a group); a result of the same
    name as an explored parameter keeps its name, and that parameter is left out.
    """
    results, explored = group["results"], group["explored"]
    order = json.loads(group.attrs["explored_order"])
    linked = []
    for path in order:
        node = explored.get(path)
        existing = results.get(path)
        if existing is not None and "layout" in existing.attrs:
            continue  # a result of this name
        if existing is not None:
            del results[path]  # a link to an explored column rewritten since
        if isinstance(node, h5py.Dataset):
            results[path] = node
            linked.append(path)
    coordinates = " ".join(linked)
    for node in results.values():
        if isinstance(node, h5py.Dataset) and "layout" in node.attrs:
            if coordinates:
                write_attrs(node, {"coordinates": coordinates})
            elif "coordinates" in node.attrs:
                del node.attrs["coordinates"]
