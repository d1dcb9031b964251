"""Reading attributes by the low-level shortcuts gives what ``node.attrs`` gives.

:func:`read_attribute` reads scalar integers and UTF-8 texts by the low-level calls alone and
leaves every other value to h5py; :func:`attribute_names` lists a node's attributes in one
pass. The checks run when a file or a column is opened judge hand-edited attributes through
them, so both must agree with h5py for every kind of value, a missing attribute included.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import h5py
import numpy as np
import pytest

from pypet_rebuild.storage.hdf5.attributes import Attributes, attribute_names, read_attribute

VALUES: dict[str, object] = {
    "int": 5,
    "negative": np.int8(-3),
    "unsigned": np.uint32(7),
    "huge unsigned": np.uint64(2**64 - 1),
    "text": "s",
    "empty text": "",
    "unicode text": "\u00e9t\u00e9 \u2192 \U0001f600",
    "ascii text": np.array(b"abc", dtype=h5py.string_dtype("ascii")),
    "fixed text": np.bytes_(b"fixed"),
    "texts": np.array(["a", "b"], dtype=h5py.string_dtype()),
    "float": 2.5,
    "array": np.array([1, 2]),
    "empty": h5py.Empty("i8"),
    "bool": True,
}


@pytest.fixture
def node(tmp_path: Path) -> Iterator[h5py.File]:
    path = tmp_path / "attrs.h5"
    with h5py.File(path, "w") as file:
        for name, value in VALUES.items():
            file.attrs[name] = value
        # Bytes that are not UTF-8 in a text marked UTF-8 (another tool wrote it).
        file.attrs.create(
            "broken text", np.array(b"\xff\xfe", dtype=object), dtype=h5py.string_dtype()
        )
    file = h5py.File(path, "r")
    yield file
    file.close()


NAMES = [*VALUES, "broken text"]
# Read by the shortcut: the integers int64 holds exactly (as int), UTF-8 texts (as str).
AS_INT = {"int", "negative", "unsigned"}


@pytest.mark.parametrize("name", [*NAMES, "missing"])
def test_read_attribute_reads_what_attrs_reads(node: h5py.File, name: str) -> None:
    got = read_attribute(node, name, None)
    expected = node.attrs.get(name)
    assert type(got) is (int if name in AS_INT else type(expected))
    if isinstance(expected, np.ndarray):
        np.testing.assert_array_equal(got, expected)
    else:
        assert got == expected
    assert type(Attributes(node)[name] if name != "missing" else None) is type(got)


def test_a_missing_attribute_raises_key_error_without_a_default(node: h5py.File) -> None:
    with pytest.raises(KeyError):
        read_attribute(node, "missing")
    with pytest.raises(KeyError):
        Attributes(node)["missing"]
    assert "text" in Attributes(node)
    assert "missing" not in Attributes(node)


def test_attribute_names_lists_every_attribute(node: h5py.File) -> None:
    assert attribute_names(node) == frozenset(node.attrs)


def test_an_integer_wider_than_eight_bytes_is_left_to_h5py(tmp_path: Path) -> None:
    """A hand-made 16-byte integer: read into 64 bits it would be clipped, a wrong value."""
    path = tmp_path / "wide.h5"
    wide = h5py.h5t.STD_I64LE.copy()
    wide.set_size(16)
    wide.set_precision(128)
    with h5py.File(path, "w") as file:
        attribute = h5py.h5a.create(file.id, b"wide", wide, h5py.h5s.create(h5py.h5s.SCALAR))
        attribute.write(np.array([5, 1], dtype="<i8"), mtype=wide)  # 2**64 + 5
        attribute.close()
    with h5py.File(path, "r") as file:
        with pytest.raises(TypeError) as expected:
            file.attrs["wide"]
        with pytest.raises(TypeError, match=str(expected.value)):
            read_attribute(file, "wide")
