"""``traj.to_xarray()``: the results of a sweep as a labelled ``xarray.Dataset``.

For a cartesian exploration the swept parameters *are* the coordinate system: one dimension per
grid axis (linked parameters share their axis' dimension, named after the first of them), so
``ds.sel(x=2.0).mean("y")`` reads like the science. Any other exploration uses a ``run``
dimension with the explored values as coordinates along it. A parameter's dimension and
coordinate carry its leaf name when that is unique (``input.I`` is ``I``), else its full path;
the ``path`` attribute always holds the full path, ``units`` and ``long_name`` follow CF.
Constants (parameters not explored) and the provenance are attributes of the dataset.

Runs without a value (failed, pending, or not producing the result) are NaN / NaT. An integer
or boolean result with missing runs is float64 with NaN in memory — what xarray itself gives
for a masked integer variable — and its encoding keeps its own dtype and a ``_FillValue``, so
``to_netcdf`` writes integers again. Large fixed-layout results load lazily as dask arrays with
``chunks=``, keyed by dimension names as in xarray.

A result whose shape differs between runs cannot be one numeric variable: ``pad=True`` pads it
with NaN to the largest shape, and ``layout="run"`` keeps it as one object per run.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal, cast

import numpy as np
import numpy.typing as npt

from pypet_rebuild._optional import import_optional
from pypet_rebuild._units import unit_library
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


def _filled(values: Any) -> tuple[npt.NDArray[Any], np.dtype[Any] | None]:
    """``_fill_missing`` and, if integers or booleans became float, their own dtype."""
    filled = _fill_missing(values)
    original = np.asarray(values).dtype if isinstance(values, np.ma.MaskedArray) else None
    if original is not None and original.kind in "iub" and filled.dtype.kind == "f":
        return filled, original
    return filled, None


_Read = tuple[npt.NDArray[Any], "np.dtype[Any] | None", "str | None"]


def _magnitudes(values: list[object], name: str) -> tuple[list[object], str | None]:
    """Values with physical units as plain magnitudes, and their units (CF text), if any.

    pint quantities are converted to the units of the first one; Brian2 quantities are in SI
    base units already (``m^2 kg s^-3`` is written ``m2 kg s-3``, as udunits reads it).
    """
    present = [v for v in values if v is not MISSING]
    if not present or unit_library(present[0]) is None:
        return values, None
    first: Any = present[0]
    if hasattr(first, "magnitude") and hasattr(first, "units"):
        units = first.units
        plain = [v if v is MISSING else v.to(units).magnitude for v in values]  # type: ignore[attr-defined]
        return plain, str(units)
    dim = getattr(first, "dim", None)
    if dim is None:
        return values, None
    if any(getattr(v, "dim", None) != dim for v in present):
        raise IncompatibleShapesError(f"result {name!r} has values of different dimensions")
    return [v if v is MISSING else np.asarray(v) for v in values], str(dim).replace("^", "")


def _read(trajectory: StoredTrajectory, name: str, pad: bool, per_run: bool) -> _Read:
    if trajectory.result_info(name).stackable:
        # One shape in every run: a single (sliced) read, no per-run objects.
        return (*_filled(trajectory.results[name][:]), None)
    storage = trajectory.storage
    values, units = _magnitudes(
        storage.read_results(trajectory.name, name, range(len(trajectory))), name
    )
    present = [v for v in values if v is not MISSING]
    shapes = {np.shape(v) for v in present if _arraylike(v)}  # type: ignore[call-overload]
    if len(shapes) > 1:
        if pad:
            return _padded(values, name), None, units
        if per_run:
            boxed = np.empty(len(values), dtype=object)
            boxed[:] = [None if v is MISSING else v for v in values]
            return boxed, None, units
        listed = ", ".join(str(s) for s in sorted(shapes))[:200]
        raise IncompatibleShapesError(
            f"result {name!r} has different shapes in different runs ({listed}), so it cannot "
            "be one numeric data variable; pass pad=True to pad with NaN to the largest shape, "
            "layout='run' to keep each run's array as one object along the run dimension, or "
            "leave it out with results=[...] and read it with traj.results[name]"
        )
    return (*_filled(stack_values(values)), units)


def _arraylike(value: object) -> bool:
    return isinstance(value, np.ndarray | np.generic | int | float | complex | bool)


def _lazy(trajectory: StoredTrajectory, name: str, chunks: Any) -> Any | None:
    """A dask array over a fixed-layout result of the HDF5 backend, or ``None``.

    ``chunks`` is for the stored layout (runs first, then the result's own axes).
    """
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


def _check_chunks(chunks: Any) -> None:
    """Accept what xarray accepts: ``"auto"``, an int, or a mapping of dimension names."""
    if chunks is None or chunks == "auto":
        return
    if isinstance(chunks, int) and not isinstance(chunks, bool):
        return
    if isinstance(chunks, Mapping):
        bad = [key for key in chunks if not isinstance(key, str)]
        if bad:
            raise ValueError(
                f"chunks is keyed by dimension names, as in xarray (e.g. {{'run': 1000}}); "
                f"got the key(s) {bad}"
            )
        return
    raise ValueError(
        f"chunks must be 'auto', an int, or a mapping of dimension names to chunk sizes, as in "
        f"xarray; got {chunks!r}"
    )


def _stored_chunks(
    chunks: Any, run_dims: Sequence[str], run_shape: Sequence[int], own_dims: Sequence[str]
) -> Any:
    """Chunks for the stored layout (runs, then the result's axes) from per-dimension chunks.

    The run axis gets a chunk that reshapes into the grid without splitting a requested block:
    the sizes of the grid dimensions kept whole, from the innermost outwards, times the chunk of
    the first one that is split. (A final rechunk gives each dimension its exact chunks.)
    """
    if not isinstance(chunks, Mapping):
        return chunks
    run_chunk = 1
    for dim, size in zip(reversed(run_dims), reversed(run_shape), strict=True):
        wanted = min(int(chunks.get(dim, size)), size)
        run_chunk *= wanted
        if wanted < size:
            break
    return (run_chunk, *(chunks.get(dim, -1) for dim in own_dims))


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


def dimension_names(trajectory: StoredTrajectory, taken: Iterable[str] = ()) -> dict[str, str]:
    """The name of each explored parameter in a dataset: its leaf name when that is unique.

    ``input.I`` is called ``I`` unless another explored parameter also ends in ``I`` or a
    name in ``taken`` (a result, ``run``, a metadata variable) is ``I``; then it keeps its full
    path. The names are the dimension and coordinate names of :func:`to_xarray`.

    Parameters
    ----------
    trajectory
        The stored study.
    taken
        Names already used in the dataset.

    Returns
    -------
    dict
        Full path -> name in the dataset.
    """
    paths = list(trajectory.explored_names)
    leaves = [path.rsplit(".", 1)[-1] for path in paths]
    reserved = set(taken) | set(paths)
    names = {}
    for path, leaf in zip(paths, leaves, strict=True):
        unique = leaves.count(leaf) == 1 and (leaf == path or leaf not in reserved)
        names[path] = leaf if unique else path
    return names


def to_xarray(
    trajectory: StoredTrajectory,
    results: Iterable[str] | None = None,
    *,
    dims: Mapping[str, Sequence[str]] | None = None,
    coords: Mapping[str, Any] | None = None,
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
    coords
        Coordinate values of those extra dimensions, by dimension name (as xyzpy's
        ``var_coords``), e.g. ``{"time": np.arange(1000) * dt}``.
    layout
        ``"auto"`` (grid dimensions for cartesian explorations, else ``run``), ``"grid"`` or
        ``"run"`` (which also keeps a result whose shape differs between runs, as one object
        per run).
    chunks
        Load fixed-layout results lazily as dask arrays with these chunks: as in xarray, a
        mapping of dimension names to chunk sizes (``{"run": 1000}``, ``{"x": 1, "time": 500}``;
        a dimension not named is one chunk), an int for every dimension, or ``"auto"``.
        ``None`` reads them now.
    pad
        Pad array results whose shape differs between runs with NaN to the largest shape.
    """
    xr: Any = import_optional("xarray", feature="study.to_xarray()", extra="xarray")
    if layout not in ("auto", "grid", "run"):
        raise ValueError(f"layout must be 'auto', 'grid' or 'run', got {layout!r}")
    _check_chunks(chunks)
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
    metadata = metadata_columns(trajectory, ("status", "duration"))
    label = dimension_names(trajectory, [*stored, *metadata, "run"])
    space = trajectory.space
    run_dims = ["run"] if axes is None else [label[axis[0]] for axis in axes]
    run_shape = (n,) if axes is None else tuple(len(axis[2]) for axis in axes)
    coordinates: dict[str, Any] = {}
    if axes is None:
        coordinates["run"] = np.arange(n)
        if space is not None:
            for path in space.names:
                coordinates[label[path]] = _coordinate(trajectory, path, "run", space.columns[path])
    else:
        assert space is not None
        for dim, names, positions in axes:
            for path in names:
                explored = space.columns[path]
                along = [explored[p] for p in positions]
                coordinates[label[path]] = _coordinate(trajectory, path, label[dim], along)
    data_vars: dict[str, Any] = {}
    encodings: dict[str, dict[str, Any]] = {}
    own_sizes: dict[str, int] = {}

    def own_dims_of(name: str, extra: Sequence[int]) -> list[str]:
        names = list(dims.get(name, ())) if dims else []
        if len(names) > len(extra):
            raise IncompatibleShapesError(
                f"dims gives {len(names)} names {names} for result {name!r}, whose values "
                f"have {len(extra)} dimension(s) (shape {tuple(extra)})"
            )
        return names + [f"{name}_dim_{i}" for i in range(len(names), len(extra))]

    for name in chosen:
        lazy_chunks = None
        if chunks is not None:

            def lazy_chunks(ndim: int, name: str = name) -> Any:
                own = own_dims_of(name, trajectory.result_info(name).shape or ())
                return _stored_chunks(chunks, run_dims, run_shape, own[:ndim])

        variable = _variable(trajectory, name, results is None, lazy_chunks, pad, layout == "run")
        if variable is None:
            continue
        array, missing_from, units = variable
        extra = array.shape[1:]
        own_dims = own_dims_of(name, extra)
        for dim, size in zip(own_dims, extra, strict=True):
            own_sizes.setdefault(dim, size)
        data = array.reshape(run_shape + tuple(extra))
        if chunks is not None and isinstance(chunks, Mapping) and hasattr(data, "rechunk"):
            wanted = {i: chunks[d] for i, d in enumerate(run_dims + own_dims) if d in chunks}
            data = data.rechunk(wanted) if wanted else data
        comment = trajectory.results[name].comment
        attrs = {"long_name": comment} if comment else {}
        if units is not None:
            attrs["units"] = units
        if missing_from is not None:
            encodings[name] = _missing_encoding(missing_from)
        data_vars[name] = (run_dims + own_dims, data, attrs)
    table = trajectory.run_table()
    # Run metadata never replaces a result: the same naming rule as to_pandas and queries.
    for variable_name, field in metadata.items():
        values = table.status.astype(str) if field == "status" else table.duration
        data_vars[variable_name] = (run_dims, values.reshape(run_shape))
    for dim, values in (coords or {}).items():
        if dim not in own_sizes:
            raise UnknownParameterError(
                f"coords names the dimension {dim!r}, which no included result has; the "
                f"results' own dimensions: {sorted(own_sizes)} (name them with dims=)"
            )
        if len(values) != own_sizes[dim]:
            raise IncompatibleShapesError(
                f"coords gives {len(values)} values for dimension {dim!r}, "
                f"which has {own_sizes[dim]}"
            )
        coordinates[dim] = values
    all_dims = set(run_dims) | set(own_sizes)
    if isinstance(chunks, Mapping) and not set(chunks) <= all_dims:
        raise ValueError(
            f"chunks names dimensions {sorted(set(chunks) - all_dims)} that the dataset does "
            f"not have; its dimensions: {sorted(all_dims)}"
        )
    dataset = xr.Dataset(data_vars, coords=coordinates)
    for name, encoding in encodings.items():
        dataset[name].encoding.update(encoding)
    dataset.attrs.update(_dataset_attrs(trajectory))
    return cast("Dataset", dataset)


def _missing_encoding(dtype: np.dtype[Any]) -> dict[str, Any]:
    """How a filled integer or boolean result is written to netCDF: its own type, a fill value.

    In memory such a result is float64 with NaN for missing runs (what xarray itself gives for
    a masked integer variable it reads); this encoding writes it back as integers with a
    ``_FillValue``, which xarray decodes to the same float64 with NaN.
    """
    if dtype.kind == "b":
        return {"dtype": "int8", "_FillValue": np.int8(-1)}
    return {"dtype": dtype.str, "_FillValue": np.iinfo(dtype).min}


def _dataset_attrs(trajectory: StoredTrajectory) -> dict[str, Any]:
    """The dataset's attributes: the study, its constants, and where the data came from."""
    from pypet_rebuild._version import __version__

    attrs: dict[str, Any] = {
        "trajectory": trajectory.name,
        "comment": trajectory.comment,
        "seed": str(trajectory.seed),
        "source": f"pypet_rebuild {__version__}",
    }
    explored = set(trajectory.explored_names)
    for parameter in trajectory.parameters():
        if parameter.path in explored:
            continue
        key = parameter.path if parameter.path not in attrs else f"parameter.{parameter.path}"
        attrs[key] = _attribute(parameter.default)
    provenance = trajectory.provenance
    if provenance:
        attrs["provenance"] = json.dumps(provenance, default=str)
    return attrs


def _attribute(value: object) -> Any:
    """A value netCDF can hold as an attribute: numbers, strings, 1-d numeric arrays; else text."""
    if isinstance(value, bool | np.bool_):
        return int(value)
    if isinstance(value, str | int | float | np.integer | np.floating):
        return value
    if isinstance(value, np.ndarray) and value.ndim == 1 and value.dtype.kind in "iuf":
        return value
    return repr(value)


def _variable(
    trajectory: StoredTrajectory,
    name: str,
    implicit: bool,
    lazy_chunks: Callable[[int], Any] | None,
    pad: bool,
    per_run: bool,
) -> tuple[Any, np.dtype[Any] | None, str | None] | None:
    """A result's values (runs first); if ints or bools were filled to float, their dtype; units.

    ``lazy_chunks(ndim)`` gives the stored-layout chunks of a lazy result with ``ndim`` axes of
    its own; ``None`` reads now. ``None`` is returned for a result left out by default.
    """
    if lazy_chunks is not None:
        info = trajectory.result_info(name)
        if info.stackable and info.shape is not None:
            lazy = _lazy(trajectory, name, lazy_chunks(len(info.shape)))
            if lazy is not None:
                assert info.dtype is not None
                filled = lazy.dtype != info.dtype and info.dtype.kind in "iub"
                return lazy, info.dtype if filled else None, None
    if implicit and not trajectory.result_info(name).stackable:
        storage = trajectory.storage
        n = len(trajectory)
        found = storage.read_results(trajectory.name, name, range(min(n, 16)))
        present = [v for v in found if v is not MISSING]
        if not present and n > 16:
            present = [
                v for v in storage.read_results(trajectory.name, name, range(n)) if v is not MISSING
            ]
        first = present[0] if present else None
        if first is None or not (
            _arraylike(first) or isinstance(first, str) or unit_library(first) is not None
        ):
            return None
    return _read(trajectory, name, pad, per_run)


def _coordinate(
    trajectory: StoredTrajectory, path: str, dim: str, values: Sequence[object]
) -> tuple[str, npt.NDArray[Any], dict[str, Any]]:
    """A parameter coordinate: its values (magnitudes, if they carry units) and attributes."""
    plain, units = _magnitudes(list(values), path)
    attrs = _attrs(trajectory, path)
    if units is not None:
        attrs["units"] = units
    return dim, _column(plain), attrs


def _column(values: Sequence[object]) -> npt.NDArray[Any]:
    array = np.asarray(values)
    if array.dtype == object or array.ndim != 1:
        out = np.empty(len(values), dtype=object)
        out[:] = list(values)
        return out
    return array


def _attrs(trajectory: StoredTrajectory, path: str) -> dict[str, Any]:
    """A parameter coordinate's attributes, following the CF conventions.

    ``path`` is the full path (the coordinate may carry the leaf name); ``long_name`` is the
    ``long_name`` annotation or else the comment; ``units`` is the ``units`` or ``unit``
    annotation; the other annotations are kept under their own names.
    """
    parameter = trajectory.get_parameter(path)
    annotations = dict(parameter.annotations)
    attrs: dict[str, Any] = {"path": path}
    long_name = annotations.pop("long_name", None) or parameter.comment
    if long_name:
        attrs["long_name"] = str(long_name)
    units = annotations.pop("units", None) or annotations.pop("unit", None)
    annotations.pop("unit", None)
    if units is not None:
        attrs["units"] = str(units)
    for key, value in annotations.items():
        attrs[key] = value if isinstance(value, str | int | float | bool) else repr(value)
    return attrs
