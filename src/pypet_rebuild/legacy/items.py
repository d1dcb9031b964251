"""Decode the data items pypet 0.7.0 stored inside a leaf, with an allow-list of layouts.

A leaf group holds one child per item; its ``SRVC_STORE`` attribute says how it was written
(``ARRAY``, ``CARRAY``, ``TABLE``, ``DICT``, ``FRAME``, ``SERIES``, ``NESTED_GROUP``) and the
``SRVC_DATA_*`` / ``SRVC_COLUMN_<col>_*`` attributes name the original Python type. Types are
looked up in a fixed table here, never imported by the name the file carries. Pickles (pypet's
``PickleParameter``/``PickleResult``, pandas object blocks and pickled pandas attributes) are
decoded only when the reader allowed it.
"""

from __future__ import annotations

import io
import pickle
import warnings
from collections.abc import Callable
from typing import Any

import h5py
import numpy as np

from pypet_rebuild._optional import missing_dependency
from pypet_rebuild.errors import FileFormatError, PickleRefusedError
from pypet_rebuild.legacy.h5read import attr_text, bitfield_fields, decode_text, read_raw
from pypet_rebuild.storage.codecs.base import Encoded
from pypet_rebuild.tree.snapshot import PickledValue

__all__ = ["SPARSE_SUFFIX", "ItemReader"]

SPARSE_SUFFIX = "__spsp__"

_PYTHON_SCALARS: dict[str, Callable[[Any], object]] = {
    "int": int,
    "float": float,
    "complex": complex,
    "bool": bool,
}
_NUMPY_SCALARS = frozenset(
    [
        "int8",
        "int16",
        "int32",
        "int64",
        "uint8",
        "uint16",
        "uint32",
        "uint64",
        "float16",
        "float32",
        "float64",
        "complex64",
        "complex128",
        "bool_",
    ]
)
# Python 2 era files name types by their repr (pypetconstants.COMPATPARAMETERTYPEDICT).
_OLD_NAMES = {
    "<type 'int'>": "int",
    "<type 'long'>": "int",
    "<type 'float'>": "float",
    "<type 'complex'>": "complex",
    "<type 'bool'>": "bool",
    "<type 'str'>": "str",
    "<type 'unicode'>": "str",
    "<type 'bytes'>": "bytes",
}


def _scalar_type(name: str) -> str:
    return _OLD_NAMES.get(name, name)


def _to_bytes(value: object) -> bytes:
    if isinstance(value, np.ndarray):
        return value.tobytes()
    if isinstance(value, bytes | bytearray | np.bytes_):
        return bytes(value)
    raise FileFormatError(f"expected bytes, found {type(value).__name__}")


def recall_scalar(value: object, scalar_type: str) -> object:
    """Convert one stored scalar to the type pypet recorded for it."""
    scalar_type = _scalar_type(scalar_type)
    if scalar_type == "str":
        return decode_text(value)
    if scalar_type == "bytes":
        return _to_bytes(value)
    if scalar_type in _PYTHON_SCALARS:
        return _PYTHON_SCALARS[scalar_type](value)
    if scalar_type in _NUMPY_SCALARS:
        return np.dtype(scalar_type.rstrip("_")).type(value)
    if isinstance(value, np.generic):
        return value
    raise FileFormatError(f"unknown scalar type {scalar_type!r} recorded by pypet")


def recall(data: Any, coll_type: str, scalar_type: str, is_bool: bool) -> object:
    """``storageservice._all_recall_native_type``: rebuild the written Python value."""
    if is_bool and isinstance(data, np.ndarray):
        data = data.astype(bool)
    if coll_type == "COLL_SCALAR":
        if isinstance(data, np.ndarray) and data.shape == ():
            data = data[()]
        if isinstance(data, np.ndarray):
            # A 0-d array in a Parameter comes back as a numpy scalar; arrays in a cell stay.
            return data
        if is_bool and scalar_type in ("", "bool"):
            return bool(data)
        return recall_scalar(data, scalar_type) if scalar_type else data
    if coll_type in ("COLL_LIST", "COLL_TUPLE"):
        values = [] if data.size == 0 else list(np.asarray(data).reshape(-1))
        if scalar_type:
            values = [recall_scalar(bool(v) if is_bool else v, scalar_type) for v in values]
        return values if coll_type == "COLL_LIST" else tuple(values)
    if coll_type == "COLL_NDARRAY":
        array = np.asarray(data)
        if array.ndim == 0:
            return array[()]  # pypet gives a 0-d array back as a numpy scalar
        if _scalar_type(scalar_type) == "str" and array.dtype.kind == "S":
            return np.char.decode(array, "utf-8")
        return array
    if coll_type == "COLL_MATRIX":
        with warnings.catch_warnings():
            # numpy discourages np.matrix, but it is what pypet stored and gave back.
            warnings.simplefilter("ignore", PendingDeprecationWarning)
            return np.matrix(data)
    if coll_type == "COLL_EMPTY_DICT":
        return {}
    raise FileFormatError(f"unknown collection type {coll_type!r} recorded by pypet")


