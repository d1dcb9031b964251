"""The final commit of a sweep: it takes the last batch, and a brand-new file needs no journal.

What a sweep costs on disk is pinned here by counting fsyncs, renames and the files that appear:
a sweep into a new file syncs four times (the new file and its folder at ``begin_sweep``, the
committed copy and its folder at the end), whatever the number of runs of its only batch.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import h5py
import numpy as np
import pytest

import pypet_rebuild as pr
from pypet_rebuild.errors import StorageError
from pypet_rebuild.storage.hdf5 import files, layout, service
from pypet_rebuild.storage.hdf5.batch import RunBatch
from pypet_rebuild.storage.hdf5.journal import journal_path


def _trajectory(n: int, name: str = "t") -> pr.Trajectory:
    traj = pr.Trajectory(name, seed=1)
    traj.add_parameter("x", 0.0)
    traj.explore({"x": [float(i) for i in range(n)]})
    return traj


def _simulate(run: pr.Run) -> dict[str, object]:
    return {"z": run.x * 2.0, "arr": np.full(3, run.x)}


class _Calls:
    """Counts fsyncs and renames, and notes every journal and segment file that appears."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.count: Counter[str] = Counter()
        self.appeared: list[str] = []
        fsync, replace = os.fsync, os.replace

        def counted_fsync(fd: int) -> None:
            self.count["fsync"] += 1
            fsync(fd)

        def counted_replace(source: str | os.PathLike[str], target: str | os.PathLike[str]) -> None:
            self.count["replace"] += 1
            self.appeared.append(Path(target).name)
            replace(source, target)

        monkeypatch.setattr(os, "fsync", counted_fsync)
        monkeypatch.setattr(os, "replace", counted_replace)


def _sweep(path: Path, traj: pr.Trajectory, **options: object) -> pr.RunReport:
    env = pr.Environment(traj, storage=path, **options)  # type: ignore[arg-type]
    try:
        return env.run(_simulate, progress=False)
    finally:
        env.storage.close()


def test_a_sweep_into_a_new_file_syncs_four_times_and_writes_no_segment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _sweep(tmp_path / "warm.h5", _trajectory(3))  # provenance caches, as after a first sweep
    calls = _Calls(monkeypatch)
    path = tmp_path / "new.h5"
    report = _sweep(path, _trajectory(100))
    assert report.done == 100
    # begin_sweep: the new file (fsync, rename, fsync of its folder); finish: the copy with the
    # last batch (fsync, rename over the file, fsync of the folder). No segment, no journal.
    assert calls.count == {"fsync": 4, "replace": 2}
    assert calls.appeared == ["new.h5", "new.h5"]
    assert not path.with_name("new.h5.segments").exists()
    assert not journal_path(path).exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["new.h5", "warm.h5"]
    with pr.load_trajectory(path) as study:
        assert study.results["z"][:].tolist() == [2.0 * i for i in range(100)]
        assert study.run_table().status.tolist() == ["done"] * 100
        assert len(study.storage.load_provenance("t")) == 1


