"""Presence masks with fill value ``True``: unwritten while every run has the value.

A main file's mask ``<trajectory>/present/<name>`` is created with HDF5 fill value ``True``.
A sweep whose runs all have the value leaves it without storage, and readers (this library's
and any HDF5 reader) see every run present without reading data; every row without a value
is written ``False`` explicitly, by every writer. Masks of older files (fill value ``False``)
keep working: writers and readers go by the dataset's actual storage and fill value.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import h5py
import numpy as np
import pytest

import pypet_rebuild as pr
from pypet_rebuild.errors import RunFailedError, StorageError
from pypet_rebuild.storage.hdf5 import columns, service
from pypet_rebuild.storage.hdf5.columns import describe_mask
from pypet_rebuild.storage.hdf5.describe import detach
from pypet_rebuild.storage.hdf5.journal import journal_path
from pypet_rebuild.storage.hdf5.layout import create_growable, read_span, unwritten_fill

NAME = "t"


def _trajectory(n: int, name: str = NAME) -> pr.Trajectory:
    traj = pr.Trajectory(name, seed=5)
    traj.add_parameter("x", 0)
    traj.explore({"x": list(range(n))})
    return traj


def _simulate(run: pr.Run) -> dict[str, object]:
    return {"z": run.x * 0.5, "arr": np.full(3, run.x), "word": f"w{run.x}"}


def _failing(*failed: int) -> Callable[[pr.Run], dict[str, object]]:
    def simulate(run: pr.Run) -> dict[str, object]:
        if run.x in failed:
            raise ValueError(f"run {run.x} fails")
        return _simulate(run)

    return simulate


def _masks(path: Path, trajectory: str = NAME) -> Iterator[tuple[str, h5py.Dataset]]:
    with h5py.File(path, "r") as file:
        masks = file[trajectory]["present"]
        for name in sorted(masks):
            yield name, masks[name]


def _outside(path: Path, trajectory: str = NAME) -> dict[str, np.ndarray]:
    """Every mask as a plain h5py reader reads it (what HDF5 returns, fill value included)."""
    return {name: mask[...] for name, mask in _masks(path, trajectory)}


def _allocated(path: Path, trajectory: str = NAME) -> dict[str, bool]:
    return {name: mask.id.get_storage_size() > 0 for name, mask in _masks(path, trajectory)}


def _read(path: Path, trajectory: str = NAME) -> dict[str, np.ndarray]:
    """Which runs have each result, as this library reads all runs (``None``: no value)."""
    study = pr.load_trajectory(path, trajectory)
    read = {}
    for name in ("z", "arr", "word"):
        values = study.results[name][:]
        missing = np.ma.getmaskarray(values)
        if name == "arr" and missing.ndim > 1:  # no run with a value: no array shape to read
            missing = missing[:, 0]
        if values.dtype == object:  # text, or no run with a value: None where missing
            missing = missing | np.array([value is None for value in values.data])
        read[name] = ~missing
    return read


def _expect(
    path: Path, present: np.ndarray, trajectory: str = NAME, x: np.ndarray | None = None
) -> None:
    """The masks read ``present`` by h5py, by this library, and run by run (``x``: each run's)."""
    x = np.arange(len(present)) if x is None else x
    for name, outside in _outside(path, trajectory).items():
        assert outside.tolist() == present.tolist(), name
    for name, read in _read(path, trajectory).items():
        assert read.tolist() == present.tolist(), name
    study = pr.load_trajectory(path, trajectory)
    for run in range(len(present)):
        if present[run]:
            assert study.results["z"][run] == x[run] * 0.5
        else:
            with pytest.raises(KeyError):
                study.results["z"][run]


def test_a_finished_sweep_leaves_its_masks_unwritten(tmp_path: Path) -> None:
    path = tmp_path / "done.h5"
    pr.Environment(_trajectory(50), storage=path).run(_simulate, progress=False)
    assert _allocated(path) == {"arr": False, "word": False, "z": False}
    for _, mask in _masks(path):
        assert mask.fillvalue == np.True_
        assert unwritten_fill(mask) == np.True_
    _expect(path, np.ones(50, dtype=bool))


def test_a_sweep_through_segments_leaves_its_masks_unwritten(tmp_path: Path) -> None:
    path = tmp_path / "segments.h5"
    traj = _trajectory(2_500)
    pr.Environment(traj, storage=path).run(_simulate, progress=False)
    assert not any(_allocated(path).values())
    _expect(path, np.ones(2_500, dtype=bool))


def test_a_sweep_folded_while_running_ends_with_its_masks_unwritten(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A fold while the sweep runs writes the pending runs False; the last fold, which leaves
    # every run present, gives the masks back their unwritten form.
    monkeypatch.setattr(service, "MAX_UNFOLDED_SEGMENTS", 3)
    path = tmp_path / "long.h5"
    seen: list[dict[str, np.ndarray]] = []

    def look(run: pr.Run) -> dict[str, object]:
        if run.x == 80 and path.exists():
            with h5py.File(path, "r", locking=False) as file:
                seen.append({n: m[...] for n, m in file[NAME]["present"].items()})
        return _simulate(run)

    env = pr.Environment(_trajectory(100), storage=path, batch_size=10, flush_seconds=0)
    env.run(look, progress=False)
    assert seen
    assert seen[0], "a fold while the sweep ran"
    for name, mask in seen[0].items():
        assert not mask[80:].any(), name
        assert mask[:20].all(), name
    assert not any(_allocated(path).values())
    with h5py.File(path, "r") as file:
        for mask in file[NAME]["present"].values():
            assert mask.attrs["long_name"].startswith("whether the run has a value")
            assert len(mask.dims[0]) == 1
    _expect(path, np.ones(100, dtype=bool))


def test_a_last_fold_that_fails_while_renewing_a_mask_leaves_the_last_commit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The mask is deleted and created again inside the journaled commit: a failure between
    # the two rolls the whole commit back, and the segments stay for the next writer.
    monkeypatch.setattr(service, "MAX_UNFOLDED_SEGMENTS", 3)
    path = tmp_path / "renew.h5"
    real = columns.create_mask

    def failing(*args: object, **kwargs: object) -> None:
        raise OSError(5, "Input/output error")

    # Only the renewal looks create_mask up in the columns module (after deleting the mask).
    monkeypatch.setattr(columns, "create_mask", failing)
    env = pr.Environment(_trajectory(60), storage=path, batch_size=10, flush_seconds=0)
    # The fold that finds the masks complete is the one after the last batch's segment: it
    # fails the storing of that batch (its runs are then recorded failed).
    with pytest.raises((StorageError, RunFailedError), match="Input/output error"):
        env.run(_simulate, progress=False)
    monkeypatch.setattr(columns, "create_mask", real)
    assert not journal_path(path).exists()
    # The run whose batch could not be stored is recorded failed; every other run reads present.
    done = pr.load_trajectory(path).run_table().status == pr.RunStatus.DONE.value
    assert 50 <= done.sum() < 60
    _expect(path, done)
    pr.Environment(_trajectory(60), storage=path).run(_simulate, resume=True, progress=False)
    assert not any(_allocated(path).values())
    _expect(path, np.ones(60, dtype=bool))


def test_failed_runs_are_written_as_missing(tmp_path: Path) -> None:
    path = tmp_path / "failed.h5"
    env = pr.Environment(_trajectory(30), storage=path)
    env.run(_failing(3, 17, 29), on_error="continue", progress=False)
    present = np.ones(30, dtype=bool)
    present[[3, 17, 29]] = False
    assert all(_allocated(path).values())
    _expect(path, present)


def test_resume_after_an_interrupted_sweep(tmp_path: Path) -> None:
    path = tmp_path / "resumed.h5"
    traj = _trajectory(40)
    with pytest.raises(RunFailedError, match="run 25 fails"):
        pr.Environment(traj, storage=path).run(_failing(25), progress=False)
    done = pr.load_trajectory(path).run_table().status == pr.RunStatus.DONE.value
    assert 0 < done.sum() < 40
    # The runs kept read present, the others (failed or never run) missing, to any reader.
    for name, mask in _outside(path).items():
        assert mask.tolist() == done.tolist(), name
    pr.Environment(traj, storage=path).run(_simulate, resume=True, progress=False)
    _expect(path, np.ones(40, dtype=bool))


def test_an_expansion_reads_pending_runs_as_missing_to_an_outside_reader(
    tmp_path: Path,
) -> None:
    path = tmp_path / "expanded.h5"
    traj = _trajectory(20)
    pr.Environment(traj, storage=path).run(_simulate, progress=False)
    assert not any(_allocated(path).values())
    traj.expand({"x": list(range(20, 35))})
    seen: list[dict[str, np.ndarray]] = []

    def look(run: pr.Run) -> dict[str, object]:
        if not seen:  # while the expansion runs: its runs are pending in the main file
            with h5py.File(path, "r", locking=False) as file:
                seen.append({n: m[...] for n, m in file[NAME]["present"].items()})
        return _simulate(run)

    pr.Environment(traj, storage=path).run(look, resume=True, progress=False)
    pending = np.arange(35) >= 20
    for name, mask in seen[0].items():
        assert mask.tolist() == (~pending).tolist(), name
    _expect(path, np.ones(35, dtype=bool))


def test_an_expansion_with_failures(tmp_path: Path) -> None:
    path = tmp_path / "expanded.h5"
    traj = _trajectory(20)
    pr.Environment(traj, storage=path).run(_simulate, progress=False)
    traj.expand({"x": list(range(20, 30))})
    env = pr.Environment(traj, storage=path)
    env.run(_failing(22, 27), resume=True, on_error="continue", progress=False)
    present = np.ones(30, dtype=bool)
    present[[22, 27]] = False
    _expect(path, present)


def test_overwriting_a_sweep_with_failures(tmp_path: Path) -> None:
    path = tmp_path / "overwritten.h5"
    pr.Environment(_trajectory(25), storage=path).run(
        _failing(1, 2, 3), on_error="continue", progress=False
    )
    pr.Environment(_trajectory(25), storage=path).run(_simulate, overwrite=True, progress=False)
    assert not any(_allocated(path).values())
    _expect(path, np.ones(25, dtype=bool))
    pr.Environment(_trajectory(25), storage=path).run(
        _failing(4), overwrite=True, on_error="continue", progress=False
    )
    present = np.ones(25, dtype=bool)
    present[4] = False
    _expect(path, present)


def test_compacting_manual_segments(tmp_path: Path) -> None:
    path = tmp_path / "manual.h5"
    storage = pr.HDF5StorageService(path, compaction="manual")
    traj = _trajectory(30)
    pr.Environment(traj, storage=storage).run(_failing(7), on_error="continue", progress=False)
    pr.Environment(traj, storage=storage).run(_simulate, resume=True, progress=False)
    storage.compact()
    _expect(path, np.ones(30, dtype=bool))
    traj.expand({"x": [30, 31, 32]})
    pr.Environment(traj, storage=storage).run(
        _failing(31), resume=True, on_error="continue", progress=False
    )
    storage.compact()
    present = np.ones(33, dtype=bool)
    present[31] = False
    _expect(path, present)


def test_merging_keeps_the_masks(tmp_path: Path) -> None:
    a, b = tmp_path / "a.h5", tmp_path / "b.h5"
    pr.Environment(_trajectory(10, "a"), storage=a).run(_simulate, progress=False)
    pr.Environment(_trajectory(10, "b"), storage=b).run(
        _failing(4), on_error="continue", progress=False
    )
    merged = pr.merge_trajectories(
        pr.load_trajectory(a, "a"), pr.load_trajectory(b, "b"), into=tmp_path / "m.h5"
    )
    present = np.ones(20, dtype=bool)
    present[14] = False
    x = np.tile(np.arange(10), 2)
    _expect(tmp_path / "m.h5", present, merged.name, x)
    again = tmp_path / "again.h5"
    pr.Environment(_trajectory(10, "again"), storage=again).run(_simulate, progress=False)
    clean = pr.merge_trajectories(
        pr.load_trajectory(a, "a"), pr.load_trajectory(again, "again"), into=tmp_path / "c.h5"
    )
    assert not any(_allocated(tmp_path / "c.h5", clean.name).values())
    _expect(tmp_path / "c.h5", np.ones(20, dtype=bool), clean.name, x)


def test_a_hand_edit_of_an_unwritten_mask_is_seen(tmp_path: Path) -> None:
    path = tmp_path / "edited.h5"
    pr.Environment(_trajectory(12), storage=path).run(_simulate, progress=False)
    with h5py.File(path, "r+") as file:
        for mask in file[NAME]["present"].values():
            mask[5] = False
    present = np.ones(12, dtype=bool)
    present[5] = False
    _expect(path, present)


def test_a_mask_made_virtual_by_hand_reads_its_source(tmp_path: Path) -> None:
    """A virtual dataset has no storage of its own: it must not be taken for unwritten."""
    path = tmp_path / "virtual.h5"
    pr.Environment(_trajectory(12), storage=path).run(_simulate, progress=False)
    present = np.arange(12) % 3 != 1
    with h5py.File(path, "r+") as file:
        trajectory = file[NAME]
        source = trajectory.create_dataset("mask_source", data=present)
        for name in list(trajectory["present"]):
            mask = trajectory["present"][name]
            kept = {key: mask.attrs[key] for key in mask.attrs if key != "DIMENSION_LIST"}
            detach(mask)
            del trajectory["present"][name]
            layout = h5py.VirtualLayout(shape=(12,), dtype=bool, maxshape=(None,))
            layout[:] = h5py.VirtualSource(source)
            virtual = trajectory["present"].create_virtual_dataset(name, layout, fillvalue=True)
            describe_mask(virtual, name, trajectory)
            for key, value in kept.items():
                virtual.attrs[key] = value
    _expect(path, present)


def _old_style_writer(monkeypatch: pytest.MonkeyPatch) -> None:
    """Write masks as before fill value ``True``: HDF5's default fill value (``False``)."""
    monkeypatch.setattr(columns, "MASK_FILL", None)  # every mask is made by columns.create_mask


def test_old_style_masks_keep_working(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "old.h5"
    traj = _trajectory(20)
    with monkeypatch.context() as patched:
        _old_style_writer(patched)
        pr.Environment(traj, storage=path).run(_failing(2), on_error="continue", progress=False)
    for _, mask in _masks(path):
        assert mask.fillvalue == np.False_
    present = np.ones(20, dtype=bool)
    present[2] = False
    _expect(path, present)
    # The writer of today grows and rewrites them by their own fill value.
    traj.expand({"x": list(range(20, 26))})
    pr.Environment(traj, storage=path).run(_failing(23), resume=True, on_error="continue")
    for _, mask in _masks(path):
        assert mask.fillvalue == np.False_
    present = np.ones(26, dtype=bool)
    present[23] = False  # run 2, failed before, was run again
    _expect(path, present)


def test_an_old_style_mask_without_storage_reads_all_missing(tmp_path: Path) -> None:
    path = tmp_path / "none.h5"
    traj = _trajectory(15)
    pr.Environment(traj, storage=path).run(_simulate, progress=False)
    # Each mask replaced by one of HDF5's default fill value (False), never written.
    with h5py.File(path, "r+") as file:
        group = file[NAME]
        for name in list(group["present"]):
            detach(group["present"][name])
            del group["present"][name]
            mask = create_growable(group["present"], name, (15,), bool, pr.StorageOptions())
            describe_mask(mask, name, group)
    for _, mask in _masks(path):
        assert mask.fillvalue == np.False_
        assert mask.id.get_storage_size() == 0
        assert unwritten_fill(mask) == np.False_
    _expect(path, np.zeros(15, dtype=bool))
    # A sweep's writer grows it by its own fill value: the new rows are written.
    traj.expand({"x": [15, 16, 17]})
    pr.Environment(traj, storage=path).run(_failing(16), resume=True, on_error="continue")
    present = np.zeros(18, dtype=bool)
    present[[15, 17]] = True
    _expect(path, present)


def test_unwritten_fill_goes_by_storage_and_fill_value(tmp_path: Path) -> None:
    with h5py.File(tmp_path / "fill.h5", "w") as file:
        chunked = {"chunks": (4,), "maxshape": (None,)}
        true = file.create_dataset("true", (10,), bool, fillvalue=True, **chunked)
        assert unwritten_fill(true) == np.True_
        assert read_span(true, 0, 10).tolist() == [True] * 10
        assert read_span(true, 3, 7).tolist() == [True] * 4
        default = file.create_dataset("default", (10,), bool, **chunked)
        assert unwritten_fill(default) == np.False_
        floats = file.create_dataset(
            "floats", (6, 2), "f4", fillvalue=np.nan, chunks=(4, 2), maxshape=(None, 2)
        )
        assert np.isnan(unwritten_fill(floats))
        span = read_span(floats, 1, 5)
        assert span.dtype == np.float32
        assert span.shape == (4, 2)
        assert np.isnan(span).all()
        true[9] = False  # any write allocates storage: the dataset is then read
        assert unwritten_fill(true) is None
        assert read_span(true, 0, 10).tolist() == [True] * 9 + [False]
        plist = h5py.h5p.create(h5py.h5p.DATASET_CREATE)
        plist.set_chunk((4,))
        plist.set_fill_value(np.array(7, dtype="i4"))
        plist.set_fill_time(h5py.h5d.FILL_TIME_NEVER)
        space = h5py.h5s.create_simple((10,), (h5py.h5s.UNLIMITED,))
        never = h5py.Dataset(
            h5py.h5d.create(file.id, b"never", h5py.h5t.NATIVE_INT32, space, plist)
        )
        assert unwritten_fill(never) is None  # a fill value HDF5 never writes is not relied on
        text = file.create_dataset("text", (3,), h5py.string_dtype(), **chunked)
        assert unwritten_fill(text) is None


def test_a_complete_column_reads_as_a_plain_array_of_its_own(tmp_path: Path) -> None:
    """An unwritten mask is never read nor scanned; the values are still the caller's to change."""
    path = tmp_path / "complete.h5"
    pr.Environment(_trajectory(50), storage=path).run(_simulate, progress=False)
    with pr.load_trajectory(path) as study:
        values = study.results["z"][:]
        assert np.ma.getmask(values) is np.ma.nomask  # every run has a value
        values[:] = -1.0  # a copy: the next read is unchanged
        assert study.results["z"][:].tolist() == [x * 0.5 for x in range(50)]
        assert study.results["z"][10:20].tolist() == [x * 0.5 for x in range(10, 20)]


@pytest.mark.parametrize("value", [True, False])
def test_a_broadcast_mask_is_judged_by_its_one_value(value: bool) -> None:
    from pypet_rebuild.analysis.results import _all_present

    broadcast = np.broadcast_to(np.bool_(value), (1_000,))
    assert _all_present(broadcast) is value
    mixed = np.ones(1_000, dtype=bool)
    mixed[-1] = value
    assert _all_present(mixed) is value
    assert _all_present(np.zeros(0, dtype=bool)) is True
