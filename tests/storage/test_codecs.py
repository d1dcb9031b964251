"""Codecs: the law ``decode(encode(x)) == x`` (same type and dtype) and the array contract."""

from __future__ import annotations

import collections
import datetime as dt
import enum
import json
import math
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from hypothesis import given, settings

from pypet_rebuild.errors import PickleRefusedError, UnsupportedTypeError
from pypet_rebuild.storage import codecs
from pypet_rebuild.storage.codecs import (
    CodecRegistry,
    DecodeContext,
    EncodeContext,
    Encoded,
    EncodedBuilder,
    decode_value,
    default_registry,
    encode_value,
    is_native_dtype,
    new_registry,
    register_codec,
)
from pypet_rebuild.testing import strategies

# -- helpers -------------------------------------------------------------------------------------


def check_contract(encoded: Encoded) -> None:
    """Every promise a backend relies on, checked on one encoded value."""
    json.dumps(encoded.attrs, allow_nan=False)
    names = set(encoded.arrays)
    for name, array in encoded.arrays.items():
        assert isinstance(array, np.ndarray)
        assert is_native_dtype(array.dtype), (name, array.dtype)
        parts = name.split("/")
        # HDF5 cannot hold a dataset that is also a group: no name is a prefix path of another.
        assert not any("/".join(parts[:cut]) in names for cut in range(1, len(parts)))
    rows = encoded.row_arrays
    assert set(rows) <= names
    assert len({encoded.arrays[name].shape[0] for name in rows}) <= 1
    for data, lengths in encoded.ragged.items():
        assert lengths in rows or encoded.arrays[lengths].ndim == 0
        size = int(np.maximum(encoded.arrays[lengths], 0).sum())
        assert encoded.arrays[data].shape == (size,)
        assert encoded.arrays[data].dtype == np.uint8


def roundtrip(value: object, **kwargs: Any) -> object:
    encoded = encode_value(value, "results.x", **kwargs)
    check_contract(encoded)
    return decode_value(encoded, registry=kwargs.get("registry"))


def assert_arrays_identical(expected: np.ndarray[Any, Any], actual: np.ndarray[Any, Any]) -> None:
    assert type(actual) is np.ndarray
    assert actual.dtype == expected.dtype
    assert actual.shape == expected.shape
    if expected.dtype.names is not None:
        for name in expected.dtype.names:
            assert_arrays_identical(expected[name], actual[name])
    elif expected.dtype.kind in "OT":
        for left, right in zip(expected.reshape(-1), actual.reshape(-1), strict=True):
            assert_same(left, right)
    else:
        contiguous = np.ascontiguousarray
        assert contiguous(expected).tobytes() == contiguous(actual).tobytes()


def assert_same(expected: object, actual: object) -> None:
    assert type(actual) is type(expected), (type(expected), type(actual))
    if isinstance(expected, np.ndarray):
        assert isinstance(actual, np.ndarray)
        assert_arrays_identical(expected, actual)
        if expected.flags.f_contiguous and not expected.flags.c_contiguous:
            assert actual.flags.f_contiguous
    elif isinstance(expected, np.generic):
        assert_arrays_identical(np.asarray(expected), np.asarray(actual))
    elif isinstance(expected, pd.DataFrame):
        assert isinstance(actual, pd.DataFrame)
        pd.testing.assert_frame_equal(
            actual,
            expected,
            check_exact=True,
            check_freq=True,
            check_index_type=True,
            check_column_type=True,
        )
        assert list(actual.dtypes) == list(expected.dtypes)
        assert type(actual.columns) is type(expected.columns)
    elif isinstance(expected, pd.Series):
        assert isinstance(actual, pd.Series)
        pd.testing.assert_series_equal(
            actual, expected, check_exact=True, check_freq=True, check_index_type=True
        )
    elif isinstance(expected, pd.Index):
        assert isinstance(actual, pd.Index)
        pd.testing.assert_index_equal(actual, expected, exact=True, check_exact=True)
        assert actual.names == expected.names
    elif isinstance(expected, pd.api.extensions.ExtensionArray):
        assert isinstance(actual, pd.api.extensions.ExtensionArray)
        pd.testing.assert_extension_array_equal(actual, expected, check_exact=True)
    elif sp.issparse(expected):
        assert actual.dtype == expected.dtype  # type: ignore[attr-defined]
        assert actual.shape == expected.shape  # type: ignore[attr-defined]
        difference: Any = actual != expected
        assert difference.nnz == 0
    elif isinstance(expected, list | tuple):
        assert isinstance(actual, list | tuple)
        assert len(actual) == len(expected)
        for left, right in zip(expected, actual, strict=True):
            assert_same(left, right)
    elif isinstance(expected, dict):
        assert isinstance(actual, dict)
        assert_same(list(expected), list(actual))
        assert_same(list(expected.values()), list(actual.values()))
    elif isinstance(expected, float | complex):
        assert isinstance(actual, float | complex)
        assert repr(expected) == repr(actual)  # NaN equals NaN, -0.0 differs from 0.0
    elif expected is pd.NaT or expected is pd.NA:
        assert actual is expected
    else:
        assert actual == expected


