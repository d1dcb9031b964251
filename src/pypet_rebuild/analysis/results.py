"""Lazy views on stored results: ``traj.results["z"]`` and ``traj.run(i)``.

A :class:`ResultColumn` reads nothing until it is indexed; then it reads only the runs (and, for
backends that support it, only the part of each value) that the index selects. Indexing follows
numpy: the first axis is the run axis, further axes index into each run's value.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from pypet_rebuild.errors import ResultNotFoundError
from pypet_rebuild.storage.protocol import (
    SupportsArrayRead,
    SupportsFrameRead,
    SupportsFrameStack,
    SupportsResultLookup,
    SupportsSpanRead,
)
from pypet_rebuild.storage.records import MISSING, RunTable

if TYPE_CHECKING:
    import pandas as pd

    from pypet_rebuild.analysis.study import StoredTrajectory
    from pypet_rebuild.storage.protocol import StorageService

__all__ = ["ResultColumn", "ResultsView", "RunView", "index_value", "stack_values"]


def _numeric_like(value: object) -> bool:
    return isinstance(value, np.ndarray | np.generic | bool | int | float | complex)


def index_value(value: object, item: tuple[Any, ...]) -> Any:
    """Index one run's value as its row of the stacked array: ``full[(i, *item)]``.

    Numbers and arrays are indexed as a one-run stack with ``(0, *item)``, so numpy classifies
    the index exactly as for ``full[(i, *item)]`` (an integer next to a list is an advanced
    index, and advanced indices separated by a slice move their axis to the front). Other
    values (lists, frames) are indexed with the single item itself, not a 1-tuple.
    """
    if _numeric_like(value):
        return np.expand_dims(np.asarray(value), 0)[(0, *item)]
    return value[item[0] if len(item) == 1 else item]  # type: ignore[index]


def stack_values(values: Sequence[object], item: tuple[Any, ...] = ()) -> Any:
    """Stack per-run values into one array whose first axis is the run axis.

    Numbers and arrays of one shape and dtype stack into a numeric array; if some runs have no
    value, the result is a masked array (masked where the value is missing). Anything else gives
    a 1-d object array. ``item`` indexes into each run's value.
    """
    present = [v for v in values if v is not MISSING]
    present_items = [index_value(v, item) for v in present] if item else present
    if present_items and all(_numeric_like(v) for v in present_items):
        arrays = [np.asarray(v) for v in present_items]
        first = arrays[0]
        if all(a.shape == first.shape and a.dtype == first.dtype for a in arrays):
            if len(present) == len(values):
                return np.stack(arrays) if arrays else np.empty((0,))
            data = np.zeros((len(values), *first.shape), dtype=first.dtype)
            mask = np.ones((len(values), *first.shape), dtype=bool)
            position = 0
            for row, value in enumerate(values):
                if value is not MISSING:
                    data[row] = arrays[position]
                    mask[row] = False
                    position += 1
            return np.ma.MaskedArray(data, mask=mask)
    if present_items and len(present) == len(values) and all(isinstance(v, str) for v in present):
        return np.array(present_items, dtype=str)
    stacked = np.empty(len(values), dtype=object)
    position = 0
    for row, value in enumerate(values):
        if value is MISSING:
            stacked[row] = None
        else:
            stacked[row] = present_items[position]
            position += 1
    return stacked


def _plain_item(item: tuple[Any, ...]) -> bool:
    return not any(k is None or k is Ellipsis or isinstance(k, bool) for k in item)


def _label_item(item: tuple[Any, ...]) -> bool:
    """Whether ``item`` holds labels (e.g. DataFrame column names) that only each value knows."""

    def is_label(key: object) -> bool:
        if isinstance(key, str | bytes):
            return True
        return isinstance(key, list) and bool(key) and all(isinstance(k, str | bytes) for k in key)

    return any(is_label(key) for key in item)


def _partial_item(item: tuple[Any, ...]) -> bool:
    """Whether storage can apply ``item`` while reading (integers and forward slices only)."""
    return all(
        isinstance(k, int | np.integer) or (isinstance(k, slice) and (k.step is None or k.step > 0))
        for k in item
    )


def _masked(block: npt.NDArray[Any], present: npt.NDArray[np.bool_]) -> Any:
    """``block`` as read, or masked where ``present`` says a run has no value."""
    if _all_present(present):
        return block
    mask = np.broadcast_to(~present.reshape((-1,) + (1,) * (block.ndim - 1)), block.shape)
    return np.ma.MaskedArray(block, mask=mask.copy())


def _all_present(present: npt.NDArray[np.bool_]) -> bool:
    """Whether every run has a value; a broadcast mask (one value for all runs) is not scanned.

    A backend hands out a mask it never had to read (every run has the value) as one value
    broadcast over the runs (stride 0); ``all()`` would still visit each of a million runs.
    """
    if present.ndim == 1 and len(present) and present.strides[0] == 0:
        return bool(present[0])
    return bool(present.all())


class ResultColumn:
    """One result name across all runs; index it like an array whose first axis is the run.

    ``column[:]`` reads all runs, ``column[5]`` one run's value, ``column[[3, 1, 3]]`` those runs in
    that order, and ``column[:, 10]`` the element 10 of every run's array value.

    A selection of several runs is always a ``numpy.ma.MaskedArray`` (runs first), whether or not
    some runs lack a value: its mask is set where a run failed, is pending or did not produce
    the result, and is ``numpy.ma.nomask`` otherwise (``np.ma.getmaskarray(values)`` is the
    mask as an array either way; ``values.filled(np.nan)`` gives a plain float array). One run
    (``column[5]``) is its value as stored, and a run without one raises ``KeyError``.

    Parameters
    ----------
    trajectory
        The trajectory the result belongs to.
    name
        The result name.
    """

    def __init__(self, trajectory: StoredTrajectory, name: str) -> None:
        self._trajectory = trajectory
        self._name = name

    @property
    def name(self) -> str:
        """The result name."""
        return self._name

    @property
    def comment(self) -> str:
        """The comment given with the result."""
        return self._trajectory.storage.result_comment(self._trajectory.name, self._name)

    def __len__(self) -> int:
        return len(self._trajectory)

    def __getitem__(self, key: Any) -> Any:
        selected = self._select(key)
        run_key = key[0] if isinstance(key, tuple) and key else key
        one_run = isinstance(run_key, int | np.integer)
        if one_run or not isinstance(selected, np.ndarray):
            return selected
        if isinstance(selected, np.ma.MaskedArray):
            return selected
        # nomask: no mask array is allocated for a complete selection (no copy of the data).
        return np.ma.MaskedArray(selected, mask=np.ma.nomask)

    def _select(self, key: Any) -> Any:
        if isinstance(key, tuple) and not key:
            key = slice(None)  # full[()] is the whole array
        run_key, item = (key[0], tuple(key[1:])) if isinstance(key, tuple) else (key, ())
        n = len(self)
        if not _plain_item(item) or run_key is None or run_key is Ellipsis:
            everything = self._read_block(np.arange(n, dtype=np.int64), ())
            return everything[key]
        if isinstance(run_key, int | np.integer) and not isinstance(run_key, bool | np.bool_):
            # One run: no index array of every run to pick it from.
            run = int(run_key)
            if not -n <= run < n:
                raise IndexError(f"index {run} is out of bounds for axis 0 with size {n}")
            return self._read_one(run + n if run < 0 else run, item)
        if isinstance(run_key, slice) and _partial_item(item):
            start, stop, step = run_key.indices(n)
            if step == 1 and stop > start:
                # Consecutive runs: no index array of (up to) every run to build and check.
                found = self._read_span(start, stop, item)
                if found is not None:
                    return found
        runs: npt.NDArray[np.int64] = np.arange(n, dtype=np.int64)[run_key]
        if runs.ndim == 0:
            return self._read_one(int(runs), item)
        translated: Any
        if isinstance(run_key, slice):
            # A slice selects its rows in ascending (or, with a negative step, descending) order:
            # already sorted and unique, no need for np.unique on a million indices.
            ascending = (run_key.step or 1) > 0
            unique = runs if ascending else runs[::-1]
            translated = slice(None) if ascending else slice(None, None, -1)
        else:
            unique = np.unique(runs)
            translated = np.searchsorted(unique, runs)
        if _partial_item(item) or _label_item(item):
            return self._read_block(unique, item)[translated]
        return self._read_block(unique, ())[(translated, *item)]

    def _read_one(self, run: int, item: tuple[Any, ...]) -> Any:
        storage = self._trajectory.storage
        (value,) = storage.read_results(self._trajectory.name, self._name, [run])
        if value is MISSING:
            raise KeyError(
                f"run {run} has no result {self._name!r} (it failed, did not run, or did not "
                "produce it); see traj.run(i).status"
            )
        if not item:
            return value
        return index_value(value, item)

    def _read_span(self, start: int, stop: int, item: tuple[Any, ...]) -> Any:
        """:meth:`_read_block` of runs ``start:stop``, or ``None`` if the backend cannot."""
        storage = self._trajectory.storage
        if not isinstance(storage, SupportsSpanRead):
            return None
        found = storage.read_span(self._trajectory.name, self._name, start, stop, item)
        return None if found is None else _masked(*found)

    def _read_block(self, runs: npt.NDArray[np.int64], item: tuple[Any, ...]) -> Any:
        """Values of sorted unique ``runs`` stacked on a first axis, masked where missing."""
        storage = self._trajectory.storage
        if isinstance(storage, SupportsArrayRead):
            found = storage.read_array(self._trajectory.name, self._name, runs, item)
            if found is not None:
                return _masked(*found)
        values = storage.read_results(self._trajectory.name, self._name, runs.tolist())
        if not values:
            return self._empty_block(storage, item)
        return stack_values(values, item)

    def _empty_block(self, storage: StorageService, item: tuple[Any, ...]) -> Any:
        """An empty selection, shaped and typed like the stacked values (``full[[]]``)."""
        # Without values there is nothing to take the shape and dtype from: read the first
        # run that has one (almost always run 0) and take an empty slice of it.
        for run in range(len(self)):
            (value,) = storage.read_results(self._trajectory.name, self._name, [run])
            if value is not MISSING:
                return stack_values([value], item)[:0]
        return np.empty(0, dtype=object)

    def frame(
        self,
        runs: int | Sequence[int] | None = None,
        *,
        columns: Sequence[object] | None = None,
        rows: slice | None = None,
    ) -> pd.DataFrame:
        """A DataFrame result of one run, or of several runs stacked with a ``run`` index level.

        Parameters
        ----------
        runs
            One run index, several, or ``None`` for every run that has a value.
        columns
            Read only these columns; on the HDF5 backend the other columns' bytes are not read.
        rows
            A row range within each run's frame (``slice(0, 100)``).

        Returns
        -------
        pandas.DataFrame
            For several runs, the frames concatenated with an outer index level ``run``.
        """
        import pandas as pd

        single = isinstance(runs, int | np.integer)
        chosen: list[int] = (
            [int(runs)] if single else list(range(len(self))) if runs is None else list(runs)  # type: ignore[arg-type]
        )
        storage = self._trajectory.storage
        if not single and isinstance(storage, SupportsFrameStack):
            stacked = storage.read_frames(self._trajectory.name, self._name, chosen, columns, rows)
            if isinstance(stacked, pd.DataFrame):
                return stacked
        frames: dict[int, pd.DataFrame] = {}
        for run in chosen:
            if columns is not None and isinstance(storage, SupportsFrameRead):
                value = storage.read_frame(self._trajectory.name, self._name, run, columns)
            else:
                (value,) = storage.read_results(self._trajectory.name, self._name, [run])
                if value is not MISSING and columns is not None:
                    value = value[list(columns)]  # type: ignore[index]
            if value is MISSING:
                if single:
                    raise KeyError(f"run {run} has no result {self._name!r}")
                continue
            if not isinstance(value, pd.DataFrame):
                raise TypeError(
                    f"result {self._name!r} holds {type(value).__name__} values, not DataFrames"
                )
            frames[run] = value if rows is None else value.iloc[rows]
        if single:
            return frames[chosen[0]]
        return pd.concat(frames, names=["run"]) if frames else pd.DataFrame()

    def to_list(self) -> list[object]:
        """Every run's value as a list (``None`` where a run has no value)."""
        storage = self._trajectory.storage
        values = storage.read_results(self._trajectory.name, self._name, range(len(self)))
        return [None if v is MISSING else v for v in values]

    def __repr__(self) -> str:
        from pypet_rebuild.analysis.display import column_summary

        info = column_summary(self)
        return "<ResultColumn " + ", ".join(f"{k}={v!r}" for k, v in info.items() if v) + ">"

    def _repr_html_(self) -> str:
        from pypet_rebuild.analysis.display import column_summary, html_table

        info = column_summary(self)
        return html_table(f"Result {self._name}", list(info), [[str(v) for v in info.values()]])


