"""The stable point hash: pinned digests, canonical numeric types and the documented format."""

from __future__ import annotations

import hashlib
import struct
from fractions import Fraction
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pypet_rebuild.errors import UnsupportedTypeError
from pypet_rebuild.exploration import (
    HASH_VERSION,
    PointHashes,
    canonical_encoding,
    hash_columns,
    point_hash,
    value_hash,
)

PREFIX = b"pypet_rebuild.point.v1\0"


def _length(n: int) -> bytes:
    return n.to_bytes(8, "big")


# Digests of format version 1. They must never change: a change breaks resume and merge of
# every stored file. A new format gets a new HASH_VERSION instead.
PINNED: list[tuple[dict[str, object], str]] = [
    ({}, "0be9c77a4e330ca3fb1c709fcba4d2b6"),
    ({"x": 1}, "0b08f720c02e0961359312518fe16130"),
    ({"x": 1.0}, "30506f6921c068530d222c9ca888d226"),
    ({"x": 1.5, "y": 10, "sim.steps": 100}, "e76cb653f9aca99b363791c2d9ab6c01"),
    ({"a": None, "b": True, "c": "héllo", "d": b"\x00\xff"}, "175ab8feea72de1d1f7d16f9990eb061"),
    ({"big": 2**100, "neg": -7, "z": 1 + 2j}, "ce2dad42efb84967df29ae3f49f9b1a1"),
    ({"seq": [1, (2.5, "x")], "map": {"k": 1, 2: [None]}}, "e45de1ebc64a99db0e59628727d42501"),
    ({"arr": np.arange(6, dtype=np.int32).reshape(2, 3)}, "12acb0c0395d12d3c51054e91e44b032"),
    ({"arr": np.array([0.5, np.nan, -0.0])}, "5b8e9db061ece54c75fd53bdd96a1063"),
    (
        {"s": np.array(["a", "bc"]), "o": np.array([1, "x"], dtype=object)},
        "206e68efb8fb768e5a84c5f27faf1f3d",
    ),
    ({"t": np.datetime64("2020-01-01T00:00", "ns")}, "663f0730591fc8c4cbbcd22210a4c5b6"),
]


@pytest.mark.parametrize(("point", "digest"), PINNED)
def test_pinned_digests(point: dict[str, object], digest: str) -> None:
    assert point_hash(point) == digest


def test_version_and_shape_of_the_hash() -> None:
    assert HASH_VERSION == 1
    digest = point_hash({"x": 1})
    assert len(digest) == 32
    assert int(digest, 16) >= 0
    assert digest == digest.lower()


def test_encoding_follows_the_documented_format() -> None:
    point = {"y": 2.5, "x": -12, "s": "é"}
    expected = (
        PREFIX
        + _length(1)
        + b"s"
        + b"s"
        + _length(2)
        + "é".encode()
        + _length(1)
        + b"x"
        + b"i"
        + _length(3)
        + b"-12"
        + _length(1)
        + b"y"
        + b"f"
        + struct.pack(">d", 2.5)
    )
    assert canonical_encoding(point) == expected
    assert point_hash(point) == hashlib.sha256(expected).digest()[:16].hex()


def test_array_encoding_follows_the_documented_format() -> None:
    array = np.array([[1, 2]], dtype=">i2")  # big-endian input, encoded little-endian
    expected = (
        PREFIX
        + _length(1)
        + b"a"
        + b"a"
        + _length(3)
        + b"<i2"
        + _length(2)
        + _length(1)
        + _length(2)
        + _length(4)
        + b"\x01\x00\x02\x00"
    )
    assert canonical_encoding({"a": array}) == expected


@pytest.mark.parametrize("value", [np.int64(1), np.int32(1), np.uint8(1), np.int8(1)])
def test_numpy_integers_hash_like_int(value: object) -> None:
    assert point_hash({"x": value}) == point_hash({"x": 1})


@pytest.mark.parametrize("value", [np.float64(1.0), np.float32(1.0), np.float16(1.0)])
def test_numpy_floats_hash_like_float(value: object) -> None:
    assert point_hash({"x": value}) == point_hash({"x": 1.0})


def test_numpy_bool_and_complex_hash_like_python() -> None:
    assert point_hash({"x": np.True_}) == point_hash({"x": True})
    assert point_hash({"x": np.False_}) == point_hash({"x": False})
    assert point_hash({"x": np.complex64(1 + 2j)}) == point_hash({"x": 1 + 2j})
    assert point_hash({"x": np.str_("a")}) == point_hash({"x": "a"})
    assert point_hash({"x": np.bytes_(b"a")}) == point_hash({"x": b"a"})


def test_int_float_bool_and_complex_are_distinct() -> None:
    digests = {point_hash({"x": v}) for v in (1, 1.0, True, 1 + 0j, "1", b"1")}
    assert len(digests) == 6


def test_name_order_is_irrelevant() -> None:
    assert point_hash({"a": 1, "b": 2.0}) == point_hash({"b": 2.0, "a": 1})


