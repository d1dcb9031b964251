"""One conformance suite, run against every storage backend through the public API.

Like zarr's ``StoreTests``: the class below knows nothing about a backend; the ``backend``
fixture gives it a fresh :class:`StorageService` and a way to reopen what was stored (the same
object in memory, a new service on the same file for HDF5, which proves the data is on disk).
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
import socket
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from storable import Gauge, Unstorable, assert_same, storable_values

import pypet_rebuild as pr
from pypet_rebuild.errors import (
    FileLockedError,
    ResumeMismatchError,
    RunFailedError,
    StorageError,
    TrajectoryNotFoundError,
    UnsupportedTypeError,
)
from pypet_rebuild.storage import MISSING, RunRecord, RunStatus
from pypet_rebuild.storage.codecs import DecodeContext, EncodeContext, Encoded, encode_value
from pypet_rebuild.storage.protocol import WriterSession
from pypet_rebuild.tree.seeding import run_seed

XS = [1.0, 2.0, 3.0]
YS = [10, 20]
Z = [10.0, 20.0, 20.0, 40.0, 30.0, 60.0]


@dataclass
class Backend:
    """A storage under test: ``storage`` writes, ``reopen()`` gives a reader of the same data."""

    name: str
    storage: pr.StorageService
    reopen: Callable[[], pr.StorageService]


def _files(backend: Backend) -> dict[str, bytes]:
    """The bytes of every file next to an HDF5 backend's file (nothing for memory)."""
    storage = backend.storage
    if not isinstance(storage, pr.HDF5StorageService):
        return {}
    folder = storage.path.parent
    return {
        str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()
    }


def _backend(kind: str, path: Path, *, allow_pickle: bool) -> Iterator[Backend]:
    opened: list[pr.StorageService] = []
    if kind == "memory":
        memory = pr.MemoryStorageService(allow_pickle=allow_pickle)
        yield Backend("memory", memory, lambda: memory)
        return

    def reopen() -> pr.StorageService:
        service = pr.HDF5StorageService(path, allow_pickle=allow_pickle)
        opened.append(service)
        return service

    writer = pr.HDF5StorageService(path, allow_pickle=allow_pickle)
    yield Backend("hdf5", writer, reopen)
    for service in (writer, *opened):
        service.close()


