"""The ``frame`` layout: DataFrame results stored column by column.

A result whose every run returns a pandas DataFrame of the same make (the same string column
labels in the same order, the same column dtypes, the same kind of index) is stored as one
dataset per column plus the index, every run's rows appended along one row axis::

    results/<name>/                 layout="frame", columns, kinds, index_kind, index_name, ...
        start       (runs,) int64   where each run's rows start on the row axis
        size        (runs,) int64   how many rows each run has (0: no value)
        run_of_row  (rows,) int64   the run of each row (-1: left behind, the run was stored
                                    again)
        index       (rows,)         the index of each row
        columns/<label> (rows,)     one dataset per column, in the frame's order
        row                         the row dimension (netCDF: a dimension without values)

So plain h5py reads a column of every run in one read, xarray opens ``results/<name>/columns``
as variables on a ``row`` dimension, and this library reads one run's frame (or some of its
columns) by slicing.

Storable column (and index) dtypes are numpy's numeric and bool dtypes as they are, and text
without missing values: object columns holding only ``str`` and pandas ``str``/``string``
columns, stored as variable-length UTF-8. Anything else (categoricals, nullable integers,
datetimes, a MultiIndex, non-string or duplicate labels, frames of different makes across runs)
keeps the ``packed`` layout, where the pandas codecs store every detail.

Segments use the same layout, contiguous and without dimension scales; the main file's datasets
grow along the row axis as sweeps add runs.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

import h5py
import numpy as np
import numpy.typing as npt

from pypet_rebuild.errors import NodeNotFoundError
from pypet_rebuild.storage.codecs import is_native_dtype
from pypet_rebuild.storage.hdf5.checks import damaged
from pypet_rebuild.storage.hdf5.describe import NOT_A_VARIABLE, RUN, describe
from pypet_rebuild.storage.hdf5.layout import (
    create_growable,
    grow,
    plain_text,
    read_rows,
    write_rows,
)
from pypet_rebuild.storage.hdf5.options import StorageOptions
from pypet_rebuild.storage.records import MISSING

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "FRAME",
    "FrameBlock",
    "FrameRows",
    "FrameSignature",
    "classify_frames",
    "clear_frames",
    "copy_frames",
    "create_frame",
    "delete_frame",
    "frame_block",
    "reattach_frame",
]

FRAME: Final = "frame"
"""The ``layout`` attribute of a result column stored column by column."""

ROW: Final = "row"
"""The name of the row dimension of a frame column (and of its scale dataset)."""

_TEXT_OBJECT: Final = "text:object"
_TEXT_STRING: Final = "text:string"  # + ":<storage>:<na>" (pandas StringDtype)
_RANGE: Final = "range"
_RUN_OF_ROW: Final = "run_of_row"  # not "run": netCDF readers would take it for the run axis
_TEXT: Final[np.dtype[Any]] = h5py.string_dtype()
_COPY_ROWS: Final = 1 << 20
"""At most this many rows of a frame column are held at once while copying between stores."""


@dataclass(frozen=True)
class FrameSignature:
    """What every run's DataFrame of a ``frame`` column shares.

    Parameters
    ----------
    labels
        The column labels, in order (unique strings usable as HDF5 names).
    kinds
        Each column's kind: a numpy dtype string (``"<f8"``), ``"text:object"`` (an object
        column of ``str``) or ``"text:string:<storage>:<na>"`` (a pandas ``StringDtype``).
    index_kind
        ``"range"`` for the default ``RangeIndex(n)``, else the index's kind (as ``kinds``).
    index_name
        The index name (``None`` or a string).
    labels_kind
        The kind of the column labels' Index (``"text:object"`` or a ``text:string`` kind).
    """

    labels: tuple[str, ...]
    kinds: tuple[str, ...]
    index_kind: str
    index_name: str | None
    labels_kind: str

    def to_attrs(self) -> dict[str, str]:
        """The signature as HDF5 attributes of the column's group."""
        return {
            "columns": json.dumps(list(self.labels)),
            "kinds": json.dumps(list(self.kinds)),
            "index_kind": self.index_kind,
            "index_name": json.dumps(self.index_name),
            "labels_kind": self.labels_kind,
        }

    @classmethod
    def from_attrs(cls, attrs: Any) -> FrameSignature:
        """Read the signature written by :meth:`to_attrs`.

        Raises
        ------
        ValueError
            If an attribute is missing or does not describe a frame this layout writes.
        """
        try:
            labels = json.loads(attrs["columns"])
            kinds = json.loads(attrs["kinds"])
            index_name = json.loads(attrs["index_name"])
            index_kind = str(attrs["index_kind"])
            labels_kind = str(attrs["labels_kind"])
        except (KeyError, TypeError, json.JSONDecodeError) as error:
            raise ValueError(f"its frame attributes are missing or unreadable ({error})") from None
        texts = (isinstance(item, str) for item in [*labels, *kinds])
        if (
            not isinstance(labels, list)
            or not isinstance(kinds, list)
            or len(labels) != len(kinds)
            or not all(texts)
            or not (index_name is None or isinstance(index_name, str))
            or not all(_good_label(label) for label in labels)
            or len(set(labels)) != len(labels)
        ):
            raise ValueError("its frame attributes 'columns', 'kinds' or 'index_name' are invalid")
        for kind in [*kinds, labels_kind] + ([] if index_kind == _RANGE else [index_kind]):
            _dtype_of(kind)  # raises ValueError for an unknown kind
        return cls(tuple(labels), tuple(kinds), index_kind, index_name, labels_kind)


