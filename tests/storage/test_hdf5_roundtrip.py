"""Round trip through a real sweep into an HDF5 file: every value comes back equal, same type.

Values go in through ``Environment(traj, storage=path).run(simulate)`` and come back through
``load_trajectory(path)``, both per run (``traj.run(i).results[name]``) and through the lazy
column (``traj.results[name][i]``).
"""

from __future__ import annotations

import datetime as dt
import math
import re
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import pypet_rebuild as pr
from pypet_rebuild.errors import RunFailedError, UnsupportedTypeError
from pypet_rebuild.storage import RunRecord, RunStatus
from pypet_rebuild.testing import strategies

N_RUNS = 3

# -- comparing -----------------------------------------------------------------------------------


def assert_arrays_identical(expected: np.ndarray[Any, Any], actual: np.ndarray[Any, Any]) -> None:
    assert type(actual) is np.ndarray, type(actual)
    assert actual.dtype == expected.dtype, (expected.dtype, actual.dtype)
    assert actual.shape == expected.shape, (expected.shape, actual.shape)
    if expected.dtype.names is not None:
        for name in expected.dtype.names:
            assert_arrays_identical(expected[name], actual[name])
    elif expected.dtype.kind == "O":
        for left, right in zip(expected.reshape(-1), actual.reshape(-1), strict=True):
            assert_same(left, right)
    else:
        # Bytes, not values: NaN payloads, -0.0 and NaT must survive too.
        assert np.ascontiguousarray(expected).tobytes() == np.ascontiguousarray(actual).tobytes()


def assert_same(expected: object, actual: object) -> None:
    assert type(actual) is type(expected), (type(expected), type(actual))
    if isinstance(expected, np.ndarray):
        assert isinstance(actual, np.ndarray)
        assert_arrays_identical(expected, actual)
    elif isinstance(expected, np.generic):
        assert isinstance(actual, np.generic)
        assert actual.dtype == expected.dtype
        assert_arrays_identical(np.asarray(expected), np.asarray(actual))
    elif isinstance(expected, pd.DataFrame):
        assert isinstance(actual, pd.DataFrame)
        pd.testing.assert_frame_equal(
            actual, expected, check_exact=True, check_index_type=True, check_column_type=True
        )
        assert list(actual.dtypes) == list(expected.dtypes)
    elif isinstance(expected, pd.Series):
        assert isinstance(actual, pd.Series)
        pd.testing.assert_series_equal(actual, expected, check_exact=True, check_index_type=True)
    elif isinstance(expected, pd.Index):
        assert isinstance(actual, pd.Index)
        pd.testing.assert_index_equal(actual, expected, exact=True, check_exact=True)
        assert actual.names == expected.names
    elif sp.issparse(expected):
        assert sp.issparse(actual)
        assert actual.format == expected.format  # type: ignore[attr-defined]
        assert actual.dtype == expected.dtype  # type: ignore[attr-defined]
        assert actual.shape == expected.shape  # type: ignore[attr-defined]
        np.testing.assert_array_equal(actual.toarray(), expected.toarray())  # type: ignore[attr-defined]
    elif isinstance(expected, list | tuple):
        assert isinstance(actual, list | tuple)
        assert len(actual) == len(expected)
        for left, right in zip(expected, actual, strict=True):
            assert_same(left, right)
    elif isinstance(expected, dict):
        assert isinstance(actual, dict)
        assert_same(list(expected), list(actual))
        assert_same(list(expected.values()), list(actual.values()))
    elif isinstance(expected, float | complex):
        assert isinstance(actual, float | complex)
        assert repr(expected) == repr(actual)  # NaN equals NaN, -0.0 differs from 0.0
    else:
        assert actual == expected


# -- sweeping ------------------------------------------------------------------------------------


