"""Result columns: one result name across the runs of a store, in one of two layouts.

``fixed``
    Every run's value is a number or a numpy array of one shape and native dtype: one dataset
    ``results/<name>`` of shape ``(rows, *shape)``, plus a mask ``present/<name>``. Reading a
    result across runs, or a slice of every run's array, is one HDF5 read.
``frame``
    Every run's value is a pandas DataFrame of one make with storable dtypes: one dataset per
    column plus the index, the runs' rows appended along one row axis (see :mod:`.framed`).
``packed``
    Anything else (pandas objects of other kinds, sparse matrices, values whose type or shape
    changes between runs): each run's value is encoded by the codec registry and packed into a
    shared byte heap (see :mod:`.packed`). A run reads only its own byte range.

A result whose type changes between runs is therefore stored, not refused: it falls back to
``packed``, and every run's value comes back with its own type.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal

import h5py
import numpy as np
import numpy.typing as npt

from pypet_rebuild.storage.codecs import decode_value, encode_value, is_native_dtype
from pypet_rebuild.storage.hdf5.attributes import Attributes, read_attribute, write_attrs
from pypet_rebuild.storage.hdf5.checks import damaged
from pypet_rebuild.storage.hdf5.describe import RUN, attach_run, describe, detach
from pypet_rebuild.storage.hdf5.encoded import dtype_from_json, dtype_to_json, pack, unpack
from pypet_rebuild.storage.hdf5.framed import (
    FRAME,
    FrameRows,
    FrameSignature,
    classify_frames,
    create_frame,
    frame_block,
)
from pypet_rebuild.storage.hdf5.journal import FileView
from pypet_rebuild.storage.hdf5.layout import (
    attribute,
    create_growable,
    declared_fill,
    open_uncached,
    plain_text,
    read_rows,
    read_span,
    unwritten_fill,
    write_rows,
)
from pypet_rebuild.storage.hdf5.options import StorageOptions
from pypet_rebuild.storage.hdf5.packed import PackedRows, Payload, create_packed
from pypet_rebuild.storage.records import MISSING

__all__ = [
    "MASKS",
    "MASK_FILL",
    "NO_PAYLOAD",
    "TEXT",
    "ColumnSignature",
    "FixedSignature",
    "ResultSource",
    "classify",
    "classify_layout",
    "copy_rows",
    "create_fixed",
    "create_mask",
    "describe_mask",
    "fill_value",
    "fixed_data",
    "fixed_payload",
    "is_result",
    "mask_group",
    "packed_payloads",
    "plain_text",
    "read_rows",
    "renew_complete_mask",
    "result_names",
    "write_column",
    "write_mask",
]

MASKS = "present"
"""The group (beside ``results``) holding each result's presence mask, by result name."""

MASK_FILL = True
"""The HDF5 fill value of the masks a writer creates in a main file: unwritten rows read present.

A sweep's runs usually all have their values, so a mask whose every row is ``True`` is left
unwritten: no storage, one metadata call to read (see :func:`~.layout.unwritten_fill`), and
every HDF5 reader sees all runs present. Rows without a value are written ``False``
explicitly, by every writer. Masks written before 2026-11-28 have HDF5's default fill value
(``False``); they keep working, as writers and readers go by a mask's own fill value.
"""

_INT64 = (-(2**63), 2**63)
_FEW_ROWS = 8  # reads of up to this many rows read their bytes of the mask, not all of it
_COPY_BYTES = 64 << 20