def test_names_are_part_of_the_hash() -> None:
    assert point_hash({"a": 1}) != point_hash({"b": 1})


def test_lists_and_tuples_hash_equal_but_arrays_differ() -> None:
    assert point_hash({"x": [1, 2]}) == point_hash({"x": (1, 2)})
    assert point_hash({"x": [1, 2]}) != point_hash({"x": np.array([1, 2])})
    assert point_hash({"x": [[1], [2]]}) != point_hash({"x": [1, 2]})


def test_dict_key_order_is_irrelevant() -> None:
    assert point_hash({"x": {"a": 1, "b": 2}}) == point_hash({"x": {"b": 2, "a": 1}})
    assert point_hash({"x": {"a": 1}}) != point_hash({"x": {"a": 2}})


def test_nan_is_canonical_and_negative_zero_is_zero() -> None:
    payload_nan = struct.unpack(">d", b"\x7f\xf8\x00\x00\x00\x00\x00\x01")[0]
    assert point_hash({"x": float("nan")}) == point_hash({"x": payload_nan})
    assert point_hash({"x": np.float32("nan")}) == point_hash({"x": float("nan")})
    assert point_hash({"x": -0.0}) == point_hash({"x": 0.0})
    assert point_hash({"x": complex(-0.0, float("nan"))}) == point_hash({"x": complex(0, np.nan)})


def test_float_arrays_canonicalise_nan_and_negative_zero() -> None:
    quiet = np.array([np.nan, -0.0, 1.0])
    other_nan = np.array([1, 0, 0], dtype=np.float64)
    other_nan.view(np.uint64)[0] = 0xFFF8000000000001  # negative NaN with a payload
    other_nan[1] = 0.0
    other_nan[2] = 1.0
    assert point_hash({"a": quiet}) == point_hash({"a": other_nan})
    complex_a = np.array([complex(np.nan, -0.0)], dtype=np.complex64)
    complex_b = np.array([complex(-np.nan, 0.0)], dtype=np.complex64)
    assert point_hash({"a": complex_a}) == point_hash({"a": complex_b})
    assert point_hash({"a": np.array(np.nan, dtype=np.float16)}) == point_hash(
        {"a": np.array(-np.nan, dtype=np.float16)}
    )


def test_arrays_hash_by_dtype_shape_and_data() -> None:
    base = np.arange(6, dtype=np.int64).reshape(2, 3)
    assert point_hash({"a": base}) == point_hash({"a": base.astype(">i8")})
    assert point_hash({"a": base}) == point_hash({"a": np.asfortranarray(base)})
    assert point_hash({"a": base[:, ::2]}) == point_hash({"a": base[:, ::2].copy()})
    assert point_hash({"a": base}) != point_hash({"a": base.astype(np.int32)})
    assert point_hash({"a": base}) != point_hash({"a": base.reshape(3, 2)})
    assert point_hash({"a": np.array(1)}) != point_hash({"a": 1})


def test_string_and_object_arrays_hash_element_wise() -> None:
    narrow = np.array(["a", "bc"])
    wide = np.array(["a", "bc"], dtype="U10")
    assert point_hash({"a": narrow}) == point_hash({"a": wide})
    assert point_hash({"a": np.array([b"x"], dtype="S3")}) == point_hash(
        {"a": np.array([b"x"], dtype="S1")}
    )
    assert point_hash({"a": np.array([1, "x"], dtype=object)}) != point_hash(
        {"a": np.array(["1", "x"], dtype=object)}
    )


def test_big_integers() -> None:
    assert point_hash({"x": 2**200}) != point_hash({"x": 2**200 + 1})
    assert point_hash({"x": np.uint64(2**64 - 1)}) == point_hash({"x": 2**64 - 1})


def test_unsupported_type_names_type_and_place() -> None:
    with pytest.raises(UnsupportedTypeError, match=r"fractions\.Fraction.*'x\[1\]'"):
        point_hash({"x": [1, Fraction(1, 3)]})
    with pytest.raises(TypeError, match="object"):
        point_hash({"x": {"k": object()}})


def test_platform_dependent_types_are_refused() -> None:
    if np.dtype(np.longdouble).itemsize <= 8:
        pytest.skip("longdouble is float64 on this platform")
    with pytest.raises(UnsupportedTypeError, match="longdouble"):
        point_hash({"x": np.longdouble(1)})
    with pytest.raises(UnsupportedTypeError, match=r"float128|longdouble"):
        point_hash({"x": np.zeros(2, dtype=np.longdouble)})


def test_structured_arrays_are_refused() -> None:
    structured = np.zeros(2, dtype=[("a", "i4"), ("b", "f8")])
    with pytest.raises(UnsupportedTypeError, match="dtype"):
        point_hash({"x": structured})


def test_names_must_be_strings() -> None:
    with pytest.raises(UnsupportedTypeError, match="int"):
        point_hash({1: 1})  # type: ignore[dict-item]


def test_value_hash_separates_values() -> None:
    assert value_hash(1) == value_hash(np.int16(1))
    assert value_hash(1) != value_hash(1.0)
    assert value_hash(1) != point_hash({"x": 1})