def sweep(
    path: Path,
    per_run: Mapping[str, Sequence[object]],
    *,
    storage: pr.StorageService | None = None,
    batch_size: int = 1000,
    allow_pickle: bool = False,
) -> pr.StoredTrajectory:
    """Store ``per_run[name][i]`` as result ``name`` of run ``i``; return the loaded study."""
    n = len(next(iter(per_run.values())))
    traj = pr.Trajectory("t", seed=0)
    traj.add_parameter("i", 0)
    traj.explore({"i": list(range(n))})

    def simulate(run: pr.Run) -> dict[str, object]:
        return {name: values[run.i] for name, values in per_run.items()}

    target = storage if storage is not None else path
    report = pr.Environment(traj, storage=target, batch_size=batch_size).run(simulate)
    assert report.ok
    return pr.load_trajectory(path, allow_pickle=allow_pickle)


def check_runs(
    loaded: pr.StoredTrajectory,
    name: str,
    values: Sequence[object],
    run_results: Sequence[Mapping[str, object]] | None = None,
) -> None:
    """Each run's value, through ``traj.run(i).results`` and through the lazy column."""
    if run_results is None:
        run_results = [loaded.run(i).results for i in range(len(values))]
    column = loaded.results[name]
    for i, expected in enumerate(values):
        assert_same(expected, run_results[i][name])
        assert_same(expected, column[i])
        assert_same(expected, column[i - len(values)])


# -- the examples --------------------------------------------------------------------------------


@dataclass
class Big:
    """A type without a codec (module level, so it pickles)."""

    payload: list[int]