def _dtype_of(kind: str) -> np.dtype[Any]:
    """The HDF5-side dtype of a kind (text is variable-length UTF-8)."""
    if kind == _TEXT_OBJECT or kind.startswith(_TEXT_STRING + ":"):
        return _TEXT
    try:
        dtype = np.dtype(kind)
    except TypeError:
        raise ValueError(f"unknown column kind {kind!r}") from None
    if not _plain_native(dtype):
        raise ValueError(f"unknown column kind {kind!r}")
    return dtype


def _plain_native(dtype: np.dtype[Any]) -> bool:
    return dtype.names is None and dtype.subdtype is None and is_native_dtype(dtype)


def _kind(values: Any) -> str | None:
    """The kind of a column's (or an index's) values, or ``None`` if ``frame`` cannot hold it."""
    import pandas as pd  # only reached for pandas objects

    dtype = values.dtype
    if isinstance(dtype, np.dtype):
        if dtype.kind == "O":
            array = np.asarray(values)
            if pd.api.types.infer_dtype(array, skipna=False) not in ("string", "empty"):
                return None
            return _TEXT_OBJECT if all(plain_text(text) for text in array.tolist()) else None
        return dtype.str if _plain_native(dtype) else None
    if isinstance(dtype, pd.StringDtype):
        if values.isna().any() or not all(plain_text(text) for text in values.tolist()):
            return None
        na = "NA" if dtype.na_value is pd.NA else "nan"
        return f"{_TEXT_STRING}:{dtype.storage}:{na}"
    return None


def _pandas_dtype(kind: str) -> Any:
    """The dtype to rebuild a column (or index) of ``kind`` with."""
    if kind == _TEXT_OBJECT:
        return np.dtype(object)
    if kind.startswith(_TEXT_STRING + ":"):
        import pandas as pd

        _, _, storage, na = kind.split(":")
        na_value = pd.NA if na == "NA" else np.nan
        try:
            return pd.StringDtype(storage, na_value=na_value)
        except ImportError:  # written where pyarrow was installed, read where it is not
            return pd.StringDtype(na_value=na_value)
    return np.dtype(kind)


def _good_label(label: object) -> bool:
    return type(label) is str and label not in ("", ".") and "/" not in label and plain_text(label)


