"""``traj.to_xarray()``: the results of a sweep as a labelled ``xarray.Dataset``.

For a cartesian exploration the swept parameters *are* the coordinate system: one dimension per
grid axis (linked parameters share their axis' dimension, named after the first of them), so
``ds.sel(x=2.0).mean("y")`` reads like the science. Any other exploration uses a ``run``
dimension with the explored values as coordinates along it. Runs without a value (failed,
pending, or not producing the result) are NaN / NaT; integer and boolean results with missing runs
become float with NaN. Large fixed-layout results load lazily as dask arrays with ``chunks=``.

A result whose shape differs between runs cannot be one numeric variable: ``pad=True`` pads it
with NaN to the largest shape, and ``layout="run"`` keeps it as one object per run.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal, cast

import numpy as np
import numpy.typing as npt

from pypet_rebuild._optional import import_optional
from pypet_rebuild.analysis.queries import metadata_columns
from pypet_rebuild.analysis.results import stack_values
from pypet_rebuild.errors import (
    IncompatibleShapesError,
    ResultNotFoundError,
    UnknownParameterError,
)
from pypet_rebuild.storage.protocol import SupportsResultInfo
from pypet_rebuild.storage.records import MISSING

if TYPE_CHECKING:
    from xarray import Dataset

    from pypet_rebuild.analysis.study import StoredTrajectory

__all__ = ["to_xarray"]


def _grid_axes(trajectory: StoredTrajectory) -> list[tuple[str, list[str], list[int]]] | None:
    """For a grid: ``(dimension name, parameters on it, their values along it)`` per axis."""
    space = trajectory.space
    if space is None or space.grid is None or space.shape is None:
        return None
    axes = []
    stride = len(space)
    for names, length in zip(space.grid, space.shape, strict=True):
        stride //= length
        axes.append((names[0], list(names), [stride * i for i in range(length)]))
    return axes


def _fill_missing(values: Any) -> npt.NDArray[Any]:
    """A masked array becomes a plain one with NaN / NaT (ints and bools become float)."""
    if not isinstance(values, np.ma.MaskedArray):
        return np.asarray(values)
    if not values.mask.any():
        return np.asarray(values.data)
    data = values.data
    kind = data.dtype.kind
    if kind in "fc":
        filled = data.copy()
    elif kind in "mM":
        filled = data.copy()
        filled[values.mask] = np.array("NaT", dtype=data.dtype)
        return filled
    elif kind in "iub":
        filled = data.astype(np.float64)
    else:
        filled = data.astype(object)
        filled[values.mask] = None
        return filled
    filled[values.mask] = np.nan
    return filled


def _padded(values: Sequence[object], name: str) -> npt.NDArray[Any]:
    arrays = [None if v is MISSING else np.asarray(v, dtype=float) for v in values]
    present = [a for a in arrays if a is not None]
    ndims = {a.ndim for a in present}
    if len(ndims) > 1:
        raise IncompatibleShapesError(
            f"result {name!r} has values with different numbers of dimensions {sorted(ndims)}; "
            "even pad=True cannot align them: use layout='run' (one object per run), or "
            "read them with traj.results[name]"
        )
    ndim = ndims.pop() if ndims else 0
    shape = tuple(max(a.shape[d] for a in present) for d in range(ndim)) if present else ()
    out = np.full((len(values), *shape), np.nan)
    for row, array in enumerate(arrays):
        if array is not None:
            region: tuple[Any, ...] = (row, *(slice(0, n) for n in array.shape))
            out[region] = array
    return out


def _read(trajectory: StoredTrajectory, name: str, pad: bool, per_run: bool) -> npt.NDArray[Any]:
    if trajectory.result_info(name).stackable:
        # One shape in every run: a single (sliced) read, no per-run objects.
        return _fill_missing(trajectory.results[name][:])
    storage = trajectory.storage
    values = storage.read_results(trajectory.name, name, range(len(trajectory)))
    present = [v for v in values if v is not MISSING]
    shapes = {np.shape(v) for v in present if _arraylike(v)}  # type: ignore[call-overload]
    if len(shapes) > 1:
        if pad:
            return _padded(values, name)
        if per_run:
            boxed = np.empty(len(values), dtype=object)
            boxed[:] = [None if v is MISSING else v for v in values]
            return boxed
        listed = ", ".join(str(s) for s in sorted(shapes))[:200]
        raise IncompatibleShapesError(
            f"result {name!r} has different shapes in different runs ({listed}), so it cannot "
            "be one numeric data variable; pass pad=True to pad with NaN to the largest shape, "
            "layout='run' to keep each run's array as one object along the run dimension, or "
            "leave it out with results=[...] and read it with traj.results[name]"
        )
    return _fill_missing(stack_values(values))


def _arraylike(value: object) -> bool:
    return isinstance(value, np.ndarray | np.generic | int | float | complex | bool)


def _lazy(trajectory: StoredTrajectory, name: str, chunks: Any) -> Any | None:
    """A dask array over a fixed-layout result of the HDF5 backend, or ``None``."""
    storage = trajectory.storage
    info = trajectory.result_info(name)
    if not isinstance(storage, SupportsResultInfo) or not info.stackable:
        return None
    assert info.shape is not None
    assert info.dtype is not None
    dask_array: Any = import_optional(
        "dask.array", feature="study.to_xarray(chunks=...)", extra="dask"
    )
    # The dtype must be known before any chunk is read, and be the one the eager read gives:
    # the stored dtype if every run has a value, else the one with a missing marker (NaN...).
    complete = bool(storage.result_presence(trajectory.name, name).all())
    dtype = info.dtype if complete else _missing_dtype(info.dtype)
    source = _ResultArray(trajectory, name, (len(trajectory), *info.shape), dtype)
    return dask_array.from_array(source, chunks=chunks, asarray=True, fancy=False, name=False)


def _missing_dtype(dtype: np.dtype[Any]) -> np.dtype[Any]:
    """The dtype of a result with missing runs once they are filled (see ``_fill_missing``)."""
    return _fill_missing(np.ma.MaskedArray(np.zeros(1, dtype=dtype), mask=[True])).dtype


class _ResultArray:
    """An array-like view of a fixed-layout result for ``dask.array.from_array``.

    Every block is returned in the one dtype announced up front: a block without missing runs
    would otherwise keep the stored integer dtype while its neighbours hold NaN.
    """

    def __init__(
        self, trajectory: StoredTrajectory, name: str, shape: tuple[int, ...], dtype: np.dtype[Any]
    ) -> None:
        self._column = trajectory.results[name]
        self.shape = shape
        self.ndim = len(shape)
        self.dtype = dtype

    def __getitem__(self, key: Any) -> npt.NDArray[Any]:
        return np.asarray(_fill_missing(self._column[key]), dtype=self.dtype)


def to_xarray(
    trajectory: StoredTrajectory,
    results: Iterable[str] | None = None,
    *,
    dims: Mapping[str, Sequence[str]] | None = None,
    layout: Literal["auto", "grid", "run"] = "auto",
    chunks: Any = None,
    pad: bool = False,
) -> Dataset:
    """The sweep's results as an ``xarray.Dataset``; see the module docstring.

    Parameters
    ----------
    trajectory
        A trajectory that has run or was loaded.
    results
        Result names to include (default: every result whose values are numbers or arrays).
    dims
        Names of the extra dimensions of array results, by result name (default
        ``"<result>_dim_<i>"``).
    layout
        ``"auto"`` (grid dimensions for cartesian explorations, else ``run``), ``"grid"`` or
        ``"run"`` (which also keeps a result whose shape differs between runs, as one object
        per run).
    chunks
        Load fixed-layout results lazily as dask arrays with these chunks (e.g. ``"auto"`` or
        ``{0: 1000}``); ``None`` reads them now.
    pad
        Pad array results whose shape differs between runs with NaN to the largest shape.
    """
    xr: Any = import_optional("xarray", feature="study.to_xarray()", extra="xarray")
    if layout not in ("auto", "grid", "run"):
        raise ValueError(f"layout must be 'auto', 'grid' or 'run', got {layout!r}")
    axes = None if layout == "run" else _grid_axes(trajectory)
    if layout == "grid" and axes is None:
        raise IncompatibleShapesError(
            f"the exploration of {trajectory.name!r} is not a cartesian grid; use layout='run'"
        )
    n = len(trajectory)
    stored = tuple(trajectory.results)
    chosen = list(stored) if results is None else list(results)
    unknown = sorted(set(chosen) - set(stored))
    if unknown:
        raise ResultNotFoundError(
            f"no stored results {unknown} in {trajectory.name!r}; stored results: {list(stored)}"
        )
    strays = sorted(set(dims or {}) - set(chosen))
    if strays:
        raise UnknownParameterError(
            f"dims names results {strays} that are not included; included results: {chosen}"
        )
    space = trajectory.space
    run_dims = ["run"] if axes is None else [axis[0] for axis in axes]
    run_shape = (n,) if axes is None else tuple(len(axis[2]) for axis in axes)
    coords: dict[str, Any] = {}
    if axes is None:
        coords["run"] = np.arange(n)
        if space is not None:
            for path in space.names:
                coords[path] = ("run", _column(space.columns[path]), _attrs(trajectory, path))
    else:
        assert space is not None
        for dim, names, positions in axes:
            for path in names:
                column = space.columns[path]
                values = _column([column[p] for p in positions])
                coords[path] = (dim, values, _attrs(trajectory, path))
    data_vars: dict[str, Any] = {}
    for name in chosen:
        variable = _variable(trajectory, name, results is None, chunks, pad, layout == "run")
        if variable is None:
            continue
        extra = variable.shape[1:]
        names = list(dims.get(name, ())) if dims else []
        if len(names) > len(extra):
            raise IncompatibleShapesError(
                f"dims gives {len(names)} names {names} for result {name!r}, whose values "
                f"have {len(extra)} dimension(s) (shape {tuple(extra)})"
            )
        names += [f"{name}_dim_{i}" for i in range(len(names), len(extra))]
        data = variable.reshape(run_shape + tuple(extra))
        attrs = {"comment": trajectory.results[name].comment}
        data_vars[name] = (run_dims + names[: len(extra)], data, attrs)
    table = trajectory.run_table()
    # Run metadata never replaces a result: the same naming rule as to_pandas and queries.
    for variable_name, field in metadata_columns(trajectory, ("status", "duration")).items():
        values = table.status.astype(str) if field == "status" else table.duration
        data_vars[variable_name] = (run_dims, values.reshape(run_shape))
    dataset = xr.Dataset(data_vars, coords=coords)
    dataset.attrs.update(
        {"trajectory": trajectory.name, "comment": trajectory.comment, "seed": str(trajectory.seed)}
    )
    return cast("Dataset", dataset)


def _variable(
    trajectory: StoredTrajectory, name: str, implicit: bool, chunks: Any, pad: bool, per_run: bool
) -> Any:
    if chunks is not None:
        lazy = _lazy(trajectory, name, chunks)
        if lazy is not None:
            return lazy
    if implicit and not trajectory.result_info(name).stackable:
        storage = trajectory.storage
        n = len(trajectory)
        found = storage.read_results(trajectory.name, name, range(min(n, 16)))
        present = [v for v in found if v is not MISSING]
        if not present and n > 16:
            present = [
                v for v in storage.read_results(trajectory.name, name, range(n)) if v is not MISSING
            ]
        if not present or not (_arraylike(present[0]) or isinstance(present[0], str)):
            return None
    return _read(trajectory, name, pad, per_run)


def _column(values: Sequence[object]) -> npt.NDArray[Any]:
    array = np.asarray(values)
    if array.dtype == object or array.ndim != 1:
        out = np.empty(len(values), dtype=object)
        out[:] = list(values)
        return out
    return array


def _attrs(trajectory: StoredTrajectory, path: str) -> dict[str, Any]:
    parameter = trajectory.get_parameter(path)
    attrs: dict[str, Any] = {"comment": parameter.comment} if parameter.comment else {}
    for key, value in parameter.annotations.items():
        attrs[key] = value if isinstance(value, str | int | float | bool) else repr(value)
    return attrs