def examples() -> dict[str, list[object]]:
    """Result name -> the value of each of the N_RUNS runs."""
    dates = pd.date_range("2020-01-01", periods=3, freq="D", tz="Europe/Berlin")
    rows = pd.MultiIndex.from_product([["a", "b"], [1, 2]], names=["letter", "n"])

    def frame(i: int) -> pd.DataFrame:
        return pd.DataFrame(
            {
                "int": [1, 2, i],
                "float": [0.5, math.nan, -float(i)],
                "category": pd.Categorical(["u", "v", "u"], categories=["v", "u", "w"]),
                "ordered": pd.Categorical(
                    ["lo", "hi", "lo"], categories=["lo", "hi"], ordered=True
                ),
                "tz": dates + pd.Timedelta(hours=i),
                "Int64": pd.array([i, None, 3], dtype="Int64"),
                "boolean": pd.array([True, None, bool(i)], dtype="boolean"),
                "string": pd.array(["p", None, f"q{i}"], dtype="string"),
                "object": np.array(["o", None, "ü"], dtype=object),
            },
            index=pd.Index([10, 20, 30 + i], name="row"),
        )

    def multi(i: int) -> pd.DataFrame:
        return pd.DataFrame(
            np.arange(16).reshape(4, 4) * i, index=rows, columns=rows.set_names(["c", "d"])
        )

    def sparse(i: int, fmt: str) -> Any:
        dense = np.zeros((4, 5))
        dense[i, 1] = 1.5
        dense[3, 4] = -i
        return sp.csr_matrix(dense).asformat(fmt)

    structured = np.dtype([("a", "i4"), ("b", "f8"), ("c", "U3"), ("d", "u1", (2,))])
    r = range(N_RUNS)
    return {
        # python scalars
        "py_bool": [True, False, True],
        "py_int": [0, -(2**63), 2**63 - 1],
        "py_bigint": [2**64, -(10**40), 7],
        "py_float": [1.5, -0.0, math.nan],
        "py_inf": [math.inf, -math.inf, 0.1],
        "py_complex": [1 + 2j, complex(0, -1), complex(math.nan, 1)],
        "py_str": ["", "héllo wörld ✓", "x" * 100],
        "py_bytes": [b"", b"\x00bytes\xff", b"abc"],
        "py_none": [None, None, None],
        # containers
        "nested": [
            [1, (2, "a"), {"k": [1.0, None]}],
            {"a": {"b": {"c": (1, 2)}}, 3: "int key", (1, 2): "tuple key"},
            ([], (), {}, [[1], [2, 3]]),
        ],
        "list_float": [[1.0, 2.0], [math.nan], []],
        "tuple_mixed": [(1, "a"), (b"b", None), (True, 1.0, 1j)],
        "dict_str": [{"a": 1}, {"b": [1, 2]}, {}],
        # numpy scalars
        "np_float32": [np.float32(1.5), np.float32(-0.0), np.float32(np.nan)],
        "np_int8": [np.int8(-128), np.int8(0), np.int8(127)],
        "np_uint64": [np.uint64(2**64 - 1), np.uint64(0), np.uint64(1)],
        "np_bool": [np.bool_(True), np.bool_(False), np.bool_(True)],
        "np_complex64": [np.complex64(1 + 1j), np.complex64(0), np.complex64(-2j)],
        "np_float16": [np.float16(0.5), np.float16(65504), np.float16(-1)],
        "np_str": [np.str_("abc"), np.str_(""), np.str_("ü")],
        "np_bytes": [np.bytes_(b"ab"), np.bytes_(b""), np.bytes_(b"\x01")],
        "np_datetime": [np.datetime64("2020-01-01T12:00", "m")] * N_RUNS,
        "np_timedelta": [np.timedelta64(i, "ns") for i in r],
        # numpy arrays
        "a_bool": [np.array([True, False, bool(i)]) for i in r],
        "a_int8": [np.array([-128, 127, i], dtype=np.int8) for i in r],
        "a_uint64": [np.array([2**64 - 1, 0, i], dtype=np.uint64) for i in r],
        "a_float16": [np.arange(4, dtype=np.float16) * i for i in r],
        "a_float32_2d": [np.arange(6, dtype=np.float32).reshape(2, 3) - i for i in r],
        "a_float64_3d": [np.full((2, 2, 2), i + 0.5) for i in r],
        "a_complex64": [np.array([1 + 1j, i], dtype=np.complex64) for i in r],
        "a_complex128": [np.array([math.nan + 1j, i]) for i in r],
        "a_U5": [np.array(["ab", "cdefg", str(i)], dtype="U5") for i in r],
        "a_S3": [np.array([b"ab", b"c\x00d", b"%d" % i], dtype="S3") for i in r],
        "a_datetime_ns": [
            np.array(["2020-01-01T00:00:00.000000001", "NaT"], dtype="datetime64[ns]")
            + np.timedelta64(i, "ns")
            for i in r
        ],
        "a_timedelta_s": [np.array([1, -1, i], dtype="m8[s]") for i in r],
        "a_structured": [np.array([(i, 1.5, "xyz", (1, 2))], dtype=structured) for i in r],
        "a_bigendian": [np.arange(3, dtype=">i4") + i for i in r],
        "a_object": [np.array(["x", None, i], dtype=object) for i in r],
        "a_empty": [np.zeros((0, 3)) for _ in r],
        "a_0d": [np.array(float(i)) for i in r],
        "a_fortran": [np.asfortranarray(np.arange(6).reshape(2, 3) + i) for i in r],
        # pandas
        "df": [frame(i) for i in r],
        "df_multiindex": [multi(i) for i in r],
        "series": [pd.Series([1.0, float(i)], index=dates[:2], name="s") for i in r],
        "series_cat": [pd.Series(pd.Categorical(["a", "b"][: i + 1])) for i in r],
        "series_string": [pd.Series(["a", None], dtype="string", name=f"n{i}") for i in r],
        "index_int": [pd.Index([1, 2, i], dtype="int8", name="i") for i in r],
        "index_dates": [dates + pd.Timedelta(days=i) for i in r],
        "index_cat": [pd.CategoricalIndex(["a", "b", "a"][: i + 1], ordered=True) for i in r],
        "index_multi": [rows for _ in r],
        "index_fixed_tz": [
            pd.date_range("2020", periods=2, freq="2h", tz=dt.timezone(dt.timedelta(hours=-3)))
            for _ in r
        ],
        # scipy sparse
        "sparse_csr": [sparse(i, "csr") for i in r],
        "sparse_csc": [sparse(i, "csc") for i in r],
        "sparse_coo": [sparse(i, "coo") for i in r],
        "sparse_csr_array": [sp.csr_array(np.eye(3, dtype=np.int32) * i) for i in r],
    }