def test_the_last_batch_of_a_longer_sweep_skips_its_segment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "batches.h5"
    written: list[int] = []
    write_segment = service.HDF5StorageService._write_segment

    def counted(self: service.HDF5StorageService, *args: object, **kwargs: object) -> None:
        written.append(1)
        write_segment(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(service.HDF5StorageService, "_write_segment", counted)
    report = _sweep(path, _trajectory(25), batch_size=10, flush_seconds=3600)
    assert report.done == 25
    assert len(written) == 2  # runs 0-9 and 10-19; runs 20-24 went into the final commit
    with pr.load_trajectory(path) as study:
        assert study.results["arr"][:, 0].tolist() == [float(i) for i in range(25)]
    # Into an existing file (a resume, another trajectory) the final commit is journaled.
    calls = _Calls(monkeypatch)
    _sweep(path, _trajectory(5, name="other"))
    assert len(written) == 2
    assert journal_path(path).name in calls.appeared
    with pr.load_trajectory(path, "other") as study:
        assert study.results["z"][:].tolist() == [0.0, 2.0, 4.0, 6.0, 8.0]


def test_a_final_commit_that_fails_stores_the_last_batch_apart_and_raises(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A write that fails in the final commit: the batch still reaches a segment file."""
    path = tmp_path / "failing.h5"
    fold_into: Callable[..., dict[str, int]] = service.HDF5StorageService._fold_into

    def failing(self: service.HDF5StorageService, *args: object, **kwargs: object) -> object:
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(service.HDF5StorageService, "_fold_into", failing)
    with pytest.raises(StorageError, match="Input/output error"):
        _sweep(path, _trajectory(6))
    monkeypatch.setattr(service.HDF5StorageService, "_fold_into", fold_into)
    # Every run reached a segment before the fold failed: the file reads them, and a resume
    # has nothing left to run.
    with pr.load_trajectory(path) as study:
        assert study.run_table().status.tolist() == ["done"] * 6
    env = pr.Environment(_trajectory(6), storage=path)
    report = env.run(_simulate, progress=False, resume=True)
    env.storage.close()
    assert (report.done, report.skipped) == (0, 6)
    assert not path.with_name("failing.h5.segments").exists()
    assert not list(tmp_path.glob(".*.tmp"))


def test_a_killed_writers_temporary_files_go_once_per_hold_of_the_lock(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Leftovers are removed when a writer takes the lock, not by a folder scan per commit."""
    path = tmp_path / "held.h5"
    _sweep(path, _trajectory(4))
    # What writers killed mid-commit leave: a temporary main file and a journal's temporary.
    debris = [tmp_path / ".held.h5.4242.tmp", tmp_path / ".held.h5.journal.4242.tmp"]
    for leftover in debris:
        leftover.write_bytes(b"half written")
    scans: list[Path] = []
    remove_leftovers = files.remove_leftovers

    def counted(target: Path) -> list[Path]:
        scans.append(target)
        return remove_leftovers(target)

    monkeypatch.setattr(service, "remove_leftovers", counted)
    # A resume of a longer trajectory: begin_sweep commits, two segments, the final commit.
    env = pr.Environment(_trajectory(25), storage=path, batch_size=10, flush_seconds=3600)
    report = env.run(_simulate, progress=False, resume=True)
    env.storage.close()
    assert report.done == 21
    assert scans == [path]  # one scan for the one hold of the lock
    assert not any(leftover.exists() for leftover in debris)
    with pr.load_trajectory(path) as study:
        assert study.results["z"][:].tolist() == [2.0 * i for i in range(25)]


def _mixed(run: pr.Run) -> dict[str, object]:
    """Results of every layout a batch folds from memory, some missing, one changing type."""
    i = int(run.x)
    found: dict[str, object] = {"z": run.x * 2.0, "text": f"run {i}", "arr": np.full(3, run.x)}
    if i % 3:
        found["sparse"] = i  # missing in every third run
    # Fixed while the values are floats, then packed once a later sweep stores a string.
    found["turns"] = run.x if i < 4 else f"x={i}"
    if i % 2:
        found["nested"] = {"a": [i, i + 1]}  # packed
    return found


def _layout(path: Path) -> list[str]:
    """Every object of the file with its attributes' types and values and datasets' layout.

    Run timings, hosts and the provenance differ between any two sweeps and are left out.
    """
    varying = ("started", "finished", "duration", "pid", "host", "provenance", "created")
    lines: list[str] = []

    def visit(name: str, node: object) -> None:
        assert isinstance(node, h5py.Group | h5py.Dataset)
        if any(part in name for part in varying):
            return
        if isinstance(node, h5py.Dataset):
            plist = node.id.get_create_plist()
            values = node[()]
            lines.append(
                f"{name} {node.dtype} {node.shape} {node.maxshape} {node.chunks} "
                f"{node.fillvalue!r} {plist.get_fill_time()} {plist.get_nfilters()} "
                f"{plist.get_obj_track_times()} {plist.get_attr_creation_order()} "
                f"{values.tolist() if isinstance(values, np.ndarray) else values!r}"
            )
        else:
            lines.append(name)
        for key in sorted(node.attrs):
            if key in ("DIMENSION_LIST", "REFERENCE_LIST", *varying):
                continue
            attribute = node.attrs.get_id(key)
            lines.append(f"  @{key} {attribute.dtype} {attribute.shape} {node.attrs[key]!r}")

    with h5py.File(path, "r") as file:
        file.visititems(visit)
    return lines


def _two_sweeps(path: Path) -> None:
    """A new file of 4 runs, then 3 more by an expansion (the second commit is journaled)."""
    first = _trajectory(4)
    env = pr.Environment(first, storage=path)
    env.run(_mixed, progress=False)  # a new file: committed by a copy
    env.storage.close()
    grown = pr.load_trajectory(path, name="t").trajectory
    grown.expand({"x": [4.0, 5.0, 6.0]})
    env = pr.Environment(grown, storage=path)
    env.run(_mixed, resume=True, progress=False)  # through the journal; "turns" turns packed
    env.storage.close()


def test_the_last_batch_folded_from_memory_stores_what_a_segment_in_memory_stores(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The fold takes the last batch from its columns; a segment in memory is the other way."""
    sweeps = _two_sweeps
    direct = tmp_path / "direct.h5"
    with monkeypatch.context() as patched:
        patched.setattr(service, "batch_in_memory", None)  # not called: from the columns
        sweeps(direct)
    with monkeypatch.context() as patched:
        patched.setattr(RunBatch, "direct", property(lambda self: False))
        sweeps(tmp_path / "segment.h5")
    assert _layout(direct) == _layout(tmp_path / "segment.h5")
    with pr.load_trajectory(direct) as study:
        assert study.results["turns"].to_list() == [0.0, 1.0, 2.0, 3.0, "x=4", "x=5", "x=6"]
        assert study.results["sparse"].to_list()[:4] == [None, 1, 2, None]


def test_datasets_are_the_same_without_h5pys_private_plist_builder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The writer builds creation property lists with h5py's private ``fill_dcpl`` for speed.

    Should a future h5py move it or change its signature, datasets are created through
    ``create_dataset`` instead: the same file either way.
    """
    _two_sweeps(tmp_path / "low.h5")
    for missing in (None, lambda *args: (_ for _ in ()).throw(TypeError("changed signature"))):
        with monkeypatch.context() as patched:
            patched.setattr(layout, "_fill_dcpl", missing)
            patched.setattr(layout, "_PLISTS", {})
            patched.setattr(layout, "_FILL_DCPL_REFUSED", [])
            path = tmp_path / f"public-{missing is None}.h5"
            _two_sweeps(path)
            refusals = len(layout._FILL_DCPL_REFUSED)
            assert refusals == (0 if missing is None else 1)  # noticed once, then avoided
        assert _layout(path) == _layout(tmp_path / "low.h5")