def frame_signature(value: pd.DataFrame) -> FrameSignature | None:
    """The signature of one DataFrame, or ``None`` if it needs the ``packed`` layout."""
    import pandas as pd

    columns, index = value.columns, value.index
    if type(columns) is not pd.Index or columns.name is not None:
        return None
    labels = columns.tolist()
    if not all(_good_label(label) for label in labels) or len(set(labels)) != len(labels):
        return None
    labels_kind = _kind(columns)
    if labels_kind is None or not labels_kind.startswith("text:"):
        return None  # an empty Index of another dtype
    if index.name is not None and type(index.name) is not str:
        return None
    if type(index) is pd.RangeIndex and index.start == 0 and index.step == 1:
        index_kind: str | None = _RANGE
    elif type(index) is pd.Index:
        index_kind = _kind(index)
    else:
        return None
    kinds = []
    for label, dtype in zip(labels, value.dtypes.tolist(), strict=True):
        if isinstance(dtype, np.dtype) and dtype.kind != "O":
            kind = dtype.str if _plain_native(dtype) else None
        else:
            kind = _kind(value[label])  # text: its values decide (labels are unique)
        if kind is None:
            return None
        kinds.append(kind)
    if index_kind is None:
        return None
    return FrameSignature(tuple(labels), tuple(kinds), index_kind, index.name, labels_kind)


def classify_frames(values: Sequence[object]) -> FrameSignature | None:
    """The signature every present value shares, or ``None`` (not all DataFrames of one make).

    Does not import pandas: if it is not imported, no value can be a DataFrame.
    """
    pandas = sys.modules.get("pandas")
    if pandas is None:
        return None
    present = [value for value in values if value is not MISSING]
    if not present or any(type(value) is not pandas.DataFrame for value in present):
        return None
    found = frame_signature(present[0])  # type: ignore[arg-type]
    if found is None:
        return None
    for value in present[1:]:
        if frame_signature(value) != found:  # type: ignore[arg-type]
            return None
    return found


@dataclass
class FrameBlock:
    """The rows of several runs' DataFrames, concatenated: what one write appends.

    Parameters
    ----------
    sizes
        The number of rows of each run, in order.
    index
        The index values of every row (``int64`` positions for a ``range`` index).
    columns
        The values of every row, one array per column.
    """

    sizes: npt.NDArray[np.int64]
    index: npt.NDArray[Any]
    columns: list[npt.NDArray[Any]]


def _text_array(values: pd.Series[Any] | pd.Index[Any]) -> npt.NDArray[Any]:
    return np.asarray(values.tolist(), dtype=object)


def frame_block(frames: Sequence[pd.DataFrame], signature: FrameSignature) -> FrameBlock:
    """Concatenate the rows of ``frames`` (each of ``signature``) into one block."""
    sizes = np.array([len(frame) for frame in frames], dtype=np.int64)

    def stack(parts: list[Any], kind: str) -> npt.NDArray[Any]:
        if kind.startswith("text:"):
            arrays = [_text_array(part) for part in parts]
            return np.concatenate(arrays) if arrays else np.empty(0, dtype=object)
        dtype = np.dtype(kind)
        return np.concatenate(
            [np.asarray(part, dtype=dtype) for part in parts] or [np.empty(0, dtype)]
        )

    if signature.index_kind == _RANGE:
        index = np.concatenate(
            [np.arange(size, dtype=np.int64) for size in sizes.tolist()] or [np.empty(0, np.int64)]
        )
    else:
        index = stack([frame.index for frame in frames], signature.index_kind)
    columns = [
        stack([frame[label] for frame in frames], kind)
        for label, kind in zip(signature.labels, signature.kinds, strict=True)
    ]
    return FrameBlock(sizes, index, columns)


