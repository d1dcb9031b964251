"""check_codec: the codec law in memory and through every installed backend."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from storable import storable_values

import pypet_rebuild as pr
from pypet_rebuild.storage.codecs import DecodeContext, EncodeContext, Encoded
from pypet_rebuild.testing import StorageFactory, check_codec, check_encoded, storage_factories


@dataclass(eq=False)
class Level:
    """A user type whose state is a 0-d array (the kind of value that once lost its shape)."""

    label: str
    value: np.ndarray[Any, Any]


class LevelCodec:
    name = "tests.check_codec.Level"

    def can_encode(self, value: object) -> bool:
        return True

    def encode(self, value: Level, ctx: EncodeContext) -> Encoded:
        return Encoded(self.name, {"value": value.value}, {"label": value.label})

    def decode(self, encoded: Encoded, ctx: DecodeContext) -> Level:
        return Level(str(encoded.attrs["label"]), encoded.arrays["value"])


@dataclass(eq=False)
class Flattened:
    value: np.ndarray[Any, Any]


class FlatteningCodec:
    """Breaks the law: a 0-d array comes back with one dimension."""

    name = "tests.check_codec.Flattened"

    def can_encode(self, value: object) -> bool:
        return True

    def encode(self, value: Flattened, ctx: EncodeContext) -> Encoded:
        return Encoded(self.name, {"value": value.value})

    def decode(self, encoded: Encoded, ctx: DecodeContext) -> Flattened:
        return Flattened(np.atleast_1d(encoded.arrays["value"]))


LEVEL_CODEC = LevelCodec()
pr.register_codec(Level, LEVEL_CODEC, replace=True)
pr.register_codec(Flattened, FlatteningCodec(), replace=True)


def test_the_backends_checked_by_default_are_memory_and_hdf5() -> None:
    assert [factory.name for factory in storage_factories()] == ["memory", "hdf5"]


def test_a_custom_codec_with_a_0d_array_passes_on_every_backend() -> None:
    values = [Level("gain", np.array(2.5)), Level("n", np.array(7, dtype=np.int8))]
    check_codec(Level, values)
    check_codec(LEVEL_CODEC, values)


@pytest.mark.slow
def test_every_storable_example_value_passes() -> None:
    values = storable_values()
    values.pop("a_fortran")  # HDF5 stacks same-shape arrays in C order (a documented deviation)
    check_codec(object, list(values.values()))


def test_a_codec_breaking_the_law_is_named_with_the_value() -> None:
    with pytest.raises(AssertionError, match=r"values\[1\] after decode\(encode\(x\)\).*shape"):
        check_codec(Flattened, [Flattened(np.arange(2.0)), Flattened(np.array(1.0))])


class _Lossy(pr.MemoryStorageService):
    """Memory storage that widens every array it gives back (a broken backend).

    A subclass, not a wrapper forwarding through ``__getattr__``: from Python 3.12 the
    protocol check (``isinstance(x, StorageService)``) looks attributes up statically.
    """

    def read_results(self, trajectory: str, name: str, runs: Sequence[int]) -> list[object]:
        values = super().read_results(trajectory, name, runs)
        return [v.astype(np.float64) if isinstance(v, np.ndarray) else v for v in values]


def test_a_backend_that_changes_values_is_named() -> None:
    lossy = StorageFactory("lossy", lambda folder, pickle: _Lossy(), lambda s, pickle: s)
    check_codec(np.ndarray, [np.arange(3.0)], factories=[lossy])
    with pytest.raises(
        AssertionError,
        match=r"backend 'lossy', values\[0\] as a result of run 0: dtype: expected int16",
    ):
        check_codec(np.ndarray, [np.arange(3, dtype=np.int16)], factories=[lossy])


def test_wrong_values_and_unregistered_codecs_are_refused() -> None:
    with pytest.raises(TypeError, match="not a Level"):
        check_codec(Level, [np.arange(3)])
    with pytest.raises(AssertionError, match="register"):
        check_codec(LEVEL_CODEC, [np.arange(3)])
    with pytest.raises(ValueError, match="at least one"):
        check_codec(Level, [])


def test_check_encoded_finds_broken_contracts(tmp_path: Path) -> None:
    check_encoded(Encoded("ok", {"a": np.zeros(2)}, {"k": 1}))
    with pytest.raises(AssertionError, match="not JSON"):
        check_encoded(Encoded("c", {}, {"k": float("nan")}))
    with pytest.raises(AssertionError, match="dtype"):
        check_encoded(Encoded("c", {"a": np.zeros(2, dtype=">f8")}))
    with pytest.raises(AssertionError, match="inside array"):
        check_encoded(Encoded("c", {"a": np.zeros(1), "a/b": np.zeros(1)}))