@dataclass(frozen=True)
class FixedSignature:
    """What every value of a ``fixed`` column shares.

    Parameters
    ----------
    kind
        ``"python:<type>"`` for Python scalars, ``"numpy"`` for numpy scalars, ``"array"``.
        ``"python:str"`` is text: a variable-length UTF-8 dataset that every HDF5 reader
        understands (not stackable into a numpy array, unlike the other kinds).
    dtype
        The element dtype.
    shape
        The shape of one run's value.
    order
        ``"F"`` when every value was a Fortran-ordered array (only Fortran-contiguous), so each
        run's value comes back in Fortran order as the numpy codec gives it; else ``"C"``.
    """

    kind: str
    dtype: np.dtype[Any]
    shape: tuple[int, ...]
    order: str = "C"

    def to_attrs(self) -> dict[str, str]:
        """The signature as HDF5 attributes (``order`` only when it is ``"F"``)."""
        # Text has no numpy dtype to describe (numpy would drop h5py's string marker, warning).
        dtype = "utf-8" if self.kind == "python:str" else dtype_to_json(self.dtype)
        attrs = {
            "kind": self.kind,
            "dtype": json.dumps(dtype),
            "shape": json.dumps(list(self.shape)),
        }
        if self.order != "C":
            attrs["order"] = self.order
        return attrs

    @classmethod
    def from_attrs(cls, attrs: Any) -> FixedSignature:
        """Read the signature written by :meth:`to_attrs`."""
        kind = str(attrs["kind"])
        if kind == TEXT.kind:
            return TEXT
        return cls(
            kind,
            dtype_from_json(json.loads(attrs["dtype"])),
            tuple(json.loads(attrs["shape"])),
            str(attrs["order"]) if "order" in attrs else "C",
        )

    @property
    def stackable(self) -> bool:
        """Whether runs' values stack into one numpy array (all kinds but text)."""
        return self.kind != TEXT.kind

    def box(self, value: Any) -> object:
        """Turn one run's raw value (as read) back into the type it was stored from."""
        if self.kind == "python:float":
            return float(value)
        if self.kind == "python:int":
            return int(value)
        if self.kind == "python:bool":
            return bool(value)
        if self.kind == "python:complex":
            return complex(value)
        if self.kind == TEXT.kind:
            return value.decode("utf-8") if isinstance(value, bytes) else str(value)
        if self.kind == "numpy":
            return self.dtype.type(value)
        if self.order == "F":
            return np.asfortranarray(value)
        return np.asarray(value)


TEXT = FixedSignature("python:str", np.dtype(h5py.string_dtype()), ())
"""The signature of a text column (Python strings, stored as variable-length UTF-8)."""


def _fixed_dtype(dtype: np.dtype[Any]) -> bool:
    """Whether a fixed column can hold values of ``dtype`` (else they go ``packed``).

    Native byte order, and for structs fields in order without overlaps: the column records
    its dtype by ``dtype.descr``, which numpy does not define for the others.
    """
    if not is_native_dtype(dtype):
        return False
    if dtype.names is None and dtype.subdtype is None:
        return True
    try:
        dtype.descr  # noqa: B018 - raises for overlapping or out-of-order fields, at any depth
    except ValueError:
        return False
    return True


def _signature(value: object) -> FixedSignature | None:
    if isinstance(value, np.generic):
        dtype = value.dtype
        return FixedSignature("numpy", dtype, ()) if _fixed_dtype(dtype) else None
    if type(value) is np.ndarray:
        dtype = value.dtype
        if not _fixed_dtype(dtype):
            return None
        return FixedSignature("array", dtype, value.shape, _order(value))
    if isinstance(value, bool):
        return FixedSignature("python:bool", np.dtype(bool), ())
    if isinstance(value, int):
        if not _INT64[0] <= value < _INT64[1]:
            return None
        return FixedSignature("python:int", np.dtype(np.int64), ())
    if isinstance(value, float):
        return FixedSignature("python:float", np.dtype(np.float64), ())
    if isinstance(value, complex):
        return FixedSignature("python:complex", np.dtype(np.complex128), ())
    return None


_PYTHON_KINDS: dict[type[Any], str] = {
    bool: "python:bool",
    int: "python:int",
    float: "python:float",
    complex: "python:complex",
}


