"""Codecs for pandas ``Index`` (all kinds), ``Series`` and ``DataFrame``: columnar by design.

A column (or an index, or a Series' data) is stored as the child holding its values: a numpy
array for numpy dtypes (codec ``numpy.ndarray``) or the extension array (codecs of
:mod:`.pandas_arrays`). Their row arrays (one element per row, axis 0) are inherited, so the
outermost ``row_arrays`` attrs list every array a backend may concatenate across runs or slice by
rows; the ``ragged`` attrs name the flat string data cut by a row-axis ``lengths`` array.

=====================  ======================================================================
codec id               layout (row arrays are those listed in ``row_arrays``)
=====================  ======================================================================
``pandas.Index``       child ``values``; attrs ``name``, ``n_rows``, ``freq`` (datetime kinds)
``pandas.RangeIndex``  no arrays; attrs ``start``, ``stop``, ``step``, ``name``, ``n_rows``
``pandas.MultiIndex``  row arrays ``codes/<i>``; children ``levels/<i>`` (Index, not rows);
                       attrs ``names``, ``n_levels``, ``n_rows``
``pandas.Series``      children ``index`` and ``values`` (both rows); attrs ``name``, ``n_rows``
``pandas.DataFrame``   children ``index`` (rows), ``columns/<i>`` (rows; column ``i`` by
                       position, so duplicate labels are fine) and ``labels`` (the column
                       Index, any kind, not rows); attrs ``n_rows``, ``n_columns``
=====================  ======================================================================

Labels used as names (``Index.name``, ``Series.name``, MultiIndex names) go into attrs as JSON:
``None``, ``bool``, ``int``, finite ``float`` and ``str`` as they are; tagged objects
``{"float": "nan"}``, ``{"tuple": [...]}`` and ``{"numpy": dtype, "value": v}`` otherwise.
``DataFrame.attrs`` and ``flags`` are not stored.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from pypet_rebuild.storage.codecs.base import Encoded, EncodedBuilder, JSONValue
from pypet_rebuild.storage.codecs.registry import CodecRegistry, DecodeContext, EncodeContext

__all__ = [
    "DataFrameCodec",
    "IndexCodec",
    "MultiIndexCodec",
    "RangeIndexCodec",
    "SeriesCodec",
    "column_values",
    "install_pandas_codecs",
    "label_from_json",
    "label_to_json",
]

_INDEX_TYPES = (pd.Index, pd.DatetimeIndex, pd.TimedeltaIndex, pd.CategoricalIndex)


def label_to_json(label: object, ctx: EncodeContext) -> JSONValue:
    """Describe a pandas label (a name) as JSON; see the module docstring."""
    kind = type(label)
    if label is None or kind in (bool, int, str):
        return label  # type: ignore[return-value]
    if kind is float:
        assert isinstance(label, float)
        return label if math.isfinite(label) else {"float": repr(label)}
    if kind is tuple:
        assert isinstance(label, tuple)
        return {"tuple": [label_to_json(item, ctx) for item in label]}
    if isinstance(label, np.generic) and label.dtype.kind in "biuf":
        return {"numpy": label.dtype.str, "value": label.item()}
    raise ctx.unsupported(
        f"a pandas label (name) of type {kind.__qualname__!r}",
        "use str, int, float, bool, None, a numpy number or a tuple of those",
    )


def label_from_json(spec: JSONValue) -> Any:
    """Inverse of :func:`label_to_json`."""
    if not isinstance(spec, dict):
        return spec
    if "float" in spec:
        return float(str(spec["float"]))
    if "tuple" in spec:
        items = spec["tuple"]
        assert isinstance(items, list)
        return tuple(label_from_json(item) for item in items)
    return np.dtype(str(spec["numpy"])).type(spec["value"])


def column_values(obj: pd.Series[Any] | pd.Index[Any]) -> object:
    """Return the data of a Series or Index: a numpy array or a pandas extension array."""
    if isinstance(obj.dtype, np.dtype):
        return obj.to_numpy()
    return obj.array


def _dtype(values: object) -> Any:
    return getattr(values, "dtype", None)


class IndexCodec:
    """Codec ``"pandas.Index"`` for flat indexes: plain, datetime, timedelta, categorical."""

    name = "pandas.Index"

    def can_encode(self, value: object) -> bool:
        """Accept these exact index types."""
        return type(value) in _INDEX_TYPES

    def encode(self, value: pd.Index[Any], ctx: EncodeContext) -> Encoded:
        """Encode the labels (row arrays), name and frequency."""
        attrs = {"name": label_to_json(value.name, ctx), "n_rows": len(value)}
        freq = getattr(value, "freqstr", None)
        if freq is not None:
            attrs["freq"] = freq
        builder = EncodedBuilder(self.name, attrs)
        builder.add_child("values", ctx.encode_child(column_values(value), "values"), rows=True)
        return builder.build()

    def decode(self, encoded: Encoded, ctx: DecodeContext) -> pd.Index[Any]:
        """Rebuild the index with its type, dtype, name and frequency."""
        values: Any = ctx.decode_child("values")
        name = label_from_json(encoded.attrs["name"])
        freq = encoded.attrs.get("freq")
        if freq is not None:
            if values.dtype.kind == "m":
                return pd.TimedeltaIndex(values, freq=str(freq), name=name)
            return pd.DatetimeIndex(values, freq=str(freq), name=name)
        index: pd.Index[Any] = pd.Index(values, dtype=values.dtype, name=name, copy=False)
        return index


class RangeIndexCodec:
    """Codec ``"pandas.RangeIndex"``: start, stop and step only."""

    name = "pandas.RangeIndex"

    def can_encode(self, value: object) -> bool:
        """Accept exact RangeIndexes."""
        return type(value) is pd.RangeIndex

    def encode(self, value: pd.RangeIndex, ctx: EncodeContext) -> Encoded:
        """Encode the range."""
        attrs: dict[str, JSONValue] = {
            "start": value.start,
            "stop": value.stop,
            "step": value.step,
            "name": label_to_json(value.name, ctx),
            "n_rows": len(value),
        }
        return Encoded(self.name, {}, attrs)

    def decode(self, encoded: Encoded, ctx: DecodeContext) -> pd.RangeIndex:
        """Rebuild the range."""
        attrs = encoded.attrs
        start, stop, step = (int(attrs[key]) for key in ("start", "stop", "step"))  # type: ignore[arg-type]
        return pd.RangeIndex(start, stop, step, name=label_from_json(attrs["name"]))


class MultiIndexCodec:
    """Codec ``"pandas.MultiIndex"``: per level the codes (row arrays) and the level Index."""

    name = "pandas.MultiIndex"

    def can_encode(self, value: object) -> bool:
        """Accept exact MultiIndexes."""
        return type(value) is pd.MultiIndex

    def encode(self, value: pd.MultiIndex, ctx: EncodeContext) -> Encoded:
        """Encode levels, codes and names."""
        attrs: dict[str, JSONValue] = {
            "names": [label_to_json(name, ctx) for name in value.names],
            "n_levels": value.nlevels,
            "n_rows": len(value),
        }
        builder = EncodedBuilder(self.name, attrs)
        for i, (level, codes) in enumerate(zip(value.levels, value.codes, strict=True)):
            builder.add_child(f"levels/{i}", ctx.encode_child(level, f"levels/{i}"))
            builder.add_array(f"codes/{i}", np.asarray(codes), rows=True)
        return builder.build()

    def decode(self, encoded: Encoded, ctx: DecodeContext) -> pd.MultiIndex:
        """Rebuild the MultiIndex with the same levels, codes and names."""
        count = encoded.attrs["n_levels"]
        names = encoded.attrs["names"]
        assert isinstance(count, int)
        assert isinstance(names, list)
        levels = [ctx.decode_child(f"levels/{i}") for i in range(count)]
        codes: Any = [encoded.arrays[f"codes/{i}"] for i in range(count)]
        return pd.MultiIndex(
            levels=levels,  # type: ignore[arg-type]
            codes=codes,
            names=[label_from_json(name) for name in names],
            verify_integrity=False,
        )


class SeriesCodec:
    """Codec ``"pandas.Series"``: the index and the values, both with the row axis."""

    name = "pandas.Series"

    def can_encode(self, value: object) -> bool:
        """Accept exact Series."""
        return type(value) is pd.Series

    def encode(self, value: pd.Series[Any], ctx: EncodeContext) -> Encoded:
        """Encode index, values and name."""
        attrs = {"name": label_to_json(value.name, ctx), "n_rows": len(value)}
        builder = EncodedBuilder(self.name, attrs)
        builder.add_child("index", ctx.encode_child(value.index, "index"), rows=True)
        builder.add_child("values", ctx.encode_child(column_values(value), "values"), rows=True)
        return builder.build()

    def decode(self, encoded: Encoded, ctx: DecodeContext) -> pd.Series[Any]:
        """Rebuild the Series with its dtype, index and name."""
        index: Any = ctx.decode_child("index")
        values: Any = ctx.decode_child("values")
        name = label_from_json(encoded.attrs["name"])
        series: pd.Series[Any] = pd.Series(
            values, index=index, name=name, dtype=_dtype(values), copy=False
        )
        return series


class DataFrameCodec:
    """Codec ``"pandas.DataFrame"``: the index, each column by position, the column labels."""

    name = "pandas.DataFrame"

    def can_encode(self, value: object) -> bool:
        """Accept exact DataFrames."""
        return type(value) is pd.DataFrame

    def encode(self, value: pd.DataFrame, ctx: EncodeContext) -> Encoded:
        """Encode the index and every column as row arrays, and the labels."""
        n_rows, n_columns = value.shape
        builder = EncodedBuilder(self.name, {"n_rows": n_rows, "n_columns": n_columns})
        builder.add_child("index", ctx.encode_child(value.index, "index"), rows=True)
        builder.add_child("labels", ctx.encode_child(value.columns, "labels"))
        for i in range(n_columns):
            column = column_values(value.iloc[:, i])
            builder.add_child(f"columns/{i}", ctx.encode_child(column, f"columns/{i}"), rows=True)
        return builder.build()

    def decode(self, encoded: Encoded, ctx: DecodeContext) -> pd.DataFrame:
        """Rebuild the frame with every column's dtype, the index and the labels."""
        n_rows, n_columns = encoded.attrs["n_rows"], encoded.attrs["n_columns"]
        assert isinstance(n_rows, int)
        assert isinstance(n_columns, int)
        columns: dict[int, pd.Series[Any]] = {}
        for i in range(n_columns):
            values: Any = ctx.decode_child(f"columns/{i}")
            columns[i] = pd.Series(values, dtype=_dtype(values), copy=False)
        frame = pd.DataFrame(columns) if columns else pd.DataFrame(index=pd.RangeIndex(n_rows))
        frame.index = ctx.decode_child("index")  # type: ignore[assignment]
        frame.columns = ctx.decode_child("labels")  # type: ignore[assignment]
        return frame


def install_pandas_codecs(registry: CodecRegistry) -> None:
    """Register the pandas codecs (these and :mod:`.pandas_arrays`) into ``registry``."""
    from pypet_rebuild.storage.codecs.pandas_arrays import install_pandas_array_codecs

    install_pandas_array_codecs(registry)
    index = IndexCodec()
    for kind in _INDEX_TYPES:
        registry.register(kind, index)
    registry.register(pd.RangeIndex, RangeIndexCodec())
    registry.register(pd.MultiIndex, MultiIndexCodec())
    registry.register(pd.Series, SeriesCodec())
    registry.register(pd.DataFrame, DataFrameCodec())
