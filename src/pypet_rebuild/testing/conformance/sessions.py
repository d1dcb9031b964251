"""Conformance: the protocol cycle, the writer session, the run table and results."""

from __future__ import annotations

import dataclasses
import math
import os
import socket

import numpy as np
import pytest

import pypet_rebuild as pr
from pypet_rebuild.errors import (
    FileLockedError,
    RunFailedError,
    StorageError,
    TrajectoryNotFoundError,
    UnsupportedTypeError,
)
from pypet_rebuild.storage import MISSING, RunStatus
from pypet_rebuild.storage.protocol import SupportsFinishWithRuns, WriterSession
from pypet_rebuild.testing.conformance._helpers import (
    YS,
    BoomError,
    StorageUnderTest,
    Unstorable,
    Z,
    fail_on_x2,
    files_in,
    record,
    simulate,
    store_sweep,
    stored_state,
    trajectory,
)
from pypet_rebuild.tree.seeding import run_seed


class WriterSessionTests:
    """The write cycle through a :class:`WriterSession`, the run table and per-run results.

    A mixin of :class:`~pypet_rebuild.testing.conformance.StorageServiceTests`, which gives it
    the ``backend`` fixture.
    """

    # -- the protocol cycle ---------------------------------------------------------------------

    def test_storage_follows_the_protocol(self, backend: StorageUnderTest) -> None:
        assert isinstance(backend.storage, pr.StorageService)
        pr.Environment(trajectory(), storage=backend.storage).run(simulate)
        assert backend.reopen().trajectory_names() == ("sweep",)

    def test_begin_store_end_cycle(self, backend: StorageUnderTest) -> None:
        storage = backend.storage
        traj = trajectory()
        with storage.begin_sweep(traj.snapshot(), resume=False) as session:
            assert isinstance(session, WriterSession)
            assert session.trajectory == "sweep"
            assert session.done_runs == frozenset()
            session.store_runs([record(0, traj, z=1.0), record(3, traj, z=4.0)])
            session.store_runs([])
            session.store_runs([record(1, traj, z=2.0, w="only here")])
            session.finish({"note": "first"})

        reader = backend.reopen()
        assert reader.trajectory_names() == ("sweep",)
        snapshot = reader.load_snapshot("sweep")
        assert snapshot.name == "sweep"
        assert snapshot.seed == 7
        assert snapshot.comment == "conformance"
        assert [spec.path for spec in snapshot.parameters] == ["x", "y", "sim.steps"]
        assert snapshot.n_runs == 6
        assert dict(snapshot.explored) == dict(traj.snapshot().explored)
        table = reader.load_run_table("sweep")
        assert len(table) == 6
        assert table.index.tolist() == list(range(6))
        assert table.status.tolist() == ["done", "done", "pending", "done", "pending", "pending"]
        assert table.done() == frozenset({0, 1, 3})
        assert table.host.tolist() == ["node-a", "node-a", "", "node-a", "", ""]
        assert table.pid.tolist() == [4242, 4242, -1, 4242, -1, -1]
        np.testing.assert_array_equal(table.started[[0, 1, 3]], [1000.0, 1001.0, 1003.0])
        assert np.isnan(table.duration[[2, 4, 5]]).all()
        assert reader.result_names("sweep") == ("w", "z")
        assert reader.read_results("sweep", "z", [3, 0, 2, 1]) == [4.0, 1.0, MISSING, 2.0]
        assert reader.read_results("sweep", "w", [0, 1]) == [MISSING, "only here"]
        assert reader.load_provenance("sweep") == [{"note": "first"}]

    def test_finish_with_runs_stores_the_last_batch_and_finishes(
        self, backend: StorageUnderTest
    ) -> None:
        """Optional ``finish_with_runs``: a refused batch is not stored, the session stays open."""
        storage = backend.storage
        traj = trajectory()
        session: object = storage.begin_sweep(traj.snapshot(), resume=False)
        assert isinstance(session, WriterSession)
        if not isinstance(session, SupportsFinishWithRuns):
            session.close()
            pytest.skip("the optional SupportsFinishWithRuns capability")
        with session:
            session.store_runs([record(0, traj, z=1.0)])
            refused = [record(1, traj, z=2.0), record(2, traj, z=Unstorable([2]))]
            with pytest.raises(UnsupportedTypeError, match="Unstorable"):
                session.finish_with_runs(refused, {"note": "refused"})
            open_after_refusal = not session.closed
            session.finish_with_runs([record(1, traj, z=2.0), record(3, traj, z=4.0)], {"n": 1})
            assert open_after_refusal
            assert session.closed
        reader = backend.reopen()
        assert reader.load_run_table("sweep").done() == frozenset({0, 1, 3})
        assert reader.read_results("sweep", "z", [0, 1, 2, 3]) == [1.0, 2.0, MISSING, 4.0]
        assert reader.load_provenance("sweep") == [{"n": 1}]

    def test_begin_sweep_reports_the_done_runs_when_resuming(
        self, backend: StorageUnderTest
    ) -> None:
        storage = backend.storage
        traj = trajectory()
        failed = record(2, traj)
        failed.status = RunStatus.FAILED
        failed.error = "Traceback: boom"
        store_sweep(storage, traj, [record(0, traj, z=1.0), failed, record(5, traj, z=6.0)])
        with storage.begin_sweep(traj.snapshot(), resume=True) as session:
            assert session.done_runs == frozenset({0, 5})
            session.finish({})

    # -- the writer session ---------------------------------------------------------------------

    def test_every_begin_sweep_reports_the_done_runs(self, backend: StorageUnderTest) -> None:
        storage = backend.storage
        traj = trajectory()
        failed = record(4, traj)
        failed.status = RunStatus.FAILED
        with storage.begin_sweep(traj.snapshot(), resume=False) as session:
            assert session.done_runs == frozenset()
            session.store_runs([record(0, traj, z=1.0), record(2, traj, z=3.0), failed])
        # Closed without finishing: the sweep is resumable, its runs are kept.
        with storage.begin_sweep(traj.snapshot(), resume=True) as session:
            assert session.done_runs == frozenset({0, 2})
            session.store_runs([record(4, traj, z=5.0)])
            session.finish({})
        traj.expand(pr.cartesian_product({"x": [4.0], "y": YS}))
        with storage.begin_sweep(traj.snapshot(), resume=True) as session:
            assert session.done_runs == frozenset({0, 2, 4})
            session.store_runs([record(7, traj, z=8.0)])
            session.finish({"note": "expanded"})
        with backend.reopen().begin_sweep(traj.snapshot(), resume=True) as session:
            assert session.done_runs == frozenset({0, 2, 4, 7})
        reader = backend.reopen()
        table = reader.load_run_table("sweep")
        assert len(table) == 8
        assert table.done() == frozenset({0, 2, 4, 7})
        # Only finished sessions record provenance.
        assert reader.load_provenance("sweep") == [{}, {"note": "expanded"}]

    def test_a_second_writer_is_locked_out_while_a_session_is_open(
        self, backend: StorageUnderTest
    ) -> None:
        # ``reopen`` is another handle on the same data (for HDF5 another service on the file).
        traj = trajectory()
        session = backend.storage.begin_sweep(traj.snapshot(), resume=False)
        other = backend.reopen()
        with pytest.raises(FileLockedError):
            other.begin_sweep(traj.snapshot(), resume=True)
        with pytest.raises(FileLockedError):
            other.open_writer("sweep")
        # The refused attempts left the session and its lock alone.
        session.store_runs([record(0, traj, z=1.0)])
        with pytest.raises(FileLockedError):
            backend.reopen().begin_sweep(traj.snapshot(), resume=True)
        session.close()
        session.close()  # idempotent
        with other.begin_sweep(traj.snapshot(), resume=True) as again:
            assert again.done_runs == frozenset({0})
            with pytest.raises(FileLockedError):
                backend.storage.begin_sweep(traj.snapshot(), resume=True)
            with pytest.raises(FileLockedError):
                backend.storage.open_writer("sweep")
        with backend.storage.open_writer("sweep") as writer:
            writer.store_derived([pr.Result("d", 1.0)])
        assert list(backend.reopen().load_derived("sweep")) == ["d"]

    def test_a_second_sweep_on_the_same_storage_is_locked_out(
        self, backend: StorageUnderTest, request: pytest.FixtureRequest
    ) -> None:
        storage = backend.storage
        traj = trajectory()
        with storage.begin_sweep(traj.snapshot(), resume=False) as session:
            with pytest.raises(FileLockedError):
                storage.begin_sweep(traj.snapshot(), resume=True)
            with pytest.raises(FileLockedError):
                storage.open_writer("sweep")
            session.store_runs([record(1, traj, z=2.0)])
        with storage.begin_sweep(traj.snapshot(), resume=True) as session:
            assert session.done_runs == frozenset({1})

    @pytest.mark.parametrize("error", [BoomError, KeyboardInterrupt])
    def test_leaving_a_session_by_an_exception_releases_the_lock(
        self, backend: StorageUnderTest, error: type[BaseException]
    ) -> None:
        traj = trajectory()
        session = backend.storage.begin_sweep(traj.snapshot(), resume=False)

        def interrupted_sweep() -> None:
            with session:
                session.store_runs([record(1, traj, z=2.0)])
                raise error("stop")

        with pytest.raises(error, match="stop"):
            interrupted_sweep()
        with pytest.raises(StorageError, match="closed"):
            session.store_runs([record(2, traj, z=3.0)])
        # The runs stored before the exception survive; another writer begins at once.
        with backend.reopen().begin_sweep(traj.snapshot(), resume=True) as again:
            assert again.done_runs == frozenset({1})
            again.finish({})
        writer = backend.storage.open_writer("sweep")

        def interrupted_write() -> None:
            with writer:
                writer.store_derived([pr.Result("kept", 1.0)])
                raise error("stop")

        with pytest.raises(error, match="stop"):
            interrupted_write()
        with backend.reopen().open_writer("sweep") as fresh:
            fresh.store_derived([pr.Result("more", 2.0)])
        reader = backend.reopen()
        assert reader.load_run_table("sweep").done() == frozenset({1})
        assert sorted(reader.load_derived("sweep")) == ["kept", "more"]

    def test_a_closed_session_refuses_every_write(self, backend: StorageUnderTest) -> None:
        storage = backend.storage
        traj = trajectory()
        closed = storage.begin_sweep(traj.snapshot(), resume=False)
        closed.store_runs([record(0, traj, z=1.0)])
        closed.close()
        finished = storage.begin_sweep(traj.snapshot(), resume=True)
        finished.finish({"note": "done"})
        writer = storage.open_writer("sweep")
        writer.close()
        for session in (closed, finished, writer):
            with pytest.raises(StorageError, match=r"'sweep'.*closed") as refused_runs:
                session.store_runs([record(1, traj, z=2.0)])
            with pytest.raises(StorageError, match=r"'sweep'.*closed") as refused_derived:
                session.store_derived([pr.Result("late", 1.0)])
            with pytest.raises(StorageError, match=r"'sweep'.*closed") as refused_finish:
                session.finish({"note": "late"})
            for caught in (refused_runs, refused_derived, refused_finish):
                assert not isinstance(caught.value, FileLockedError)
        reader = backend.reopen()
        assert reader.load_run_table("sweep").done() == frozenset({0})
        assert reader.result_names("sweep") == ("z",)
        assert reader.load_derived("sweep") == {}
        assert reader.load_provenance("sweep") == [{"note": "done"}]

    def test_finish_twice_is_refused(self, backend: StorageUnderTest) -> None:
        traj = trajectory()
        with backend.storage.begin_sweep(traj.snapshot(), resume=False) as session:
            session.store_runs([record(0, traj, z=1.0)])
            session.finish({"note": "first"})
            with pytest.raises(StorageError, match="closed"):
                session.finish({"note": "second"})
        assert backend.reopen().load_provenance("sweep") == [{"note": "first"}]
        # The first finish released the lock.
        with backend.reopen().begin_sweep(traj.snapshot(), resume=True) as again:
            assert again.done_runs == frozenset({0})

    @pytest.mark.parametrize("where", ["default", "explored"])
    def test_a_definition_without_a_codec_is_refused_before_the_lock(
        self, backend: StorageUnderTest, where: str
    ) -> None:
        storage = backend.storage
        pr.Environment(trajectory(), storage=storage).run(fail_on_x2, on_error="continue")
        before = stored_state(backend.reopen())
        files = files_in(backend.folder)
        good = pr.Trajectory("model", seed=1)
        good.add_parameter("cfg", {"gain": 1.0})
        good.explore({"cfg": [{"gain": 1.0}, {"gain": 2.0}]})
        if where == "default":
            bad = pr.Trajectory("model", seed=1)
            bad.add_parameter("cfg", {"gain": 1.0})
            bad.add_parameter("obj", Unstorable([0]))
            bad.explore({"cfg": [{"gain": 1.0}, {"gain": 2.0}]})
            snapshot, path = bad.snapshot(), r"obj"
        else:
            # (A Trajectory cannot explore such a value: the point hash refuses it.)
            explored = {"cfg": ({"gain": 1.0}, {"gain": Unstorable([1])})}
            snapshot = dataclasses.replace(good.snapshot(), explored=explored)
            path = r"explored\.cfg"
        for resume in (False, True):
            with pytest.raises(UnsupportedTypeError, match=rf"'Unstorable'.*{path}"):
                storage.begin_sweep(snapshot, resume=resume)
        assert stored_state(backend.reopen()) == before
        assert files_in(backend.folder) == files
        # The lock is free and nothing of "model" was recorded: a good sweep of that name runs
        # fresh in this process (through another handle, which the lock would stop).
        env = pr.Environment(good, storage=backend.reopen())
        assert env.run(lambda run: {"g": run.cfg["gain"]}).ok
        assert env.study.results["g"][:].tolist() == [1.0, 2.0]

    def test_open_writer_on_an_unknown_trajectory(self, backend: StorageUnderTest) -> None:
        with pytest.raises(TrajectoryNotFoundError, match="'nope'"):
            backend.storage.open_writer("nope")
        pr.Environment(trajectory("first"), storage=backend.storage).run(simulate)
        with pytest.raises(TrajectoryNotFoundError, match=r"'nope'.*'first'"):
            backend.storage.open_writer("nope")
        # Nothing was created, and the lock is free.
        with backend.reopen().open_writer("first") as writer:
            assert writer.trajectory == "first"
            writer.store_derived([pr.Result("d", 1.0)])
        reader = backend.reopen()
        assert reader.trajectory_names() == ("first",)
        assert list(reader.load_derived("first")) == ["d"]

    def test_unknown_trajectory_is_a_clear_error(self, backend: StorageUnderTest) -> None:
        pr.Environment(trajectory("first"), storage=backend.storage).run(simulate)
        reader = backend.reopen()
        for read in (
            lambda: reader.load_run_table("nope"),
            lambda: reader.load_snapshot("nope"),
            lambda: reader.result_names("nope"),
        ):
            with pytest.raises(TrajectoryNotFoundError, match=r"'nope'.*'first'"):
                read()
        with pytest.raises(TrajectoryNotFoundError, match=r"'nope'.*'first'"):
            pr.load_trajectory(reader, "nope")

    # -- the run table --------------------------------------------------------------------------

    def test_run_table_contents(self, backend: StorageUnderTest) -> None:
        seeds: dict[int, int] = {}

        def tracked(run: pr.Run) -> dict[str, object]:
            seeds[run.index] = run.seed
            return fail_on_x2(run)

        traj = trajectory()
        report = pr.Environment(traj, storage=backend.storage).run(tracked, on_error="continue")
        assert (report.done, report.failed) == (4, 2)

        table = backend.reopen().load_run_table("sweep")
        assert len(table) == 6
        assert table.status.tolist() == ["done", "done", "failed", "failed", "done", "done"]
        assert table.count(RunStatus.FAILED) == 2
        assert table.point_hash.tolist() == list(traj.point_hashes())
        assert table.seed.tolist() == [seeds[i] for i in range(6)]
        assert table.host.tolist() == [socket.gethostname()] * 6
        assert table.pid.tolist() == [os.getpid()] * 6
        for i in range(6):
            assert math.isfinite(table.duration[i])
            assert table.duration[i] >= 0.0
            assert table.started[i] <= table.finished[i]
            assert table.finished[i] == pytest.approx(table.started[i] + table.duration[i])
            assert table.duration[i] == pytest.approx(report.durations[i])
        for i in (2, 3):
            assert "BoomError" in table.error[i]
            assert f"boom at y={YS[i - 2]}" in table.error[i]
            assert "Traceback" in table.error[i]
        assert [table.error[i] for i in (0, 1, 4, 5)] == [""] * 4

    def test_run_view_metadata_matches_the_table(self, backend: StorageUnderTest) -> None:
        pr.Environment(trajectory(), storage=backend.storage).run(fail_on_x2, on_error="continue")
        loaded = pr.load_trajectory(backend.reopen(), "sweep")
        assert loaded.run(2).status == "failed"
        assert loaded.run(0).status == "done"
        metadata = loaded.run(3).metadata
        assert metadata["status"] == "failed"
        assert "BoomError" in str(metadata["error"])
        assert loaded.run(3).results == {}
        assert loaded.run(4).params == {"x": 3.0, "y": 10, "sim.steps": 5}

    def test_runs_that_never_ran_are_pending(self, backend: StorageUnderTest) -> None:
        with pytest.raises(RunFailedError):
            pr.Environment(trajectory(), storage=backend.storage).run(fail_on_x2)
        table = backend.reopen().load_run_table("sweep")
        assert table.status.tolist() == ["done", "done", "failed"] + ["pending"] * 3
        assert table.host.tolist()[3:] == ["", "", ""]
        assert table.pid.tolist()[3:] == [-1, -1, -1]
        assert np.isnan(table.started[3:]).all()
        # Seeds are known before a run starts: they derive from the point.
        traj = trajectory()
        expected = [run_seed(traj.seed, h) for h in traj.point_hashes()]
        assert table.seed.tolist() == expected

    # -- results --------------------------------------------------------------------------------

    def test_result_names_cover_every_run_sorted(self, backend: StorageUnderTest) -> None:
        def some(run: pr.Run) -> dict[str, object]:
            found = simulate(run)
            if run.index == 4:
                found["a_rare"] = "four"
            return found

        pr.Environment(trajectory(), storage=backend.storage).run(some)
        reader = backend.reopen()
        assert reader.result_names("sweep") == ("a_rare", "trace", "z")
        loaded = pr.load_trajectory(reader)
        assert list(loaded.results) == ["a_rare", "trace", "z"]
        assert loaded.run(4).results["a_rare"] == "four"
        assert "a_rare" not in loaded.run(3).results

    def test_read_results_gives_missing_for_failed_runs(self, backend: StorageUnderTest) -> None:
        pr.Environment(trajectory(), storage=backend.storage).run(fail_on_x2, on_error="continue")
        reader = backend.reopen()
        values = reader.read_results("sweep", "z", [5, 2, 0, 3, 5])
        assert values == [60.0, MISSING, 10.0, MISSING, 60.0]
        assert all(type(v) is float for v in values if v is not MISSING)
        assert reader.read_results("sweep", "z", []) == []
        loaded = pr.load_trajectory(reader)
        assert loaded.results["z"].to_list() == [10.0, 20.0, None, None, 30.0, 60.0]
        with pytest.raises(KeyError, match="run 2"):
            loaded.results["z"][2]

    def test_results_through_the_trajectory(self, backend: StorageUnderTest) -> None:
        traj = trajectory()
        env = pr.Environment(traj, storage=backend.storage)
        env.run(simulate)
        for view in (env.study, pr.load_trajectory(backend.reopen(), "sweep")):
            np.testing.assert_array_equal(view.results["z"][:], Z)
            trace = view.results["trace"][:]
            assert trace.shape == (6, 5)
            np.testing.assert_array_equal(trace[:, 1], [1.0, 1.0, 2.0, 2.0, 3.0, 3.0])
            assert view.run(5).results["z"] == 60.0
            assert view.run(5).point == {"x": 3.0, "y": 20}

    def test_result_comments(self, backend: StorageUnderTest) -> None:
        def commented(run: pr.Run) -> None:
            run.add_result("z", run.x * run.y, comment="the product")
            run.add_result("w", run.x)
            run.add_result("trace", np.zeros(3), comment="a trace")

        pr.Environment(trajectory(), storage=backend.storage).run(commented)
        reader = backend.reopen()
        assert reader.result_comment("sweep", "z") == "the product"
        assert reader.result_comment("sweep", "trace") == "a trace"
        assert reader.result_comment("sweep", "w") == ""
        loaded = pr.load_trajectory(reader)
        assert loaded.results["z"].comment == "the product"
        assert loaded.results["w"].comment == ""