def classify(values: Sequence[object]) -> FixedSignature | None:
    """The common fixed signature of the present values, or ``None`` if they need ``packed``.

    Runs once per result and batch, over every value, so the loop compares plain attributes
    against the first value instead of building a signature per value.
    """
    present = [value for value in values if value is not MISSING]
    if not present:
        return None
    first_type = type(present[0])
    if first_type is str:
        same = all(type(value) is str and plain_text(value) for value in present)
        return TEXT if same else None
    found = _signature(present[0])
    if found is None:
        return None
    if found.kind.startswith("python:"):
        if any(type(value) is not first_type for value in present):
            return None
        if first_type is int and not all(_INT64[0] <= v < _INT64[1] for v in present):  # type: ignore[operator]
            return None
        return found
    dtype, shape, order = found.dtype, found.shape, found.order
    if found.kind != "array":
        for value in present:
            # Identity first: the values of one column nearly always share one dtype object.
            if type(value) is not first_type or (
                value.dtype is not dtype and value.dtype != dtype  # type: ignore[attr-defined]
            ):
                return None
        return found
    # A 1-d array's order is always "C" (see _order): only other shapes need the flags.
    check_order = len(shape) > 1
    for value in present:
        if (
            type(value) is not first_type
            or (value.dtype is not dtype and value.dtype != dtype)  # type: ignore[attr-defined]
            or value.shape != shape  # type: ignore[attr-defined]
        ):
            return None
        if check_order and _order(value) != order:  # type: ignore[arg-type]
            return None  # mixed memory orders are kept per value, in ``packed``
    return found


ColumnSignature = FixedSignature | FrameSignature
"""What every value of a ``fixed`` or of a ``frame`` column shares (``None``: ``packed``)."""


def classify_layout(values: Sequence[object]) -> ColumnSignature | None:
    """The layout of a batch of values: fixed or frame signature, ``None`` for ``packed``."""
    return classify(values) or classify_frames(values)


def _order(array: npt.NDArray[Any]) -> str:
    """``"F"`` for an array that is Fortran-contiguous only (what the numpy codec restores)."""
    flags = array.flags
    return "F" if flags.f_contiguous and not flags.c_contiguous else "C"


def fill_value(dtype: np.dtype[Any]) -> Any:
    """What a fixed column holds where a run has no value: NaN for floats, else zeros.

    Readers of this library go by the mask; NaN (named in ``_FillValue``) makes a missing float
    visible to any other reader too.
    """
    return np.nan if dtype.kind == "f" else None


def fixed_data(values: Sequence[object], signature: FixedSignature) -> npt.NDArray[Any]:
    """Stack the values of a fixed column (the fill value where a row has none)."""
    if signature.kind == TEXT.kind:
        return np.array(["" if value is MISSING else value for value in values], dtype=object)
    if all(value is not MISSING for value in values):
        if signature.kind == "array" and signature.shape:
            # One concatenation along the first axis, reshaped: np.stack adds a view per value
            # (three times the cost, per stored array result).
            joined: npt.NDArray[Any] = np.concatenate(values)  # type: ignore[arg-type]
            return joined.reshape(len(values), *signature.shape)
        if signature.kind == "array":
            return np.stack(values)  # type: ignore[arg-type]
        return np.array(values, dtype=signature.dtype)
    data = np.zeros((len(values), *signature.shape), dtype=signature.dtype)
    if fill_value(signature.dtype) is not None:
        data[...] = fill_value(signature.dtype)
    for row, value in enumerate(values):
        if value is not MISSING:
            data[row] = value
    return data


def mask_group(store: h5py.Group) -> h5py.Group:
    """The group of the presence masks of ``store`` (a trajectory group), created if needed."""
    return store.require_group(MASKS)


