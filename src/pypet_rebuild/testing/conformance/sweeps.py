"""Conformance: derived results, provenance, resume and expansion, several trajectories."""

from __future__ import annotations

import socket

import numpy as np
import pytest

import pypet_rebuild as pr
from pypet_rebuild.errors import (
    ResumeMismatchError,
    StorageError,
    TrajectoryNotFoundError,
)
from pypet_rebuild.testing.conformance._helpers import (
    YS,
    StorageUnderTest,
    Z,
    fail_on_x2,
    simulate,
    trajectory,
)


class SweepTests:
    """Sweeps through the Environment: derived results, provenance, resume, expansion.

    A mixin of :class:`~pypet_rebuild.testing.conformance.StorageServiceTests`.
    """

    # -- derived results and provenance ---------------------------------------------------------

    def test_derived_results(self, backend: StorageUnderTest) -> None:
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

    def test_derived_results_survive_a_later_sweep(self, backend: StorageUnderTest) -> None:
        storage = backend.storage
        traj = trajectory()
        env = pr.Environment(traj, storage=storage)
        env.run(simulate)
        env.study.add_derived("total", 180.0)
        traj.expand(pr.cartesian_product({"x": [4.0], "y": [10]}))
        env.run(simulate, resume=True)
        assert backend.reopen().load_derived("sweep")["total"].value == 180.0

    def test_provenance_grows_with_every_run_call(self, backend: StorageUnderTest) -> None:
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

    def test_resume_skips_done_runs_and_reruns_failed_ones(self, backend: StorageUnderTest) -> None:
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

    def test_resume_of_a_finished_sweep_runs_nothing(self, backend: StorageUnderTest) -> None:
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
        self, backend: StorageUnderTest, change: str, match: str
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

    def test_running_an_existing_name_without_resume_is_refused(
        self, backend: StorageUnderTest
    ) -> None:
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

    def test_expand_then_resume_runs_only_new_points(self, backend: StorageUnderTest) -> None:
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

    def test_expand_of_a_partly_failed_sweep_reruns_failed_and_new(
        self, backend: StorageUnderTest
    ) -> None:
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

    def test_several_trajectories_in_one_storage(self, backend: StorageUnderTest) -> None:
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

    def test_sweeps_of_one_trajectory_do_not_touch_another(self, backend: StorageUnderTest) -> None:
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