_INT_TYPES: list[type[np.integer[Any]]] = [
    np.int8,
    np.int16,
    np.int32,
    np.int64,
    np.uint8,
    np.uint16,
    np.uint32,
    np.uint64,
]


@settings(max_examples=60)
@given(value=st.integers(min_value=-(2**63), max_value=2**64 - 1), data=st.data())
def test_hash_invariant_under_lossless_integer_types(value: int, data: st.DataObject) -> None:
    fitting = [t for t in _INT_TYPES if np.iinfo(t).min <= value <= np.iinfo(t).max]
    numpy_type = data.draw(st.sampled_from(fitting))
    assert point_hash({"v": numpy_type(value)}) == point_hash({"v": value})


@settings(max_examples=60)
@given(value=st.floats(allow_nan=True, allow_infinity=True))
def test_hash_invariant_under_float64(value: float) -> None:
    assert point_hash({"v": np.float64(value)}) == point_hash({"v": value})


@settings(max_examples=60)
@given(value=st.floats(width=32))
def test_hash_invariant_under_lossless_float32(value: float) -> None:
    assert point_hash({"v": np.float32(value)}) == point_hash({"v": value})


@settings(max_examples=40)
@given(
    point=st.dictionaries(
        st.text(min_size=1, max_size=5),
        st.one_of(st.integers(), st.floats(), st.text(max_size=5), st.none(), st.booleans()),
        max_size=4,
    )
)
def test_hash_independent_of_insertion_order(point: dict[str, object]) -> None:
    reversed_point = dict(reversed(list(point.items())))
    assert point_hash(reversed_point) == point_hash(point)


_scalars = st.one_of(
    st.integers(-3, 3),
    st.integers(-3, 3).map(np.int32),
    st.sampled_from([0.0, -0.0, 1.5, float("nan")]),
    st.sampled_from([0.0, -0.0, 1.5, float("nan")]).map(np.float32),
    st.booleans(),
    st.none(),
    st.sampled_from(["a", "b"]),
    st.lists(st.integers(0, 2), max_size=2),
)


@settings(max_examples=40)
@given(
    rows=st.lists(st.fixed_dictionaries({"b": _scalars, "a.x": _scalars}), min_size=1, max_size=8)
)
def test_column_hashing_matches_point_hash(rows: list[dict[str, object]]) -> None:
    columns = {name: [row[name] for row in rows] for name in ("b", "a.x")}
    assert hash_columns(columns) == [point_hash(row) for row in rows]


def test_column_hashing_across_blocks_matches_point_hash() -> None:
    # More points than one hashing block, and more distinct floats than the per-column memo
    # keeps, so both the block joins and the memo reset are crossed.
    rng = np.random.default_rng(3)
    n = 70_001
    xs = rng.random(n).tolist()
    ys = [i % 7 for i in range(n)]
    hashes = hash_columns({"x": xs, "y": ys})
    assert len(hashes) == n
    for i in (0, 4095, 4096, 4097, 65_535, 65_536, 65_537, n - 1):
        assert hashes[i] == point_hash({"x": xs[i], "y": ys[i]})


def test_point_hashes_is_a_compact_sequence_of_hex_strings() -> None:
    points = [{"x": i} for i in range(5)]
    expected = [point_hash(p) for p in points]
    hashes = hash_columns({"x": list(range(5))})
    assert isinstance(hashes, PointHashes)
    assert hashes.digests.dtype == np.dtype("V16")
    assert hashes.digests.nbytes == 5 * 16
    assert list(hashes) == expected
    assert hashes[-1] == expected[-1]
    assert hashes == expected
    assert hashes == tuple(expected)
    assert hashes != expected[:4]
    assert hashes[1:3] == expected[1:3]
    assert isinstance(hashes[1:3], PointHashes)
    assert hashes.take([4, 0]) == [expected[4], expected[0]]
    assert expected[2] in hashes
    assert "0" * 32 not in hashes
    assert "not hex" not in hashes
    assert PointHashes.from_hex(expected) == hashes
    assert hash(PointHashes.from_hex(expected)) == hash(hashes)
    assert PointHashes.concatenate([hashes[:2], expected[2:]]) == hashes
    assert hashes.first_difference(hashes.take([0, 1, 3])) == 2
    assert hashes.first_difference(hashes[:3]) is None
    assert "5 runs" in repr(hashes)
    with pytest.raises(ValueError, match="read-only"):
        hashes.digests[0] = b"\0" * 16  # read-only: a cached sequence cannot be changed
    with pytest.raises(ValueError, match="16 bytes"):
        PointHashes(np.zeros(3, dtype="S8"))


def test_digest_with_trailing_zero_bytes_keeps_them() -> None:
    # S16 items drop trailing NUL bytes; the sequence must not.
    digest = "ab" + "00" * 15
    hashes = PointHashes.from_hex([digest])
    assert hashes[0] == digest
    assert PointHashes(hashes.digests.view("S16")) == [digest]