EXAMPLES = examples()


@pytest.fixture(scope="module")
def stored(tmp_path_factory: pytest.TempPathFactory) -> Iterator[pr.StoredTrajectory]:
    path = tmp_path_factory.mktemp("roundtrip") / "all.h5"
    loaded = sweep(path, EXAMPLES)
    yield loaded
    loaded.close()


@pytest.fixture(scope="module")
def run_results(stored: pr.StoredTrajectory) -> list[dict[str, object]]:
    # traj.run(i).results reads every result of the run: read them once for all examples.
    return [stored.run(i).results for i in range(N_RUNS)]


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_every_value_comes_back_with_its_type(
    stored: pr.StoredTrajectory, run_results: list[dict[str, object]], name: str
) -> None:
    check_runs(stored, name, EXAMPLES[name], run_results)


def test_every_result_is_listed(stored: pr.StoredTrajectory) -> None:
    assert sorted(stored.results) == sorted(EXAMPLES)


@pytest.mark.parametrize(
    ("name", "dtype"),
    [
        ("py_float", np.float64),
        ("py_int", np.int64),
        ("py_bool", np.bool_),
        ("py_complex", np.complex128),
        ("np_float32", np.float32),
        ("np_uint64", np.uint64),
        ("a_int8", np.int8),
        ("a_float16", np.float16),
        ("a_structured", EXAMPLES["a_structured"][0].dtype),  # type: ignore[attr-defined]
    ],
)
def test_numbers_stack_across_runs_with_their_dtype(
    stored: pr.StoredTrajectory, name: str, dtype: Any
) -> None:
    stacked = stored.results[name][:]
    # Always a masked array (one type whether or not runs are missing); here nothing is masked.
    assert type(stacked) is np.ma.MaskedArray
    mask: Any = np.ma.getmask(stacked)
    # (numpy gives a structured dtype a structured mask, all False, instead of nomask.)
    assert mask is np.ma.nomask or not any(mask[field].any() for field in mask.dtype.names or ())
    assert stacked.dtype == np.dtype(dtype)
    expected = np.stack([np.asarray(v) for v in EXAMPLES[name]])
    assert stacked.shape == expected.shape
    assert stacked.tobytes() == expected.astype(stacked.dtype).tobytes()


def test_strings_and_objects_come_back_per_run_from_the_column(stored: pr.StoredTrajectory) -> None:
    everything = stored.results["df"][:]
    assert everything.shape == (N_RUNS,)
    for expected, actual in zip(EXAMPLES["df"], everything, strict=True):
        assert_same(expected, actual)
    assert stored.results["py_str"][:].tolist() == EXAMPLES["py_str"]


# -- a property: whatever array each run returns, the file gives it back -------------------------

scalar_dtypes = strategies.numpy_dtypes(structured=False)
any_dtypes = scalar_dtypes | hnp.array_dtypes(scalar_dtypes, max_size=3)
shapes = hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=4)


@st.composite
def per_run_arrays(draw: st.DrawFn) -> list[np.ndarray[Any, Any]]:
    """One array per run: either one dtype and shape for all (stacked), or anything (packed)."""
    n = draw(st.integers(1, 4))
    if draw(st.booleans()):
        dtype, shape = draw(any_dtypes), draw(shapes)
        return [draw(hnp.arrays(dtype, shape)) for _ in range(n)]
    return [draw(hnp.arrays(any_dtypes, shapes)) for _ in range(n)]


@pytest.mark.slow
@settings(max_examples=25)
@given(per_run_arrays())
def test_whatever_array_each_run_returns_the_file_gives_back(
    arrays: list[np.ndarray[Any, Any]],
) -> None:
    with tempfile.TemporaryDirectory() as folder:
        loaded = sweep(Path(folder) / "p.h5", {"arr": arrays})
        try:
            check_runs(loaded, "arr", arrays)
        finally:
            loaded.close()


# -- structured dtypes with field titles ---------------------------------------------------------

