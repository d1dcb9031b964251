"""The lazy result handle indexes like the stacked array of all runs: ``handle[idx] == full[idx]``.

``full`` is built here with ``np.stack``; ``handle`` is ``load_trajectory(...).results[name]``,
read from an HDF5 file (folded, or still in segments while a sweep runs) or from memory. Every
backend must give the same answer, including for the indices h5py refuses (negative steps,
unsorted and repeated lists, boolean masks).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import pypet_rebuild as pr
from pypet_rebuild.analysis.results import ResultColumn
from pypet_rebuild.storage import RunRecord, RunStatus
from pypet_rebuild.storage.protocol import WriterSession
from pypet_rebuild.testing import StorageFactory

N = 7
ITEM_SHAPE = (4, 5)
ARR = np.arange(N * 20, dtype=np.float64).reshape(N, *ITEM_SHAPE) * 1.5 - 7
Z = np.array([3, -1, 4, 1, -5, 9, 2], dtype=np.int64)
FULL: dict[str, np.ndarray[Any, Any]] = {"arr": ARR, "z": Z}


def trajectory() -> pr.Trajectory:
    traj = pr.Trajectory("t", seed=0)
    traj.add_parameter("i", 0)
    traj.explore({"i": list(range(N))})
    return traj


def simulate(run: pr.Run) -> dict[str, object]:
    return {"arr": ARR[run.i].copy(), "z": int(Z[run.i])}


def record(traj: pr.Trajectory, index: int, *, failed: bool = False) -> RunRecord:
    point_hash = traj.point_hashes()[index]
    return RunRecord(
        index=index,
        point_hash=point_hash,
        status=RunStatus.FAILED if failed else RunStatus.DONE,
        started=1.0,
        finished=2.0,
        duration=1.0,
        host="h",
        pid=1,
        seed=0,
        error="Traceback: failed" if failed else "",
        results={} if failed else {"arr": ARR[index].copy(), "z": int(Z[index])},
    )


def write_segments(path: Path) -> tuple[pr.HDF5StorageService, WriterSession]:
    """Store the runs in several segments, out of order, as a killed sweep leaves them.

    Run 3 first fails (segment 1) and is done in a later segment: the newest record wins.
    Returns the writer and its session, which still holds the lock and has not folded anything.
    """
    traj = trajectory()
    writer = pr.HDF5StorageService(path)
    session = writer.begin_sweep(traj.snapshot(), resume=False)
    for batch in ([4, 5, 3], [0, 1], [6], [2]):
        session.store_runs([record(traj, i, failed=(i == 3 and batch[0] == 4)) for i in batch])
    session.store_runs([record(traj, 3)])
    return writer, session


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("sliced")


BACKENDS = ["hdf5", "hdf5-segments", "hdf5-batched", "memory"]


@pytest.fixture(scope="module", params=BACKENDS)
def trajectory_of(request: pytest.FixtureRequest, folder: Path) -> Iterator[pr.StoredTrajectory]:
    kind = request.param
    opened: list[pr.StorageService | WriterSession] = []
    if kind == "memory":
        env = pr.Environment(trajectory(), storage=pr.MemoryStorageService())
        env.run(simulate)
        yield env.study
        return
    path = folder / f"{kind}.h5"
    if kind == "hdf5":
        pr.Environment(trajectory(), storage=path).run(simulate)
    elif kind == "hdf5-batched":
        pr.Environment(trajectory(), storage=path, batch_size=3).run(simulate)
    else:
        opened.extend(reversed(write_segments(path)))
    reader = pr.HDF5StorageService(path)
    opened.append(reader)
    yield pr.load_trajectory(reader)
    for storage in opened:
        storage.close()


# -- index strategies ----------------------------------------------------------------------------


def axis_index(size: int) -> st.SearchStrategy[Any]:
    """One index into an axis of ``size``: int, slice (any step), or an int list/array."""
    one = st.integers(-size, size - 1)
    return st.one_of(
        one,
        st.slices(size),
        st.lists(one, min_size=1, max_size=6),
        hnp.arrays(np.int64, st.integers(1, 6), elements=one),
    )


RUN_KEYS: dict[str, st.SearchStrategy[Any]] = {
    "int": st.integers(-N, N - 1),
    "slice": st.slices(N),
    # Unsorted, repeated and empty selections, as lists and as arrays.
    "fancy": st.lists(st.integers(-N, N - 1), max_size=9)
    | hnp.arrays(np.int64, st.integers(0, 9), elements=st.integers(-N, N - 1)),
    "mask": hnp.arrays(np.bool_, N) | st.lists(st.booleans(), min_size=N, max_size=N),
}


@st.composite
def indices(draw: st.DrawFn, shape: tuple[int, ...], kind: str) -> Any:
    """A numpy index into an array of ``shape`` whose first axis is the run axis.

    ``kind`` picks the run-axis index (``"basic"``: any basic index, ``...`` and ``None``
    included); the item axes get ints, slices with any step, or one int list.
    """
    if kind == "basic":
        return draw(hnp.basic_indices(shape, min_dims=0, allow_newaxis=True))
    key = draw(RUN_KEYS[kind])
    if len(shape) == 1:
        return key if draw(st.booleans()) else (key,)
    n_items = draw(st.sampled_from([0, 1, 2, 2]))
    items = [draw(axis_index(size)) for size in shape[1 : 1 + n_items]]
    # At most one list among the item axes, so that it broadcasts with a fancy run key.
    lists = [i for i, item in enumerate(items) if not isinstance(item, int | slice)]
    for i in lists[1:]:
        items[i] = draw(st.integers(-shape[i + 1], shape[i + 1] - 1))
    if n_items < len(shape) - 1 and draw(st.booleans()):
        items.append(Ellipsis)
    return (key, *items)


def expected_or_error(full: np.ndarray[Any, Any], idx: Any) -> tuple[Any, type[Exception] | None]:
    try:
        return full[idx], None
    except IndexError as error:
        return None, type(error)


def check(handle: ResultColumn, full: np.ndarray[Any, Any], idx: Any) -> None:
    expected, error = expected_or_error(full, idx)
    if error is not None:
        with pytest.raises(error):
            handle[idx]
        return
    got = handle[idx]
    assert not np.ma.getmaskarray(got).any()  # every run has a value: nothing masked
    got_array = np.asarray(got)
    assert got_array.shape == np.shape(expected), (idx, got_array.shape, np.shape(expected))
    assert got_array.dtype == np.asarray(expected).dtype
    np.testing.assert_array_equal(got_array, expected)


# -- the property --------------------------------------------------------------------------------


# The folded file of a batched sweep reads exactly like the "hdf5" one; the examples and the
# grid check it, the properties spend their time on the three different read paths.
PROPERTY_BACKENDS = pytest.mark.parametrize(
    "trajectory_of", ["hdf5", "hdf5-segments", "memory"], indirect=True
)


@PROPERTY_BACKENDS
@pytest.mark.parametrize("kind", ["basic", "int", "slice", "fancy", "mask"])
@settings(max_examples=50)
@given(data=st.data())
def test_handle_indexes_like_the_stacked_array(
    trajectory_of: pr.StoredTrajectory, kind: str, data: st.DataObject
) -> None:
    idx = data.draw(indices(ARR.shape, kind), label="idx")
    check(trajectory_of.results["arr"], ARR, idx)


@PROPERTY_BACKENDS
@settings(max_examples=40)
@given(data=st.data())
def test_scalar_handle_indexes_like_the_stacked_values(
    trajectory_of: pr.StoredTrajectory, data: st.DataObject
) -> None:
    kind = data.draw(st.sampled_from(sorted(RUN_KEYS)), label="kind")
    idx = data.draw(indices(Z.shape, kind), label="idx")
    check(trajectory_of.results["z"], Z, idx)


EXAMPLES: list[Any] = [
    slice(None),
    3,
    -1,
    -N,
    slice(None, None, -1),
    slice(5, 1, -2),
    slice(-2, None, -3),
    [5, 0, 5, 2],
    [-1, 0, -1],
    np.array([6, 6, 1]),
    np.array([True, False, True, False, False, True, True]),
    [False] * N,
    [],
    Ellipsis,
    (Ellipsis, 2),
    (slice(None), 2),
    (slice(None), -1, slice(None, None, -1)),
    (slice(None, None, -2), slice(1, 3), [4, 0, 4]),
    ([3, 1, 3], 2, 1),
    ([3, 1, 3], [0, 3, 0]),
    ([3, 1, 3], slice(None), [0, 3, 0]),
    (2, [3, 0]),
    (-2, slice(None), [4, 0, 4]),
    (-2, slice(None, None, -1), 1),
    (np.array([True, False, True, False, False, True, True]), 1, slice(None, None, 2)),
    (slice(None), None, 1),
    (None, 3),
    (1, Ellipsis, 2),
    (np.int64(4), np.int64(1)),
    (),
    np.True_,
    (slice(None), np.False_),
    [[0, 1], [6, 6]],
    ([[0, 1], [6, 6]], 2),
]


@pytest.mark.parametrize("idx", EXAMPLES, ids=repr)
def test_handle_indexes_like_the_stacked_array_examples(
    trajectory_of: pr.StoredTrajectory, idx: Any
) -> None:
    check(trajectory_of.results["arr"], ARR, idx)


GRID_RUN_KEYS: list[Any] = [
    3,
    -1,
    slice(None, None, -2),
    [4, 0, 4],
    np.array([6, 2]),
    np.array([True, False, True, False, False, True, True]),
]
GRID_ITEMS: list[tuple[Any, ...]] = [
    (),
    (2,),
    (slice(None, None, -1),),
    ([3, 0, 3],),
    (1, slice(1, 4)),
    (slice(None), [4, 0]),
    (slice(None), [4, 0, 1]),
    ([1, 2], 3),
    ([2, 0, 2], slice(None, None, -2)),
    (Ellipsis, [0, 4]),
    (slice(3, 0, -2), [1, 0]),
]


def test_every_run_key_with_every_item_index(trajectory_of: pr.StoredTrajectory) -> None:
    # Deterministic cover of the combinations where numpy moves or broadcasts axes: an int or
    # a list on the run axis together with a list after a slice on an item axis.
    handle = trajectory_of.results["arr"]
    for run_key in GRID_RUN_KEYS:
        for item in GRID_ITEMS:
            check(handle, ARR, (run_key, *item))


@pytest.mark.parametrize(
    "idx", [slice(None), slice(None, None, -1), [6, 0, 6], -3, np.array([1, 2])], ids=repr
)
def test_scalar_result_reads_like_the_stacked_values(
    trajectory_of: pr.StoredTrajectory, idx: Any
) -> None:
    handle = trajectory_of.results["z"]
    assert handle[:].tolist() == [int(Z[i]) for i in range(N)]
    assert handle[:].dtype == np.int64
    check(handle, Z, idx)
    assert [trajectory_of.run(i).results["z"] for i in range(N)] == Z.tolist()


def test_out_of_range_run_is_an_index_error(trajectory_of: pr.StoredTrajectory) -> None:
    with pytest.raises(IndexError):
        trajectory_of.results["arr"][N]
    with pytest.raises(IndexError):
        trajectory_of.results["arr"][[0, N]]


# -- missing values ------------------------------------------------------------------------------

FAILING = (1, 4, 5)


def fail_some(run: pr.Run) -> dict[str, object]:
    if run.i in FAILING:
        raise RuntimeError("no value")
    return simulate(run)


@pytest.fixture(params=["hdf5", "hdf5-segments", "memory"])
def with_failures(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[pr.StoredTrajectory]:
    path = tmp_path / "m.h5"
    if request.param == "hdf5-segments":
        # Failed runs spread over segments that are not folded yet, read by a second service.
        traj = trajectory()
        writer = pr.HDF5StorageService(path)
        session = writer.begin_sweep(traj.snapshot(), resume=False)
        for batch in ([5, 0, 1], [4, 3], [2, 6]):
            session.store_runs([record(traj, i, failed=i in FAILING) for i in batch])
        reader = pr.HDF5StorageService(path)
        yield pr.load_trajectory(reader, "t")
        reader.close()
        session.close()
        writer.close()
        return
    storage: pr.StorageService = (
        pr.MemoryStorageService() if request.param == "memory" else pr.HDF5StorageService(path)
    )
    pr.Environment(trajectory(), storage=storage).run(fail_some, on_error="continue")
    yield pr.load_trajectory(storage, "t")
    storage.close()


@pytest.mark.parametrize(
    "idx",
    [
        slice(None),
        slice(None, None, -1),
        [4, 0, 1, 0],
        np.array([False, True, True, False, True, False, True]),
        (slice(None), 2),
        (slice(None), slice(1, 3), -1),
        ([5, 6], [0, 3]),
        (slice(None, None, -2), Ellipsis, [4, 0]),
    ],
    ids=repr,
)
def test_missing_runs_are_masked_exactly(with_failures: pr.StoredTrajectory, idx: Any) -> None:
    got = with_failures.results["arr"][idx]
    assert isinstance(got, np.ma.MaskedArray)
    missing = np.zeros(ARR.shape, dtype=bool)
    missing[list(FAILING)] = True
    expected_mask = missing[idx]
    expected = ARR[idx]
    assert got.shape == expected.shape
    assert got.dtype == expected.dtype
    np.testing.assert_array_equal(np.ma.getmaskarray(got), expected_mask)
    np.testing.assert_array_equal(got.data[~expected_mask], expected[~expected_mask])


def test_missing_scalar_runs_are_masked(with_failures: pr.StoredTrajectory) -> None:
    z = with_failures.results["z"][:]
    assert isinstance(z, np.ma.MaskedArray)
    assert z.mask.tolist() == [i in FAILING for i in range(N)]
    assert z.compressed().tolist() == [int(Z[i]) for i in range(N) if i not in FAILING]
    assert with_failures.results["z"].to_list() == [
        None if i in FAILING else int(Z[i]) for i in range(N)
    ]


def test_selecting_only_present_runs_is_not_masked(with_failures: pr.StoredTrajectory) -> None:
    got = with_failures.results["arr"][[6, 0, 2]]
    np.testing.assert_array_equal(np.ma.getdata(got), ARR[[6, 0, 2]])
    assert not np.ma.getmaskarray(got).any()


def test_one_missing_run_is_a_key_error(with_failures: pr.StoredTrajectory) -> None:
    with pytest.raises(KeyError, match="run 4"):
        with_failures.results["arr"][4]
    with pytest.raises(KeyError, match="run 1"):
        with_failures.results["z"][-6]


# -- segments before and after the fold ----------------------------------------------------------


def read_everything(path: Path) -> dict[str, Any]:
    reader = pr.HDF5StorageService(path)
    try:
        loaded = pr.load_trajectory(reader)
        arr, z = loaded.results["arr"], loaded.results["z"]
        return {
            "arr": arr[:],
            "slice": arr[::-2, 1:, -1],
            "fancy": arr[[6, 3, 3, 0], 2],
            "mask": arr[np.array([True, False, True, True, False, False, True])],
            "z": z[:],
            "runs": [loaded.run(i).results["z"] for i in range(N)],
            "table": reader.load_run_table("t").status.tolist(),
        }
    finally:
        reader.close()


def test_segments_read_identically_before_and_after_the_fold(tmp_path: Path) -> None:
    path = tmp_path / "seg.h5"
    writer, session = write_segments(path)
    segments = path.with_name(path.name + ".segments")
    assert len(list(segments.glob("*.h5"))) == 5

    before = read_everything(path)  # a second service reads while the writer holds the lock
    assert before["table"] == ["done"] * N
    np.testing.assert_array_equal(before["arr"], ARR)
    np.testing.assert_array_equal(before["slice"], ARR[::-2, 1:, -1])
    np.testing.assert_array_equal(before["fancy"], ARR[[6, 3, 3, 0], 2])
    np.testing.assert_array_equal(before["z"], Z)
    assert before["runs"] == Z.tolist()

    session.finish({})
    writer.close()
    assert not list(segments.glob("*.h5"))
    after = read_everything(path)
    for key, value in before.items():
        np.testing.assert_array_equal(after[key], value)
        assert np.asarray(after[key]).dtype == np.asarray(value).dtype


def test_environment_batches_read_like_one_batch(tmp_path: Path) -> None:
    pr.Environment(trajectory(), storage=tmp_path / "one.h5").run(simulate)
    pr.Environment(trajectory(), storage=tmp_path / "many.h5", batch_size=3).run(simulate)
    one, many = read_everything(tmp_path / "one.h5"), read_everything(tmp_path / "many.h5")
    for key, value in one.items():
        np.testing.assert_array_equal(many[key], value)


# -- many runs: every read strategy (one slice, a few rows, an h5py point selection) -------------

BIG_N = 600
BIG = np.arange(BIG_N * 3, dtype=np.int32).reshape(BIG_N, 3) * 7


@pytest.fixture(scope="module", params=["hdf5", "memory"])
def big(request: pytest.FixtureRequest, folder: Path) -> Iterator[ResultColumn]:
    traj = pr.Trajectory("big", seed=0)
    traj.add_parameter("i", 0)
    traj.explore({"i": list(range(BIG_N))})
    storage: pr.StorageService = (
        pr.MemoryStorageService()
        if request.param == "memory"
        else pr.HDF5StorageService(folder / "big.h5")
    )
    pr.Environment(traj, storage=storage, batch_size=128).run(lambda run: {"b": BIG[run.i]})
    yield pr.load_trajectory(storage, "big").results["b"]
    storage.close()


@st.composite
def many_runs(draw: st.DrawFn) -> Any:
    """Run selections of every density: ranges, a few scattered rows, many scattered rows."""
    start = draw(st.integers(-BIG_N, BIG_N - 1))
    step = draw(st.sampled_from([1, 2, 5, 9, -1, -7]))
    count = draw(st.integers(0, 120))
    rows: list[int] = ((start + step * np.arange(count)) % BIG_N).tolist()
    if draw(st.booleans()):
        rows = draw(st.permutations(rows))
    extra = draw(st.lists(st.integers(-BIG_N, BIG_N - 1), max_size=80))
    return np.concatenate([np.asarray(rows, dtype=np.int64), np.asarray(extra, dtype=np.int64)])


@settings(max_examples=40)
@given(runs=many_runs(), item=st.sampled_from([(), (1,), (slice(None, None, -1),), ([2, 0],)]))
def test_many_runs_read_like_the_stacked_array(
    big: ResultColumn, runs: Any, item: tuple[Any, ...]
) -> None:
    check(big, BIG, (runs, *item))


# -- labels: a frame result indexed by column, per run -------------------------------------------


def test_frame_results_are_indexed_per_run_by_label(
    pr_storage_factory: StorageFactory, pr_sweep: Callable[..., pr.StoredTrajectory]
) -> None:
    import pandas as pd

    frames = [pd.DataFrame({"a": [i, i + 1], "b": ["x", "y"]}) for i in range(N)]
    handle = pr_sweep(trajectory(), lambda run: {"df": frames[run.i]}).results["df"]
    pd.testing.assert_series_equal(handle[2, "a"], frames[2]["a"])
    columns = handle[[5, 1], ["b", "a"]]
    assert columns.shape == (2,)
    pd.testing.assert_frame_equal(columns[0], frames[5][["b", "a"]])
    pd.testing.assert_frame_equal(columns[1], frames[1][["b", "a"]])
    every = handle[::-3, "a"]
    assert [s.tolist() for s in every] == [[6, 7], [3, 4], [0, 1]]