def _load_sparse(text: str, where: str) -> object:
    """Pypet >= 0.6 stores sparse matrices as the hex of a ``scipy.sparse.save_npz`` zip."""
    try:
        import scipy.sparse as sp
    except ImportError:
        raise missing_dependency(
            f"reading {where} (a scipy sparse matrix)", "scipy", "scipy"
        ) from None
    with np.load(io.BytesIO(bytes.fromhex(text)), allow_pickle=False) as npz:
        fmt = npz["format"].item()
        fmt = fmt.decode() if isinstance(fmt, bytes) else str(fmt)
        shape = tuple(int(n) for n in npz["shape"])
        data = npz["data"]
        if fmt in ("csr", "csc", "bsr"):
            build = {"csr": sp.csr_matrix, "csc": sp.csc_matrix, "bsr": sp.bsr_matrix}[fmt]
            return build((data, npz["indices"], npz["indptr"]), shape=shape)
        if fmt == "dia":
            return sp.dia_matrix((data, npz["offsets"]), shape=shape)
        if fmt == "coo":
            return sp.coo_matrix((data, (npz["row"], npz["col"])), shape=shape)
    raise FileFormatError(f"{where}: unknown sparse format {fmt!r}")


class _NoGlobals(pickle.Unpickler):
    """Unpickles plain data only (lists, tuples, dicts, str, numbers): no class is ever loaded."""

    def find_class(self, module: str, name: str) -> Any:
        raise pickle.UnpicklingError(f"{module}.{name}")


def _plain_pickle(data: bytes) -> bool:
    try:
        _NoGlobals(io.BytesIO(data)).load()
    except Exception:
        return False
    return True