def _index(signature: FrameSignature, values: npt.NDArray[Any]) -> pd.Index[Any]:
    """One run's index from its stored values."""
    import pandas as pd

    if signature.index_kind == _RANGE:
        return pd.RangeIndex(len(values), name=signature.index_name)
    dtype = _pandas_dtype(signature.index_kind)
    index: pd.Index[Any] = pd.Index(values, dtype=dtype, name=signature.index_name, copy=False)
    return index


def _rebuild(
    index: pd.Index[Any],
    columns: Sequence[npt.NDArray[Any]],
    kinds: Sequence[str],
    labels: pd.Index[Any],
) -> pd.DataFrame:
    """A DataFrame of ``columns`` (of ``kinds``), labelled ``labels``, on ``index``.

    Built from the arrays as they are (no copy for numbers); pandas infers ``str`` for text,
    so a text column of another dtype is converted once.
    """
    import pandas as pd

    frame = pd.DataFrame(dict(enumerate(columns)), index=index, copy=False)
    if any(kind.startswith("text:") for kind in kinds):
        found = frame.dtypes.tolist()
        wanted = {
            position: _pandas_dtype(kind)
            for position, kind in enumerate(kinds)
            if kind.startswith("text:") and found[position] != _pandas_dtype(kind)
        }
        if wanted:
            frame = frame.astype(wanted)
    frame.columns = labels.copy()
    return frame


def _create(
    group: h5py.Group,
    name: str,
    data: npt.NDArray[Any],
    dtype: np.dtype[Any],
    options: StorageOptions | None,
    cached: bool,
) -> h5py.Dataset:
    if options is None:
        return group.create_dataset(name, data=data, dtype=dtype)
    return create_growable(group, name, data.shape, dtype, options, data=data, cached=cached)


def create_frame(
    results: h5py.Group,
    name: str,
    runs: int,
    signature: FrameSignature,
    options: StorageOptions | None,
    block: FrameBlock | None = None,
    rows: npt.NDArray[np.int64] | None = None,
    *,
    cached: bool = False,
) -> h5py.Group:
    """Create frame column ``name`` of ``runs`` runs; ``block`` holds the values of ``rows``.

    With ``options`` the datasets can grow and are described (a main file); without, they are
    contiguous and bare (a segment, written once). ``cached``: see
    :func:`.layout.create_growable`.
    """
    column = results.create_group(name)
    column.attrs["layout"] = FRAME
    for key, text in signature.to_attrs().items():
        column.attrs[key] = text
    if block is None:
        block = FrameBlock(
            np.zeros(0, np.int64),
            np.empty(
                0, _dtype_of(signature.index_kind) if signature.index_kind != _RANGE else np.int64
            ),
            [np.empty(0, _dtype_of(kind)) for kind in signature.kinds],
        )
        rows = np.zeros(0, dtype=np.int64)
    assert rows is not None
    starts, sizes = np.zeros(runs, dtype=np.int64), np.zeros(runs, dtype=np.int64)
    sizes[rows] = block.sizes
    starts[rows] = np.cumsum(block.sizes) - block.sizes
    _create(column, "start", starts, np.dtype(np.int64), options, cached)
    _create(column, "size", sizes, np.dtype(np.int64), options, cached)
    index_dtype = (
        np.dtype(np.int64) if signature.index_kind == _RANGE else _dtype_of(signature.index_kind)
    )
    _create(column, "index", block.index, index_dtype, options, cached)
    stored = column.create_group("columns", track_order=True)
    for label, kind, values in zip(signature.labels, signature.kinds, block.columns, strict=True):
        _create(stored, label, values, _dtype_of(kind), options, cached)
    if options is not None:
        runs_of_rows = np.repeat(rows, block.sizes)
        _create(column, _RUN_OF_ROW, runs_of_rows, np.dtype(np.int64), options, cached)
        scale = create_growable(column, ROW, (len(block.index),), np.dtype(">f4"), options)
        scale.make_scale(NOT_A_VARIABLE % 0)
        _describe(column, signature)
    return column