class Level(enum.IntEnum):
    HIGH = 1


class Point(NamedTuple):
    x: int


@dataclass
class Foo:
    """A type without a codec (module level, so it pickles)."""

    value: int


@dataclass
class Lorenz:
    """A user type with a registered codec."""

    sigma: float
    state: np.ndarray[Any, Any]
    label: str


class LorenzCodec:
    name = "tests.Lorenz"

    def can_encode(self, value: object) -> bool:
        return True

    def encode(self, value: Lorenz, ctx: EncodeContext) -> Encoded:
        builder = EncodedBuilder(self.name, {"sigma": value.sigma})
        builder.add_array("state", value.state)
        builder.add_child("label", ctx.encode_child(value.label, "label"))
        return builder.build()

    def decode(self, encoded: Encoded, ctx: DecodeContext) -> Lorenz:
        label = ctx.decode_child("label")
        assert isinstance(label, str)
        return Lorenz(float(encoded.attrs["sigma"]), encoded.arrays["state"], label)  # type: ignore[arg-type]


@pytest.fixture
def registry() -> CodecRegistry:
    return default_registry.copy()


# -- python values -------------------------------------------------------------------------------

PYTHON_EXAMPLES = [
    None,
    True,
    False,
    0,
    -(2**63),
    2**63 - 1,
    2**64,
    -(10**40),
    1.5,
    -0.0,
    math.inf,
    math.nan,
    1 + 2j,
    "",
    "héllo wörld ✓",
    "lone \ud800 surrogate",
    b"",
    b"\x00bytes\xff",
    [],
    (),
    {},
    [1, 2, 3],
    [True, False],
    [1.0, math.nan],
    [1j],
    ["a", "", "ü"],
    [b"a", b""],
    [1, 2**70],
    [1, True, 1.0, "1", None],
    (1, "a", (2, [3, {"k": None}])),
    {"a": 1, "b": [1.0, 2.0], "c": {"d": "e"}},
    {1: "int key", "s": "str key", (1, 2): "tuple key"},
    {1, 2, 3},
    frozenset({"a", "b"}),
]


@pytest.mark.parametrize("value", PYTHON_EXAMPLES, ids=repr)
def test_python_values_round_trip(value: object) -> None:
    assert_same(value, roundtrip(value))


def test_python_scalars_are_0d_arrays_so_runs_can_be_stacked() -> None:
    for value, dtype in [(True, np.bool_), (3, np.int64), (2.5, np.float64), (1j, np.complex128)]:
        encoded = encode_value(value)
        assert set(encoded.arrays) == {"values"}
        assert encoded.arrays["values"].shape == ()
        assert encoded.arrays["values"].dtype == dtype