def write_column(
    group: h5py.Group,
    name: str,
    values: Sequence[object],
    comment: str,
    options: StorageOptions,
    *,
    allow_pickle: bool = False,
    signature: ColumnSignature | Literal["unknown"] | None = "unknown",
) -> None:
    """Write one result's values (``MISSING`` where a row has none) into a segment's ``results``.

    ``group`` is the ``results`` group of a trajectory group; the presence mask goes to the
    trajectory group's ``present`` group. ``allow_pickle`` must match the check the caller made:
    values without a codec are pickled only when it is true (otherwise they raise
    :class:`UnsupportedTypeError`). Pass the ``signature`` when the caller already classified
    the values.
    """
    del options  # segments are written once: contiguous datasets, no chunking
    if signature == "unknown":
        signature = classify_layout(values)
    present = np.array([v is not MISSING for v in values], dtype=bool)
    # Only what reading needs: segments get no scales and no descriptions (see
    # write_run_columns); the main file gets them when the segment is folded.
    mask_group(group.parent).create_dataset(name, data=present)
    if isinstance(signature, FrameSignature):
        held = [value for value in values if value is not MISSING]
        block = frame_block(held, signature)  # type: ignore[arg-type]
        rows = np.flatnonzero(present).astype(np.int64)
        node: h5py.HLObject = create_frame(group, name, len(values), signature, None, block, rows)
    elif signature is not None:
        node = group.create_dataset(name, data=fixed_data(values, signature), dtype=signature.dtype)
        write_attrs(node, {"layout": "fixed", **signature.to_attrs()})
    else:
        payloads = packed_payloads(values, name, allow_pickle)
        node = create_packed(group, name, len(values), None, payloads)
        write_attrs(node, {"layout": "packed"})
    write_attrs(node, {"comment": comment})


def describe_fixed(
    values: h5py.Dataset, signature: FixedSignature, trajectory: h5py.Group | None = None
) -> None:
    """Mark a fixed column: its signature, the run dimension, and the fill of missing runs.

    ``trajectory`` is the trajectory group, when the caller has it at hand.
    """
    write_attrs(values, {"layout": "fixed", **signature.to_attrs()})
    fill = fill_value(signature.dtype)
    if fill is not None and signature.dtype in (np.float32, np.float64):
        # netCDF wants the column's type
        write_attrs(values, {"_FillValue": signature.dtype.type(fill)})
    write_attrs(values, {"long_name": f"result {str(values.name).rpartition('/')[2]}"})
    attach_run(values, values.parent.parent if trajectory is None else trajectory)


def describe_mask(mask: h5py.Dataset, name: str, trajectory: h5py.Group | None = None) -> None:
    """Attach the run dimension to a result's mask and say what it is.

    ``trajectory`` is the trajectory group, when the caller has it at hand.
    """
    attach_run(mask, mask.parent.parent if trajectory is None else trajectory)
    describe(mask, f"whether the run has a value of result {name}")


def create_mask(
    masks: h5py.Group,
    name: str,
    n: int,
    options: StorageOptions,
    *,
    present: npt.NDArray[np.bool_] | None = None,
    cached: bool = False,
    trajectory: h5py.Group | None = None,
) -> h5py.Dataset:
    """A main file's growable mask ``masks/<name>`` of ``n`` rows holding ``present``, described.

    Its fill value is :data:`MASK_FILL`: without ``present``, or with one that is all
    ``True``, nothing is written (the dataset gets no storage and reads ``True`` everywhere;
    rows without a value are then the caller's to write, see :func:`write_mask`).
    ``trajectory`` is the trajectory group, when the caller has it at hand.
    """
    written = present is not None and not bool(present.all())
    mask = create_growable(
        masks,
        name,
        (n,),
        bool,
        options,
        data=present if written else None,
        fillvalue=MASK_FILL,
        cached=cached,
    )
    describe_mask(mask, name, trajectory)
    return mask


def write_mask(
    mask: h5py.Dataset, rows: npt.NDArray[np.int64], values: npt.NDArray[np.bool_]
) -> None:
    """Write ``values[i]`` into row ``rows[i]`` of a mask (grown to hold them).

    Nothing is written when the mask was never written and ``values`` are what its rows read
    anyway (its fill value: ``True`` for masks of :func:`create_mask`, ``False`` for older
    ones), so a mask stays unwritten while every run has the value. Decided by the dataset's
    own storage and fill value, never by its age.
    """
    if not len(rows):
        return
    fill = unwritten_fill(mask)
    if fill is not None and bool(np.all(values == fill)):
        return
    write_rows(mask, rows, values)