class ResultsView(Mapping[str, ResultColumn]):
    """The stored results of a trajectory by name; every value is a lazy :class:`ResultColumn`.

    Parameters
    ----------
    trajectory
        The trajectory whose results to show.
    """

    def __init__(self, trajectory: StoredTrajectory) -> None:
        self._trajectory = trajectory

    def _names(self) -> tuple[str, ...]:
        names = self._trajectory.storage.result_names(self._trajectory.name)
        wanted = self._trajectory.result_filter
        return names if wanted is None else tuple(n for n in names if n in wanted)

    def __getitem__(self, name: str) -> ResultColumn:
        if not self._has(name):
            known = ", ".join(repr(n) for n in self._names()) or "none"
            raise ResultNotFoundError(
                f"the trajectory {self._trajectory.name!r} has no result {name!r}; "
                f"stored results: {known}"
            )
        return ResultColumn(self._trajectory, name)

    def _has(self, name: str) -> bool:
        storage = self._trajectory.storage
        wanted = self._trajectory.result_filter
        if wanted is not None and name not in wanted:
            return False
        if isinstance(storage, SupportsResultLookup):
            # One node looked at, not every stored result listed.
            return storage.has_result(self._trajectory.name, name)
        return name in self._names()

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self._has(name)

    def __iter__(self) -> Iterator[str]:
        return iter(self._names())

    def __len__(self) -> int:
        return len(self._names())

    def __repr__(self) -> str:
        return f"<ResultsView of {self._trajectory.name!r}: {list(self._names())}>"