def _row_datasets(column: h5py.Group, signature: FrameSignature) -> Iterator[h5py.Dataset]:
    yield column["index"]
    if _RUN_OF_ROW in column:
        yield column[_RUN_OF_ROW]
    for label in signature.labels:
        yield column["columns"][label]


def _describe(column: h5py.Group, signature: FrameSignature) -> None:
    """Attach the run and row dimensions and say what each dataset is (main file only)."""
    name = str(column.name).rpartition("/")[2]
    describe(column["start"], f"where each run's rows of result {name} start on the row axis")
    describe(column["size"], f"how many rows each run's DataFrame of result {name} has")
    describe(column[_RUN_OF_ROW], "the run of each row (-1: replaced by a later value of the run)")
    describe(column["index"], f"the index of each row of result {name}")
    for label in signature.labels:
        describe(column["columns"][label], f"column {label} of result {name}")
    reattach_frame(column)


def reattach_frame(column: h5py.Group) -> None:
    """Attach the ``run`` and ``row`` scales to a main file's frame column.

    Also used after a copy between files, whose references to scales point nowhere (see
    :func:`.describe.reattach_scales`).
    """
    trajectory = column.parent.parent
    run = trajectory.get(RUN)
    if run is not None:
        for part in ("start", "size"):
            column[part].dims[0].attach_scale(run)
    if ROW in column:
        signature = FrameSignature.from_attrs(column.attrs)
        for dataset in _row_datasets(column, signature):
            dataset.dims[0].attach_scale(column[ROW])


def delete_frame(column: h5py.Group) -> None:
    """Delete a frame column, detaching it from the trajectory's ``run`` scale first."""
    for part in ("start", "size"):
        for scale in list(column[part].dims[0].values()):
            column[part].dims[0].detach_scale(scale)
    del column.parent[str(column.name).rpartition("/")[2]]


def _append(column: h5py.Group, targets: npt.NDArray[np.int64], block: FrameBlock) -> None:
    """Append the rows of ``block`` (the values of runs ``targets``) to a main file's column."""
    signature = FrameSignature.from_attrs(column.attrs)
    clear_frames(column, targets)
    end = int(column["index"].shape[0])
    total = int(block.sizes.sum())
    parts = [
        column["index"],
        column[_RUN_OF_ROW],
        *(column["columns"][label] for label in signature.labels),
    ]
    data = [block.index, np.repeat(targets, block.sizes), *block.columns]
    if total:
        for dataset, values in zip(parts, data, strict=True):
            grow(dataset, end + total)
            dataset[end:] = values
        grow(column[ROW], end + total)
    write_rows(column["start"], targets, end + np.cumsum(block.sizes) - block.sizes)
    write_rows(column["size"], targets, block.sizes)


def clear_frames(column: h5py.Group, runs: npt.NDArray[np.int64]) -> None:
    """Mark the rows ``runs`` hold as left behind (``run`` = -1) and give them no rows."""
    if not len(runs):
        return
    sizes = np.asarray(read_rows(column["size"], runs), dtype=np.int64)
    held = np.flatnonzero(sizes)
    if not len(held):
        return
    starts = np.asarray(read_rows(column["start"], runs[held]), dtype=np.int64)
    rows = column[_RUN_OF_ROW]
    for start, size in zip(starts.tolist(), sizes[held].tolist(), strict=True):
        rows[start : start + size] = np.full(size, -1, dtype=np.int64)
    write_rows(column["size"], runs[held], np.zeros(len(held), dtype=np.int64))


def copy_frames(
    source: FrameRows,
    rows: npt.NDArray[np.int64],
    column: h5py.Group,
    targets: npt.NDArray[np.int64],
) -> None:
    """Copy the frames of ``rows`` of ``source`` to runs ``targets`` of a main file's column.

    In pieces of at most about a million rows, so a fold never holds every row at once.
    """
    if not len(rows):
        return
    sizes = source.sizes(rows)
    ends = np.cumsum(sizes)
    first = 0
    while first < len(rows):
        limit = (int(ends[first - 1]) if first else 0) + _COPY_ROWS
        last = max(first + 1, int(np.searchsorted(ends, limit, side="right")))
        _append(column, targets[first:last], source.block(rows[first:last]))
        first = last