def test_bool_resolves_before_int_and_numpy_scalars_before_float() -> None:
    assert default_registry.codec_for(True, "p").name == "builtins.bool"
    assert default_registry.codec_for(1, "p").name == "builtins.int"
    assert default_registry.codec_for(np.float64(1), "p").name == "numpy.generic"
    assert default_registry.codec_for(np.str_("a"), "p").name == "numpy.generic"


def test_homogeneous_lists_are_packed_into_one_array() -> None:
    encoded = encode_value([1.0, 2.0, 3.0])
    assert encoded.attrs["packed"] == "float"
    assert list(encoded.arrays) == ["values"]
    strings = encode_value(["a", "bc"])
    assert set(strings.arrays) == {"data", "lengths"}
    assert strings.ragged == {"data": "lengths"}


@settings(max_examples=80)
@given(strategies.python_values() | strategies.homogeneous_lists())
def test_law_for_python_values(value: object) -> None:
    assert_same(value, roundtrip(value))


# -- numpy ---------------------------------------------------------------------------------------


@settings(max_examples=150)
@given(strategies.numpy_arrays())
def test_law_for_numpy_arrays(array: np.ndarray[Any, Any]) -> None:
    assert_same(array, roundtrip(array))


@settings(max_examples=60)
@given(strategies.numpy_scalars())
def test_law_for_numpy_scalars(scalar: np.generic) -> None:
    assert isinstance(scalar, np.generic)
    assert_same(scalar, roundtrip(scalar))


NUMPY_EXAMPLES = [
    np.float32(1),
    np.int8(-3),
    np.uint64(2**64 - 1),
    np.bool_(True),
    np.complex64(1 + 1j),
    np.str_("abc"),
    np.bytes_(b"ab"),
    np.datetime64("2020-01-01T12:00", "m"),
    np.timedelta64("NaT", "ns"),
    np.zeros(2, dtype=[("a", "i4"), ("b", "U3")])[0],
    np.arange(12.0).reshape(3, 4),
    np.arange(12, dtype=">i8").reshape(3, 4),
    np.asfortranarray(np.arange(12).reshape(3, 4)),
    np.arange(10)[::3],
    np.zeros((0, 3)),
    np.array(5),
    np.array(["a", "bcd", ""], dtype="<U4"),
    np.array(["a", "bcd"], dtype=">U4"),
    np.array([b"a\x00b", b"xyz\x00"]),
    np.array(["2020-01-01", "NaT"], dtype="M8[D]"),
    np.array([1, -1], dtype="m8[ps]"),
    np.array(["x", "yy", "ü"], dtype=object),
    np.array([["a", None], ["b", "c"]], dtype=object),
    np.array([b"a", None], dtype=object),
    np.array([1, "a", None, [1, 2]], dtype=object),
    np.array(["a", "bc"], dtype=np.dtypes.StringDType()),
    np.zeros(3, dtype="V4"),
    np.zeros(2, dtype=np.dtype([("x", "u1"), ("y", ">f8")], align=True)),
    np.zeros(2, dtype=[("p", [("q", "M8[s]"), ("r", "S2", (2,))]), ("s", "c8", (2, 2))]),
]


@pytest.mark.parametrize("value", NUMPY_EXAMPLES, ids=lambda v: f"{type(v).__name__}-{v.dtype}")
def test_numpy_values_round_trip(value: object) -> None:
    assert_same(value, roundtrip(value))


def test_native_array_is_stored_as_is_under_values() -> None:
    array = np.arange(6.0).reshape(2, 3)
    encoded = encode_value(array)
    assert list(encoded.arrays) == ["values"]
    assert encoded.arrays["values"] is array
    assert encoded.row_arrays == ("values",)
    assert encoded.attrs["dtype"] == "<f8"


def test_fixed_width_strings_keep_a_shape_that_depends_only_on_the_dtype() -> None:
    short = encode_value(np.array(["a", "b"], dtype="<U5")).arrays["values"]
    long = encode_value(np.array(["abcde", "b"], dtype="<U5")).arrays["values"]
    assert short.shape == long.shape == (2, 5)
    assert short.dtype == np.uint32