def renew_complete_mask(
    masks: h5py.Group, name: str, options: StorageOptions, trajectory: h5py.Group
) -> None:
    """Replace mask ``masks/<name>`` by an unwritten one if it is written but all ``True``.

    A long sweep's mask is written while the sweep runs (its pending runs are ``False``) and
    ends all ``True``; HDF5 cannot free a dataset's storage, so the mask is deleted and created
    again, unwritten, with its attributes and dimension scale (what :func:`create_mask` would
    have made). Only a mask whose own fill value is :data:`MASK_FILL` is replaced: an older one
    stays as it is. Reads the mask (one byte per run), so call it only when every row this
    writer wrote was ``True``.
    """
    mask = masks[name]
    if mask.id.get_storage_size() == 0 or mask.dtype != np.bool_:
        return
    rows = mask.shape[0]
    if declared_fill(mask) != MASK_FILL or not bool(read_span(mask, 0, rows).all()):
        return
    # Kept as they are, but for the scale's reference (attached again below).
    kept = {key: mask.attrs[key] for key in mask.attrs if key != "DIMENSION_LIST"}
    detach(mask)
    del masks[name]
    write_attrs(create_mask(masks, name, rows, options, trajectory=trajectory), kept)


NO_PAYLOAD: Payload = ("", np.empty(0, dtype=np.uint8))
"""The payload of a row without a value."""


def packed_payloads(values: Sequence[object], name: str, allow_pickle: bool) -> list[Payload]:
    """The header and bytes a packed column stores for each of ``values`` (of result ``name``).

    A ``MISSING`` value gets an empty payload. Raises what encoding the values raises.
    """
    return [
        _payload(value, name, allow_pickle) if value is not MISSING else NO_PAYLOAD
        for value in values
    ]


def fixed_payload(signature: FixedSignature, raw: Any) -> Payload:
    """The payload of one value of a fixed column (``raw``: as stored), boxed back first."""
    header, parts, _ = pack(encode_value(signature.box(raw)))
    return header, np.concatenate(parts) if parts else np.empty(0, np.uint8)


def _payload(value: object, name: str, allow_pickle: bool) -> Payload:
    header, parts, _ = pack(encode_value(value, f"results.{name}", allow_pickle=allow_pickle))
    return header, np.concatenate(parts) if parts else np.empty(0, dtype=np.uint8)


def create_fixed(
    results: h5py.Group,
    name: str,
    n: int,
    signature: FixedSignature,
    options: StorageOptions,
    *,
    cached: bool = False,
    trajectory: h5py.Group | None = None,
) -> h5py.Dataset:
    """An empty growable fixed column ``results/<name>`` of ``n`` rows with its signature.

    ``trajectory`` is the trajectory group (the parent of ``results``), when at hand.
    """
    shape = (n, *signature.shape)
    values = create_growable(
        results,
        name,
        shape,
        signature.dtype,
        options,
        fillvalue=fill_value(signature.dtype),
        cached=cached,
    )
    describe_fixed(values, signature, trajectory)
    return values


def result_names(results: h5py.Group) -> list[str]:
    """The result columns of a ``results`` group.

    Version 2 also keeps links to the explored columns there (netCDF coordinates) and the
    unnamed dimensions of multi-dimensional results; only result columns carry ``layout``.
    """
    # One attribute lookup per name, without opening each node as an h5py object (a third of
    # the time, on the path of every first ``results[name]``).
    return [
        name for name in results if h5py.h5a.exists(results.id, b"layout", obj_name=name.encode())
    ]


def is_result(results: h5py.Group, name: str) -> bool:
    """Whether ``name`` is a result column of a ``results`` group (as :func:`result_names` says).

    Looks at that one node only: a direct child (no path) that carries ``layout``.
    """
    return (
        bool(name)
        and "/" not in name
        and name in results
        and h5py.h5a.exists(results.id, b"layout", obj_name=name.encode())
    )