# Field titles are part of a dtype (a titled dtype and its untitled twin compare unequal) but an
# HDF5 compound type cannot hold them: the file keeps them in the column's dtype attribute.
UNTITLED = np.dtype([("x", "<i4"), ("y", "<f8")])
TITLED = np.dtype([(("the x", "x"), "<i4"), ("y", "<f8")])
NESTED_TITLED = np.dtype([("n", [(("inner", "x"), "<i2")]), (("outer", "y"), "<f4", (2,))])


def _rows(dtype: np.dtype[Any], n: int, start: int = 0) -> np.ndarray[Any, Any]:
    out = np.zeros(n, dtype=dtype)
    out.view(np.uint8)[:] = np.arange(start, start + out.nbytes, dtype=np.int64) % 251
    return out


TITLED_RESULTS: dict[str, list[object]] = {
    # Stored first: the untitled twin of TITLED, as in the hypothesis run that found the bug.
    "untitled": [_rows(UNTITLED, 2, i) for i in range(N_RUNS)],
    "titled": [_rows(TITLED, 2, i) for i in range(N_RUNS)],
    "titled_0d": [_rows(TITLED, 1, i).reshape(()) for i in range(N_RUNS)],
    "nested": [_rows(NESTED_TITLED, 3, i) for i in range(N_RUNS)],
    "scalar": [_rows(TITLED, 1, i)[0] for i in range(N_RUNS)],
    # The last run's shape differs: with one run per batch, a fixed column turns into packed.
    "reshaped": [_rows(TITLED, 2), _rows(TITLED, 2, 1), _rows(TITLED, 4, 2)],
}


@pytest.mark.parametrize("backend", ["memory", "hdf5"])
@pytest.mark.parametrize("batch_size", [1, 1000])
def test_structured_dtypes_keep_their_field_titles(
    tmp_path: Path, backend: str, batch_size: int
) -> None:
    path = tmp_path / "titles.h5"
    storage = pr.MemoryStorageService() if backend == "memory" else pr.HDF5StorageService(path)
    traj = pr.Trajectory("t", seed=0)
    traj.add_parameter("i", 0)
    traj.explore({"i": list(range(N_RUNS))})

    def simulate(run: pr.Run) -> dict[str, object]:
        return {name: values[run.i] for name, values in TITLED_RESULTS.items()}

    assert pr.Environment(traj, storage=storage, batch_size=batch_size).run(simulate).ok
    if isinstance(storage, pr.HDF5StorageService):
        storage.close()
    loaded = pr.load_trajectory(storage if backend == "memory" else path)
    try:
        for name, values in TITLED_RESULTS.items():
            check_runs(loaded, name, values)
        for name in ("titled", "titled_0d", "nested"):
            stacked = loaded.results[name][:]
            assert stacked.dtype == TITLED_RESULTS[name][0].dtype  # type: ignore[attr-defined]
            assert loaded.results[name][1:, ...].dtype == stacked.dtype
            assert loaded.results[name][[2, 0]].dtype == stacked.dtype
    finally:
        loaded.close()


OUT_OF_ORDER = np.dtype({"names": ["a", "b"], "formats": ["<f8", "<i4"], "offsets": [8, 0]})
"""Struct fields out of memory order (numpy defines no ``descr`` for these)."""


@pytest.mark.parametrize("backend", ["memory", "hdf5"])
def test_structs_with_fields_out_of_order_are_stored_and_come_back(
    tmp_path: Path, backend: str
) -> None:
    arrays = [np.array([(i, -i), (2 * i, i)], dtype=OUT_OF_ORDER) for i in range(N_RUNS)]
    scalars = [array[0] for array in arrays]
    storage = pr.MemoryStorageService() if backend == "memory" else tmp_path / "o.h5"
    traj = pr.Trajectory("t", seed=0)
    traj.add_parameter("i", 0)
    traj.explore({"i": list(range(N_RUNS))})
    report = pr.Environment(traj, storage=storage).run(
        lambda run: {"arr": arrays[run.i], "one": scalars[run.i]}
    )
    assert report.ok, report.failures
    loaded = pr.load_trajectory(storage)
    try:
        check_runs(loaded, "arr", arrays)
        check_runs(loaded, "one", scalars)
    finally:
        loaded.close()


