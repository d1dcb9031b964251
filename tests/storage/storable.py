"""Values of every storable type, a custom codec, and a strict comparison, for backend tests.

``storable_values()`` holds one value per codec and per tricky case (dtypes, 0-d, Fortran
order, NaN payloads, time zones, nullable and categorical pandas data, sparse formats, a custom
registered codec whose encoded form holds a 0-d array). ``assert_same`` checks type, dtype,
shape, memory order and value (bytes, so NaN, -0.0 and NaT count): it is
:func:`pypet_rebuild.testing.assert_values_equal`.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

import pypet_rebuild as pr
from pypet_rebuild.storage.codecs import DecodeContext, EncodeContext, Encoded
from pypet_rebuild.testing import assert_values_equal

__all__ = ["Gauge", "Unstorable", "assert_same", "storable_values"]


@dataclass(eq=False)
class Gauge:
    """A user type with its own codec; ``level`` is a 0-d array."""

    label: str
    level: np.ndarray[Any, Any]


class GaugeCodec:
    """Stores ``level`` as it is: a 0-d array in, a 0-d array out (no reshape on decode)."""

    name = "tests.storable.Gauge"

    def can_encode(self, value: object) -> bool:
        return True

    def encode(self, value: Gauge, ctx: EncodeContext) -> Encoded:
        return Encoded(self.name, {"level": value.level}, {"label": value.label})

    def decode(self, encoded: Encoded, ctx: DecodeContext) -> Gauge:
        return Gauge(str(encoded.attrs["label"]), encoded.arrays["level"])


pr.register_codec(Gauge, GaugeCodec(), replace=True)


@dataclass
class Unstorable:
    """A type without a codec (module level, so it pickles)."""

    payload: list[int]


def storable_values() -> dict[str, object]:
    """Name -> a value of every kind the codecs store (fresh objects on every call)."""
    dates = pd.date_range("2020-01-01", periods=3, freq="D", tz="Europe/Berlin")
    rows = pd.MultiIndex.from_product([["a", "b"], [1, 2]], names=["letter", "n"])
    structured = np.dtype([("a", "i4"), ("b", "f8"), ("c", "U3"), ("d", "u1", (2,))])
    frame = pd.DataFrame(
        {
            "int": [1, 2, 3],
            "float": [0.5, math.nan, -0.0],
            "category": pd.Categorical(["u", "v", "u"], categories=["v", "u", "w"]),
            "ordered": pd.Categorical(["lo", "hi", "lo"], categories=["lo", "hi"], ordered=True),
            "tz": dates,
            "Int64": pd.array([1, None, 3], dtype="Int64"),
            "boolean": pd.array([True, None, False], dtype="boolean"),
            "string": pd.array(["p", None, "q"], dtype="string"),
            "object": np.array(["o", None, "ü"], dtype=object),
        },
        index=pd.Index([10, 20, 30], name="row"),
    )
    dense = np.zeros((4, 5))
    dense[1, 1] = 1.5
    dense[3, 4] = -2.0
    return {
        # python scalars
        "py_bool": True,
        "py_int": -(2**63),
        "py_bigint": -(10**40),
        "py_float": -0.0,
        "py_nan": math.nan,
        "py_complex": complex(math.nan, 1),
        "py_str": "héllo wörld ✓",
        "py_bytes": b"\x00bytes\xff",
        "py_none": None,
        # containers, nested
        "list": [1, (2, "a"), {"k": [1.0, None]}],
        "list_packed": [1.0, 2.0, math.nan],
        "tuple": (b"b", None, True, 1j),
        "dict": {"a": {"b": {"c": (1, 2)}}, 3: "int key", (1, 2): "tuple key"},
        "set": {1, 2, 3},
        "frozenset": frozenset({"a", "b"}),
        "empty": ([], (), {}),
        # numpy scalars
        "np_float32": np.float32(-0.0),
        "np_int8": np.int8(-128),
        "np_uint64": np.uint64(2**64 - 1),
        "np_bool": np.bool_(True),
        "np_complex64": np.complex64(1 + 1j),
        "np_float16": np.float16(65504),
        "np_str": np.str_("ü"),
        "np_bytes": np.bytes_(b"\x01"),
        "np_datetime": np.datetime64("2020-01-01T12:00", "m"),
        "np_timedelta": np.timedelta64(-3, "ns"),
        "np_void": np.zeros(2, dtype=[("a", "i4"), ("b", "U3")])[0],
        # numpy arrays
        "a_bool": np.array([True, False]),
        "a_int8": np.array([-128, 127], dtype=np.int8),
        "a_uint64": np.array([2**64 - 1, 0], dtype=np.uint64),
        "a_float16": np.arange(4, dtype=np.float16),
        "a_float32_2d": np.arange(6, dtype=np.float32).reshape(2, 3),
        "a_float64_3d": np.full((2, 2, 2), 0.5),
        "a_complex128": np.array([math.nan + 1j, 2]),
        "a_U5": np.array(["ab", "cdefg", ""], dtype="U5"),
        "a_S3": np.array([b"ab", b"c\x00d"], dtype="S3"),
        "a_datetime_ns": np.array(["2020-01-01T00:00:00.000000001", "NaT"], dtype="M8[ns]"),
        "a_timedelta_s": np.array([1, -1], dtype="m8[s]"),
        "a_structured": np.array([(1, 1.5, "xyz", (1, 2))], dtype=structured),
        "a_bigendian": np.arange(3, dtype=">i4"),
        "a_object": np.array(["x", None, 1], dtype=object),
        "a_object_str": np.array([["a", None], ["b", "c"]], dtype=object),
        "a_stringdtype": np.array(["a", "bc"], dtype=np.dtypes.StringDType()),
        "a_empty": np.zeros((0, 3)),
        "a_0d": np.array(1.5),
        "a_0d_int": np.array(7, dtype=np.int16),
        "a_0d_str": np.array("abc"),
        "a_fortran": np.asfortranarray(np.arange(6).reshape(2, 3)),
        "a_strided": np.arange(10.0)[::3],
        # pandas
        "df": frame,
        "df_multiindex": pd.DataFrame(
            np.arange(16).reshape(4, 4), index=rows, columns=rows.set_names(["c", "d"])
        ),
        "df_empty": pd.DataFrame(),
        "series": pd.Series([1.0, 2.0], index=dates[:2], name="s"),
        "series_cat": pd.Series(pd.Categorical(["a", "b"])),
        "series_string": pd.Series(["a", None], dtype="string", name="n"),
        "series_nullable": pd.Series(pd.array([1, None], dtype="UInt8")),
        "index_int": pd.Index([1, 2, 3], dtype="int8", name="i"),
        "index_dates": dates,
        "index_cat": pd.CategoricalIndex(["a", "b", "a"], ordered=True),
        "index_multi": rows,
        "index_range": pd.RangeIndex(2, 20, 3, name="r"),
        "index_fixed_tz": pd.date_range(
            "2020", periods=2, freq="2h", tz=dt.timezone(dt.timedelta(hours=-3))
        ),
        "categorical": pd.Categorical(["a", None, "b"]),
        "timestamp_tz": pd.Timestamp("2020-01-01 12:00", tz="Europe/Berlin"),
        "timedelta": pd.Timedelta("1h"),
        # scipy sparse
        "sparse_csr": sp.csr_matrix(dense),
        "sparse_csc": sp.csc_matrix(dense),
        "sparse_coo": sp.coo_matrix(dense),
        "sparse_csr_array": sp.csr_array(np.eye(3, dtype=np.int32)),
        # a user codec whose encoded form holds a 0-d array
        "custom": Gauge("gain", np.array(2.5)),
        "custom_nested": {"gauges": [Gauge("a", np.array(1, dtype=np.int8))]},
    }


def assert_same(expected: object, actual: object) -> None:
    """Same type, dtype, shape, memory order and value (byte for byte where there are bytes).

    The comparison the library ships for downstream tests; ``Gauge`` (identity equality) is
    compared attribute by attribute.
    """
    assert_values_equal(expected, actual)