class ItemReader:
    """Reads the items of pypet leaves from an open file.

    Parameters
    ----------
    file
        The open h5py file.
    path
        The file's path (pandas items are read by PyTables, which opens the file by name).
    allow_pickle
        Unpickle pickled payloads.
    stand_in
        When pickles are not allowed, return a :class:`PickledValue` holding the pickle's bytes
        (a writer copies them unchanged) instead of raising; used by conversion.
    keep_pickles
        Return every pickle as such a stand-in, allowed or not (conversion copies parameter
        pickles byte for byte: the native format never pickles a parameter itself).
    """

    def __init__(
        self,
        file: h5py.File,
        path: str,
        *,
        allow_pickle: bool,
        stand_in: bool = False,
        keep_pickles: bool = False,
    ) -> None:
        self.file = file
        self.path = path
        self.allow_pickle = allow_pickle
        self.stand_in = stand_in
        self.keep_pickles = keep_pickles

    def refusal(self, where: str) -> PickleRefusedError:
        """The error for a pickle at ``where`` the reader did not allow."""
        return PickleRefusedError(
            f"{where} is a pickled value in a file of the original pypet; unpickling runs code "
            "from the file, so it is refused. If you trust the file, read it with "
            "pr.load_trajectory(path, allow_pickle=True) (command line: --allow-pickle)"
        )

    def unpickle(self, data: bytes, where: str) -> object:
        """Unpickle ``data`` if allowed; else a stand-in (conversion) or the refusal."""
        if self.allow_pickle and not self.keep_pickles:
            return pickle.loads(data)  # the reader opted in
        if self.stand_in or self.keep_pickles:
            payload = Encoded(
                "pickle",
                {"values": np.frombuffer(data, dtype=np.uint8).copy()},
                {"type": "pypet pickle"},
            )
            return PickledValue(str(self.refusal(where)), payload)
        raise self.refusal(where)

    # -- one item ------------------------------------------------------------------------------

    def read(self, node: h5py.Dataset | h5py.Group, where: str) -> object:
        """Decode one data item (a dataset or a pandas/nested group)."""
        store = attr_text(node, "SRVC_STORE")
        if isinstance(node, h5py.Group):
            if store in ("FRAME", "SERIES") or "pandas_type" in node.attrs:
                return self.read_pandas(node, where)
            raise FileFormatError(f"{where}: a group with SRVC_STORE={store!r} is not an item")
        if store in ("TABLE",):
            return self.read_object_table(node)
        if store == "DICT":
            return self.read_dict(node)
        data = read_raw(node)
        is_bool = "bool" in attr_text(node, "SRVC_DATA_SCALAR_TYPE") or _is_bitfield(node)
        return recall(
            data,
            attr_text(node, "SRVC_DATA_COLL_TYPE", "COLL_NDARRAY"),
            attr_text(node, "SRVC_DATA_SCALAR_TYPE"),
            is_bool,
        )

    def read_bytes(self, node: h5py.Dataset) -> bytes:
        """The bytes of a scalar ``bytes`` item, embedded NULs kept."""
        return _to_bytes(read_raw(node)[()])

    def table_column(self, table: h5py.Dataset, column: str) -> list[object]:
        """Column ``column`` of a pypet table, each cell recalled to its written type."""
        data = read_raw(table)[column]
        coll = attr_text(table, f"SRVC_COLUMN_{column}_COLL_TYPE", "COLL_SCALAR")
        scalar = attr_text(table, f"SRVC_COLUMN_{column}_SCALAR_TYPE")
        is_bool = column in bitfield_fields(table)
        return [recall(cell, coll, scalar, is_bool) for cell in data]

    def indices(self, table: h5py.Dataset) -> list[int]:
        """The ``idx`` column of an ``explored_data`` table: run -> stored value number."""
        return [int(i) for i in read_raw(table)["idx"]]

    def read_dict(self, table: h5py.Dataset) -> dict[str, object]:
        """A ``DICT`` item: a one-row table, one column per key."""
        names = table.dtype.names or ()
        out = {name: self.table_column(table, name)[0] for name in names}
        # pypet gives complex dict values back as numpy.complex128, not as Python complex.
        return {k: np.complex128(v) if type(v) is complex else v for k, v in out.items()}

    def read_object_table(self, table: h5py.Dataset) -> object:
        """An ``ObjectTable`` item, as a pandas DataFrame."""
        import pandas as pd

        names = table.dtype.names or ()
        columns: dict[str, list[object]] = {name: self.table_column(table, name) for name in names}
        frame = pd.DataFrame({name: pd.Series(v, dtype=object) for name, v in columns.items()})
        return frame.infer_objects()

    def read_sparse(self, node: h5py.Dataset, where: str) -> object:
        """A sparse matrix stored as the hex of an ``.npz`` zip."""
        return _load_sparse(decode_text(read_raw(node)[()]), where)

    def read_pandas(self, group: h5py.Group, where: str) -> object:
        """A DataFrame or Series written by ``pandas.HDFStore.put`` (fixed or table format)."""
        self._check_pandas_pickles(group, where)
        try:
            import tables  # type: ignore[import-untyped]  # noqa: F401 - pandas reads HDFStore groups through it
        except ImportError:
            raise missing_dependency(
                f"reading {where} (a pandas object stored by PyTables)", "tables", "legacy"
            ) from None
        import pandas as pd

        with warnings.catch_warnings():
            # pandas warns about PyTables' natural naming of pypet's node names; harmless here.
            warnings.simplefilter("ignore")
            return pd.read_hdf(self.path, key=group.name, mode="r")

    def _check_pandas_pickles(self, group: h5py.Group, where: str) -> None:
        if self.allow_pickle:
            return
        pickled: list[str] = []

        def visit(name: str, node: h5py.Dataset | h5py.Group) -> None:
            if attr_text(node, "PSEUDOATOM") == "object" or (
                isinstance(node, h5py.Dataset) and node.dtype.kind == "O"
            ):
                pickled.append(f"{where}/{name} (object column)")
            pickled.extend(
                f"{where}/{name} (attribute {key!r})"
                for key in node.attrs
                if _is_pickled_attribute(node, key) and not _plain_pickle(bytes(node.attrs[key]))
            )

        visit("", group)
        group.visititems(visit)
        if pickled:
            raise PickleRefusedError(
                f"{where} is a pandas object with pickled parts ({pickled[0]}); unpickling runs "
                "code from the file, so it is refused. If you trust the file, read it with "
                "pr.load_trajectory(path, allow_pickle=True) (command line: --allow-pickle)"
            )


def _is_bitfield(dataset: h5py.Dataset) -> bool:
    return bool(dataset.id.get_type().get_class() == h5py.h5t.BITFIELD)


def _is_pickled_attribute(node: h5py.HLObject, key: str) -> bool:
    raw = node.attrs.get(key)
    if not isinstance(raw, bytes | np.bytes_) or not bytes(raw).endswith(b"."):
        return False
    type_id = h5py.h5a.open(node.id, key.encode()).get_type()
    return bool(
        type_id.get_class() == h5py.h5t.STRING and type_id.get_cset() == h5py.h5t.CSET_ASCII
    )