# -- results whose type or shape changes between runs --------------------------------------------

CHANGING: list[object] = [
    1,
    "two",
    np.arange(3.0),
    np.arange(4, dtype=np.int8),
    pd.DataFrame({"a": [1, 2]}),
    None,
    np.float32(7),
    [1, 2],
]


def test_a_result_whose_type_changes_between_runs_keeps_each_runs_type(tmp_path: Path) -> None:
    loaded = sweep(tmp_path / "c.h5", {"v": CHANGING})
    check_runs(loaded, "v", CHANGING)
    everything = loaded.results["v"][:]
    assert everything.dtype == object
    assert everything.shape == (len(CHANGING),)
    for expected, actual in zip(CHANGING, everything, strict=True):
        assert_same(expected, actual)


def test_a_result_whose_shape_changes_between_runs(tmp_path: Path) -> None:
    arrays = [np.arange(float(i)) for i in range(5)]
    loaded = sweep(tmp_path / "s.h5", {"v": arrays})
    check_runs(loaded, "v", arrays)
    assert [a.tolist() for a in loaded.results["v"][1:4]] == [[0.0], [0.0, 1.0], [0.0, 1.0, 2.0]]


def test_changing_type_across_batches_and_the_final_fold(tmp_path: Path) -> None:
    # Batches of 2 runs: some segments are stacked (fixed) and some packed; folding merges them.
    values: list[object] = [1.0, 2.0, 3.0, "four", np.zeros(2), np.ones(2), 7.0]
    loaded = sweep(
        tmp_path / "b.h5", {"v": values, "z": [float(i) for i in range(7)]}, batch_size=2
    )
    check_runs(loaded, "v", values)
    np.testing.assert_array_equal(loaded.results["z"][:], np.arange(7.0))


# -- unsupported values --------------------------------------------------------------------------


def test_unsupported_type_is_refused_naming_type_and_path_and_earlier_runs_survive(
    tmp_path: Path,
) -> None:
    path = tmp_path / "u.h5"
    traj = pr.Trajectory("t", seed=0)
    traj.add_parameter("i", 0)
    traj.explore({"i": list(range(6))})

    def simulate(run: pr.Run) -> dict[str, object]:
        found: dict[str, object] = {"a_fine": float(run.i)}
        if run.i == 4:
            found["bad"] = Big([1, 2])
        return found

    env = pr.Environment(traj, storage=path, batch_size=3, flush_seconds=3600)
    with pytest.raises(RunFailedError) as caught:
        env.run(simulate)
    # Only the run with the unstorable result fails; it is chained to the storage's error.
    assert caught.value.index == 4
    assert isinstance(caught.value.__cause__, UnsupportedTypeError)
    assert re.search(r"'Big'.*results\.bad", str(caught.value.__cause__))
    loaded = pr.load_trajectory(path)
    table = loaded.run_table()
    # The refused batch (runs 3-5) was stored apart: run 4 failed, without its results.
    assert table.status.tolist() == ["done"] * 4 + ["failed", "done"]
    assert "UnsupportedTypeError" in table.error[4]
    assert loaded.results["a_fine"].to_list() == [0.0, 1.0, 2.0, 3.0, None, 5.0]
    assert "bad" not in loaded.results
    assert not list(tmp_path.glob("**/*.tmp"))
    loaded.close()

    report = pr.Environment(traj, storage=path).run(
        lambda run: {"a_fine": float(run.i)}, resume=True
    )
    assert (report.done, report.skipped) == (1, 5)
    assert pr.load_trajectory(path).results["a_fine"][:].tolist() == [float(i) for i in range(6)]