class ResultSource:
    """Read access to one result column of one store (the main file or a segment).

    Reads both layouts of both format versions: version 1 kept each column in a group
    (``values`` or ``bounds``/``header``/``heap``, beside its ``present`` mask); version 2 keeps
    a fixed column as the dataset ``results/<name>`` itself, a packed one as a group, and the
    mask in ``present/<name>``.

    Parameters
    ----------
    store
        The trajectory's group in the store.
    name
        The result name.
    allow_pickle
        Whether values stored as pickles may be unpickled (the reader trusts the file).
    results
        ``store["results"]``, if the caller has it open.
    rows
        The store's number of rows, if the caller has checked it already (a main group's run
        count, see ``checks.check_header``); otherwise it is read from the store.
    file
        The read-only view the store's file was opened through, if any: the mask's chunks are
        then read from its descriptor (see :func:`~.layout.read_span`).
    """

    def __init__(
        self,
        store: h5py.Group,
        name: str,
        *,
        allow_pickle: bool = False,
        results: h5py.Group | None = None,
        rows: int | None = None,
        file: FileView | None = None,
    ) -> None:
        self._file = file
        node = (store["results"] if results is None else results)[name]
        self.node: h5py.Dataset | h5py.Group = node
        self.allow_pickle = allow_pickle
        self.name = name
        # The signature's texts by the low-level shortcut (see attributes.read_attribute).
        attrs = Attributes(node)
        self.layout = str(attrs["layout"])
        version1 = isinstance(node, h5py.Group) and "present" in node
        # A hand-edited layout would otherwise surface as h5py's or json's own errors.
        if self.layout not in _LAYOUTS or isinstance(node, h5py.Group) != (
            version1 or self.layout != "fixed"
        ):
            raise damaged(
                store, f"the result {name!r} has layout {self.layout!r} on a {_kind(node)}"
            )
        # A mask is read whole or a few rows at a time (one run's value): no chunk cache.
        mask = node["present"] if version1 else open_uncached(store, f"{MASKS}/{name}")
        if not isinstance(mask, h5py.Dataset):
            raise damaged(store, f"the result {name!r} has no mask '{MASKS}/{name}'")
        self.mask: h5py.Dataset = mask
        try:
            self.signature = FixedSignature.from_attrs(attrs) if self.layout == "fixed" else None
        except (KeyError, TypeError, ValueError) as exc:
            raise damaged(
                store, f"the signature of result {name!r} cannot be read ({exc})"
            ) from None
        self.values: h5py.Dataset | None = None
        self.packed: PackedRows | None = None
        self.frame: FrameRows | None = None
        # The dtype to view the values' rows as, when it is not the one h5py reads (see below).
        self._titled: np.dtype[Any] | None = None
        if self.signature is not None:
            self.values = node["values"] if version1 else node
            self._titled = _titled_dtype(self.signature.dtype, self.values)
        elif self.layout == FRAME:
            self.frame = FrameRows(store, node)
        else:
            self.packed = PackedRows(node)
        self._present: npt.NDArray[np.bool_] | None = None
        _check_column(store, self, version1, _store_rows(store) if rows is None else rows)

    def with_dtype(self, block: npt.NDArray[Any]) -> npt.NDArray[Any]:
        """Rows read from :attr:`values` as arrays of the column's dtype (field titles back).

        Parameters
        ----------
        block
            Rows (or parts of rows) of :attr:`values`, as h5py read them.

        Returns
        -------
        numpy.ndarray
            ``block`` itself, or a view of it whose structured dtype has the field titles that
            HDF5 compound types cannot hold.
        """
        if self._titled is None or block.dtype.names is None:
            return block
        return block.view(self._titled)

    @property
    def comment(self) -> str:
        """The comment given with the result (read when asked: reading values never needs it)."""
        return str(attribute(self.node, "comment", ""))

    def datasets(self) -> dict[str, h5py.Dataset]:
        """The per-row datasets of the column by role (each must have one row per store row)."""
        found = {"mask": self.mask}
        if self.values is not None:
            found["values"] = self.values
        elif self.frame is not None:
            found["start"], found["size"] = self.frame.start, self.frame.size
        elif self.packed is not None:
            for part in ("header", "start", "size"):
                if part in self.packed.column:
                    found[part] = self.packed.column[part]
        return found

    @property
    def layout_signature(self) -> ColumnSignature | None:
        """The fixed or frame signature of the column (``None``: packed)."""
        if self.frame is not None:
            return self.frame.signature
        return self.signature

    @property
    def present(self) -> npt.NDArray[np.bool_]:
        """Which rows hold a value (read once, then cached; read-only).

        A mask never written (every run has the value, see :data:`MASK_FILL`) is its fill value
        broadcast over the rows: no read, and not a megabyte of fresh pages per million runs
        (the cost of the read it replaces, in a fresh process). Callers index it; none writes
        into it, as none may write into the cached array of a mask that was read.
        """
        if self._present is None:
            fill = unwritten_fill(self.mask)
            if fill is not None:
                self._present = np.broadcast_to(np.bool_(bool(fill)), self.mask.shape)
            else:
                whole = read_span(self.mask, 0, self.mask.shape[0], file=self._file)
                self._present = np.asarray(whole, dtype=bool)
                self._present.flags.writeable = False
        return self._present

    def _present_at(self, rows: npt.NDArray[np.int64]) -> npt.NDArray[np.bool_]:
        """Which of ``rows`` hold a value; for a few rows, without reading the whole mask."""
        if self._present is None and 0 < len(rows) <= _FEW_ROWS:
            fill = unwritten_fill(self.mask)
            if fill is not None and int(rows.min()) >= 0 and int(rows.max()) < self.mask.shape[0]:
                return np.full(len(rows), bool(fill))  # a mask never written: no read at all
            if self.mask.compression is None:
                return np.asarray(read_rows(self.mask, rows), dtype=bool)
        return self.present[rows] if len(rows) else np.zeros(0, dtype=bool)

    def read_values(
        self, rows: npt.NDArray[np.int64], runs: npt.NDArray[np.int64] | None = None
    ) -> list[object]:
        """The values of the given rows (any order), ``MISSING`` where absent.

        ``runs`` are the run indices of the rows, for error messages (default: the rows).

        Raises
        ------
        PickleRefusedError
            If a value is a pickle and the source does not allow unpickling.
        """
        present = self._present_at(rows)
        if self.signature is not None:
            assert self.values is not None
            block = self.with_dtype(read_rows(self.values, rows))
            box = self.signature.box
            return [box(block[i]) if present[i] else MISSING for i in range(len(rows))]
        values: list[object] = [MISSING] * len(rows)
        held = np.flatnonzero(present)
        if self.frame is not None:
            for position, frame in zip(held.tolist(), self.frame.read(rows[held]), strict=True):
                values[position] = frame
            return values
        assert self.packed is not None
        named = (rows if runs is None else runs).tolist()
        payloads = self.packed.read(rows[held])
        for position, (header, payload) in zip(held.tolist(), payloads, strict=True):
            where = f"results.{self.name} of run {named[position]}"
            values[position] = decode_value(
                unpack(header, payload), allow_pickle=self.allow_pickle, where=where
            )
        return values

    def read_packed(self, rows: npt.NDArray[np.int64]) -> list[Payload]:
        """The raw header and bytes of each row (for folding into another store)."""
        if self.packed is not None:
            return self.packed.read(rows)
        if self.frame is not None:
            values = self.read_values(rows)
            return [
                _payload(value, self.name, False) if value is not MISSING else NO_PAYLOAD
                for value in values
            ]
        assert self.values is not None
        assert self.signature is not None
        block = self.with_dtype(read_rows(self.values, rows))
        present = self.present[rows]
        packed: list[Payload] = []
        for i in range(len(rows)):
            if not present[i]:
                packed.append(NO_PAYLOAD)
                continue
            packed.append(fixed_payload(self.signature, block[i]))
        return packed


