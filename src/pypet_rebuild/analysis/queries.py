"""Questions asked of a stored sweep: which runs match, a result by run, one table of everything.

Queries read only what they need: the explored values (and defaults) come from the trajectory's
definition, and a result is read only if the query names it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from pypet_rebuild.errors import (
    QueryError,
    ResultNotFoundError,
    UnknownParameterError,
    UnsupportedTypeError,
)
from pypet_rebuild.exploration import bind_predicate
from pypet_rebuild.storage.protocol import SupportsArrayRead
from pypet_rebuild.storage.records import MISSING

if TYPE_CHECKING:
    import numpy.typing as npt
    import pandas as pd

    from pypet_rebuild.analysis.study import StoredTrajectory

__all__ = [
    "METADATA_PREFIX",
    "collect_runs",
    "find_runs",
    "metadata_columns",
    "query_runs",
    "to_pandas",
    "unique_points",
]


def _resolve(trajectory: StoredTrajectory, name: str, results: tuple[str, ...]) -> str:
    if name in results:
        return name
    try:
        # Keyword arguments cannot contain dots: ``sim__steps=10`` means ``sim.steps``.
        return trajectory.get_parameter(name.replace("__", ".")).path
    except KeyError:
        known = [p.path for p in trajectory.parameters()] + list(results)
        raise UnknownParameterError(
            f"cannot query {name!r}: it is neither a parameter nor a stored result; "
            f"known names: {known}"
        ) from None


def _column(
    trajectory: StoredTrajectory,
    name: str,
    results: tuple[str, ...],
    runs: npt.NDArray[np.int64] | None = None,
) -> list[object]:
    """The value of a parameter or result in ``runs`` (default: every run).

    ``MISSING`` where a run has no value of a result.
    """
    every = runs is None or len(runs) == len(trajectory)
    selected: Sequence[int] = range(len(trajectory)) if runs is None else runs.tolist()
    if name in results:
        return trajectory.storage.read_results(trajectory.name, name, selected)
    space = trajectory.space
    if space is not None and name in space.columns:
        values = space.columns[name]
        return list(values) if every else [values[i] for i in selected]
    return [trajectory.get_parameter(name).default] * len(selected)


def find_runs(
    trajectory: StoredTrajectory,
    predicate: Callable[..., bool] | str | None = None,
    /,
    **conditions: object,
) -> list[int]:
    """Indices of the runs that satisfy ``predicate`` and equal every keyword condition.

    The predicate's argument names pick the values it receives: parameter paths (or unique leaf
    names, or ``a__b`` for ``a.b``) and stored result names. Runs without a value of a named
    result never match. A string predicate is a pandas query over the explored values, the
    scalar results and the run metadata (``status``, ``duration``, ``host``...).

    Examples
    --------
    >>> traj.find_runs(lambda x, y: x > 1.0 and y == 10)  # doctest: +SKIP
    [2, 4]
    >>> traj.find_runs(y=10)  # doctest: +SKIP
    [0, 2, 4]
    >>> traj.find_runs("z > 15 and status == 'done'")  # doctest: +SKIP
    [1, 3, 5]
    """
    if isinstance(predicate, str):
        matched = set(query_runs(trajectory, predicate))
        if conditions:
            matched &= set(find_runs(trajectory, None, **conditions))
        return sorted(matched)
    results = _stored_results(trajectory)
    names = tuple(p.path for p in trajectory.parameters()) + results
    bound = None if predicate is None else bind_predicate(predicate, names)
    wanted = {_resolve(trajectory, key, results): value for key, value in conditions.items()}
    # Conditions on columns of plain numbers or strings become one numpy comparison each; the
    # other conditions and the predicate then see only the runs that are left.
    candidates = np.arange(len(trajectory), dtype=np.int64)
    remaining: dict[str, object] = {}
    for name, value in wanted.items():
        mask = _equal_mask(trajectory, name, value, results)
        if mask is None:
            remaining[name] = value
        else:
            candidates = candidates[mask[candidates]]
    needed = set(remaining) | (set(bound.required_names) if bound is not None else set())
    columns = {name: _column(trajectory, name, results, candidates) for name in needed}
    matches: list[int] = []
    for position, index in enumerate(candidates.tolist()):
        row = {name: values[position] for name, values in columns.items()}
        if any(value is MISSING for value in row.values()):
            continue
        if any(not _equal(row[name], value) for name, value in remaining.items()):
            continue
        if bound is None or bound(row):
            matches.append(index)
    return matches


_PLAIN_DTYPES: dict[type, Callable[[np.dtype[Any]], bool]] = {
    bool: lambda dtype: dtype.kind == "b",
    int: lambda dtype: dtype.kind in "iu",
    float: lambda dtype: dtype == np.float64,
    str: lambda dtype: dtype.kind == "U",
}
"""For a condition's value type: the column dtypes numpy compares with it exactly as Python
does. (Not an int against floats, which numpy rounds; not a float against float32, which numpy
compares in float32.)"""


def _equal_mask(
    trajectory: StoredTrajectory, name: str, value: object, results: tuple[str, ...]
) -> npt.NDArray[np.bool_] | None:
    """Which runs have ``name == value``, as one array; ``None`` when Python must compare."""
    accepts = _PLAIN_DTYPES.get(type(value))
    if accepts is None:
        return None
    n = len(trajectory)
    if name in results:
        storage = trajectory.storage
        if not isinstance(storage, SupportsArrayRead):
            return None
        stacked = storage.read_array(trajectory.name, name, np.arange(n, dtype=np.int64), ())
        if stacked is None:
            return None
        block, present = stacked
        if block.ndim != 1 or not accepts(block.dtype):
            return None
        return np.asarray(block == value) & present
    space = trajectory.space
    if space is None or name not in space.columns:
        return np.full(n, _equal(trajectory.get_parameter(name).default, value))
    column = space.columns[name]
    # Only columns of exactly one plain type: numpy would turn a mix of ints and strings (or a
    # huge int) into an object or string array whose comparison differs from Python's.
    if len({type(v) for v in column}) != 1 or type(column[0]) not in _PLAIN_DTYPES:
        return None
    array = np.asarray(column)
    if not accepts(array.dtype):
        return None
    mask = np.asarray(array == value)
    if array.dtype.kind == "U":
        # numpy's strings drop trailing NUL characters: confirm each match in Python.
        for index in np.flatnonzero(mask).tolist():
            mask[index] = column[index] == value
    return mask


_METADATA = ("status", "duration", "started", "finished", "host", "pid", "seed")

METADATA_PREFIX = "run_"
"""The prefix a run-metadata column takes when a result or parameter already has its name."""


def metadata_columns(trajectory: StoredTrajectory, fields: Iterable[str]) -> dict[str, str]:
    """Column name -> run-table field, for the given metadata fields.

    The one rule for every table, dataset, query and CLI listing: a metadata field keeps its
    name (``status``, ``duration``...) unless a stored result or a parameter has that name; then
    it is ``run_<name>``, so run metadata never replaces a user's value.
    """
    taken = set(_stored_results(trajectory)) | {p.path for p in trajectory.parameters()}
    return {(METADATA_PREFIX + field if field in taken else field): field for field in fields}


_METADATA_SOURCE = "@run-table:"  # marks a query column read from the run table (not a name)


def query_runs(trajectory: StoredTrajectory, query: str) -> list[int]:
    """Indices of the runs matching a pandas query string; see :func:`find_runs`.

    Only the columns the query names are read. Dotted parameter paths are written in backticks
    (```sim.steps` > 10``).

    Raises
    ------
    QueryError
        If the query names something unknown (the message lists the names it may use) or does
        not parse.
    """
    import ast
    import re

    import pandas as pd  # only for tables and query strings: find_runs needs none

    results = _stored_results(trajectory)
    parameters = [p.path for p in trajectory.parameters()]
    quoted = set(re.findall(r"`([^`]*)`", query))
    try:
        tree = ast.parse(re.sub(r"`[^`]*`", "_quoted_", query), mode="eval")
    except SyntaxError as exc:
        raise QueryError(f"the query {query!r} does not parse: {exc.msg}") from None
    names = {node.id for node in ast.walk(tree) if isinstance(node, ast.Name)} - {"_quoted_"}
    names |= quoted
    # Only the results the query names are classified (reading at most one value each).
    arrays = sorted(n for n in names if n in results and not _scalar_result(trajectory, n))
    if arrays:
        raise QueryError(
            f"the query {query!r} names {arrays}, whose values are not scalars; queries compare "
            "numbers and strings: use a predicate function, e.g. lambda arr: arr.max() > 1"
        )
    columns: dict[str, str] = {}  # name in the query -> parameter path, result or metadata
    metadata = metadata_columns(trajectory, _METADATA)
    unknown = []
    for name in sorted(names):
        if name in results or name in parameters:
            columns[name] = name
            continue
        if name in metadata:
            columns[name] = _METADATA_SOURCE + metadata[name]
            continue
        try:
            columns[name] = trajectory.get_parameter(name).path  # a unique leaf name
        except (KeyError, LookupError):
            unknown.append(name)
    if unknown:
        scalars = [name for name in results if _scalar_result(trajectory, name)]
        known = [*parameters, *scalars, *metadata]
        raise QueryError(
            f"the query {query!r} names {unknown}, which are neither parameters, stored results "
            f"nor run metadata; it may use {known} (write dotted paths in backticks: "
            "`sim.steps` > 10)"
        )
    n = len(trajectory)
    frame = pd.DataFrame(index=pd.RangeIndex(n, name="run"))
    table = None
    for name, source in columns.items():
        if source.startswith(_METADATA_SOURCE):
            if table is None:
                table = trajectory.run_table()
            frame[name] = getattr(table, source.removeprefix(_METADATA_SOURCE))
        elif source in results:
            frame[name] = _to_series(_column(trajectory, source, results), frame.index)
        else:
            frame[name] = _to_series(_column(trajectory, source, results), frame.index)
    try:
        selected = frame.query(query)
    except Exception as exc:
        raise QueryError(f"the query {query!r} cannot be evaluated: {exc}") from None
    return [int(i) for i in selected.index]


def _scalar_result(trajectory: StoredTrajectory, name: str) -> bool:
    """Whether a result holds scalars, reading at most one run's value (or a batch of runs)."""
    info = trajectory.result_info(name)
    if info.stackable:
        return info.shape == ()
    storage = trajectory.storage
    for start in range(0, len(trajectory), 64):
        stop = min(start + 64, len(trajectory))
        for value in storage.read_results(trajectory.name, name, range(start, stop)):
            if value is not MISSING:
                return _is_scalar(value)
    return True  # no run has a value: an all-missing column, nothing says it is not scalar


