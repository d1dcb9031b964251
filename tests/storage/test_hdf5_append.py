"""Folding segments in place (``append_trajectory``) leaves what a rewrite leaves.

Each example runs a few rounds of sweeps through a writer that leaves its segments unfolded
(``compaction="manual"``): runs recorded in any order, failed runs re-run, results that appear
in later rounds, a fixed-shape result that turns ragged, expansions, derived results and
provenance. After every round the same main file and segments are folded both ways, and every
read of the two files must agree.
"""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import pypet_rebuild as pr
from pypet_rebuild.errors import FileFormatError
from pypet_rebuild.storage import RunRecord, RunStatus
from pypet_rebuild.storage.hdf5.files import FORMAT_ATTR, FORMAT_VERSION, list_segments
from pypet_rebuild.storage.hdf5.folding import (
    append_extras,
    append_trajectory,
    fold_trajectory,
    is_appendable,
    start_main_file,
    write_extras,
)
from pypet_rebuild.storage.hdf5.view import TrajectoryView
from pypet_rebuild.storage.records import MISSING
from pypet_rebuild.tree.seeding import run_seed
from pypet_rebuild.tree.snapshot import TrajectorySnapshot

NAME = "t"
OPTIONS = pr.StorageOptions(chunk_bytes=1024)  # small chunks: growing crosses chunk borders

_record = st.tuples(
    st.integers(0, 1000),  # run index, reduced modulo the sweep's length
    st.sampled_from([RunStatus.DONE, RunStatus.FAILED]),
    st.integers(0, 3),  # which variant of the results
    st.sampled_from(["", "alpha", "beta"]),  # host
    st.sampled_from(["", "printed\n"]),  # output
)
_round = st.fixed_dictionaries(
    {
        "added": st.integers(0, 3),  # points an expansion appends (the first round: n - 2)
        "batches": st.lists(st.lists(_record, min_size=1, max_size=5), max_size=3),
        "derived": st.booleans(),
        "snapshot": st.booleans(),  # fold with the session's definition, or read it back
    }
)


def _trajectory(n: int) -> pr.Trajectory:
    traj = pr.Trajectory(NAME, seed=11)
    traj.add_parameter("x", 0)
    traj.add_parameter("label", "")
    traj.explore({"x": list(range(n)), "label": [f"p{i}" for i in range(n)]})
    return traj


def _results(index: int, round_: int, variant: int) -> dict[str, object]:
    results: dict[str, object] = {"z": float(index) + round_ / 10}
    # Shape (3,) until a later round's variant 3 gives (4,): the column turns ragged.
    length = 4 if variant == 3 and round_ > 0 else 3
    results["arr"] = np.full(length, index, dtype=np.int32)
    if variant % 2:
        results["word"] = f"w{index}-{round_}"
    if variant == 2:
        results[f"new{round_}"] = round_
    # A DataFrame of index % 3 rows (the frame layout) until variant 3 of a later round adds a
    # column: another make of frame, and the column turns packed.
    rows = index % 3
    frame = pd.DataFrame(
        {"v": np.full(rows, index + round_ / 10), "s": pd.array(["a"] * rows, "str")}
    )
    if variant == 3 and round_ > 0:
        frame["extra"] = 1
    results["frame"] = frame
    return results


def _records(
    traj: pr.Trajectory, batch: list[Any], round_: int, done: set[int], counter: list[int]
) -> list[RunRecord]:
    hashes = traj.point_hashes()
    records = []
    for drawn, status, variant, host, output in batch:
        index = drawn % len(traj)
        if index in done:
            continue  # a done run is never run again (resuming skips it)
        counter[0] += 1
        k = counter[0]
        if status is RunStatus.DONE:
            done.add(index)
        records.append(
            RunRecord(
                index,
                hashes[index],
                status,
                float(k),
                float(k) + 0.25,
                0.25,
                host,
                100 + k,
                run_seed(traj.seed, hashes[index]),
                "boom" if status is RunStatus.FAILED else "",
                _results(index, round_, variant) if status is RunStatus.DONE else {},
                output=output,
            )
        )
    return records


@contextlib.contextmanager
def _segments(path: Path) -> Iterator[list[h5py.Group]]:
    files = [h5py.File(p, "r") for _, _, p in list_segments(path, NAME)]
    try:
        yield [file[NAME] for file in files]
    finally:
        for file in files:
            file.close()


