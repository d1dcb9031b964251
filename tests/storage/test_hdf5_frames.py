"""DataFrame results column by column (the ``frame`` layout of the HDF5 file).

Every run's DataFrame must come back exactly (dtypes, index type and name, label dtype), whether
the column grew in place over several sweeps, was folded by a compaction or merged; frames the
layout cannot hold stay ``packed``; outside readers see one dataset per column; a hand-edited
frame column is a ``FileFormatError``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pandas as pd
import pytest
import xarray as xr
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import pypet_rebuild as pr
from pypet_rebuild.errors import FileFormatError, NodeNotFoundError
from pypet_rebuild.storage import RunRecord, RunStatus
from pypet_rebuild.storage.hdf5.framed import classify_frames
from pypet_rebuild.tree.seeding import run_seed

NAME = "t"


def _assert_stacked(actual: object, expected: pd.DataFrame) -> None:
    """Equal to ``pd.concat`` of the runs' frames, up to the index levels' classes and dtypes.

    (pd.concat itself keeps a RangeIndex level or an object level in some cases and re-infers
    ``str`` or ``int64`` in others; the stacked read keeps the frames' own index dtype.)
    """
    assert isinstance(actual, pd.DataFrame)
    assert actual.index.names == expected.index.names
    assert actual.index.tolist() == expected.index.tolist()
    _assert_frame_same(actual.reset_index(drop=True), expected.reset_index(drop=True))


def _assert_frame_same(actual: object, expected: pd.DataFrame) -> None:
    assert isinstance(actual, pd.DataFrame)
    pd.testing.assert_frame_equal(
        actual,
        expected,
        check_exact=True,
        check_index_type=True,
        check_column_type=True,
        check_frame_type=True,
    )


def _sweep(
    path: Path,
    frames: list[pd.DataFrame],
    *,
    start: int = 0,
    expand: bool = False,
    storage_options: dict[str, Any] | None = None,
) -> None:
    """Store ``frames[i]`` as result ``df`` of run ``start + i`` (an expansion after the first)."""
    if not expand:
        traj = pr.Trajectory(NAME)
        x = traj.add_parameter("x", 0)
        traj.explore(x.sweep(list(range(len(frames)))))
    else:
        traj = pr.load_trajectory(path, NAME).trajectory
        traj.expand({"x": list(range(start, start + len(frames)))})

    def simulate(run: pr.Run) -> dict[str, object]:
        return {"df": frames[run.x - start]}

    storage = pr.HDF5StorageService(path, **(storage_options or {}))
    try:
        pr.Environment(traj, storage=storage).run(simulate, progress=False, resume=expand)
    finally:
        storage.close()


def _layout(path: Path, name: str = "df") -> str:
    with h5py.File(path, "r") as file:
        return str(file[f"{NAME}/results/{name}"].attrs["layout"])


def _frame(n: int, seed: int = 0, **extra: Any) -> pd.DataFrame:
    """A frame of ``n`` rows of the kinds the layout holds."""
    rng = np.random.default_rng(seed)
    columns: dict[str, Any] = {
        "t": np.arange(n) * 0.5,
        "count": rng.integers(-5, 5, n).astype(np.int32),
        "flag": rng.random(n) > 0.5,
        "name": pd.array([f"n{i}-é" for i in range(n)], dtype="str"),  # str also with 0 rows
        **extra,
    }
    return pd.DataFrame(columns, index=pd.Index(np.arange(n) * 10, name="step"))


# --- the property: every storable frame comes back exactly, through every write path ---

_kinds = st.sampled_from(
    ["float64", "float32", "int64", "int8", "uint16", "bool", "complex128", "object", "str"]
)
_index_kinds = st.sampled_from(["range", "int64", "float64", "object", "str"])


def _column(kind: str, n: int, seed: int) -> Any:
    rng = np.random.default_rng(seed)
    if kind in ("object", "str"):
        values = [f"v{seed}-{i}" * (i % 3) for i in range(n)]  # "" included
        return values if kind == "object" else pd.array(values, "str")
    if kind == "bool":
        return rng.random(n) > 0.5
    if kind == "complex128":
        return rng.random(n) + 1j * rng.random(n)
    return (rng.random(n) * 100).astype(kind)


def _index(kind: str, n: int, name: str | None) -> pd.Index[Any]:
    if kind == "range":
        return pd.RangeIndex(n, name=name)
    if kind in ("object", "str"):
        return pd.Index([f"r{i}" for i in range(n)], dtype=object if kind == "object" else "str")
    return pd.Index(np.arange(n) * 3, dtype=kind, name=name)


@st.composite
def _makes(draw: st.DrawFn) -> Callable[[int, int], pd.DataFrame]:
    """A make of DataFrame: labels, dtypes and index kind; returns frames of any length."""
    labels = draw(st.lists(st.sampled_from(["a", "b", "c d", "é", "x.y"]), unique=True, max_size=4))
    kinds = [draw(_kinds) for _ in labels]
    index_kind = draw(_index_kinds)
    index_name = draw(st.sampled_from([None, "step"]))
    label_dtype: Any = draw(st.sampled_from([object, "str"]))

    def make(n: int, seed: int) -> pd.DataFrame:
        data = {
            label: _column(kind, n, seed + i)
            for i, (label, kind) in enumerate(zip(labels, kinds, strict=True))
        }
        index = _index(index_kind, n, index_name)
        frame = pd.DataFrame(data, index=index, columns=pd.Index(labels, dtype=label_dtype))
        # pandas infers ``str`` from strings, even from an object array: object on purpose.
        return frame.astype(
            {label: object for label, k in zip(labels, kinds, strict=True) if k == "object"}
        )

    return make


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    make=_makes(),
    sizes=st.lists(st.lists(st.integers(0, 6), min_size=1, max_size=4), min_size=1, max_size=3),
    compact=st.booleans(),
)
def test_every_storable_frame_comes_back_exactly(
    tmp_path_factory: pytest.TempPathFactory,
    make: Callable[[int, int], pd.DataFrame],
    sizes: list[list[int]],
    compact: bool,
) -> None:
    path = tmp_path_factory.mktemp("frames") / "f.h5"
    expected: list[pd.DataFrame] = []
    for sweep, lengths in enumerate(sizes):
        frames = [make(n, 100 * sweep + i) for i, n in enumerate(lengths)]
        assert classify_frames(frames) is not None
        _sweep(path, frames, start=len(expected), expand=sweep > 0)
        expected.extend(frames)
    if compact:
        storage = pr.HDF5StorageService(path)
        storage.compact()
        storage.close()
    assert _layout(path) == "frame"
    study = pr.load_trajectory(path, NAME)
    try:
        for run, frame in enumerate(expected):
            _assert_frame_same(study.results["df"][run], frame)
        values = study.results["df"][:]
        for value, frame in zip(values, expected, strict=True):
            _assert_frame_same(value, frame)
        # Stacked in one read per column, as pd.concat of the runs' frames would be.
        stacked = pd.concat(dict(enumerate(expected)), names=["run"])
        _assert_stacked(study.results["df"].frame(), stacked)
        labels = list(expected[0].columns)[::-1][:2]
        picked = [len(expected) - 1, 0, len(expected) - 1]
        part = slice(1, None, 2)
        subset = pd.concat({run: expected[run][labels].iloc[part] for run in picked}, names=["run"])
        read = study.results["df"].frame(picked, columns=labels, rows=part)
        _assert_stacked(read, subset)
    finally:
        study.close()


# --- what keeps the packed layout ---


@pytest.mark.parametrize(
    "frame",
    [
        pd.DataFrame({"c": pd.Categorical(["a", "b"])}),
        pd.DataFrame({"i": pd.array([1, None], dtype="Int64")}),
        pd.DataFrame({"t": pd.to_datetime(["2020-01-01", "2021-01-01"])}),
        pd.DataFrame({"s": ["a", None]}),
        pd.DataFrame({"s": ["a\x00b", "c"]}),
        pd.DataFrame({"o": np.array([1, "a"], dtype=object)}),
        pd.DataFrame({0: [1.0, 2.0]}),
        pd.DataFrame({"a/b": [1.0, 2.0]}),
        pd.DataFrame([[1.0, 2.0]], columns=["a", "a"]),
        pd.DataFrame({"a": [1.0]}, index=pd.MultiIndex.from_tuples([(1, 2)])),
        pd.DataFrame({"a": [1.0, 2.0]}, index=pd.RangeIndex(1, 3)),
        pd.DataFrame({"a": [1.0]}, index=pd.DatetimeIndex(["2020-01-01"])),
        pd.DataFrame({"a": [1.0]}).rename_axis(columns="labels"),
        pd.DataFrame(),
    ],
    ids=lambda frame: "-".join(map(str, frame.dtypes.tolist())) or "empty",
)
def test_frames_the_layout_cannot_hold_stay_packed_and_come_back(
    tmp_path: Path, frame: pd.DataFrame
) -> None:
    assert classify_frames([frame]) is None
    _sweep(tmp_path / "f.h5", [frame, frame])
    assert _layout(tmp_path / "f.h5") == "packed"
    with pr.load_trajectory(tmp_path / "f.h5", NAME) as study:
        _assert_frame_same(study.results["df"][1], frame)


def test_frames_of_different_makes_across_runs_are_packed(tmp_path: Path) -> None:
    frames = [_frame(3), _frame(2, extra_column=np.ones(2))]
    _sweep(tmp_path / "f.h5", frames)
    assert _layout(tmp_path / "f.h5") == "packed"
    with pr.load_trajectory(tmp_path / "f.h5", NAME) as study:
        for run, frame in enumerate(frames):
            _assert_frame_same(study.results["df"][run], frame)


def test_a_later_sweep_of_another_make_turns_the_column_packed_keeping_every_value(
    tmp_path: Path,
) -> None:
    path = tmp_path / "f.h5"
    first = [_frame(3, seed=1), _frame(0, seed=2), _frame(5, seed=3)]
    _sweep(path, first)
    assert _layout(path) == "frame"
    second = [_frame(2, seed=4).astype({"count": np.int64})]  # another dtype: another make
    _sweep(path, second, start=3, expand=True)
    assert _layout(path) == "packed"
    with pr.load_trajectory(path, NAME) as study:
        for run, frame in enumerate(first + second):
            _assert_frame_same(study.results["df"][run], frame)
    # The run scale no longer lists the deleted frame datasets (netCDF readers follow it).
    xr.open_dataset(path, group=f"/{NAME}/results", engine="h5netcdf").close()


# --- the file as outside readers see it ---


def test_outside_readers_see_one_dataset_per_column_on_a_row_axis(tmp_path: Path) -> None:
    path = tmp_path / "f.h5"
    frames = [_frame(2, seed=1), _frame(3, seed=2)]
    _sweep(path, frames)
    _sweep(path, [_frame(1, seed=3)], start=2, expand=True)  # grown in place
    expected = pd.concat([_frame(2, seed=1), _frame(3, seed=2), _frame(1, seed=3)])
    with h5py.File(path, "r") as file:
        group = file[f"{NAME}/results/df"]
        assert list(group["columns"]) == ["t", "count", "flag", "name"]  # the frame's order
        np.testing.assert_array_equal(group["columns/t"][:], expected["t"].to_numpy())
        np.testing.assert_array_equal(group["columns/count"][:], expected["count"].to_numpy())
        assert group["columns/name"].asstr()[:].tolist() == expected["name"].tolist()
        np.testing.assert_array_equal(group["index"][:], expected.index.to_numpy())
        assert group["run_of_row"][:].tolist() == [0, 0, 1, 1, 1, 2]
        assert group["start"][:].tolist() == [0, 2, 5]
        assert group["size"][:].tolist() == [2, 3, 1]
        assert group["columns/t"].attrs["long_name"] == "column t of result df"
    for engine in ("h5netcdf", "netcdf4"):
        with xr.open_dataset(path, group=f"/{NAME}/results/df/columns", engine=engine) as ds:
            assert dict(ds.sizes) == {"row": 6}
            np.testing.assert_array_equal(ds["t"].values, expected["t"].to_numpy())
        with xr.open_dataset(path, group=f"/{NAME}/results/df", engine=engine) as ds:
            assert ds["size"].dims == ("run",)
            assert ds["run_of_row"].dims == ("row",)


def test_a_column_subset_reads_only_those_columns(tmp_path: Path) -> None:
    path = tmp_path / "f.h5"
    frames = [_frame(4, seed=1), _frame(2, seed=2)]
    _sweep(path, frames)
    with pr.load_trajectory(path, NAME) as study:
        subset = study.results["df"].frame(1, columns=["name", "t"])
        _assert_frame_same(subset, frames[1][["name", "t"]])
        with pytest.raises(NodeNotFoundError, match="no column 'nope'"):
            study.results["df"].frame(0, columns=["nope"])
        stacked = study.results["df"].frame(columns=["t"])
        assert stacked.loc[1]["t"].tolist() == frames[1]["t"].tolist()


def test_compact_and_merge_keep_the_layout_and_the_readers(tmp_path: Path) -> None:
    one, two = tmp_path / "one.h5", tmp_path / "two.h5"
    _sweep(one, [_frame(2, seed=1), _frame(1, seed=2)])
    _sweep(two, [_frame(3, seed=3)])
    merged = tmp_path / "merged.h5"
    with pr.load_trajectory(one, NAME) as first, pr.load_trajectory(two, NAME) as second:
        pr.merge_trajectories(first, second, into=merged, name=NAME).close()
    assert _layout(merged) == "frame"
    with pr.load_trajectory(merged, NAME) as study:
        for run, frame in enumerate([_frame(2, seed=1), _frame(1, seed=2), _frame(3, seed=3)]):
            _assert_frame_same(study.results["df"][run], frame)
    for engine in ("h5netcdf", "netcdf4"):
        with xr.open_dataset(merged, group=f"/{NAME}/results/df/columns", engine=engine) as ds:
            assert dict(ds.sizes) == {"row": 6}


def test_a_run_stored_again_leaves_its_old_rows_marked(tmp_path: Path) -> None:
    path = tmp_path / "f.h5"
    traj = pr.Trajectory(NAME, seed=3)
    x = traj.add_parameter("x", 0)
    traj.explore(x.sweep([0, 1]))
    hashes = traj.point_hashes()

    def record(index: int, frame: pd.DataFrame | None) -> RunRecord:
        results: dict[str, object] = {} if frame is None else {"df": frame}
        return RunRecord(
            index, hashes[index], RunStatus.DONE, 1.0, 2.0, 1.0, "host", 1,
            run_seed(traj.seed, hashes[index]), "", results,
        )  # fmt: skip

    storage = pr.HDF5StorageService(path)
    try:
        with storage.begin_sweep(traj.snapshot(), resume=False) as session:
            session.store_runs([record(0, _frame(2, seed=1)), record(1, _frame(3, seed=2))])
            session.finish({})
        with storage.begin_sweep(traj.snapshot(), resume=True) as session:
            session.store_runs([record(0, _frame(1, seed=5)), record(1, None)])
            session.finish({})
        assert storage.result_presence(NAME, "df").tolist() == [True, False]
    finally:
        storage.close()
    with h5py.File(path, "r") as file:
        assert file[f"{NAME}/results/df/run_of_row"][:].tolist() == [-1, -1, -1, -1, -1, 0]
    with pr.load_trajectory(path, NAME) as study:
        _assert_frame_same(study.results["df"][0], _frame(1, seed=5))


# --- a hand-edited frame column ---


def _edit(path: Path, edit: Callable[[h5py.Group], None]) -> None:
    with h5py.File(path, "r+") as file:
        edit(file[f"{NAME}/results/df"])


@pytest.mark.parametrize(
    ("edit", "problem"),
    [
        (lambda group: group["columns"].__delitem__("t"), "lacks columns/t"),
        (lambda group: group.attrs.__setitem__("kinds", "[not json"), "frame attributes"),
        (lambda group: group.attrs.__setitem__("kinds", '["<f8"]'), "frame attributes"),
        (lambda group: group["start"].__setitem__(1, 10**6), "points past"),
        (lambda group: group["size"].resize((1,)), "rows"),
        (lambda group: group["index"].resize((2,)), "differ in length"),
    ],
    ids=["missing column", "bad json", "wrong kinds", "start past the end", "short size", "index"],
)
def test_a_hand_edited_frame_column_is_a_file_format_error(
    tmp_path: Path, edit: Callable[[h5py.Group], None], problem: str
) -> None:
    path = tmp_path / "f.h5"
    _sweep(path, [_frame(2, seed=1), _frame(3, seed=2)])
    _edit(path, edit)
    with pr.load_trajectory(path, NAME) as study:
        with pytest.raises(FileFormatError, match=problem):
            study.results["df"][:]
        assert study.results.__len__() >= 1  # the study itself still opens


def test_frames_read_together_do_not_share_memory(tmp_path: Path) -> None:
    path = tmp_path / "f.h5"
    _sweep(path, [_frame(3, seed=1), _frame(3, seed=2)])
    storage = pr.HDF5StorageService(path)
    try:
        first, again, other = storage.read_results(NAME, "df", [1, 1, 0])
        assert isinstance(first, pd.DataFrame)
        assert isinstance(other, pd.DataFrame)
        first.loc[0, "t"] = 99.0
        other.loc[0, "t"] = 99.0
        _assert_frame_same(again, _frame(3, seed=2))
        (fresh,) = storage.read_results(NAME, "df", [0])
        _assert_frame_same(fresh, _frame(3, seed=1))
    finally:
        storage.close()


def test_frames_still_in_segment_files_read_the_same(tmp_path: Path) -> None:
    path = tmp_path / "f.h5"
    frames = [_frame(2, seed=1), _frame(3, seed=2), _frame(1, seed=3)]
    _sweep(path, frames, storage_options={"compaction": "manual"})
    assert list(tmp_path.glob("*.segments/*")), "the runs should still be in segment files"
    with pr.load_trajectory(path, NAME) as study:
        for run, frame in enumerate(frames):
            _assert_frame_same(study.results["df"][run], frame)
        _assert_stacked(
            study.results["df"].frame(), pd.concat(dict(enumerate(frames)), names=["run"])
        )
        _assert_frame_same(study.results["df"].frame(2, columns=["t"]), frames[2][["t"]])