def test_is_native_dtype() -> None:
    for native in [
        "?",
        "i1",
        "u8",
        "f2",
        "f4",
        "f8",
        "c8",
        "c16",
        [("a", "f4"), ("b", "i8", (2,))],
    ]:
        assert is_native_dtype(np.dtype(native))  # type: ignore[call-overload]
    for other in [">f8", "U3", "S3", "M8[ns]", "m8[s]", "O", "V4", np.longdouble, [("a", "U1")]]:
        assert not is_native_dtype(np.dtype(other))  # type: ignore[call-overload]


def test_extended_precision_is_refused() -> None:
    if np.finfo(np.longdouble).nmant == np.finfo(np.float64).nmant:
        pytest.skip("longdouble is float64 on this platform")
    with pytest.raises(UnsupportedTypeError, match=r"float128.*'results.x'.*float64"):
        encode_value(np.zeros(2, np.longdouble), "results.x")


# -- pandas --------------------------------------------------------------------------------------


def pandas_examples() -> list[object]:
    dates = pd.date_range("2020-01-01", periods=3, freq="D", tz="Europe/Berlin")
    rows = pd.MultiIndex.from_product([["a", "b"], [1, 2]], names=["letter", None])
    frame = pd.DataFrame(
        {
            "int": [1, 2, 3],
            "float": [0.5, math.nan, -0.0],
            "str": ["x", None, "z"],
            "string": pd.array(["p", None, "q"], dtype="string"),
            "object": np.array(["o", None, "ü"], dtype=object),
            "category": pd.Categorical(["u", "v", "u"], categories=["v", "u", "w"]),
            "ordered": pd.Categorical([1, None, 3], ordered=True),
            "tz": dates,
            "naive": pd.date_range("2021", periods=3, freq="h", unit="s"),
            "delta": pd.to_timedelta([1, 2, None], unit="s"),
            "Int64": pd.array([1, None, 3], dtype="Int64"),
            "UInt8": pd.array([1, None, 255], dtype="UInt8"),
            "boolean": pd.array([True, None, False], dtype="boolean"),
            "Float64": pd.arrays.FloatingArray(
                np.array([1.0, np.nan, 0.0]), np.array([False, False, True])
            ),
            "complex": [1j, 2, 3],
            "bool": [True, False, True],
        },
        index=pd.Index([10, 20, 10], name="run"),
    )
    return [
        frame,
        pd.DataFrame(np.arange(16).reshape(4, 4), index=rows, columns=rows.set_names(["c", "d"])),
        pd.DataFrame([[1, 2.0, "a"]], columns=["a", "a", "b"]),
        pd.DataFrame({0: [1.0], 1: [2.0]}),
        pd.DataFrame(np.zeros((2, 2)), columns=pd.Index([1.5, 2.5], name=("tuple", 1))),
        pd.DataFrame(),
        pd.DataFrame(index=pd.Index(["a", "b"])),
        pd.DataFrame({"a": []}),
        pd.Series([1.0, 2.0], index=dates[:2], name="s"),
        pd.Series(["a", "b"], dtype="str", name=np.int64(3)),
        pd.Series(pd.Categorical(["a"]), index=pd.RangeIndex(5, 6, name="r")),
        pd.Series(dtype=float),
        pd.Index([1, 2], dtype="int8", name="i"),
        pd.Index(["a", "b"]),
        pd.Index(["a", "b"], dtype=object),
        pd.Index([True, False]),
        pd.RangeIndex(2, 20, 3, name="r"),
        pd.CategoricalIndex(["a", "b", "a"], ordered=True),
        dates,
        pd.date_range("2020", periods=4, freq="2h", tz=dt.timezone(dt.timedelta(hours=-3))),
        pd.timedelta_range("1s", periods=3, freq="s"),
        rows,
        pd.MultiIndex.from_arrays([pd.Index([1.0, math.nan]), pd.Categorical(["x", "y"])]),
        pd.Categorical(["a", None, "b"]),
        pd.array([1, None], dtype="Int32"),
        pd.array(["a", None], dtype="str"),
        pd.arrays.NumpyExtensionArray(np.array([1, 2])),
        pd.Timestamp("2020-01-01 12:00", tz="Europe/Berlin"),
        pd.Timestamp("2020-01-01").as_unit("s"),
        pd.Timedelta("1h"),
        pd.NaT,
        pd.NA,
    ]