def _probably_scalar(trajectory: StoredTrajectory, name: str) -> bool:
    """Whether to include a result in a default table: scalars only, never failing on decode."""
    try:
        return _scalar_result(trajectory, name)
    except UnsupportedTypeError:
        return False  # a codec this process does not know: leave the result out


def unique_points(trajectory: StoredTrajectory) -> list[tuple[dict[str, object], list[int]]]:
    """Every distinct explored point with the runs that explore it (pypet's find_unique_points)."""
    groups: dict[str, list[int]] = {}
    for index, digest in enumerate(trajectory.point_hashes()):
        groups.setdefault(digest, []).append(index)
    return [(trajectory.point(runs[0]), runs) for runs in groups.values()]


def _equal(left: object, right: object) -> bool:
    outcome: Any = left == right
    return bool(np.all(outcome))


def collect_runs(trajectory: StoredTrajectory, name: str) -> dict[int, object]:
    """Result ``name`` by run index, for the runs that have it."""
    results = _stored_results(trajectory)
    if name not in results:
        raise ResultNotFoundError(
            f"no stored result {name!r} in {trajectory.name!r}; stored results: {list(results)}"
        )
    values = _column(trajectory, name, results)
    return {index: value for index, value in enumerate(values) if value is not MISSING}


def _stored_results(trajectory: StoredTrajectory) -> tuple[str, ...]:
    return tuple(trajectory.results)


