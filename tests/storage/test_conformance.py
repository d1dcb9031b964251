"""The storage conformance suite run against this project's memory and HDF5 backends.

The suite itself ships in :mod:`pypet_rebuild.testing.conformance` (third-party backends
subclass it too); here it is subclassed once per backend, plus what only this project checks:
every storable value (:mod:`storable`) on every backend, and defaults of a custom codec's type.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from storable import assert_same, storable_values

import pypet_rebuild as pr
from pypet_rebuild.errors import ResumeMismatchError
from pypet_rebuild.storage.codecs import DecodeContext, EncodeContext, Encoded
from pypet_rebuild.testing.conformance import (
    ReadOnlyStorageTests,
    StorageServiceTests,
    StorageUnderTest,
    fail_on_x2,
    record,
    simulate,
    store_sweep,
    trajectory,
)


@dataclass
class _Model:
    """A parameter value of a type the point hash does not cover (stored by its own codec)."""

    gain: float


class _ModelCodec:
    name = "tests.conformance.Model"

    def can_encode(self, value: object) -> bool:
        return True

    def encode(self, value: _Model, ctx: EncodeContext) -> Encoded:
        return Encoded(self.name, {"gain": np.array(value.gain)})

    def decode(self, encoded: Encoded, ctx: DecodeContext) -> _Model:
        return _Model(float(encoded.arrays["gain"]))


pr.register_codec(_Model, _ModelCodec(), replace=True)


class _ProjectChecks:
    """Checks of this project's own on every backend (they register a codec of the tests)."""

    @pytest.mark.parametrize("changed", [False, True])
    def test_resume_compares_defaults_of_any_type(
        self, backend: StorageUnderTest, changed: bool
    ) -> None:
        def study(gain: float) -> pr.Trajectory:
            traj = pr.Trajectory("custom", seed=3)
            traj.add_parameter("model", _Model(1.0))
            traj.add_parameter("x", 1.0)
            traj["model"].default = _Model(gain)
            traj.explore({"x": [1.0, 2.0]})
            return traj

        pr.Environment(study(1.0), storage=backend.storage).run(
            lambda run: {"z": run.x * run.model.gain}
        )
        if changed:
            with pytest.raises(ResumeMismatchError, match="model"):
                pr.Environment(study(2.0), storage=backend.reopen()).run(
                    lambda run: {"z": run.x}, resume=True
                )
        else:
            report = pr.Environment(study(1.0), storage=backend.reopen()).run(
                lambda run: {"z": run.x}, resume=True
            )
            assert report.skipped == 2


class TestMemoryStorage(_ProjectChecks, StorageServiceTests):
    backend_name = "memory"

    def create_storage(self, folder: Path, *, allow_pickle: bool) -> pr.StorageService:
        return pr.MemoryStorageService(allow_pickle=allow_pickle)


class TestHDF5Storage(_ProjectChecks, StorageServiceTests):
    backend_name = "hdf5"

    def create_storage(self, folder: Path, *, allow_pickle: bool) -> pr.StorageService:
        return pr.HDF5StorageService(folder / "s.h5", allow_pickle=allow_pickle)

    def reopen_storage(
        self, storage: pr.StorageService, *, allow_pickle: bool
    ) -> pr.StorageService:
        assert isinstance(storage, pr.HDF5StorageService)
        return pr.HDF5StorageService(storage.path, allow_pickle=allow_pickle)


class TestReadOnlyHDF5File(ReadOnlyStorageTests):
    """The read-only part of the suite, on an HDF5 file whose permissions forbid writing."""

    def open_reference(self, folder: Path) -> pr.StorageService:
        path = folder / "read_only.h5"
        writer = pr.HDF5StorageService(path)
        env = pr.Environment(trajectory(), storage=writer)
        env.run(fail_on_x2, on_error="continue")
        env.study.add_derived("total", 1.0)
        writer.close()
        path.chmod(0o444)
        return pr.HDF5StorageService(path)


# -- every codec on every backend ----------------------------------------------------------------

VALUE_NAMES = sorted(storable_values())
# The Trajectory itself refuses object-array defaults (its type check), before any storage.
# (It also cannot rebuild a structured-array parameter on loading, so the defaults live in a
# trajectory of their own, read through load_snapshot.)
NOT_PARAMETERS = frozenset({"a_object", "a_object_str"})


def _parameters() -> pr.Trajectory:
    """Every storable value as a parameter default (the trajectory may convert numpy scalars)."""
    traj = pr.Trajectory("defaults", seed=1)
    for name, value in storable_values().items():
        if name not in NOT_PARAMETERS:
            traj.add_parameter(name, value)
    return traj


def _store_everything(storage: pr.StorageService) -> None:
    """Every storable value as a parameter default, a result of runs 0 and 1, a derived result."""
    assert pr.Environment(_parameters(), storage=storage).run(lambda run: None).ok
    traj = pr.Trajectory("values", seed=1)
    traj.add_parameter("vector", np.zeros((2, 2)))
    traj.add_parameter("config", {"a": 1})
    traj.explore(
        {
            "vector": [np.zeros((2, 2)), np.asfortranarray(np.ones((2, 2)))],
            "config": [{"a": [1, None]}, {"b": (2.5, "x")}],
        }
    )
    report = pr.Environment(traj, storage=storage).run(lambda run: storable_values())
    assert report.ok
    with storage.open_writer("values") as session:
        session.store_derived([pr.Result(name, value) for name, value in storable_values().items()])