def _take(dataset: h5py.Dataset, positions: npt.NDArray[np.int64]) -> npt.NDArray[Any]:
    """``dataset[positions]``: one read if the positions are dense, else one per stretch."""
    source: Any = dataset.asstr() if h5py.check_string_dtype(dataset.dtype) else dataset
    if not len(positions):
        return np.empty(0, dtype=object if source is not dataset else dataset.dtype)
    low, high = int(positions.min()), int(positions.max()) + 1
    if high - low <= 4 * len(positions):
        return np.asarray(source[low:high])[positions - low]
    breaks = np.flatnonzero(np.diff(positions) != 1) + 1
    return np.concatenate(
        [np.asarray(source[int(p[0]) : int(p[-1]) + 1]) for p in np.split(positions, breaks)]
    )


class FrameRows:
    """Read access to the runs of a frame column of one store.

    Parameters
    ----------
    store
        The trajectory's group in the store (for error messages).
    column
        The column's group.

    Raises
    ------
    FileFormatError
        If the column's attributes or datasets are not what this layout writes.
    """

    def __init__(self, store: h5py.Group, column: h5py.Group) -> None:
        name = str(column.name).rpartition("/")[2]
        try:
            self.signature = FrameSignature.from_attrs(column.attrs)
        except ValueError as error:
            raise damaged(store, f"the result {name!r}: {error}") from None
        self.store, self.column, self.name = store, column, name
        needed = ["start", "size", "index"] + [
            f"columns/{label}" for label in self.signature.labels
        ]
        missing = [part for part in needed if not isinstance(column.get(part), h5py.Dataset)]
        if missing:
            raise damaged(store, f"the DataFrame result {name!r} lacks {', '.join(missing)}")
        self.start: h5py.Dataset = column["start"]
        self.size: h5py.Dataset = column["size"]
        self.index: h5py.Dataset = column["index"]
        self.columns = {label: column["columns"][label] for label in self.signature.labels}
        self.rows = int(self.index.shape[0]) if self.index.shape else -1
        lengths = {
            int(d.shape[0]) if d.shape else -1 for d in _row_datasets(column, self.signature)
        }
        if len(lengths) != 1 or self.rows < 0:
            raise damaged(store, f"the row datasets of DataFrame result {name!r} differ in length")

    def sizes(self, rows: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
        """The number of DataFrame rows of each of ``rows`` (store rows, i.e. runs)."""
        return np.asarray(read_rows(self.size, rows), dtype=np.int64)

    def _spans(
        self, rows: npt.NDArray[np.int64]
    ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
        starts = np.asarray(read_rows(self.start, rows), dtype=np.int64)
        sizes = self.sizes(rows)
        if len(rows) and (
            bool((starts < 0).any())
            or bool((sizes < 0).any())
            or int((starts + sizes).max()) > self.rows
        ):
            raise damaged(
                self.store,
                f"the DataFrame result {self.name!r} points past its {self.rows} stored rows",
            )
        return starts, sizes

    def _positions(
        self, starts: npt.NDArray[np.int64], sizes: npt.NDArray[np.int64]
    ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
        """The row-axis positions of the runs' rows, and each row's position within its frame."""
        within = np.arange(int(sizes.sum()), dtype=np.int64)
        within -= np.repeat(np.cumsum(sizes) - sizes, sizes)
        return np.repeat(starts, sizes) + within, within

    def block(self, rows: npt.NDArray[np.int64]) -> FrameBlock:
        """The rows of the frames of ``rows``, concatenated (for copying into another store)."""
        starts, sizes = self._spans(rows)
        positions, _ = self._positions(starts, sizes)
        columns = [_take(dataset, positions) for dataset in self.columns.values()]
        return FrameBlock(sizes, _take(self.index, positions), columns)

    def read(
        self, rows: npt.NDArray[np.int64], labels: Sequence[object] | None = None
    ) -> list[pd.DataFrame]:
        """The DataFrames of ``rows`` (each holding a value), or only their columns ``labels``.

        Each column is read at once (one read where the rows are dense) and cut into the runs'
        frames; every frame gets its own copy of its rows (one frame never keeps the others'
        rows alive, nor shares them when a run is read twice).

        Raises
        ------
        NodeNotFoundError
            If a label is not one of the stored columns.
        """
        names, kinds, labels_index = self._wanted(labels)
        starts, sizes = self._spans(rows)
        positions, _ = self._positions(starts, sizes)
        cuts = np.cumsum(sizes)[:-1]

        def per_run(dataset: h5py.Dataset) -> list[npt.NDArray[Any]]:
            return [part.copy() for part in np.split(_take(dataset, positions), cuts)]

        index = per_run(self.index)
        columns = [per_run(self.columns[label]) for label in names]
        return [
            _rebuild(
                _index(self.signature, index[i]),
                [column[i] for column in columns],
                kinds,
                labels_index,
            )
            for i in range(len(rows))
        ]

    def read_stacked(
        self,
        rows: npt.NDArray[np.int64],
        runs: npt.NDArray[np.int64],
        labels: Sequence[object] | None = None,
        part: slice | None = None,
    ) -> pd.DataFrame:
        """The frames of ``rows`` as one DataFrame with an outer index level ``run``.

        What ``pd.concat({run: frame.iloc[part]}, names=["run"])`` gives for the frames of
        ``rows`` (labelled ``runs``; the inner level keeps the frames' index dtype), built from
        each column's rows in one piece instead of a DataFrame per run.

        Raises
        ------
        NodeNotFoundError
            If a label is not one of the stored columns.
        """
        import pandas as pd

        names, kinds, labels_index = self._wanted(labels)
        if not len(rows):
            return pd.DataFrame()  # as pd.concat of no frames would be, had it not refused
        starts, sizes = self._spans(rows)
        if part is None:
            counts = sizes
            positions, within = self._positions(starts, sizes)
        else:
            pieces = [np.arange(n, dtype=np.int64)[part] for n in sizes.tolist()]
            counts = np.array([len(piece) for piece in pieces], dtype=np.int64)
            within = np.concatenate(pieces) if pieces else np.zeros(0, np.int64)
            positions = np.repeat(starts, counts) + within
        if self.signature.index_kind == _RANGE:
            inner = pd.Index(within, dtype=np.int64, name=self.signature.index_name)
        else:
            inner = _index(self.signature, _take(self.index, positions))
        index = pd.MultiIndex.from_arrays([pd.Index(np.repeat(runs, counts), name="run"), inner])
        columns = [_take(self.columns[label], positions) for label in names]
        return _rebuild(index, columns, kinds, labels_index)

    def _wanted(
        self, labels: Sequence[object] | None
    ) -> tuple[list[str], list[str], pd.Index[Any]]:
        """The stored labels asked for, their kinds, and their Index (every column if ``None``)."""
        import pandas as pd

        wanted = list(self.signature.labels) if labels is None else list(labels)
        for label in wanted:
            if label not in self.columns:
                raise NodeNotFoundError(
                    f"the DataFrame of result {self.name!r} has no column {label!r}; its "
                    f"columns are {list(self.signature.labels)}"
                )
        names = [str(label) for label in wanted]  # each one a stored (string) label
        kinds = dict(zip(self.signature.labels, self.signature.kinds, strict=True))
        labels_index = pd.Index(names, dtype=_pandas_dtype(self.signature.labels_kind))
        return names, [kinds[label] for label in names], labels_index