@pytest.mark.parametrize("value", pandas_examples(), ids=lambda v: type(v).__name__)
def test_pandas_values_round_trip(value: object) -> None:
    assert_same(value, roundtrip(value))


def test_dataframe_columns_and_index_are_row_arrays() -> None:
    frame = pd.DataFrame(
        {"x": [1.0, 2.0], "s": ["a", "bc"], "c": pd.Categorical(["u", "v"])},
        index=pd.Index([7, 8], name="i"),
    )
    encoded = encode_value(frame)
    assert encoded.row_arrays == (
        "index/values/values",
        "columns/0/values",
        "columns/1/lengths",
        "columns/2/codes",
    )
    assert encoded.ragged == {"columns/1/data": "columns/1/lengths"}
    assert encoded.attrs["n_rows"] == 2
    # Category labels and column labels are arrays too, but not row arrays.
    assert "columns/2/categories/values/data" in encoded.arrays
    assert "labels/values/data" in encoded.arrays


@settings(max_examples=40)
@given(strategies.data_frames())
def test_law_for_data_frames(frame: pd.DataFrame) -> None:
    assert_same(frame, roundtrip(frame))


@settings(max_examples=40)
@given(strategies.series())
def test_law_for_series(series: pd.Series[Any]) -> None:
    assert_same(series, roundtrip(series))


@settings(max_examples=40)
@given(strategies.pandas_arrays())
def test_law_for_pandas_extension_arrays(value: object) -> None:
    assert_same(value, roundtrip(value))


# -- scipy ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["csr", "csc", "coo", "bsr", "dia", "lil", "dok"])
@pytest.mark.parametrize("container", ["matrix", "array"])
@pytest.mark.parametrize("dtype", [np.float32, np.complex128, np.int16, np.bool_])
def test_sparse_round_trip(fmt: str, container: str, dtype: type) -> None:
    dense: np.ndarray[Any, Any] = (np.arange(20).reshape(4, 5) % 3).astype(dtype)
    value = getattr(sp, f"{fmt}_{container}")(dense)
    result = roundtrip(value)
    assert type(result) is type(value)
    assert_same(value, result)


# -- errors, pickle and registration -------------------------------------------------------------


def test_unsupported_type_error_names_type_and_path() -> None:
    with pytest.raises(UnsupportedTypeError, match=r"'Foo' at 'results\.z'.*register_codec"):
        encode_value(Foo(1), "results.z")


@pytest.mark.parametrize(
    ("value", "path"),
    [
        ([1, 2, Foo(1)], "results.z.items/2"),
        ({"a": {"b": Foo(1)}}, "results.z['a']['b']"),
        ((1, [Foo(1)]), "results.z.items/1.items/0"),
        (np.array([1, Foo(1)], dtype=object), "results.z.items/1"),
        (pd.Series([Foo(1)], dtype=object), "results.z.values.items/0"),
    ],
)
def test_unsupported_nested_value_error_names_the_nested_path(value: object, path: str) -> None:
    with pytest.raises(UnsupportedTypeError) as info:
        encode_value(value, "results.z")
    assert "'Foo'" in str(info.value)
    assert f"at {path!r}" in str(info.value)


def test_unsupported_pandas_column_names_the_column() -> None:
    frame = pd.DataFrame({"p": pd.period_range("2020", periods=2, freq="D")})
    with pytest.raises(UnsupportedTypeError, match=r"PeriodArray' at 'results\.z\.columns/0'"):
        encode_value(frame, "results.z")