def _is_scalar(value: object) -> bool:
    if isinstance(value, np.ndarray):
        return value.ndim == 0
    return isinstance(value, bool | int | float | complex | str | bytes | np.generic)


def to_pandas(
    trajectory: StoredTrajectory,
    results: Iterable[str] | None = None,
    *,
    metadata: bool | Iterable[str] = True,
    index: Literal["run", "explored"] = "run",
) -> pd.DataFrame:
    """One row per run: explored values, scalar results, and run metadata.

    Parameters
    ----------
    trajectory
        A trajectory that has run or was loaded.
    results
        Result names to include (default: every result whose values are scalars). A result
        named here whose values are arrays (or any other objects) becomes a column of those
        objects.
    metadata
        ``True`` adds ``status`` and ``duration``; an iterable picks columns among
        ``status`` (categorical: pending, done, failed), ``duration`` (seconds, float),
        ``started`` and ``finished`` (timezone-aware UTC datetimes, ``NaT`` for runs that did
        not finish), ``host``, ``pid``, ``seed``, ``error`` (the traceback of a failed run) and
        ``output`` (what the run printed, with ``capture_output=True``); ``False`` none. A
        metadata column is named ``run_<name>`` when a result or parameter has its name
        (see :func:`metadata_columns`).
    index
        ``"run"`` (the run index) or ``"explored"`` (a MultiIndex of the explored values,
        with the run index as a column).
    """
    import pandas as pd  # only for tables and query strings: find_runs needs none

    if index not in ("run", "explored"):
        raise ValueError(f"index must be 'run' or 'explored', got {index!r}")
    columns: list[str] = []
    if metadata is True:
        columns = ["status", "duration"]
    elif metadata is not False:
        columns = [metadata] if isinstance(metadata, str) else list(metadata)
    for column_name in columns:
        if column_name not in (*_METADATA, "error", "output"):
            raise UnknownParameterError(
                f"unknown metadata column {column_name!r}; choose from "
                f"{[*_METADATA, 'error', 'output']}"
            )
    n = len(trajectory)
    frame = pd.DataFrame(index=pd.RangeIndex(n, name="run"))
    space = trajectory.space
    if space is not None:
        for name in space.names:
            column = np.empty(n, dtype=object)
            column[:] = space.columns[name]
            frame[name] = pd.Series(column, index=frame.index).infer_objects()
    stored = _stored_results(trajectory)
    chosen = list(stored) if results is None else list(results)
    storage = trajectory.storage
    for name in chosen:
        if name not in stored:
            raise ResultNotFoundError(
                f"no stored result {name!r} in {trajectory.name!r}; stored: {list(stored)}"
            )
        if results is None and not _scalar_result(trajectory, name):
            continue  # decided from the stored layout (or one value): arrays are not read
        values = storage.read_results(trajectory.name, name, range(n))
        frame[name] = _to_series(values, frame.index)
    if columns:
        table = trajectory.run_table()
        for column_name, field in metadata_columns(trajectory, columns).items():
            if field == "status":
                frame[column_name] = pd.Categorical(
                    table.status, categories=["pending", "done", "failed"]
                )
            elif field in ("started", "finished"):
                stamps = pd.to_datetime(getattr(table, field), unit="s", utc=True)
                frame[column_name] = pd.Series(stamps, index=frame.index)
            else:
                frame[column_name] = getattr(table, field)
    if index == "explored" and space is not None:
        frame = frame.reset_index().set_index(list(space.names))
    return frame


def _to_series(values: list[object], index: pd.Index[Any]) -> pd.Series[Any]:
    """A column with a missing-value marker that keeps the dtype (NaN, or pandas' nullable NA)."""
    import pandas as pd  # only for tables and query strings: find_runs needs none

    present = [v for v in values if v is not MISSING]
    missing = np.array([v is MISSING for v in values], dtype=bool)
    filled: list[object] = [None if v is MISSING else v for v in values]
    if present and all(isinstance(v, float | np.floating) for v in present):
        numbers = np.array([np.nan if v is None else v for v in filled], dtype=float)
        return pd.Series(numbers, index=index)
    if present and all(isinstance(v, bool | np.bool_) for v in present):
        flags = np.array([bool(v) for v in filled], dtype=bool)
        return pd.Series(pd.arrays.BooleanArray(flags, missing), index=index)
    if present and all(isinstance(v, int | np.integer) for v in present):
        integers = np.array([0 if v is None else v for v in filled], dtype=np.int64)
        return pd.Series(pd.arrays.IntegerArray(integers, missing), index=index)
    column = np.empty(len(values), dtype=object)
    column[:] = filled
    return pd.Series(column, index=index)