def test_store_runs_refuses_a_batch_before_writing_any_of_it(tmp_path: Path) -> None:
    path = tmp_path / "b.h5"
    traj = pr.Trajectory("t", seed=0)
    traj.add_parameter("i", 0)
    traj.explore({"i": list(range(4))})
    hashes = traj.point_hashes()

    def record(index: int, **results: object) -> RunRecord:
        return RunRecord(
            index, hashes[index], RunStatus.DONE, 1.0, 2.0, 1.0, "h", 1, 0, "", results
        )

    writer = pr.HDF5StorageService(path)
    with writer.begin_sweep(traj.snapshot(), resume=False) as session:
        session.store_runs([record(0, a=1.0, b="x")])
        segments = path.with_name(path.name + ".segments")
        before = sorted(p.name for p in segments.iterdir())
        # "a" encodes fine, "b" does not: the error comes before the segment exists.
        with pytest.raises(UnsupportedTypeError, match=r"'Big'.*results\.b"):
            session.store_runs([record(1, a=2.0, b="y"), record(2, a=3.0, b=Big([3]))])
        assert sorted(p.name for p in segments.iterdir()) == before

        reader = pr.HDF5StorageService(path)
        table = reader.load_run_table("t")
        assert table.status.tolist() == ["done", "pending", "pending", "pending"]
        assert reader.read_results("t", "b", [0])[0] == "x"
        reader.close()

        session.store_runs([record(3, a=4.0, b="z")])
        session.finish({})
    writer.close()
    loaded = pr.load_trajectory(path)
    assert loaded.results["a"].to_list() == [1.0, None, None, 4.0]
    assert loaded.results["b"].to_list() == ["x", None, None, "z"]
    loaded.close()


def test_unsupported_derived_value_is_refused_and_the_file_keeps_its_runs(tmp_path: Path) -> None:
    path = tmp_path / "d.h5"
    sweep(path, {"z": [1.0, 2.0]}).close()
    before = path.read_bytes()
    storage = pr.HDF5StorageService(path)
    with (
        pytest.raises(UnsupportedTypeError, match=r"'Big'.*derived\.obj"),
        storage.open_writer("t") as session,
    ):
        session.store_derived([pr.Result("obj", Big([1]))])
    assert storage.load_derived("t") == {}
    assert path.read_bytes() == before
    with pr.load_trajectory(path) as study:
        with pytest.raises(UnsupportedTypeError, match=r"'Big'.*derived\.obj"):
            study.add_derived("obj", Big([1]))
        assert study.derived == {}
        assert study.results["z"][:].tolist() == [1.0, 2.0]
    storage.close()


# -- pickle, only when asked for -----------------------------------------------------------------


def test_allow_pickle_stores_an_arbitrary_picklable_object(tmp_path: Path) -> None:
    path = tmp_path / "p.h5"
    values = [Big([1, 2]), Big([]), Big([3])]
    storage = pr.HDF5StorageService(path, allow_pickle=True)
    loaded = sweep(
        path, {"obj": values, "mixed": [Big([0]), 1.0, "s"]}, storage=storage, allow_pickle=True
    )
    check_runs(loaded, "obj", values)
    check_runs(loaded, "mixed", [Big([0]), 1.0, "s"])


def test_allow_pickle_stores_a_picklable_derived_result(tmp_path: Path) -> None:
    path = tmp_path / "p.h5"
    storage = pr.HDF5StorageService(path, allow_pickle=True)
    sweep(path, {"z": [1.0]}, storage=storage).close()
    with storage.open_writer("t") as session:
        session.store_derived([pr.Result("obj", Big([1, 2]), "pickled")])
    storage.close()
    reader = pr.HDF5StorageService(path, allow_pickle=True)  # the reader trusts the file
    derived = reader.load_derived("t")["obj"]
    assert derived.value == Big([1, 2])
    assert derived.comment == "pickled"
    reader.close()


def test_without_allow_pickle_the_same_object_is_refused(tmp_path: Path) -> None:
    # The run fails alone (RunFailedError under on_error="raise"), chained to the codec's error.
    with pytest.raises(RunFailedError) as caught:
        sweep(tmp_path / "np.h5", {"obj": [Big([1])]})
    assert isinstance(caught.value.__cause__, UnsupportedTypeError)
    assert re.search(r"'Big'.*results\.obj.*allow_pickle", str(caught.value.__cause__))