@pytest.fixture(scope="module")
def everything(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, pr.StorageService]]:
    """A reader per backend of what ``_store_everything`` stored."""
    memory = pr.MemoryStorageService()
    _store_everything(memory)
    path = tmp_path_factory.mktemp("everything") / "values.h5"
    writer = pr.HDF5StorageService(path)
    _store_everything(writer)
    writer.close()
    reader = pr.HDF5StorageService(path)
    yield {"memory": memory, "hdf5": reader}
    reader.close()


@pytest.fixture(params=["memory", "hdf5"])
def stored(
    request: pytest.FixtureRequest, everything: dict[str, pr.StorageService]
) -> pr.StorageService:
    return everything[request.param]


class TestEveryCodecOnEveryBackend:
    """Each backend gives back every storable value with its type, dtype, shape and value."""

    @pytest.mark.parametrize("name", VALUE_NAMES)
    def test_result(self, stored: pr.StorageService, name: str) -> None:
        expected = storable_values()[name]
        for value in stored.read_results("values", name, [0, 1]):
            assert_same(expected, value)

    @pytest.mark.parametrize("name", VALUE_NAMES)
    def test_derived_result(self, stored: pr.StorageService, name: str) -> None:
        assert_same(storable_values()[name], stored.load_derived("values")[name].value)

    @pytest.mark.parametrize("name", sorted(set(VALUE_NAMES) - NOT_PARAMETERS))
    def test_parameter_default(self, stored: pr.StorageService, name: str) -> None:
        given = {spec.path: spec.default for spec in _parameters().snapshot().parameters}
        defaults = {spec.path: spec.default for spec in stored.load_snapshot("defaults").parameters}
        assert_same(given[name], defaults[name])

    def test_explored_values(self, stored: pr.StorageService) -> None:
        explored = stored.load_snapshot("values").explored
        assert_same((np.zeros((2, 2)), np.asfortranarray(np.ones((2, 2)))), explored["vector"])
        assert_same(({"a": [1, None]}, {"b": (2.5, "x")}), explored["config"])

    def test_through_the_loaded_trajectory(self, stored: pr.StorageService) -> None:
        loaded = pr.load_trajectory(stored, "values")
        results = loaded.run(1).results
        for name, expected in storable_values().items():
            assert_same(expected, results[name])
        assert_same(np.asfortranarray(np.ones((2, 2))), loaded.run(1).params["vector"])

    def test_both_backends_give_back_the_same(
        self, everything: dict[str, pr.StorageService]
    ) -> None:
        memory, hdf5 = everything["memory"], everything["hdf5"]
        for name in VALUE_NAMES:
            for left, right in zip(
                memory.read_results("values", name, [0, 1]),
                hdf5.read_results("values", name, [0, 1]),
                strict=True,
            ):
                assert_same(right, left)
            assert_same(
                hdf5.load_derived("values")[name].value, memory.load_derived("values")[name].value
            )
        for left_spec, right_spec in zip(
            memory.load_snapshot("defaults").parameters,
            hdf5.load_snapshot("defaults").parameters,
            strict=True,
        ):
            assert_same(right_spec.default, left_spec.default)


# -- HDF5 only -----------------------------------------------------------------------------------


def test_hdf5_leaves_no_lock_file_after_a_clean_finish(tmp_path: Path) -> None:
    path = tmp_path / "clean.h5"
    storage = pr.HDF5StorageService(path)
    traj = trajectory()
    try:
        store_sweep(storage, traj, [record(0, traj, z=1.0)], provenance={"note": "clean"})
    finally:
        storage.close()
    assert pr.HDF5StorageService(path).load_provenance("sweep") == [{"note": "clean"}]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clean.h5"]
    # The same after a sweep through the Environment.
    pr.Environment(trajectory("other"), storage=tmp_path / "env.h5").run(simulate)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clean.h5", "env.h5"]


def test_mixed_memory_orders_in_one_result_each_come_back(tmp_path: Path) -> None:
    # One result, Fortran-ordered in some runs and C-ordered in others: each run's value keeps
    # its own order (the column is stored per value), across segments and after the fold.
    path = tmp_path / "orders.h5"
    traj = pr.Trajectory("orders", seed=1)
    traj.add_parameter("i", 0)
    traj.explore({"i": [0, 1, 2, 3]})

    def simulate(run: pr.Run) -> dict[str, object]:
        block = np.arange(6.0).reshape(2, 3) + run.i
        return {"m": np.asfortranarray(block) if run.i % 2 else block}

    pr.Environment(traj, path, batch_size=1).run(simulate, progress=False)
    with pr.load_trajectory(path) as study:
        values = study.results["m"].to_list()
    for i, value in enumerate(values):
        assert isinstance(value, np.ndarray)
        np.testing.assert_array_equal(value, np.arange(6.0).reshape(2, 3) + i)
        assert value.flags.c_contiguous == (i % 2 == 0)
        assert value.flags.f_contiguous == (i % 2 == 1)
