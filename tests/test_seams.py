"""The joins between layers: one resolver, writer sessions that always release, bad input.

Every case ends the same way: the error is clear and from ``pypet_rebuild.errors`` (or the
user's own exception, passed through), nothing stored is lost, no writer lock is left behind, and
the next sweep on the same file in the same process works.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import numpy as np
import pytest

import pypet_rebuild as pr
from pypet_rebuild.errors import (
    FileFormatError,
    InvalidStorageError,
    ResultNotFoundError,
    UnsupportedTypeError,
)
from pypet_rebuild.storage.backends import Backend, open_storage, register_backend
from pypet_rebuild.storage.protocol import SupportsLocation
from pypet_rebuild.storage.records import RunRecord
from pypet_rebuild.testing import StorageFactory

Simulate = Callable[[pr.Run], dict[str, object]]
TrajectoryFactory = Callable[..., pr.Trajectory]


class Opaque:
    """A value no codec stores."""


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.suffix == ".lock" or "segments" in p.name)


# -- the resolver ---------------------------------------------------------------------------------


def test_a_path_resolves_to_the_backend_that_recognises_the_file(
    tmp_path: Path, simulate_double: Simulate, x_trajectory: TrajectoryFactory
) -> None:
    path = tmp_path / "study.data"  # no conventional suffix: the signature decides
    pr.Environment(x_trajectory(), storage=open_storage(path, mode="w", engine="hdf5")).run(
        simulate_double
    )
    assert isinstance(open_storage(path), pr.HDF5StorageService)
    assert pr.load_trajectory(path).results["z"][:].tolist() == [2.0, 4.0, 6.0, 8.0]


def test_the_hdf5_backend_implements_the_protocol(tmp_path: Path) -> None:
    """The resolver does not check what the built-in HDF5 opener returns: this does."""
    assert isinstance(pr.HDF5StorageService(tmp_path / "new.h5"), pr.StorageService)


def test_a_new_path_gets_the_backend_its_suffix_suggests(tmp_path: Path) -> None:
    assert isinstance(open_storage(tmp_path / "new.h5", mode="w"), pr.HDF5StorageService)
    assert isinstance(open_storage(None, mode="w"), pr.MemoryStorageService)
    storage = pr.MemoryStorageService()
    assert open_storage(storage) is storage


@pytest.mark.parametrize("bad", [123, 1.5, b"bytes.h5", ["a.h5"]])
def test_storage_of_another_type_is_refused_before_anything_runs(
    bad: object, x_trajectory: TrajectoryFactory
) -> None:
    with pytest.raises(InvalidStorageError, match=type(bad).__name__):
        pr.Environment(x_trajectory(), storage=bad)  # type: ignore[arg-type]


def test_an_unknown_engine_names_the_known_ones(tmp_path: Path) -> None:
    with pytest.raises(InvalidStorageError, match=r"'zarr'.*'hdf5'"):
        open_storage(tmp_path / "x.zarr", mode="w", engine="zarr")


def test_reading_a_missing_path_is_a_file_format_error(tmp_path: Path) -> None:
    with pytest.raises(FileFormatError, match="no such file"):
        pr.load_trajectory(tmp_path / "nope.h5")


def test_options_with_a_backend_instance_are_refused() -> None:
    with pytest.raises(InvalidStorageError, match="allow_pickle"):
        open_storage(pr.MemoryStorageService(), allow_pickle=True)


def test_a_registered_backend_claims_its_files_before_hdf5(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A third-party backend: a module with an opener, and a detector reading a file signature.
    (tmp_path / "membackend.py").write_text(
        "import pypet_rebuild as pr\n"
        "opened = []\n"
        "def open_store(path, **options):\n"
        "    opened.append(path)\n"
        "    return pr.MemoryStorageService(**options)\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    store = tmp_path / "claimed.h5"  # the suffix says HDF5; the signature says otherwise
    store.write_bytes(b"MEMSTORE")

    def detect(path: Path) -> bool:
        return path.is_file() and path.read_bytes().startswith(b"MEMSTORE")

    backend = Backend("test-memory", "membackend:open_store", detect, (".mem",))
    register_backend(backend)
    try:
        assert isinstance(open_storage(store), pr.MemoryStorageService)
        assert isinstance(open_storage(tmp_path / "new.mem", mode="w"), pr.MemoryStorageService)
        with pytest.raises(ValueError, match="already registered"):
            register_backend(backend)
        import membackend  # type: ignore[import-not-found]

        assert membackend.opened == [store, tmp_path / "new.mem"]
    finally:
        from pypet_rebuild.storage import backends

        backends._REGISTRY.pop("test-memory")
    assert isinstance(open_storage(tmp_path / "other.mem", mode="w"), pr.HDF5StorageService)


# -- writer sessions: the lock is released on every exit path -------------------------------------


@pytest.mark.parametrize("where", ["default", "explored"])
def test_a_definition_no_codec_stores_is_refused_and_the_next_sweep_works(
    tmp_path: Path, where: str, simulate_double: Simulate, x_trajectory: TrajectoryFactory
) -> None:
    path = tmp_path / "s.h5"
    pr.Environment(x_trajectory("first"), storage=path).run(simulate_double)
    before = path.read_bytes()
    traj = x_trajectory("second")
    if where == "default":
        traj.add_parameter("model", Opaque())
    else:
        traj.add_parameter("cfg", {"a": 1})
        traj.explore({"x": [1.0, 2.0], "cfg": [{"a": 1}, {"a": Opaque()}]})
    env = pr.Environment(traj, storage=path)
    with pytest.raises(UnsupportedTypeError, match="Opaque"):
        env.run(simulate_double)
    assert path.read_bytes() == before
    assert leftovers(tmp_path) == []
    report = pr.Environment(x_trajectory("third"), storage=path).run(simulate_double)
    assert report.done == 4
    assert set(pr.open_storage(path).trajectory_names()) == {"first", "third"}


def test_a_derived_result_no_codec_stores_is_refused_and_the_lock_stays_free(
    pr_storage_factory: StorageFactory,
    pr_sweep: Callable[..., pr.StoredTrajectory],
    simulate_double: Simulate,
    x_trajectory: TrajectoryFactory,
) -> None:
    study = pr_sweep(x_trajectory(), simulate_double)
    study.add_derived("mean", 5.0)
    with pytest.raises(UnsupportedTypeError, match=r"derived\.bad"):
        study.add_derived("bad", Opaque())
    study.add_derived("total", 20.0)
    assert study.storage is not None
    again = pr.load_trajectory(study.storage, "t")
    assert {name: r.value for name, r in again.derived.items()} == {"mean": 5.0, "total": 20.0}
    if isinstance(study.storage, SupportsLocation):
        assert leftovers(Path(study.storage.location).parent) == []


class _Raise(pr.Hooks):
    def __init__(self, phase: str, error: BaseException) -> None:
        self.phase = phase
        self.error = error

    def _maybe(self, phase: str) -> None:
        if phase == self.phase:
            raise self.error

    def before_sweep(self, trajectory: pr.Trajectory, pending: Sequence[int]) -> None:
        self._maybe("before_sweep")

    def before_run(self, index: int, point: Mapping[str, object]) -> None:
        if index == 2:
            self._maybe("before_run")

    def after_run(self, record: RunRecord) -> None:
        if record.index == 2:
            self._maybe("after_run")

    def after_sweep(self, report: pr.RunReport) -> None:
        self._maybe("after_sweep")


PHASES = ["before_sweep", "before_run", "after_run", "after_sweep"]


class HookBoomError(Exception):
    """The error a broken hook raises."""


@pytest.mark.parametrize("phase", PHASES)
@pytest.mark.parametrize(
    "error", [HookBoomError("hook broke"), KeyboardInterrupt()], ids=["exception", "ctrl-c"]
)
def test_an_error_in_any_phase_releases_the_lock_and_resume_completes(
    tmp_path: Path,
    phase: str,
    error: BaseException,
    simulate_double: Simulate,
    x_trajectory: TrajectoryFactory,
) -> None:
    path = tmp_path / "h.h5"
    with pytest.raises(type(error)):
        pr.Environment(x_trajectory(), storage=path, batch_size=1).run(
            simulate_double, hooks=[_Raise(phase, error)]
        )
    assert leftovers(tmp_path) == [] or phase in ("before_run", "after_run")
    report = pr.Environment(x_trajectory(), storage=path).run(simulate_double, resume=True)
    study = pr.load_trajectory(path)
    assert report.skipped + report.done == 4
    assert study.run_table().count(pr.RunStatus.DONE) == 4
    assert study.results["z"][:].tolist() == [2.0, 4.0, 6.0, 8.0]
    study.close()
    assert leftovers(tmp_path) == []


def test_ctrl_c_inside_a_run_releases_the_lock_and_resume_completes(
    tmp_path: Path, simulate_double: Simulate, x_trajectory: TrajectoryFactory
) -> None:
    path = tmp_path / "k.h5"

    def interrupted(run: pr.Run) -> dict[str, object]:
        if run.x == 3.0:
            raise KeyboardInterrupt
        return simulate_double(run)

    with pytest.raises(KeyboardInterrupt):
        pr.Environment(x_trajectory(), storage=path, batch_size=1).run(interrupted)
    assert leftovers(tmp_path) == []
    report = pr.Environment(x_trajectory(), storage=path).run(simulate_double, resume=True)
    assert report.skipped == 2
    assert report.done == 2
    assert pr.load_trajectory(path).results["z"][:].tolist() == [2.0, 4.0, 6.0, 8.0]


@pytest.mark.slow
def test_a_failing_executor_writes_nothing(
    tmp_path: Path, simulate_double: Simulate, x_trajectory: TrajectoryFactory
) -> None:
    import dask

    path = tmp_path / "e.h5"
    # Dask's own connect timeout is 30 s; the outcome does not depend on how long it waits.
    with (
        dask.config.set({"distributed.comm.timeouts.connect": "1s"}),
        pytest.raises(pr.errors.SchedulerUnavailableError),
    ):
        pr.Environment(x_trajectory(), storage=path).run(
            simulate_double, executor="dask", dask_address="tcp://127.0.0.1:9"
        )
    assert not path.exists()
    assert leftovers(tmp_path) == []


# -- the model does no I/O; the stored study reads ------------------------------------------------


def test_the_model_has_no_storage_and_the_stored_study_reads(
    tmp_path: Path, simulate_double: Simulate, x_trajectory: TrajectoryFactory
) -> None:
    traj = x_trajectory()
    env = pr.Environment(traj, storage=tmp_path / "m.h5")
    env.run(simulate_double)
    for removed in ("results", "storage", "find_runs", "to_pandas", "derived", "add_derived"):
        assert not hasattr(pr.Trajectory, removed)
    with env.study as study:
        assert isinstance(study, pr.StoredTrajectory)
        assert study.find_runs(lambda z: z > 5) == [2, 3]
        assert study.run(1).results == {"z": 4.0}
        grown = study.trajectory
        assert grown is not study.trajectory  # a new model each time
    grown.expand({"x": [5.0]})
    pr.Environment(grown, storage=tmp_path / "m.h5").run(simulate_double, resume=True)
    with pr.load_trajectory(tmp_path / "m.h5") as study:
        assert len(study) == 5
        assert study.results["z"][-1] == 10.0


def test_an_unknown_result_is_a_results_error(
    simulate_double: Simulate, x_trajectory: TrajectoryFactory
) -> None:
    env = pr.Environment(x_trajectory())
    env.run(simulate_double)
    study = env.study
    for read in (
        lambda: study.results["nope"],
        lambda: study.collect_runs("nope"),
        lambda: study.to_pandas(["nope"]),
    ):
        with pytest.raises(ResultNotFoundError, match=r"'nope'.*'z'"):
            read()
    with pytest.raises(ResultNotFoundError, match="nope"):
        pr.load_trajectory(env.storage, load_only=["nope"])


def test_the_report_repr_stays_short_for_many_runs() -> None:
    traj = pr.Trajectory("many", seed=0)
    traj.add_parameter("i", 0)
    traj.explore({"i": list(range(20_000))})
    report = pr.Environment(traj).run(
        lambda run: {"v": run.i} if run.i % 1000 else (_ for _ in ()).throw(ValueError("x")),
        on_error="continue",
    )
    assert report.failed == 20
    assert len(repr(report)) < 400
    assert "20000 runs" in repr(report)


def test_merge_keeps_captured_output(
    tmp_path: Path, simulate_double: Simulate, x_trajectory: TrajectoryFactory
) -> None:
    def noisy(run: pr.Run) -> dict[str, object]:
        print(f"run at x={run.x}")
        return simulate_double(run)

    studies = []
    for name in ("a", "b"):
        traj = x_trajectory()
        traj.explore({"x": [1.0, 2.0]} if name == "a" else {"x": [3.0]})
        env = pr.Environment(traj, storage=tmp_path / f"{name}.h5")
        env.run(noisy, capture_output=True)
        studies.append(env.study)
    merged = pr.merge_trajectories(*studies, into=tmp_path / "m.h5")
    assert [line.strip() for line in merged.run_table().output] == [
        "run at x=1.0",
        "run at x=2.0",
        "run at x=3.0",
    ]


def test_typed_reads_return_frames_and_datasets(
    simulate_double: Simulate, x_trajectory: TrajectoryFactory
) -> None:
    env = pr.Environment(x_trajectory())
    env.run(simulate_double)
    frame = env.study.to_pandas()
    assert list(frame.columns) == ["x", "z", "status", "duration"]
    assert np.allclose(frame["z"], [2.0, 4.0, 6.0, 8.0])


def test_a_stored_study_says_how_to_change_its_definition(
    simulate_double: Simulate, x_trajectory: TrajectoryFactory
) -> None:
    env = pr.Environment(x_trajectory())
    env.run(simulate_double)
    study = env.study
    assert study.x is study["x"]  # parameters by attribute
    with pytest.raises(AttributeError, match=r"read-only.*study\.trajectory.*t\.expand"):
        study.expand({"x": [9.0]})
    with pytest.raises(AttributeError, match="add_parameter"):
        study.add_parameter("w", 1)
    assert len(study) == 4
