"""Codecs for pandas' extension arrays and scalars: the column data of Series and DataFrames.

Every array codec here marks arrays with one entry per element as row arrays:

===============================  =============================================================
codec id                         arrays (row arrays marked ``*``) / attrs
===============================  =============================================================
``pandas.Categorical``           ``codes*`` (pandas' int dtype, -1 = missing); child
                                 ``categories`` (an Index, not a row array); attrs ``ordered``
``pandas.DatetimeArray``         ``values*`` int64 (NaT = int64 min); attrs ``unit``, ``tz``
``pandas.TimedeltaArray``        ``values*`` int64; attrs ``unit``
``pandas.MaskedArray``           ``values*`` (numpy dtype of the array, 0 where masked) and
                                 ``mask*`` bool; attrs ``dtype`` (``"Int64"``, ``"boolean"``...)
``pandas.StringArray``           ragged ``data`` + ``lengths*`` (-1 = missing); attrs
                                 ``storage``, ``na`` (``"nan"`` or ``"NA"``)
``pandas.NumpyExtensionArray``   child ``values`` (a numpy array)
``pandas.Timestamp`` etc.        scalars: ``values`` 0-d int64 (+ ``unit``, ``tz``);
                                 ``pandas.NA`` and ``pandas.NaT`` have no arrays
===============================  =============================================================

``tz`` is an IANA key (``"Europe/Berlin"``), ``"UTC"``, or ``{"offset_seconds": s, "name": n}``
for a fixed offset; ``None`` for naive values.
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import zoneinfo
from typing import Any, cast

import numpy as np
import pandas as pd

from pypet_rebuild.storage.codecs.base import Encoded, EncodedBuilder, JSONValue
from pypet_rebuild.storage.codecs.ragged import pack_texts, unpack_texts
from pypet_rebuild.storage.codecs.registry import CodecRegistry, DecodeContext, EncodeContext

__all__ = [
    "CategoricalCodec",
    "DatetimeArrayCodec",
    "MaskedArrayCodec",
    "NumpyExtensionArrayCodec",
    "PandasScalarCodec",
    "StringArrayCodec",
    "TimedeltaArrayCodec",
    "install_pandas_array_codecs",
    "tz_from_json",
    "tz_to_json",
]


def tz_to_json(tz: dt.tzinfo | None, ctx: EncodeContext) -> JSONValue:
    """Describe a time zone as JSON (see the module docstring); refuse what cannot come back."""
    if tz is None:
        return None
    if tz is dt.UTC:
        return "UTC"
    if isinstance(tz, zoneinfo.ZoneInfo):
        return tz.key
    if isinstance(tz, dt.timezone):
        offset = tz.utcoffset(None)
        return {"offset_seconds": offset.total_seconds(), "name": tz.tzname(None)}
    spec = str(tz)
    try:
        same = pd.DatetimeTZDtype(tz=spec) == pd.DatetimeTZDtype(tz=tz)
    except Exception:  # any parse failure means the zone cannot be rebuilt from its name
        same = False
    if not same:
        raise ctx.unsupported(f"datetimes with time zone {tz!r}", "use a zoneinfo.ZoneInfo zone")
    return spec


def tz_from_json(spec: JSONValue) -> dt.tzinfo | None:
    """Inverse of :func:`tz_to_json`."""
    if spec is None:
        return None
    if spec == "UTC":
        return dt.UTC
    if isinstance(spec, dict):
        offset = dt.timedelta(seconds=float(spec["offset_seconds"]))  # type: ignore[arg-type]
        return dt.timezone(offset, str(spec["name"]))
    assert isinstance(spec, str)
    tz: dt.tzinfo = pd.DatetimeTZDtype(tz=spec).tz
    return tz


def _datetimes(values: np.ndarray[Any, Any], unit: str, tz: dt.tzinfo | None) -> Any:
    naive = pd.DatetimeIndex(values.view(f"M8[{unit}]"))
    return naive.array if tz is None else naive.tz_localize("UTC").tz_convert(tz).array


class CategoricalCodec:
    """Codec ``"pandas.Categorical"``: codes plus the categories (any Index) and ``ordered``."""

    name = "pandas.Categorical"

    def can_encode(self, value: object) -> bool:
        """Accept exact Categoricals."""
        return type(value) is pd.Categorical

    def encode(self, value: pd.Categorical, ctx: EncodeContext) -> Encoded:
        """Encode codes and categories."""
        builder = EncodedBuilder(self.name, {"ordered": bool(value.ordered)})
        builder.add_array("codes", np.asarray(value.codes), rows=True)
        builder.add_child("categories", ctx.encode_child(value.categories, "categories"))
        return builder.build()

    def decode(self, encoded: Encoded, ctx: DecodeContext) -> pd.Categorical:
        """Rebuild the Categorical with the same categories, order and codes."""
        categories = ctx.decode_child("categories")
        dtype = pd.CategoricalDtype(categories, ordered=bool(encoded.attrs["ordered"]))  # type: ignore[arg-type]
        return pd.Categorical.from_codes(encoded.arrays["codes"], dtype=dtype)


class DatetimeArrayCodec:
    """Codec ``"pandas.DatetimeArray"``: int64 since the epoch (UTC), the unit and the zone."""

    name = "pandas.DatetimeArray"

    def can_encode(self, value: object) -> bool:
        """Accept exact DatetimeArrays."""
        return type(value) is pd.arrays.DatetimeArray

    def encode(self, value: pd.arrays.DatetimeArray, ctx: EncodeContext) -> Encoded:
        """Encode naive or zoned datetimes."""
        attrs = {"unit": value.unit, "tz": tz_to_json(value.tz, ctx)}
        builder = EncodedBuilder(self.name, attrs)
        builder.add_array("values", np.asarray(cast(Any, value).asi8), rows=True)
        return builder.build()

    def decode(self, encoded: Encoded, ctx: DecodeContext) -> pd.arrays.DatetimeArray:
        """Rebuild the array with its unit and time zone."""
        tz = tz_from_json(encoded.attrs["tz"])
        result: pd.arrays.DatetimeArray = _datetimes(
            encoded.arrays["values"], str(encoded.attrs["unit"]), tz
        )
        return result


class TimedeltaArrayCodec:
    """Codec ``"pandas.TimedeltaArray"``: int64 counts of the unit."""

    name = "pandas.TimedeltaArray"

    def can_encode(self, value: object) -> bool:
        """Accept exact TimedeltaArrays."""
        return type(value) is pd.arrays.TimedeltaArray

    def encode(self, value: pd.arrays.TimedeltaArray, ctx: EncodeContext) -> Encoded:
        """Encode the durations."""
        builder = EncodedBuilder(self.name, {"unit": value.unit})
        builder.add_array("values", np.asarray(cast(Any, value).asi8), rows=True)
        return builder.build()

    def decode(self, encoded: Encoded, ctx: DecodeContext) -> pd.arrays.TimedeltaArray:
        """Rebuild the array with its unit."""
        unit = str(encoded.attrs["unit"])
        result: pd.arrays.TimedeltaArray = pd.array(encoded.arrays["values"].view(f"m8[{unit}]"))
        return result


_MASKED = (pd.arrays.IntegerArray, pd.arrays.FloatingArray, pd.arrays.BooleanArray)


class MaskedArrayCodec:
    """Codec ``"pandas.MaskedArray"`` for nullable ``Int*``/``UInt*``/``Float*``/``boolean``.

    A NaN that is not masked (possible in ``Float*`` arrays) stays a NaN, distinct from ``pd.NA``.
    """

    name = "pandas.MaskedArray"

    def can_encode(self, value: object) -> bool:
        """Accept the exact nullable array types."""
        return type(value) in _MASKED

    def encode(self, value: Any, ctx: EncodeContext) -> Encoded:
        """Encode values (0 where masked) and the mask."""
        numpy_dtype = value.dtype.numpy_dtype
        fill = False if numpy_dtype.kind == "b" else 0
        builder = EncodedBuilder(self.name, {"dtype": str(value.dtype)})
        builder.add_array("values", value.to_numpy(dtype=numpy_dtype, na_value=fill), rows=True)
        builder.add_array("mask", np.asarray(value.isna(), dtype=np.bool_), rows=True)
        return builder.build()

    def decode(self, encoded: Encoded, ctx: DecodeContext) -> Any:
        """Rebuild the nullable array."""
        dtype: Any = pd.api.types.pandas_dtype(str(encoded.attrs["dtype"]))
        values = encoded.arrays["values"].astype(dtype.numpy_dtype, copy=False)
        return dtype.construct_array_type()(values, encoded.arrays["mask"].astype(np.bool_))


class StringArrayCodec:
    """Codec ``"pandas.StringArray"`` for the ``str`` and ``string`` dtypes (any storage)."""

    name = "pandas.StringArray"

    def can_encode(self, value: object) -> bool:
        """Accept the exact string array types."""
        return type(value) in (pd.arrays.StringArray, pd.arrays.ArrowStringArray)

    def encode(self, value: Any, ctx: EncodeContext) -> Encoded:
        """Encode the strings in the ragged form; missing values get length -1."""
        dtype = value.dtype
        na = "NA" if dtype.na_value is pd.NA else "nan"
        builder = EncodedBuilder(self.name, {"storage": dtype.storage, "na": na})
        data, lengths = pack_texts(value.to_numpy(dtype=object, na_value=None).tolist())
        builder.add_ragged("", data, lengths)
        return builder.build()

    def decode(self, encoded: Encoded, ctx: DecodeContext) -> Any:
        """Rebuild the array; ``pyarrow`` storage falls back to ``python`` without pyarrow."""
        storage = str(encoded.attrs["storage"])
        if storage == "pyarrow" and importlib.util.find_spec("pyarrow") is None:
            storage = "python"
        na_value: Any = pd.NA if encoded.attrs["na"] == "NA" else np.nan
        items = unpack_texts(encoded.arrays["data"], encoded.arrays["lengths"])
        objects = np.empty(len(items), dtype=object)
        objects[:] = items
        return pd.array(objects, dtype=pd.StringDtype(storage, na_value))  # type: ignore[call-overload]


class NumpyExtensionArrayCodec:
    """Codec ``"pandas.NumpyExtensionArray"``: the wrapped numpy array as child ``values``."""

    name = "pandas.NumpyExtensionArray"

    def can_encode(self, value: object) -> bool:
        """Accept exact NumpyExtensionArrays."""
        return type(value) is pd.arrays.NumpyExtensionArray

    def encode(self, value: pd.arrays.NumpyExtensionArray, ctx: EncodeContext) -> Encoded:
        """Encode the wrapped array."""
        builder = EncodedBuilder(self.name)
        builder.add_child("values", ctx.encode_child(value.to_numpy(), "values"), rows=True)
        return builder.build()

    def decode(self, encoded: Encoded, ctx: DecodeContext) -> pd.arrays.NumpyExtensionArray:
        """Rewrap the numpy array."""
        return pd.arrays.NumpyExtensionArray(ctx.decode_child("values"))  # type: ignore[arg-type]


class PandasScalarCodec:
    """Codecs ``"pandas.Timestamp"``, ``"pandas.Timedelta"``, ``"pandas.NaT"``, ``"pandas.NA"``.

    Parameters
    ----------
    kind
        One of ``pd.Timestamp``, ``pd.Timedelta``, ``type(pd.NaT)``, ``type(pd.NA)``.
    name
        The codec id.
    """

    def __init__(self, kind: type, name: str) -> None:
        self.kind = kind
        self.name = name

    def can_encode(self, value: object) -> bool:
        """Accept the exact type only."""
        return type(value) is self.kind

    def encode(self, value: Any, ctx: EncodeContext) -> Encoded:
        """Encode the instant (UTC) or duration as a 0-d int64 count of its unit."""
        if self.kind is pd.Timestamp:
            ticks = np.array(value.to_datetime64()).view(np.int64)
            attrs = {"unit": value.unit, "tz": tz_to_json(value.tz, ctx)}
            return Encoded(self.name, {"values": ticks}, attrs)
        if self.kind is pd.Timedelta:
            ticks = np.array(value.to_timedelta64()).view(np.int64)
            return Encoded(self.name, {"values": ticks}, {"unit": value.unit})
        return Encoded(self.name)

    def decode(self, encoded: Encoded, ctx: DecodeContext) -> Any:
        """Rebuild the scalar with its unit and time zone."""
        if self.kind is type(pd.NA):
            return pd.NA
        if self.kind is type(pd.NaT):
            return pd.NaT
        unit = str(encoded.attrs["unit"])
        ticks: Any = np.asarray(encoded.arrays["values"], dtype=np.int64)
        if self.kind is pd.Timedelta:
            return pd.Timedelta(ticks.view(f"m8[{unit}]")[()])
        stamp = pd.Timestamp(ticks.view(f"M8[{unit}]")[()])
        tz = tz_from_json(encoded.attrs["tz"])
        return stamp if tz is None else stamp.tz_localize("UTC").tz_convert(tz)


def install_pandas_array_codecs(registry: CodecRegistry) -> None:
    """Register the codecs of this module into ``registry``."""
    registry.register(pd.Categorical, CategoricalCodec())
    registry.register(pd.arrays.DatetimeArray, DatetimeArrayCodec())
    registry.register(pd.arrays.TimedeltaArray, TimedeltaArrayCodec())
    masked = MaskedArrayCodec()
    for masked_kind in _MASKED:
        registry.register(masked_kind, masked)
    strings = StringArrayCodec()
    registry.register(pd.arrays.StringArray, strings)
    registry.register(pd.arrays.ArrowStringArray, strings)
    registry.register(pd.arrays.NumpyExtensionArray, NumpyExtensionArrayCodec())
    for kind, name in [
        (pd.Timestamp, "pandas.Timestamp"),
        (pd.Timedelta, "pandas.Timedelta"),
        (type(pd.NaT), "pandas.NaT"),
        (type(pd.NA), "pandas.NA"),
    ]:
        registry.register(kind, PandasScalarCodec(kind, name))