def _titled_dtype(dtype: np.dtype[Any], values: h5py.Dataset) -> np.dtype[Any] | None:
    """``dtype`` if the column's values must be viewed as it to have it, else ``None``.

    An HDF5 compound type has no field titles, so h5py reads a structured dtype with titles
    (recorded in the column's ``dtype`` attribute) without them. Only then, and only if the
    file's type is ``dtype`` but for its titles, are rows viewed as ``dtype``: a dataset that
    another tool rewrote with other fields must not be reinterpreted byte by byte.
    """
    if dtype.names is None:
        return None  # the common case, decided without asking HDF5 for the dataset's type
    read = values.dtype
    return dtype if read != dtype and read == _untitled(dtype) else None


def _untitled(dtype: np.dtype[Any]) -> np.dtype[Any]:
    """``dtype`` without field titles, at every depth (the layout is kept)."""
    if dtype.subdtype is not None:
        base, shape = dtype.subdtype
        return np.dtype((_untitled(base), shape))
    if dtype.names is None:
        return dtype
    fields = dtype.fields
    assert fields is not None
    return np.dtype(
        {
            "names": list(dtype.names),
            "formats": [_untitled(fields[name][0]) for name in dtype.names],
            "offsets": [fields[name][1] for name in dtype.names],
            "itemsize": dtype.itemsize,
        }
    )


