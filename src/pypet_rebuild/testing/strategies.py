"""Hypothesis strategies for storable values, parameter spaces and whole trajectories.

Needs hypothesis (the ``testing`` extra); sparse matrices also need scipy.
Each strategy shrinks towards small, simple examples (empty arrays, a one-point space, a
trajectory of one parameter). The project's own property tests draw from these.

Values:

- :func:`python_scalars`, :func:`python_values` (nested lists, tuples, dicts),
  :func:`homogeneous_lists`;
- :func:`numpy_dtypes`, :func:`numpy_arrays` (every supported dtype, 0 to 3 dimensions, C,
  Fortran and strided layouts), :func:`numpy_scalars`;
- :func:`data_frames`, :func:`series`, :func:`pandas_arrays`;
- :func:`sparse_matrices`;
- :func:`storable_values`: any of the above, nested in containers.

Studies:

- :func:`parameter_names`: valid dotted names; :func:`parameter_specs`: stored parameter
  definitions;
- :func:`parameter_spaces`: grids, zipped spaces, unions and random samples over given names;
- :func:`trajectories`: a trajectory with defaults of several types, explored over a space.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal

from pypet_rebuild._optional import missing_dependency

try:
    from hypothesis import strategies as st
    from hypothesis.extra import numpy as hnp
    from hypothesis.extra import pandas as hpd
except ImportError as error:  # pragma: no cover - exercised by test_strategies with a fake
    raise missing_dependency("pypet_rebuild.testing.strategies", "hypothesis", "testing") from error

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from pypet_rebuild.exploration.space import ParameterSpace
    from pypet_rebuild.tree.snapshot import ParameterSpec
    from pypet_rebuild.tree.trajectory import Trajectory

__all__ = [
    "SpaceKind",
    "data_frames",
    "homogeneous_lists",
    "numpy_arrays",
    "numpy_dtypes",
    "numpy_scalars",
    "pandas_arrays",
    "parameter_names",
    "parameter_spaces",
    "parameter_specs",
    "python_scalars",
    "python_values",
    "series",
    "sparse_matrices",
    "storable_values",
    "trajectories",
]

SpaceKind = Literal["grid", "zipped", "union", "sample"]
"""The kinds of parameter space :func:`parameter_spaces` draws."""


# -- Python values --------------------------------------------------------------------------------


def python_scalars() -> st.SearchStrategy[object]:
    """``None``, bools, integers of any size, floats (NaN and infinities), complex, text, bytes."""
    return (
        st.none()
        | st.booleans()
        | st.integers()
        | st.floats()
        | st.complex_numbers()
        | st.text(max_size=8)
        | st.binary(max_size=8)
    )


def python_values(max_leaves: int = 12) -> st.SearchStrategy[object]:
    """Python scalars nested in lists, tuples and dicts (text or integer keys)."""
    return st.recursive(
        python_scalars(),
        lambda children: (
            st.lists(children, max_size=4)
            | st.lists(children, max_size=4).map(tuple)
            | st.dictionaries(st.text(max_size=4) | st.integers(), children, max_size=4)
        ),
        max_leaves=max_leaves,
    )


def homogeneous_lists() -> st.SearchStrategy[list[Any]]:
    """Lists of one scalar type (64-bit ints, floats, bools, text, bytes): stored packed."""
    return (
        st.lists(st.integers(-(2**63), 2**63 - 1), max_size=6)
        | st.lists(st.floats(), max_size=6)
        | st.lists(st.booleans(), max_size=6)
        | st.lists(st.text(max_size=5), max_size=6)
        | st.lists(st.binary(max_size=5), max_size=6)
    )


# -- numpy ----------------------------------------------------------------------------------------


def _scalar_dtypes() -> st.SearchStrategy[np.dtype[Any]]:
    return (
        hnp.boolean_dtypes()
        | hnp.integer_dtypes(endianness="?")
        | hnp.unsigned_integer_dtypes(endianness="?")
        | hnp.floating_dtypes(endianness="?", sizes=(16, 32, 64))
        | hnp.complex_number_dtypes(endianness="?")
        | hnp.datetime64_dtypes(endianness="?")
        | hnp.timedelta64_dtypes(endianness="?")
        | hnp.byte_string_dtypes(endianness="?", max_len=6)
        | hnp.unicode_string_dtypes(endianness="?", max_len=6)
    )


def numpy_dtypes(*, structured: bool = True) -> st.SearchStrategy[np.dtype[Any]]:
    """Every dtype the codecs store, in both byte orders.

    bool, (u)int8..64, float16..64, complex, datetime64, timedelta64, fixed-width bytes and
    text; with ``structured``, also sub-array and nested structured dtypes of those.
    """
    scalars = _scalar_dtypes()
    if not structured:
        return scalars
    return (
        scalars
        | hnp.array_dtypes(scalars, max_size=3)
        | hnp.nested_dtypes(scalars, max_leaves=4, max_itemsize=64)
    )


def numpy_arrays(
    dtypes: st.SearchStrategy[np.dtype[Any]] | None = None,
    *,
    max_dims: int = 3,
    max_side: int = 4,
    layouts: bool = True,
) -> st.SearchStrategy[np.ndarray[Any, Any]]:
    """Arrays of 0 to ``max_dims`` dimensions (sides 0 to ``max_side``, so empty ones too).

    Parameters
    ----------
    dtypes
        The dtypes to draw from (default :func:`numpy_dtypes`).
    max_dims, max_side
        The largest number of dimensions and length of a side.
    layouts
        Also draw Fortran-ordered (transposed) and strided (a view with step -2) arrays, whose
        memory layout storage must keep or normalise correctly.
    """
    shapes = hnp.array_shapes(min_dims=0, max_dims=max_dims, min_side=0, max_side=max_side)
    chosen = numpy_dtypes() if dtypes is None else dtypes

    @st.composite
    def arrays(draw: st.DrawFn) -> np.ndarray[Any, Any]:
        array: np.ndarray[Any, Any] = draw(hnp.arrays(chosen, shapes))
        layout = draw(st.sampled_from(["c", "transposed", "strided"])) if layouts else "c"
        if layout == "transposed":
            return array.T
        if layout == "strided" and array.ndim:
            return array[::-2]
        return array

    return arrays()


def numpy_scalars() -> st.SearchStrategy[np.generic]:
    """Numpy scalars (``np.float32(1.5)``, ``np.datetime64(...)``...) of every scalar dtype."""
    return hnp.arrays(_scalar_dtypes(), ()).map(_item)


def _item(array: np.ndarray[Any, Any]) -> np.generic:
    scalar: Any = array[()]  # indexing a 0-d array with () gives its scalar
    assert isinstance(scalar, np.generic)
    return scalar


# -- pandas ---------------------------------------------------------------------------------------

_COLUMN_DTYPES = [
    np.dtype(name)
    for name in ("bool", "int8", "int64", "uint32", "float32", "float64", "complex128")
] + [np.dtype("M8[ns]"), np.dtype("m8[us]")]


def data_frames(max_columns: int = 4, max_rows: int = 6) -> st.SearchStrategy[pd.DataFrame]:
    """DataFrames of numeric, datetime, timedelta and text columns, on several index kinds.

    The text column holds text or ``None``; the index is a range, integers or text.
    """

    @st.composite
    def frames(draw: st.DrawFn) -> pd.DataFrame:
        dtypes = draw(st.lists(st.sampled_from(_COLUMN_DTYPES), max_size=max_columns))
        columns = [hpd.column(f"c{i}", dtype=dtype) for i, dtype in enumerate(dtypes)]
        columns.append(hpd.column("text", elements=st.text(max_size=4) | st.none(), dtype=object))
        index = draw(
            st.sampled_from(
                [
                    hpd.range_indexes(max_size=max_rows),
                    hpd.indexes(dtype=np.int64, max_size=max_rows),
                    hpd.indexes(elements=st.text(max_size=3), max_size=max_rows),
                ]
            )
        )
        frame: pd.DataFrame = draw(hpd.data_frames(columns, index=index))
        return frame

    return frames()


def series(max_rows: int = 5) -> st.SearchStrategy[pd.Series[Any]]:
    """Float series on a datetime index."""
    return hpd.series(dtype=float, index=hpd.indexes(dtype="datetime64[ns]", max_size=max_rows))


def pandas_arrays(max_size: int = 6) -> st.SearchStrategy[object]:
    """Nullable extension arrays (Int64, boolean, string, str), categoricals, object indexes."""
    optional_ints = st.lists(st.none() | st.integers(-(2**63), 2**63 - 1), max_size=max_size)
    optional_texts = st.lists(st.none() | st.text(max_size=5), max_size=max_size)
    return st.one_of(
        optional_ints.map(lambda v: pd.array(v, dtype="Int64")),
        st.lists(st.none() | st.booleans(), max_size=max_size).map(
            lambda v: pd.array(v, "boolean")
        ),
        optional_texts.map(lambda v: pd.array(v, dtype="string")),
        optional_texts.map(lambda v: pd.array(v, dtype="str")),
        optional_texts.map(lambda v: pd.Categorical(v, ordered=len(v) % 2 == 0)),
        st.lists(st.text(max_size=3), max_size=max_size).map(lambda v: pd.Index(v, dtype=object)),
    )


# -- scipy ----------------------------------------------------------------------------------------


def sparse_matrices(max_side: int = 5) -> st.SearchStrategy[object]:
    """Scipy sparse matrices and arrays in CSR, CSC and COO format, of float, int, bool, complex.

    Raises
    ------
    MissingDependencyError
        If scipy is not installed.
    """
    try:
        import scipy.sparse as sp
    except ImportError as error:
        raise missing_dependency("sparse_matrices", "scipy", "scipy") from error
    makers = {
        ("csr", "matrix"): sp.csr_matrix,
        ("csc", "matrix"): sp.csc_matrix,
        ("coo", "matrix"): sp.coo_matrix,
        ("csr", "array"): sp.csr_array,
        ("csc", "array"): sp.csc_array,
        ("coo", "array"): sp.coo_array,
    }
    dtypes = st.sampled_from([np.dtype(t) for t in ("f8", "f4", "i2", "?", "c16")])
    dense = hnp.arrays(
        dtypes, hnp.array_shapes(min_dims=2, max_dims=2, min_side=1, max_side=max_side)
    )
    return st.tuples(st.sampled_from(sorted(makers)), dense).map(
        lambda pair: makers[pair[0]](pair[1])
    )


# -- any storable value ---------------------------------------------------------------------------


def storable_values(
    *, max_leaves: int = 8, sparse: bool | None = None
) -> st.SearchStrategy[object]:
    """Any value the built-in codecs store, nested in lists, tuples and dicts.

    Leaves are Python scalars, homogeneous lists, numpy arrays and scalars, DataFrames, Series,
    pandas extension arrays and (when scipy is installed, or ``sparse=True``) sparse matrices.

    Parameters
    ----------
    max_leaves
        The most leaves in one value.
    sparse
        Include scipy sparse matrices (default: when scipy can be imported).
    """
    leaves = [
        python_scalars(),
        homogeneous_lists(),
        numpy_arrays(max_dims=2, max_side=3),
        numpy_scalars(),
        data_frames(max_columns=2, max_rows=3),
        series(max_rows=3),
        pandas_arrays(max_size=3),
    ]
    if sparse is None:
        try:
            import scipy.sparse  # noqa: F401
        except ImportError:
            sparse = False
        else:
            sparse = True
    if sparse:
        leaves.append(sparse_matrices(max_side=3))
    return st.recursive(
        st.one_of(leaves),
        lambda children: (
            st.lists(children, max_size=3)
            | st.lists(children, max_size=3).map(tuple)
            | st.dictionaries(st.text(max_size=4), children, max_size=3)
        ),
        max_leaves=max_leaves,
    )


# -- studies --------------------------------------------------------------------------------------

# Every name gets a prefix (p_, g_, t_), so no segment is a keyword or starts with "_".
_SEGMENTS = st.from_regex(r"[a-z0-9]{1,6}", fullmatch=True)


def parameter_names(
    *, min_size: int = 1, max_size: int = 4, dotted: bool = True
) -> st.SearchStrategy[list[str]]:
    """Distinct valid parameter paths (``"x"``, ``"sim.steps"``), none a group of another.

    Leaves start with ``p_`` and groups with ``g_``, so no path is both a parameter and a group.
    """
    leaf = _SEGMENTS.map(lambda name: f"p_{name}")
    path = (
        st.tuples(st.lists(_SEGMENTS.map(lambda name: f"g_{name}"), max_size=2), leaf).map(
            lambda parts: ".".join([*parts[0], parts[1]])
        )
        if dotted
        else leaf
    )
    return st.lists(path, min_size=min_size, max_size=max_size, unique=True)


def _axis_values(kind: str, size: int, bounds: tuple[float, float]) -> st.SearchStrategy[list[Any]]:
    low, high = bounds
    if kind == "float":
        element: st.SearchStrategy[Any] = st.floats(low, high, allow_nan=False)
    else:
        element = st.integers(math.ceil(low), math.floor(high))
    return st.lists(element, min_size=size, max_size=size, unique=True)


def parameter_spaces(
    names: Sequence[str] = ("x", "y"),
    *,
    kinds: Sequence[SpaceKind] = ("grid", "zipped", "union", "sample"),
    value_types: Sequence[Literal["float", "int"]] | None = None,
    bounds: tuple[float, float] = (-100.0, 100.0),
    max_runs: int = 12,
) -> st.SearchStrategy[ParameterSpace]:
    """Parameter spaces over ``names``: grids, zipped spaces, unions of two, random samples.

    Parameters
    ----------
    names
        The parameter paths the space explores (at least one).
    kinds
        Which kinds of space to draw.
    value_types
        ``"float"`` or ``"int"`` for each name (default: floats), so a trajectory can declare
        matching defaults.
    bounds
        The closed interval every explored value lies in (integers: the integers in it; random
        samples draw their ranges inside it).
    max_runs
        The most points a space has.
    """
    from pypet_rebuild.exploration import cartesian_product, random_sample, zipped

    if not names:
        raise ValueError("parameter_spaces needs at least one name")
    if not bounds[0] < bounds[1]:
        raise ValueError(f"bounds must be (low, high) with low < high, got {bounds!r}")
    types = list(value_types) if value_types is not None else ["float"] * len(names)
    if len(types) != len(names):
        raise ValueError("value_types needs one entry per name")

    @st.composite
    def grids(draw: st.DrawFn) -> ParameterSpace:
        budget = max(1, max_runs)
        axes: dict[str, list[Any]] = {}
        for name, kind in zip(names, types, strict=True):
            size = draw(st.integers(1, max(1, min(3, budget))))
            budget = max(1, budget // size)
            axes[name] = draw(_axis_values(kind, size, bounds))
        return cartesian_product(axes)

    @st.composite
    def zipped_spaces(draw: st.DrawFn) -> ParameterSpace:
        size = draw(st.integers(1, max(1, max_runs)))
        return zipped(
            {
                name: draw(_axis_values(kind, size, bounds))
                for name, kind in zip(names, types, strict=True)
            }
        )

    @st.composite
    def unions(draw: st.DrawFn) -> ParameterSpace:
        first = draw(st.one_of(grids(), zipped_spaces()))
        second = draw(st.one_of(grids(), zipped_spaces()))
        if len(first) + len(second) > max_runs:
            return first
        return first.union(second)

    @st.composite
    def samples(draw: st.DrawFn) -> ParameterSpace:
        ranges: dict[str, tuple[Any, Any]] = {}
        low_bound, high_bound = bounds
        for name, kind in zip(names, types, strict=True):
            if kind == "float":
                edges = draw(
                    st.lists(
                        st.floats(low_bound, high_bound, allow_nan=False),
                        min_size=2,
                        max_size=2,
                        unique=True,
                    )
                )
                ranges[name] = (min(edges), max(edges))
            else:
                low = draw(st.integers(math.ceil(low_bound), math.floor(high_bound)))
                ranges[name] = (low, draw(st.integers(low, math.floor(high_bound))))
        n = draw(st.integers(1, max(1, max_runs)))
        return random_sample(ranges, n, seed=draw(st.integers(0, 2**32 - 1)))

    makers = {"grid": grids, "zipped": zipped_spaces, "union": unions, "sample": samples}
    unknown = sorted(set(kinds) - set(makers))
    if unknown or not kinds:
        raise ValueError(f"kinds must be among {sorted(makers)}, got {list(kinds)}")
    return st.one_of([makers[kind]() for kind in kinds])


def _defaults() -> st.SearchStrategy[object]:
    return st.one_of(
        st.booleans(),
        st.integers(-(2**31), 2**31),
        st.floats(allow_nan=False),
        st.text(max_size=6),
        numpy_arrays(hnp.floating_dtypes(sizes=(32, 64)), max_dims=2, max_side=3, layouts=False),
        st.dictionaries(st.text(max_size=3), st.integers(-5, 5), max_size=3),
    )


def parameter_specs() -> st.SearchStrategy[ParameterSpec]:
    """Stored parameter definitions, as a backend receives them in a snapshot.

    Each is built by declaring the parameter on a trajectory (so it is one a trajectory can
    hold): a valid dotted path, a default of one of the types :func:`trajectories` uses, a
    comment (any text without NUL) and JSON annotations.
    """
    from pypet_rebuild.tree.trajectory import Trajectory

    @st.composite
    def specs(draw: st.DrawFn) -> ParameterSpec:
        (path,) = draw(parameter_names(min_size=1, max_size=1))
        traj = Trajectory("spec", seed=0)
        traj.add_parameter(
            path,
            draw(_defaults()),
            comment=draw(st.text(max_size=10).filter(lambda text: "\x00" not in text)),
            annotations=draw(
                st.dictionaries(
                    st.text(max_size=4), st.integers(-5, 5) | st.text(max_size=4), max_size=2
                )
            ),
        )
        (spec,) = traj.snapshot().parameters
        return spec

    return specs()


def trajectories(
    *,
    max_parameters: int = 4,
    max_explored: int = 2,
    max_runs: int = 12,
    kinds: Sequence[SpaceKind] = ("grid", "zipped", "union", "sample"),
) -> st.SearchStrategy[Trajectory]:
    """Trajectories with defaults of several types, some parameters explored over a space.

    Defaults are bools, integers, floats, text, float arrays and small dicts; the explored
    parameters are floats or integers, explored over :func:`parameter_spaces` of ``kinds``
    (or nothing explored: a single run).

    Parameters
    ----------
    max_parameters
        The most parameters besides the explored ones.
    max_explored
        The most explored parameters (0 allowed: a one-run study).
    max_runs
        The most runs.
    kinds
        The kinds of exploration.
    """
    from pypet_rebuild.tree.trajectory import Trajectory

    @st.composite
    def build(draw: st.DrawFn) -> Trajectory:
        name = draw(_SEGMENTS.map(lambda segment: f"t_{segment}"))
        traj = Trajectory(name, seed=draw(st.integers(0, 2**32 - 1)))
        paths = draw(parameter_names(min_size=1, max_size=max_parameters + max_explored))
        n_explored = draw(st.integers(0, min(max_explored, len(paths))))
        explored, fixed = paths[:n_explored], paths[n_explored:]
        for path in fixed:
            traj.add_parameter(path, draw(_defaults()))
        types: list[Literal["float", "int"]] = [
            draw(st.sampled_from(["float", "int"])) for _ in explored
        ]
        for path, kind in zip(explored, types, strict=True):
            traj.add_parameter(path, 0.0 if kind == "float" else 0)
        if explored:
            space = draw(
                parameter_spaces(explored, kinds=kinds, value_types=types, max_runs=max_runs)
            )
            traj.explore(space)
        return traj

    return build()