def _fold(path: Path, snapshot: TrajectorySnapshot | None) -> None:
    """Rewrite ``path`` with its segments folded in (the compaction path), drop the segments."""
    rewritten = path.with_name("rewritten.h5")
    with h5py.File(path, "r") as old, _segments(path) as segments:
        view = TrajectoryView(old[NAME], segments, allow_pickle=True)
        with h5py.File(rewritten, "w", libver=("v110", "latest")) as new:
            start_main_file(new, old, NAME)
            fold_trajectory(new, NAME, view, snapshot, OPTIONS)
            write_extras(new[NAME], view, None, [], True)
    rewritten.replace(path)


def _append(path: Path, segment_path: Path, snapshot: TrajectorySnapshot | None) -> None:
    """Fold the segments of ``segment_path`` into ``path`` in place."""
    with h5py.File(path, "r+") as main, _segments(segment_path) as segments:
        assert is_appendable(main[NAME])
        append_trajectory(main[NAME], segments, snapshot, OPTIONS)
        append_extras(main[NAME], None, [], True, segments)


def _layout_of(path: Path, name: str) -> str:
    with h5py.File(path, "r") as file:
        return str(file[f"{NAME}/results/{name}"].attrs["layout"])


def _assert_same(one: Path, other: Path) -> None:
    a = pr.HDF5StorageService(one, allow_pickle=True)
    b = pr.HDF5StorageService(other, allow_pickle=True)
    try:
        snap_a, snap_b = a.load_snapshot(NAME), b.load_snapshot(NAME)
        assert snap_a.explored == snap_b.explored
        assert (snap_a.kind, snap_a.grid, snap_a.shape, snap_a.n_runs) == (
            snap_b.kind,
            snap_b.grid,
            snap_b.shape,
            snap_b.n_runs,
        )
        assert list(snap_a.hashes or ()) == list(snap_b.hashes or ())
        table_a, table_b = a.load_run_table(NAME), b.load_run_table(NAME)
        for column in ("index", "point_hash", "status", "host", "pid", "seed", "error", "output"):
            assert getattr(table_a, column).tolist() == getattr(table_b, column).tolist(), column
        for column in ("started", "finished", "duration"):
            np.testing.assert_array_equal(getattr(table_a, column), getattr(table_b, column))
        names = a.result_names(NAME)
        assert names == b.result_names(NAME)
        runs = list(range(snap_a.n_runs))
        for name in names:
            assert a.result_info(NAME, name) == b.result_info(NAME, name), name
            assert _layout_of(one, name) == _layout_of(other, name), name
            assert a.result_comment(NAME, name) == b.result_comment(NAME, name)
            values_a = a.read_results(NAME, name, runs)
            values_b = b.read_results(NAME, name, runs)
            for value_a, value_b in zip(values_a, values_b, strict=True):
                assert (value_a is MISSING) == (value_b is MISSING), name
                assert type(value_a) is type(value_b)
                if isinstance(value_a, pd.DataFrame):
                    assert isinstance(value_b, pd.DataFrame)
                    pd.testing.assert_frame_equal(value_a, value_b, check_exact=True)
                np.testing.assert_array_equal(
                    np.asarray(value_a, dtype=object), np.asarray(value_b, dtype=object)
                )
            np.testing.assert_array_equal(
                a.result_presence(NAME, name), b.result_presence(NAME, name)
            )
        derived_a, derived_b = a.load_derived(NAME), b.load_derived(NAME)
        assert {k: v.value for k, v in derived_a.items()} == {
            k: v.value for k, v in derived_b.items()
        }
        assert a.load_provenance(NAME) == b.load_provenance(NAME)
    finally:
        a.close()
        b.close()