class RunView:
    """One run of a trajectory: its parameter values, results and metadata.

    Parameters
    ----------
    trajectory
        The trajectory.
    index
        The run index.
    """

    def __init__(self, trajectory: StoredTrajectory, index: int) -> None:
        self._trajectory = trajectory
        self.index = index

    @property
    def params(self) -> dict[str, object]:
        """Every parameter's value in this run, by full path."""
        return self._trajectory.run_parameters(self.index)

    @property
    def point(self) -> dict[str, object]:
        """The explored values of this run."""
        return self._trajectory.point(self.index)

    @property
    def results(self) -> dict[str, object]:
        """The run's results by name (read when accessed)."""
        storage = self._trajectory.storage
        name = self._trajectory.name
        names = storage.result_names(name)
        wanted = self._trajectory.result_filter
        if wanted is not None:  # load_only hides the other results here too
            names = tuple(n for n in names if n in wanted)
        found: dict[str, object] = {}
        for result in names:
            (value,) = storage.read_results(name, result, [self.index])
            if value is not MISSING:
                found[result] = value
        return found

    def _table(self) -> RunTable:
        return self._trajectory.storage.load_run_table(self._trajectory.name)

    @property
    def status(self) -> str:
        """``"done"``, ``"failed"`` or ``"pending"``."""
        return str(self._table().status[self.index])

    @property
    def metadata(self) -> dict[str, object]:
        """The run-table row: status, start/finish, duration, host, pid, seed, error."""
        table = self._table()
        return {column: getattr(table, column)[self.index] for column in RunTable.COLUMNS}

    def __repr__(self) -> str:
        return f"<RunView {self.index} of {self._trajectory.name!r}: {self.point}>"
