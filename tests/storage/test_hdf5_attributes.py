"""Reading attributes by the low-level shortcuts gives what ``node.attrs`` gives.

:func:`integer_attribute` reads scalar integers by the low-level calls alone and leaves every
other value to h5py; :func:`attribute_names` lists a node's attributes in one pass. The checks
run when a file is opened judge hand-edited attributes through them, so both must agree with
h5py for every kind of value, a missing attribute included.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import h5py
import numpy as np
import pytest

from pypet_rebuild.storage.hdf5.attributes import attribute_names, integer_attribute

VALUES: dict[str, object] = {
    "int": 5,
    "negative": np.int8(-3),
    "unsigned": np.uint32(7),
    "huge unsigned": np.uint64(2**64 - 1),
    "text": "s",
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
    file = h5py.File(path, "r")
    yield file
    file.close()


# Read as a Python int: the integers int64 holds exactly. Every other value keeps h5py's type.
AS_INT = {"int", "negative", "unsigned"}


@pytest.mark.parametrize("name", [*VALUES, "missing"])
def test_integer_attribute_reads_what_attrs_reads(node: h5py.File, name: str) -> None:
    got = integer_attribute(node, name, None)
    expected = node.attrs.get(name)
    assert type(got) is (int if name in AS_INT else type(expected))
    if isinstance(expected, np.ndarray):
        np.testing.assert_array_equal(got, expected)
    else:
        assert got == expected


def test_attribute_names_lists_every_attribute(node: h5py.File) -> None:
    assert attribute_names(node) == frozenset(node.attrs)