@pytest.mark.parametrize(
    "value",
    [Level.HIGH, collections.OrderedDict(a=1), Point(1)],
    ids=repr,
)
def test_subclasses_of_builtins_are_not_silently_stored_as_their_base(value: object) -> None:
    with pytest.raises(UnsupportedTypeError, match=type(value).__qualname__):
        encode_value(value)


def test_pickle_is_refused_by_default_and_works_when_allowed() -> None:
    value = {"a": [Foo(1), 2.0]}
    with pytest.raises(UnsupportedTypeError):
        encode_value(value)
    encoded = encode_value(value, allow_pickle=True)
    check_contract(encoded)
    assert encoded.codec == "builtins.dict"
    assert '"codec": "pickle"' in json.dumps(encoded.attrs)  # only the Foo is pickled
    assert decode_value(encoded, allow_pickle=True) == value
    whole = encode_value(Foo(3), allow_pickle=True)
    assert whole.codec == "pickle"
    assert whole.arrays["values"].dtype == np.uint8
    assert decode_value(whole, allow_pickle=True) == Foo(3)


def test_decoding_a_pickle_is_refused_unless_the_reader_allows_it() -> None:
    nested = encode_value({"a": [Foo(1), 2.0]}, allow_pickle=True)
    with pytest.raises(PickleRefusedError, match=r"results\.cfg of run 2, nested at .*allow_"):
        decode_value(nested, where="results.cfg of run 2")
    with pytest.raises(PickleRefusedError, match=r"<value> is a pickled"):
        decode_value(encode_value(Foo(3), allow_pickle=True))


def test_unpicklable_value_is_unsupported_even_with_pickle() -> None:
    with pytest.raises(UnsupportedTypeError, match="pickling it failed"):
        encode_value([lambda: None], "results.f", allow_pickle=True)


def test_user_registered_codec(registry: CodecRegistry) -> None:
    registry.register(Lorenz, LorenzCodec())
    value = Lorenz(10.0, np.array([1.0, 2.0, 3.0]), "chaos")
    encoded = registry.encode([value], "results.l")
    check_contract(encoded)
    result = registry.decode(encoded)
    assert isinstance(result, list)
    assert result[0].sigma == 10.0
    assert result[0].label == "chaos"
    np.testing.assert_array_equal(result[0].state, value.state)
    with pytest.raises(UnsupportedTypeError, match="'Lorenz'"):
        encode_value(value)  # the default registry is untouched


def test_register_codec_extends_the_default_registry(
    registry: CodecRegistry, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(codecs, "default_registry", registry)
    register_codec(Lorenz, LorenzCodec())
    result = decode_value(encode_value(Lorenz(1.0, np.zeros(2), "x")))
    assert isinstance(result, Lorenz)


def test_duplicate_registration_needs_replace(registry: CodecRegistry) -> None:
    registry.register(Lorenz, LorenzCodec())
    with pytest.raises(ValueError, match="already registered"):
        registry.register(Lorenz, LorenzCodec())
    registry.register(Lorenz, LorenzCodec(), replace=True)


def test_codec_that_emits_a_non_native_array_is_rejected(registry: CodecRegistry) -> None:
    class BadCodec(LorenzCodec):
        def encode(self, value: Lorenz, ctx: EncodeContext) -> Encoded:
            return Encoded(self.name, {"label": np.array([value.label])})

    registry.register(Lorenz, BadCodec())
    with pytest.raises(UnsupportedTypeError, match="is_native_dtype"):
        registry.encode(Lorenz(1.0, np.zeros(1), "x"), "results.l")


def test_unknown_codec_id_is_a_clear_error() -> None:
    with pytest.raises(UnsupportedTypeError, match=r"'nobody\.Knows'"):
        decode_value(Encoded("nobody.Knows"))


def test_pandas_and_scipy_codecs_load_lazily_for_decoding() -> None:
    frame = pd.DataFrame({"a": [1, 2]})
    encoded = encode_value(frame)
    assert_same(frame, decode_value(encoded, registry=new_registry()))
    matrix = sp.csr_matrix(np.eye(2))
    assert_same(matrix, decode_value(encode_value(matrix), registry=new_registry()))
