"""The lazy result handle indexes like the stacked array of all runs: ``handle[idx] == full[idx]``.

``full`` is built here with ``np.stack``; ``handle`` is ``load_trajectory(...).results[name]``,
read from an HDF5 file (folded, or still in segments while a sweep runs) or from memory. Every
backend must give the same answer, including for the indices h5py refuses (negative steps,
unsorted and repeated lists, boolean masks).
"""

from __future__ import annotations

from collections.abc import Iterator
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


def write_segments(path: Path) -> pr.HDF5StorageService:
    """Store the runs in several segments, out of order, as a killed sweep leaves them.

    Run 3 first fails (segment 1) and is done in a later segment: the newest record wins.
    Returns the writer, which still holds the lock and has not folded anything.
    """
    traj = trajectory()
    writer = pr.HDF5StorageService(path)
    writer.begin_sweep(traj.snapshot(), resume=False)
    for batch in ([4, 5, 3], [0, 1], [6], [2]):
        writer.store_runs(
            "t", [record(traj, i, failed=(i == 3 and batch[0] == 4)) for i in batch]
        )
    writer.store_runs("t", [record(traj, 3)])
    return writer


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("sliced")


BACKENDS = ["hdf5", "hdf5-segments", "hdf5-batched", "memory"]


@pytest.fixture(scope="module", params=BACKENDS)
def trajectory_of(request: pytest.FixtureRequest, folder: Path) -> Iterator[pr.Trajectory]:
    kind = request.param
    opened: list[pr.StorageService] = []
    if kind == "memory":
        memory = pr.MemoryStorageService()
        pr.Environment(trajectory(), storage=memory).run(simulate)
        yield pr.load_trajectory(memory, "t")
        return
    path = folder / f"{kind}.h5"
    if kind == "hdf5":
        pr.Environment(trajectory(), storage=path).run(simulate)
    elif kind == "hdf5-batched":
        pr.Environment(trajectory(), storage=path, batch_size=3).run(simulate)
    else:
        opened.append(write_segments(path))
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


def run_index() -> st.SearchStrategy[Any]:
    """An index into the run axis: also boolean masks and empty selections."""
    return st.one_of(
        axis_index(N),
        hnp.arrays(np.bool_, N),
        st.lists(st.booleans(), min_size=N, max_size=N),
        st.just(Ellipsis),
    )


@st.composite
def indices(draw: st.DrawFn, shape: tuple[int, ...]) -> Any:
    """A numpy index into an array of ``shape`` whose first axis is the run axis."""
    if draw(st.integers(0, 3)) == 0:
        return draw(hnp.basic_indices(shape, min_dims=0, allow_newaxis=True))
    key = draw(run_index())
    if len(shape) == 1 or key is Ellipsis:
        return key if draw(st.booleans()) else (key,)
    n_items = draw(st.integers(0, len(shape) - 1))
    items = [draw(axis_index(size)) for size in shape[1 : 1 + n_items]]
    # At most one list among the item axes, so that it broadcasts with the run key.
    lists = [i for i, item in enumerate(items) if not isinstance(item, int | slice)]
    for i in lists[1:]:
        items[i] = draw(st.integers(-shape[i + 1], shape[i + 1] - 1))
    if draw(st.booleans()) and n_items < len(shape) - 1:
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
    assert not isinstance(got, np.ma.MaskedArray)
    got_array = np.asarray(got)
    assert got_array.shape == np.shape(expected), (idx, got_array.shape, np.shape(expected))
    assert got_array.dtype == np.asarray(expected).dtype
    np.testing.assert_array_equal(got_array, expected)


# -- the property --------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["arr", "z"])
@settings(max_examples=120)
@given(data=st.data())
def test_handle_indexes_like_the_stacked_array(
    trajectory_of: pr.Trajectory, name: str, data: st.DataObject
) -> None:
    full = FULL[name]
    idx = data.draw(indices(full.shape), label="idx")
    check(trajectory_of.results[name], full, idx)


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
]


@pytest.mark.parametrize("idx", EXAMPLES, ids=repr)
def test_handle_indexes_like_the_stacked_array_examples(
    trajectory_of: pr.Trajectory, idx: Any
) -> None:
    check(trajectory_of.results["arr"], ARR, idx)


@pytest.mark.parametrize(
    "idx", [slice(None), slice(None, None, -1), [6, 0, 6], -3, np.array([1, 2])], ids=repr
)
def test_scalar_result_reads_like_the_stacked_values(
    trajectory_of: pr.Trajectory, idx: Any
) -> None:
    handle = trajectory_of.results["z"]
    assert handle[:].tolist() == [int(Z[i]) for i in range(N)]
    assert handle[:].dtype == np.int64
    check(handle, Z, idx)
    assert [trajectory_of.run(i).results["z"] for i in range(N)] == Z.tolist()


def test_out_of_range_run_is_an_index_error(trajectory_of: pr.Trajectory) -> None:
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


@pytest.fixture(params=["hdf5", "memory"])
def with_failures(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[pr.Trajectory]:
    storage: pr.StorageService
    storage = pr.MemoryStorageService() if request.param == "memory" else pr.HDF5StorageService(
        tmp_path / "m.h5"
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
def test_missing_runs_are_masked_exactly(with_failures: pr.Trajectory, idx: Any) -> None:
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


def test_missing_scalar_runs_are_masked(with_failures: pr.Trajectory) -> None:
    z = with_failures.results["z"][:]
    assert isinstance(z, np.ma.MaskedArray)
    assert z.mask.tolist() == [i in FAILING for i in range(N)]
    assert z.compressed().tolist() == [int(Z[i]) for i in range(N) if i not in FAILING]
    assert with_failures.results["z"].to_list() == [
        None if i in FAILING else int(Z[i]) for i in range(N)
    ]


def test_selecting_only_present_runs_is_not_masked(with_failures: pr.Trajectory) -> None:
    got = with_failures.results["arr"][[6, 0, 2]]
    np.testing.assert_array_equal(np.ma.getdata(got), ARR[[6, 0, 2]])
    assert not np.ma.getmaskarray(got).any()


def test_one_missing_run_is_a_key_error(with_failures: pr.Trajectory) -> None:
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
    writer = write_segments(path)
    segments = path.with_name(path.name + ".segments")
    assert len(list(segments.glob("*.h5"))) == 5

    before = read_everything(path)  # a second service reads while the writer holds the lock
    assert before["table"] == ["done"] * N
    np.testing.assert_array_equal(before["arr"], ARR)
    np.testing.assert_array_equal(before["slice"], ARR[::-2, 1:, -1])
    np.testing.assert_array_equal(before["fancy"], ARR[[6, 3, 3, 0], 2])
    np.testing.assert_array_equal(before["z"], Z)
    assert before["runs"] == Z.tolist()

    writer.end_sweep("t", {})
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