@pytest.fixture(params=["memory", "hdf5"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    yield from _backend(request.param, tmp_path / "s.h5", allow_pickle=False)


@pytest.fixture(params=["memory", "hdf5"])
def pickling_backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    """A backend created with ``allow_pickle=True`` (readers too)."""
    yield from _backend(request.param, tmp_path / "p.h5", allow_pickle=True)


def trajectory(name: str = "sweep", *, y_default: int = 1) -> pr.Trajectory:
    traj = pr.Trajectory(name, seed=7, comment="conformance")
    traj.add_parameter("x", 1.0, comment="first factor")
    traj.add_parameter("y", y_default)
    traj.add_parameter("sim.steps", 5)
    traj.explore(pr.cartesian_product({"x": XS, "y": YS}))
    return traj


def simulate(run: pr.Run) -> dict[str, object]:
    return {"z": run.x * run.y, "trace": np.arange(run["sim.steps"]) * run.x}


class BoomError(Exception):
    """The user's own exception."""


def fail_on_x2(run: pr.Run) -> dict[str, object]:
    if run.x == 2.0:
        raise BoomError(f"boom at y={run.y}")
    return simulate(run)


def record(index: int, traj: pr.Trajectory, **results: object) -> RunRecord:
    point_hash = traj.point_hashes()[index]
    return RunRecord(
        index=index,
        point_hash=point_hash,
        status=RunStatus.DONE,
        started=1000.0 + index,
        finished=1000.5 + index,
        duration=0.5,
        host="node-a",
        pid=4242,
        seed=run_seed(traj.seed, point_hash),
        results=results,
    )


def store_sweep(
    storage: pr.StorageService,
    traj: pr.Trajectory,
    runs: Sequence[RunRecord] = (),
    *,
    derived: Sequence[pr.Result[Any]] = (),
    provenance: Mapping[str, object] | None = None,
    resume: bool = False,
) -> frozenset[int]:
    """One sweep through a writer session: begin, store ``runs`` and ``derived``, finish.

    Returns the session's ``done_runs``.
    """
    with storage.begin_sweep(traj.snapshot(), resume=resume) as session:
        done = session.done_runs
        session.store_runs(runs)
        session.store_derived(derived)
        session.finish({} if provenance is None else provenance)
    return done


def stored_state(storage: pr.StorageService) -> dict[str, object]:
    """Everything a storage holds, comparable with ``==`` (values by their ``repr``)."""
    state: dict[str, object] = {}
    for name in storage.trajectory_names():
        table = storage.load_run_table(name)
        runs = list(range(len(table)))
        state[name] = {
            "snapshot": storage.load_snapshot(name),
            "status": table.status.tolist(),
            "results": {
                result: [repr(v) for v in storage.read_results(name, result, runs)]
                for result in storage.result_names(name)
            },
            "derived": {key: repr(r.value) for key, r in storage.load_derived(name).items()},
            "provenance": storage.load_provenance(name),
        }
    return state


def _mutable_values() -> dict[str, object]:
    """Values that can be changed in place (fresh objects on every call)."""
    return {
        "array": np.arange(3.0),
        "array_0d": np.array(1.5),
        "nested": {"k": [1, [2]], "a": np.zeros(2)},
        "frame": pd.DataFrame({"a": [1.0, 2.0]}),
        "gauge": Gauge("g", np.array(1.0)),
        "structured": np.zeros(2, dtype=[("a", "i4"), ("b", "f8")]),
    }


def _mutate(values: dict[str, Any]) -> None:
    """Change in place every value of ``_mutable_values`` present in ``values``."""
    if "array" in values:
        values["array"][0] = 99.0
    if "array_0d" in values:
        values["array_0d"][...] = -1.0
    if "nested" in values:
        values["nested"]["k"][1].append(3)
        values["nested"]["a"][0] = 5.0
        values["nested"]["new"] = 1
    if "frame" in values:
        values["frame"].iloc[0, 0] = -1.0
    if "gauge" in values:
        values["gauge"].level[...] = 7.0
        values["gauge"].label = "changed"
    if "structured" in values:
        values["structured"]["a"][0] = 3


class TestStorageConformance:
    """What every backend must do; each test gets a fresh storage."""

    # -- the protocol cycle ---------------------------------------------------------------------

    def test_storage_follows_the_protocol(self, backend: Backend) -> None:
        assert isinstance(backend.storage, pr.StorageService)
        pr.Environment(trajectory(), storage=backend.storage).run(simulate)
        assert backend.reopen().trajectory_names() == ("sweep",)

    def test_begin_store_end_cycle(self, backend: Backend) -> None:
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

    def test_begin_sweep_reports_the_done_runs_when_resuming(self, backend: Backend) -> None:
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

    def test_every_begin_sweep_reports_the_done_runs(self, backend: Backend) -> None:
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

    def test_a_second_writer_is_locked_out_while_a_session_is_open(self, backend: Backend) -> None:
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
        self, backend: Backend, request: pytest.FixtureRequest
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
        self, backend: Backend, error: type[BaseException]
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

    def test_a_closed_session_refuses_every_write(self, backend: Backend) -> None:
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

    def test_finish_twice_is_refused(self, backend: Backend) -> None:
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
        self, backend: Backend, where: str
    ) -> None:
        storage = backend.storage
        pr.Environment(trajectory(), storage=storage).run(fail_on_x2, on_error="continue")
        before = stored_state(backend.reopen())
        files = _files(backend)
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
        assert _files(backend) == files
        # The lock is free and nothing of "model" was recorded: a good sweep of that name runs
        # fresh in this process (through another handle, which the lock would stop).
        env = pr.Environment(good, storage=backend.reopen())
        assert env.run(lambda run: {"g": run.cfg["gain"]}).ok
        assert env.study.results["g"][:].tolist() == [1.0, 2.0]

    def test_open_writer_on_an_unknown_trajectory(self, backend: Backend) -> None:
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

    def test_unknown_trajectory_is_a_clear_error(self, backend: Backend) -> None:
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

    def test_run_table_contents(self, backend: Backend) -> None:
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

    def test_run_view_metadata_matches_the_table(self, backend: Backend) -> None:
        pr.Environment(trajectory(), storage=backend.storage).run(fail_on_x2, on_error="continue")
        loaded = pr.load_trajectory(backend.reopen(), "sweep")
        assert loaded.run(2).status == "failed"
        assert loaded.run(0).status == "done"
        metadata = loaded.run(3).metadata
        assert metadata["status"] == "failed"
        assert "BoomError" in str(metadata["error"])
        assert loaded.run(3).results == {}
        assert loaded.run(4).params == {"x": 3.0, "y": 10, "sim.steps": 5}

    def test_runs_that_never_ran_are_pending(self, backend: Backend) -> None:
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

    def test_result_names_cover_every_run_sorted(self, backend: Backend) -> None:
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

    def test_read_results_gives_missing_for_failed_runs(self, backend: Backend) -> None:
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

    def test_results_through_the_trajectory(self, backend: Backend) -> None:
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

    def test_result_comments(self, backend: Backend) -> None:
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

    # -- derived results and provenance ---------------------------------------------------------

    def test_derived_results(self, backend: Backend) -> None:
        storage = backend.storage
        pr.Environment(trajectory(), storage=storage).run(simulate)
        mean = pr.Result("stats.mean", np.float64(35.0), "mean of z", {"runs": [0, 1, 2]})
        table = pr.Result("table", {"best": 5, "label": "max"})
        with storage.open_writer("sweep") as session:
            session.store_derived([mean, table])
        with storage.open_writer("sweep") as session:
            session.store_derived([pr.Result("table", [1, 2, 3], "replaced")])

        derived = backend.reopen().load_derived("sweep")
        assert sorted(derived) == ["stats.mean", "table"]
        got = derived["stats.mean"]
        assert got.value == 35.0
        assert type(got.value) is np.float64
        assert got.comment == "mean of z"
        assert dict(got.annotations) == {"runs": [0, 1, 2]}
        assert derived["table"].value == [1, 2, 3]
        assert derived["table"].comment == "replaced"

    def test_derived_results_survive_a_later_sweep(self, backend: Backend) -> None:
        storage = backend.storage
        traj = trajectory()
        env = pr.Environment(traj, storage=storage)
        env.run(simulate)
        env.study.add_derived("total", 180.0)
        traj.expand(pr.cartesian_product({"x": [4.0], "y": [10]}))
        env.run(simulate, resume=True)
        assert backend.reopen().load_derived("sweep")["total"].value == 180.0

    def test_provenance_grows_with_every_run_call(self, backend: Backend) -> None:
        traj = trajectory()
        env = pr.Environment(traj, storage=backend.storage)
        env.run(fail_on_x2, on_error="continue")
        assert len(backend.reopen().load_provenance("sweep")) == 1
        env.run(simulate, resume=True)
        first, second = backend.reopen().load_provenance("sweep")
        for entry in (first, second):
            assert entry["hostname"] == socket.gethostname()
            assert entry["python"]
            assert "version_numpy" in entry
            assert float(str(entry["started"])) <= float(str(entry["finished"]))
        assert (first["runs_done"], first["runs_failed"]) == (4, 2)
        assert (second["runs_done"], second["runs_failed"]) == (2, 0)
        assert float(str(first["finished"])) <= float(str(second["started"]))

    # -- resume -----------------------------------------------------------------------------------

    def test_resume_skips_done_runs_and_reruns_failed_ones(self, backend: Backend) -> None:
        first = pr.Environment(trajectory(), storage=backend.storage).run(
            fail_on_x2, on_error="continue"
        )
        assert (first.done, first.failed) == (4, 2)
        seen: list[int] = []

        def tracked(run: pr.Run) -> dict[str, object]:
            seen.append(run.index)
            return simulate(run)

        traj = trajectory()
        second = pr.Environment(traj, storage=backend.reopen()).run(tracked, resume=True)
        assert seen == [2, 3]
        assert (second.done, second.failed, second.skipped) == (2, 0, 4)
        reader = backend.reopen()
        table = reader.load_run_table("sweep")
        assert table.status.tolist() == ["done"] * 6
        assert table.error.tolist() == [""] * 6
        np.testing.assert_array_equal(pr.load_trajectory(reader).results["z"][:], Z)

    def test_resume_of_a_finished_sweep_runs_nothing(self, backend: Backend) -> None:
        pr.Environment(trajectory(), storage=backend.storage).run(simulate)
        report = pr.Environment(trajectory(), storage=backend.reopen()).run(simulate, resume=True)
        assert (report.done, report.skipped) == (0, 6)

    @pytest.mark.parametrize(
        ("change", "match"),
        [
            ("default", "'y'"),
            ("exploration", "run 2"),
            ("fewer runs", "only 3"),
            ("parameters", "extra"),
        ],
    )
    def test_resume_of_a_different_sweep_is_refused(
        self, backend: Backend, change: str, match: str
    ) -> None:
        pr.Environment(trajectory(), storage=backend.storage).run(simulate)
        changed = trajectory(y_default=2) if change == "default" else trajectory()
        if change == "exploration":
            changed = pr.Trajectory("sweep", seed=7)
            changed.add_parameter("x", 1.0)
            changed.add_parameter("y", 1)
            changed.add_parameter("sim.steps", 5)
            changed.explore(pr.cartesian_product({"x": [1.0, 2.5, 3.0], "y": YS}))
        elif change == "fewer runs":
            changed = pr.Trajectory("sweep", seed=7)
            changed.add_parameter("x", 1.0)
            changed.add_parameter("y", 1)
            changed.add_parameter("sim.steps", 5)
            changed.explore(pr.cartesian_product({"x": [1.0], "y": [10, 20, 30]}))
        elif change == "parameters":
            changed.add_parameter("extra", 0)
        ran: list[int] = []
        with pytest.raises(ResumeMismatchError, match=match):
            pr.Environment(changed, storage=backend.reopen()).run(
                lambda run: ran.append(run.index), resume=True
            )
        assert ran == []
        assert not changed.is_locked
        # Nothing stored is lost, and the storage takes the right sweep afterwards.
        reader = backend.reopen()
        assert reader.load_run_table("sweep").status.tolist() == ["done"] * 6
        np.testing.assert_array_equal(pr.load_trajectory(reader).results["z"][:], Z)
        report = pr.Environment(trajectory(), storage=reader).run(simulate, resume=True)
        assert report.skipped == 6

    def test_running_an_existing_name_without_resume_is_refused(self, backend: Backend) -> None:
        pr.Environment(trajectory(), storage=backend.storage).run(simulate)
        fresh = trajectory()
        ran: list[int] = []
        with pytest.raises(StorageError, match=r"'sweep'.*resume=True"):
            pr.Environment(fresh, storage=backend.reopen()).run(lambda run: ran.append(run.index))
        assert ran == []
        assert not fresh.is_locked
        reader = backend.reopen()
        np.testing.assert_array_equal(pr.load_trajectory(reader).results["z"][:], Z)
        assert len(reader.load_provenance("sweep")) == 1

    def test_expand_then_resume_runs_only_new_points(self, backend: Backend) -> None:
        traj = trajectory()
        env = pr.Environment(traj, storage=backend.storage)
        env.run(simulate)
        traj.expand(pr.cartesian_product({"x": [4.0], "y": YS}))
        seen: list[int] = []

        def tracked(run: pr.Run) -> dict[str, object]:
            seen.append(run.index)
            return simulate(run)

        report = env.run(tracked, resume=True)
        assert seen == [6, 7]
        assert (report.n_runs, report.done, report.skipped) == (8, 2, 6)
        reader = backend.reopen()
        table = reader.load_run_table("sweep")
        assert len(table) == 8
        assert table.status.tolist() == ["done"] * 8
        assert table.point_hash.tolist() == list(traj.point_hashes())
        loaded = pr.load_trajectory(reader)
        assert len(loaded) == 8
        assert loaded.point(7) == {"x": 4.0, "y": 20}
        np.testing.assert_array_equal(loaded.results["z"][:], [*Z, 40.0, 80.0])
        assert loaded.results["trace"][:].shape == (8, 5)

    def test_expand_of_a_partly_failed_sweep_reruns_failed_and_new(self, backend: Backend) -> None:
        traj = trajectory()
        env = pr.Environment(traj, storage=backend.storage)
        env.run(fail_on_x2, on_error="continue")
        traj.expand({"x": [5.0], "y": [1]})
        seen: list[int] = []

        def tracked(run: pr.Run) -> dict[str, object]:
            seen.append(run.index)
            return simulate(run)

        env.run(tracked, resume=True)
        assert seen == [2, 3, 6]
        np.testing.assert_array_equal(
            pr.load_trajectory(backend.reopen()).results["z"][:], [*Z, 5.0]
        )

    # -- several trajectories -------------------------------------------------------------------

    def test_several_trajectories_in_one_storage(self, backend: Backend) -> None:
        pr.Environment(trajectory("first"), storage=backend.storage).run(simulate)
        other = pr.Trajectory("second", seed=3)
        other.add_parameter("n", 0)
        other.explore({"n": [1, 2, 3, 4]})
        pr.Environment(other, storage=backend.reopen()).run(lambda run: {"z": -run.n})

        reader = backend.reopen()
        assert sorted(reader.trajectory_names()) == ["first", "second"]
        first = pr.load_trajectory(reader, "first")
        second = pr.load_trajectory(reader, "second")
        assert (len(first), len(second)) == (6, 4)
        np.testing.assert_array_equal(first.results["z"][:], Z)
        np.testing.assert_array_equal(second.results["z"][:], [-1, -2, -3, -4])
        assert second.results["z"][:].dtype == np.int64
        assert list(second.results) == ["z"]
        assert list(first.results) == ["trace", "z"]
        assert len(reader.load_provenance("first")) == 1
        assert len(reader.load_provenance("second")) == 1
        with pytest.raises(TrajectoryNotFoundError, match=r"'first'.*'second'"):
            pr.load_trajectory(reader)

    def test_sweeps_of_one_trajectory_do_not_touch_another(self, backend: Backend) -> None:
        pr.Environment(trajectory("first"), storage=backend.storage).run(simulate)
        traj = trajectory("second")
        env = pr.Environment(traj, storage=backend.reopen())
        env.run(fail_on_x2, on_error="continue")
        env.run(simulate, resume=True)
        reader = backend.reopen()
        for name in ("first", "second"):
            np.testing.assert_array_equal(pr.load_trajectory(reader, name).results["z"][:], Z)
        assert len(reader.load_provenance("first")) == 1
        assert len(reader.load_provenance("second")) == 2

    # -- values are the storage's own: copies in, copies out ------------------------------------

    def test_mutating_values_after_storing_them_changes_nothing(self, backend: Backend) -> None:
        storage = backend.storage
        traj = trajectory()
        mutable = _mutable_values()
        done = record(0, traj, **mutable)
        derived = _mutable_values()
        store_sweep(
            storage,
            traj,
            [done],
            derived=[pr.Result(name, v) for name, v in derived.items()],
            provenance={"note": "first"},
        )

        for values in (mutable, derived):
            _mutate(values)
        done.results["added"] = 1.0  # type: ignore[index]
        done.status = RunStatus.FAILED

        reader = backend.reopen()
        stored = {name: reader.read_results("sweep", name, [0])[0] for name in mutable}
        for name, expected in _mutable_values().items():
            assert_same(expected, stored[name])
            assert_same(expected, reader.load_derived("sweep")[name].value)
        assert "added" not in reader.result_names("sweep")
        assert reader.load_run_table("sweep").status[0] == "done"

    def test_mutating_a_parameter_after_the_sweep_began_changes_nothing(
        self, backend: Backend
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
        assert_same({"gains": [1.0, 2.0]}, stored.parameters[0].default)
        assert_same(np.zeros(3), stored.parameters[1].default)
        assert_same((np.zeros(3), np.ones(3)), stored.explored["weights"])
        session.close()

    def test_mutating_a_value_read_back_changes_nothing(self, backend: Backend) -> None:
        storage = backend.storage
        traj = trajectory()
        store_sweep(
            storage,
            traj,
            [record(0, traj, **_mutable_values())],
            derived=[pr.Result(name, v) for name, v in _mutable_values().items()],
            provenance={"note": "first"},
        )
        reader = backend.reopen()

        for name in _mutable_values():
            first = reader.read_results("sweep", name, [0])[0]
            _mutate({name: first})
            second = reader.read_results("sweep", name, [0])[0]
            assert second is not first
            assert_same(_mutable_values()[name], second)
            first = reader.load_derived("sweep")[name].value
            _mutate({name: first})
            assert_same(_mutable_values()[name], reader.load_derived("sweep")[name].value)
        reader.load_provenance("sweep")[0]["note"] = "changed"
        assert reader.load_provenance("sweep") == [{"note": "first"}]

    def test_mutating_a_snapshot_read_back_changes_nothing(
        self, backend: Backend, request: pytest.FixtureRequest
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
        assert_same((np.zeros(3), np.ones(3)), again.explored["weights"])

    def test_annotations_and_provenance_come_back_as_json(self, backend: Backend) -> None:
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
        self, backend: Backend, bad: object
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
        self, backend: Backend
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

    def test_a_derived_result_without_a_codec_refuses_the_batch(self, backend: Backend) -> None:
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
        self, backend: Backend, request: pytest.FixtureRequest
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
        self, pickling_backend: Backend
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

    def test_allow_pickle_never_pickles_a_parameter(self, pickling_backend: Backend) -> None:
        traj = trajectory("model")
        traj.add_parameter("model", Unstorable([0]))
        with pytest.raises(UnsupportedTypeError, match=r"'Unstorable'.*'model'"):
            pr.Environment(traj, storage=pickling_backend.storage).run(lambda run: None)

    # -- loading --------------------------------------------------------------------------------

    def test_loaded_trajectory_has_the_stored_definition(self, backend: Backend) -> None:
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

    def test_load_only_limits_the_results(self, backend: Backend) -> None:
        pr.Environment(trajectory(), storage=backend.storage).run(simulate)
        loaded = pr.load_trajectory(backend.reopen(), load_only=["z"])
        assert list(loaded.results) == ["z"]
        assert loaded.run(1).results == {"z": 20.0}
        with pytest.raises(KeyError, match="trace"):
            loaded.results["trace"]
        with pytest.raises(KeyError, match="nope"):
            pr.load_trajectory(backend.reopen(), load_only=["z", "nope"])


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


@pytest.mark.parametrize("changed", [False, True])
def test_resume_compares_defaults_of_any_type(backend: Backend, changed: bool) -> None:
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