def copy_rows(
    source: h5py.Dataset,
    source_rows: npt.NDArray[np.int64],
    target: h5py.Dataset,
    target_rows: npt.NDArray[np.int64],
) -> None:
    """Copy rows between datasets in bounded pieces, one slice per run of consecutive rows."""
    if len(source_rows) == 0:
        return
    if len(target_rows) > 1 and not bool(np.all(target_rows[1:] > target_rows[:-1])):
        order = np.argsort(target_rows, kind="stable")
        source_rows, target_rows = source_rows[order], target_rows[order]
    breaks = np.flatnonzero((np.diff(source_rows) != 1) | (np.diff(target_rows) != 1)) + 1
    row_bytes = max(1, source.dtype.itemsize * int(np.prod(source.shape[1:], dtype=np.int64)))
    step = max(1, _COPY_BYTES // row_bytes)
    for src, dst in zip(np.split(source_rows, breaks), np.split(target_rows, breaks), strict=True):
        start, target_start = int(src[0]), int(dst[0])
        for offset in range(0, len(src), step):
            count = min(step, len(src) - offset)
            target[target_start + offset : target_start + offset + count] = source[
                start + offset : start + offset + count
            ]


_LAYOUTS: Final = ("fixed", "packed", FRAME)


def _kind(node: h5py.HLObject) -> str:
    """``node`` in a message: a group or a dataset."""
    return "group" if isinstance(node, h5py.Group) else "dataset"


def _check_column(store: h5py.Group, source: ResultSource, version1: bool, rows: int) -> None:
    """Refuse a column that was edited by hand (rows missing, dimension scale removed).

    Reads shapes and attributes only, once per column and store; ``rows`` is the store's
    number of rows.
    """
    name = source.name
    for role, dataset in source.datasets().items():
        if dataset.shape[:1] != (rows,):
            raise damaged(
                store,
                f"the {role} of result {name!r} has {dataset.shape[0] if dataset.shape else 0} "
                f"rows, but the store has {rows} runs",
            )
    if source.mask.ndim != 1:
        # One flag per run: callers index it by run and take each element as one flag.
        raise damaged(
            store,
            f"the mask of result {name!r} has shape {source.mask.shape}, not one flag per run",
        )
    if version1 or RUN not in store:
        return  # written before version 2: no dimension scales to check
    for role, dataset in source.datasets().items():
        # HDF5 deletes DIMENSION_LIST when the last scale is detached: one attribute lookup.
        if role in ("values", "mask") and "DIMENSION_LIST" not in dataset.attrs:
            raise damaged(
                store,
                f"the {role} of result {name!r} lost its dimension scale {RUN!r} (removed by "
                "another tool?)",
            )


def _store_rows(store: h5py.Group) -> int:
    """The number of rows of a store's per-run datasets (main file: runs; segment: records)."""
    n_runs = read_attribute(store, "n_runs", None)
    if n_runs is not None:
        return int(n_runs)
    return int(store["runs"]["index"].shape[0])
