"""Conformance: values are the storage's own, unstorable values are refused, loading."""

from __future__ import annotations

import re

import numpy as np
import pytest

import pypet_rebuild as pr
from pypet_rebuild.errors import (
    RunFailedError,
    UnsupportedTypeError,
)
from pypet_rebuild.storage import MISSING, RunStatus
from pypet_rebuild.storage.codecs import encode_value
from pypet_rebuild.testing.conformance._helpers import (
    StorageUnderTest,
    Unstorable,
    mutable_values,
    mutate,
    record,
    simulate,
    store_sweep,
    trajectory,
)
from pypet_rebuild.testing.values import assert_values_equal


class StoredValueTests:
    """Copies in and out, refusals of values without a codec, and loading.

    A mixin of :class:`~pypet_rebuild.testing.conformance.StorageServiceTests`.
    """

    # -- values are the storage's own: copies in, copies out ------------------------------------

    def test_mutating_values_after_storing_them_changes_nothing(
        self, backend: StorageUnderTest
    ) -> None:
        storage = backend.storage
        traj = trajectory()
        mutable = mutable_values()
        done = record(0, traj, **mutable)
        derived = mutable_values()
        store_sweep(
            storage,
            traj,
            [done],
            derived=[pr.Result(name, v) for name, v in derived.items()],
            provenance={"note": "first"},
        )

        for values in (mutable, derived):
            mutate(values)
        done.results["added"] = 1.0  # type: ignore[index]
        done.status = RunStatus.FAILED

        reader = backend.reopen()
        stored = {name: reader.read_results("sweep", name, [0])[0] for name in mutable}
        for name, expected in mutable_values().items():
            assert_values_equal(expected, stored[name])
            assert_values_equal(expected, reader.load_derived("sweep")[name].value)
        assert "added" not in reader.result_names("sweep")
        assert reader.load_run_table("sweep").status[0] == "done"

    def test_mutating_a_parameter_after_the_sweep_began_changes_nothing(
        self, backend: StorageUnderTest
    ) -> None:
        traj = pr.Trajectory("params", seed=1)
        traj.add_parameter("cfg", {"gains": [1.0, 2.0]})
        traj.add_parameter("weights", np.zeros(3))
        traj.explore({"weights": [np.zeros(3), np.ones(3)]})
        snapshot = traj.snapshot()
        session = backend.storage.begin_sweep(snapshot, resume=False)
        defaults = {spec.path: spec.default for spec in snapshot.parameters}
        defaults["cfg"]["gains"].append(3.0)  # type: ignore[index]
        defaults["weights"][:] = 5.0  # type: ignore[index]
        snapshot.explored["weights"][1][:] = -1.0  # type: ignore[index]

        stored = backend.reopen().load_snapshot("params")
        assert_values_equal({"gains": [1.0, 2.0]}, stored.parameters[0].default)
        assert_values_equal(np.zeros(3), stored.parameters[1].default)
        assert_values_equal((np.zeros(3), np.ones(3)), stored.explored["weights"])
        session.close()

    def test_mutating_a_value_read_back_changes_nothing(self, backend: StorageUnderTest) -> None:
        storage = backend.storage
        traj = trajectory()
        store_sweep(
            storage,
            traj,
            [record(0, traj, **mutable_values())],
            derived=[pr.Result(name, v) for name, v in mutable_values().items()],
            provenance={"note": "first"},
        )
        reader = backend.reopen()

        for name in mutable_values():
            first = reader.read_results("sweep", name, [0])[0]
            mutate({name: first})
            second = reader.read_results("sweep", name, [0])[0]
            assert second is not first
            assert_values_equal(mutable_values()[name], second)
            first = reader.load_derived("sweep")[name].value
            mutate({name: first})
            assert_values_equal(mutable_values()[name], reader.load_derived("sweep")[name].value)
        reader.load_provenance("sweep")[0]["note"] = "changed"
        assert reader.load_provenance("sweep") == [{"note": "first"}]

    def test_mutating_a_snapshot_read_back_changes_nothing(
        self, backend: StorageUnderTest, request: pytest.FixtureRequest
    ) -> None:
        traj = pr.Trajectory("params", seed=1)
        traj.add_parameter("cfg", {"gains": [1.0]})
        traj.add_parameter("weights", np.zeros(3))
        traj.explore({"weights": [np.zeros(3), np.ones(3)]})
        pr.Environment(traj, storage=backend.storage).run(lambda run: None)
        reader = backend.reopen()
        snapshot = reader.load_snapshot("params")
        snapshot.parameters[0].default["gains"].append(2.0)  # type: ignore[index]
        snapshot.explored["weights"][1][:] = -1.0  # type: ignore[index]
        again = reader.load_snapshot("params")
        assert again.parameters[0].default == {"gains": [1.0]}
        assert_values_equal((np.zeros(3), np.ones(3)), again.explored["weights"])

    def test_annotations_and_provenance_come_back_as_json(self, backend: StorageUnderTest) -> None:
        storage = backend.storage
        traj = trajectory()
        traj.add_parameter("gain", 1.0, annotations={"scale": np.float32(2.0), "at": (1, 2)})
        provenance = {"args": ("a", 1), "obj": Unstorable([1]), "nested": {"k": [1]}}
        store_sweep(
            storage,
            traj,
            derived=[pr.Result("d", 1.0, annotations={"runs": (0, 1)})],
            provenance=provenance,
        )
        provenance["nested"]["k"].append(2)  # type: ignore[index]

        reader = backend.reopen()
        spec = reader.load_snapshot("sweep").parameters[-1]
        assert spec.annotations == {"scale": 2.0, "at": [1, 2]}
        assert reader.load_derived("sweep")["d"].annotations == {"runs": [0, 1]}
        expected = {"args": ["a", 1], "obj": "Unstorable(payload=[1])", "nested": {"k": [1]}}
        assert reader.load_provenance("sweep") == [expected]
        reader.load_provenance("sweep")[0]["nested"]["k"].append(3)  # type: ignore[index]
        assert reader.load_provenance("sweep") == [expected]

    # -- what cannot be stored is refused, by every backend alike -------------------------------

    @pytest.mark.parametrize(
        "bad",
        [Unstorable([1]), {"a": [1, Unstorable([2])]}, (1, {"k": Unstorable([3])})],
        ids=["top", "in-dict-list", "in-tuple-dict"],
    )
    def test_a_result_without_a_codec_refuses_the_whole_batch(
        self, backend: StorageUnderTest, bad: object
    ) -> None:
        storage = backend.storage
        traj = trajectory()
        with storage.begin_sweep(traj.snapshot(), resume=False) as session:
            session.store_runs([record(0, traj, z=1.0)])
            with pytest.raises(UnsupportedTypeError) as caught:
                session.store_runs([record(1, traj, z=2.0), record(2, traj, bad=bad)])
            with pytest.raises(UnsupportedTypeError) as expected:
                encode_value(bad, "results.bad")
            assert str(caught.value) == str(expected.value)
            assert "'Unstorable'" in str(caught.value)
            assert isinstance(caught.value, TypeError)
            # The session stays usable after a refused batch.
            session.store_runs([record(3, traj, z=4.0)])
            session.finish({})

        reader = backend.reopen()
        table = reader.load_run_table("sweep")
        assert table.status.tolist() == ["done", "pending", "pending", "done"] + ["pending"] * 2
        assert reader.result_names("sweep") == ("z",)
        assert reader.read_results("sweep", "z", [0, 1, 3]) == [1.0, MISSING, 4.0]

    def test_a_simulate_returning_a_value_without_a_codec_fails_alike(
        self, backend: StorageUnderTest
    ) -> None:
        def simulate_bad(run: pr.Run) -> dict[str, object]:
            return {"z": run.x, "model": Unstorable([run.index])}

        # The run fails alone (the storage's refusal is its cause) on every backend alike.
        with pytest.raises(RunFailedError) as caught:
            pr.Environment(trajectory(), storage=backend.storage).run(simulate_bad)
        assert isinstance(caught.value.__cause__, UnsupportedTypeError)
        assert re.search(r"'Unstorable'.*'results\.model'", str(caught.value.__cause__))
        reader = backend.reopen()
        assert "model" not in reader.result_names("sweep")
        report = pr.Environment(trajectory(), storage=pr.MemoryStorageService()).run(
            simulate_bad, on_error="continue"
        )
        assert report.failed == len(trajectory())
        assert {f.error_type for f in report.failures} == {"UnsupportedTypeError"}

    def test_a_derived_result_without_a_codec_refuses_the_batch(
        self, backend: StorageUnderTest
    ) -> None:
        storage = backend.storage
        pr.Environment(trajectory(), storage=storage).run(simulate)
        with storage.open_writer("sweep") as session:
            session.store_derived([pr.Result("kept", 1.0)])
            with pytest.raises(UnsupportedTypeError, match=r"'Unstorable'.*'derived\.obj'"):
                session.store_derived([pr.Result("kept", 2.0), pr.Result("obj", Unstorable([1]))])
        derived = backend.reopen().load_derived("sweep")
        assert list(derived) == ["kept"]
        assert derived["kept"].value == 1.0
        # Through the stored study, the same refusal, and the writer lock is released after it.
        study = pr.load_trajectory(backend.reopen(), "sweep")
        with pytest.raises(UnsupportedTypeError, match=r"'Unstorable'.*'derived\.obj'"):
            study.add_derived("obj", Unstorable([2]))
        study.add_derived("kept", 3.0, replace=True)
        assert {name: r.value for name, r in backend.reopen().load_derived("sweep").items()} == {
            "kept": 3.0
        }

    def test_a_parameter_without_a_codec_is_refused_before_any_run(
        self, backend: StorageUnderTest, request: pytest.FixtureRequest
    ) -> None:
        # (An explored value without a codec never gets this far: the point hash refuses it.)
        traj = trajectory("model")
        traj.add_parameter("model", Unstorable([0]))
        ran: list[int] = []
        with pytest.raises(UnsupportedTypeError) as caught:
            pr.Environment(traj, storage=backend.storage).run(lambda run: ran.append(run.index))
        with pytest.raises(UnsupportedTypeError) as expected:
            encode_value(Unstorable([0]), "model")
        assert str(caught.value) == str(expected.value)
        assert ran == []

    def test_allow_pickle_stores_values_without_a_codec_alike(
        self, pickling_backend: StorageUnderTest
    ) -> None:
        storage = pickling_backend.storage
        traj = trajectory()
        nested = {"a": [1, Unstorable([2])]}
        store_sweep(
            storage,
            traj,
            [record(0, traj, obj=Unstorable([1]), nested=nested)],
            derived=[pr.Result("obj", Unstorable([3]), "pickled")],
        )
        reader = pickling_backend.reopen()
        assert reader.read_results("sweep", "obj", [0]) == [Unstorable([1])]
        assert reader.read_results("sweep", "nested", [0]) == [{"a": [1, Unstorable([2])]}]
        assert reader.load_derived("sweep")["obj"].value == Unstorable([3])

    def test_allow_pickle_never_pickles_a_parameter(
        self, pickling_backend: StorageUnderTest
    ) -> None:
        traj = trajectory("model")
        traj.add_parameter("model", Unstorable([0]))
        with pytest.raises(UnsupportedTypeError, match=r"'Unstorable'.*'model'"):
            pr.Environment(traj, storage=pickling_backend.storage).run(lambda run: None)

    # -- loading --------------------------------------------------------------------------------

    def test_loaded_trajectory_has_the_stored_definition(self, backend: StorageUnderTest) -> None:
        traj = trajectory()
        pr.Environment(traj, storage=backend.storage).run(simulate)
        loaded = pr.load_trajectory(backend.reopen(), "sweep")
        assert loaded.name == "sweep"
        assert loaded.comment == "conformance"
        assert loaded.seed == 7
        assert len(loaded) == 6
        assert loaded.is_locked
        assert loaded["sim.steps"].default == 5
        assert loaded.get_parameter("x").comment == "first factor"
        assert loaded.explored_names == ("x", "y")
        assert [loaded.point(i) for i in range(6)] == [traj.point(i) for i in range(6)]
        assert loaded.point_hashes() == traj.point_hashes()

    def test_load_only_limits_the_results(self, backend: StorageUnderTest) -> None:
        pr.Environment(trajectory(), storage=backend.storage).run(simulate)
        loaded = pr.load_trajectory(backend.reopen(), load_only=["z"])
        assert list(loaded.results) == ["z"]
        assert loaded.run(1).results == {"z": 20.0}
        with pytest.raises(KeyError, match="trace"):
            loaded.results["trace"]
        with pytest.raises(KeyError, match="nope"):
            pr.load_trajectory(backend.reopen(), load_only=["z", "nope"])