@settings(max_examples=40, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rounds=st.lists(_round, min_size=1, max_size=3))
def test_appending_in_place_reads_as_a_rewrite(tmp_path_factory: Any, rounds: list[Any]) -> None:
    folder = tmp_path_factory.mktemp("append")
    rewritten, appended = folder / "a" / "main.h5", folder / "b" / "main.h5"
    rewritten.parent.mkdir()
    appended.parent.mkdir()
    traj: pr.Trajectory | None = None
    done: set[int] = set()
    counter = [0]
    for round_, spec in enumerate(rounds):
        if traj is None:
            traj = _trajectory(2 + spec["added"])
        elif spec["added"]:
            n = len(traj)
            traj.expand(
                {
                    "x": list(range(n, n + spec["added"])),
                    "label": [f"p{i}" for i in range(n, n + spec["added"])],
                }
            )
        storage = pr.HDF5StorageService(rewritten, compaction="manual", allow_pickle=True)
        with storage.begin_sweep(traj.snapshot(), resume=round_ > 0) as session:
            if round_ == 0:
                shutil.copyfile(rewritten, appended)  # the main file before any run
            for batch in spec["batches"]:
                session.store_runs(_records(traj, batch, round_, done, counter))
            if spec["derived"]:
                session.store_derived([pr.Result(f"d{round_ % 2}", float(round_))])
            session.finish({"round": round_})
        storage.close()
        snapshot = traj.snapshot() if spec["snapshot"] else None
        _append(appended, rewritten, snapshot)
        _fold(rewritten, snapshot)
        for _, _, segment in list_segments(rewritten, NAME):
            segment.unlink()
        _assert_same(rewritten, appended)


def test_append_without_segments_changes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "s.h5"
    traj = _trajectory(3)
    pr.Environment(traj, storage=path).run(lambda run: {"z": float(run.x)}, progress=False)
    before = path.read_bytes()
    copy = tmp_path / "copy.h5"
    shutil.copyfile(path, copy)
    with h5py.File(copy, "r+") as main:
        append_trajectory(main[NAME], [], None, OPTIONS)
    _assert_same(path, copy)
    assert path.read_bytes() == before


def test_a_version_1_trajectory_is_not_appended_to(tmp_path: Path) -> None:
    path = tmp_path / "v1.h5"
    shutil.copyfile(Path(__file__).parents[1] / "data" / "v1" / "sweep_v1.hdf5", path)
    with h5py.File(path, "r+") as main:
        assert main.attrs[FORMAT_ATTR] == 1 < FORMAT_VERSION
        assert not is_appendable(main["sweep"])
        with pytest.raises(FileFormatError, match="layout version 1"):
            append_trajectory(main["sweep"], [], None, OPTIONS)


class _Counter:
    """Elements read from and written to datasets of one file, through h5py's indexing."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, filename: str) -> None:
        self.read = 0
        self.written = 0
        get, put = h5py.Dataset.__getitem__, h5py.Dataset.__setitem__

        def counted_get(dataset: h5py.Dataset, item: Any, *args: Any) -> Any:
            value = get(dataset, item, *args)
            if dataset.file.filename == filename:
                self.read += int(np.size(value))
            return value

        def counted_put(dataset: h5py.Dataset, item: Any, value: Any) -> None:
            if dataset.file.filename == filename:
                self.written += int(np.size(value))
            put(dataset, item, value)

        monkeypatch.setattr(h5py.Dataset, "__getitem__", counted_get)
        monkeypatch.setattr(h5py.Dataset, "__setitem__", counted_put)


def _grown_by_a_segment(folder: Path, n: int, monkeypatch: pytest.MonkeyPatch) -> tuple[int, int]:
    """Elements read and written folding an expansion of 5 runs into a trajectory of ``n``."""
    path = folder / "main.h5"
    traj = pr.Trajectory(NAME, seed=3)
    traj.add_parameter("x", 0)
    traj.explore({"x": list(range(n))})

    def simulate(run: pr.Run) -> dict[str, object]:
        return {"z": float(run.x), "arr": np.full(4, run.x), "word": str(run.x)}

    pr.Environment(traj, storage=path).run(simulate, progress=False)
    traj.expand({"x": [-1, -2, -3, -4, -5]})
    storage = pr.HDF5StorageService(path, compaction="manual")
    pr.Environment(traj, storage=storage).run(simulate, resume=True, progress=False)
    storage.close()
    with h5py.File(path, "r+") as main, _segments(path) as segments:
        counter = _Counter(monkeypatch, main.filename)
        append_trajectory(main[NAME], segments, None, OPTIONS)
        append_extras(main[NAME], None, [], False, segments)
        monkeypatch.undo()
    return counter.read, counter.written


def test_appending_costs_what_the_segments_add(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    small = tmp_path / "small"
    large = tmp_path / "large"
    small.mkdir()
    large.mkdir()
    # The same segments folded into a trajectory of 20 and of 5,000 runs read and write the
    # same number of elements of the main file: nothing scales with the runs already stored.
    assert _grown_by_a_segment(small, 20, monkeypatch) == _grown_by_a_segment(
        large, 5000, monkeypatch
    )
