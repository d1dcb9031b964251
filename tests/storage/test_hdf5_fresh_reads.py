"""Fresh-process reads: consecutive runs chunk by chunk straight into the result, no pandas.

``read_span(dataset, start, stop)`` must equal ``dataset[start:stop]`` for every chunking,
start and stop, with chunks never written (they read as the fill value), booleans holding bytes
other than 0 and 1, and datasets it leaves to h5py (compressed, contiguous, rows split across
chunks). ``results[name][a:b]`` reaches it through ``read_span`` of the backend.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import pypet_rebuild as pr
from pypet_rebuild.storage.hdf5.journal import FileView
from pypet_rebuild.storage.hdf5.layout import read_span
from pypet_rebuild.storage.protocol import SupportsSpanRead


@settings(max_examples=60, deadline=None)
@given(
    rows=st.integers(0, 40),
    per_chunk=st.integers(1, 12),
    tail=st.sampled_from([(), (3,), (2, 2)]),
    dtype=st.sampled_from(["<f8", ">i4", "u1", "<f4"]),
    written=st.integers(0, 40),
    bounds=st.tuples(st.integers(0, 40), st.integers(0, 40)),
)
def test_read_span_equals_the_h5py_read(
    tmp_path_factory: pytest.TempPathFactory,
    rows: int,
    per_chunk: int,
    tail: tuple[int, ...],
    dtype: str,
    written: int,
    bounds: tuple[int, int],
) -> None:
    path = tmp_path_factory.mktemp("span") / "span.h5"
    start, stop = min(bounds[0], rows), min(max(bounds), rows)
    values = (np.arange(rows * int(np.prod(tail)), dtype=np.int64) % 97).reshape(rows, *tail)
    with h5py.File(path, "w") as file:
        dataset = file.create_dataset(
            "d",
            shape=(rows, *tail),
            maxshape=(None, *tail),
            chunks=(per_chunk, *tail),
            dtype=dtype,
            fillvalue=7,
        )
        if written:  # the chunks past the written rows stay unallocated
            dataset[: min(written, rows)] = values[: min(written, rows)]
    with h5py.File(path, "r") as file:
        expected = file["d"][start:stop]
        got = read_span(file["d"], start, stop)
    assert got.dtype == expected.dtype
    assert got.shape == expected.shape
    np.testing.assert_array_equal(got, expected)
    # Through a file view, the chunks' bytes are read from its descriptor: the same array.
    view = FileView(path)
    with h5py.File(view, "r") as file:
        direct = read_span(file["d"], start, stop, file=view)
    assert direct.dtype == expected.dtype
    np.testing.assert_array_equal(direct, expected, strict=True)


def test_a_file_cut_short_after_opening_reads_as_through_hdf5(tmp_path: Path) -> None:
    """Bytes past the end of a file cut since it was opened read as zeros, as through HDF5."""
    path = tmp_path / "cut.h5"
    with h5py.File(path, "w") as file:
        dataset = file.create_dataset("d", shape=(8,), maxshape=(None,), chunks=(4,), dtype="<i8")
        dataset[:] = np.arange(1, 9)
    view = FileView(path)
    with h5py.File(view, "r") as file:
        dataset = file["d"]
        last = dataset.id.get_chunk_info_by_coord((4,)).byte_offset
        first = dataset.id.get_chunk_info_by_coord((0,)).byte_offset
        if last < first:
            pytest.skip("HDF5 placed the chunks in another order")
        expected = read_span(dataset, 0, 8)  # the index is cached from here on
        os.truncate(path, last + 12)  # the last chunk keeps one row and half of the next
        through_hdf5 = read_span(dataset, 0, 8)
        direct = read_span(dataset, 0, 8, file=view)
    np.testing.assert_array_equal(expected, np.arange(1, 9))
    np.testing.assert_array_equal(direct, through_hdf5, strict=True)
    assert direct[:5].tolist() == [1, 2, 3, 4, 5]


def test_read_span_of_booleans_reads_any_nonzero_byte_as_true(tmp_path: Path) -> None:
    path = tmp_path / "mask.h5"
    with h5py.File(path, "w") as file:
        file.create_dataset("m", shape=(10,), maxshape=(None,), chunks=(4,), dtype=bool)
        # A hand edit: the mask's enum holds a byte HDF5 maps to no member.
        file["m"].id.write_direct_chunk((0,), bytes([0, 1, 2, 0]))
    with h5py.File(path, "r") as file:
        got = read_span(file["m"], 0, 10)
    assert got.dtype == np.bool_
    assert got.tolist() == [False, True, True, False] + [False] * 6
    view = FileView(path)
    with h5py.File(view, "r") as file:
        assert read_span(file["m"], 0, 10, file=view).tolist() == got.tolist()


@pytest.mark.parametrize("kwargs", [{}, {"chunks": (3,), "compression": "gzip"}])
def test_read_span_leaves_other_layouts_to_h5py(tmp_path: Path, kwargs: dict[str, Any]) -> None:
    path = tmp_path / "other.h5"
    with h5py.File(path, "w") as file:
        file.create_dataset("d", data=np.arange(10.0), **kwargs)
    with h5py.File(path, "r") as file:
        np.testing.assert_array_equal(read_span(file["d"], 2, 9), np.arange(2.0, 9.0))


def test_a_chunk_of_the_wrong_size_is_left_to_h5py(tmp_path: Path) -> None:
    path = tmp_path / "odd.h5"
    with h5py.File(path, "w") as file:
        dataset = file.create_dataset("d", shape=(8,), chunks=(4,), dtype="<f8")
        dataset[:] = np.arange(8.0)
        # Raw bytes of another length (what the chunk then holds is up to HDF5): the buffer of
        # one chunk is too small for them, which must not surface as h5py's ValueError.
        dataset.id.write_direct_chunk((4,), b"\x00" * 40)
    with h5py.File(path, "r") as file:
        got = read_span(file["d"], 0, 8)
    assert got.shape == (8,)
    np.testing.assert_array_equal(got[:4], np.arange(4.0))
    view = FileView(path)
    with h5py.File(view, "r") as file:
        np.testing.assert_array_equal(read_span(file["d"], 0, 8, file=view), got, strict=True)


def _large_study(tmp_path: Path, n: int) -> Path:
    traj = pr.Trajectory("t", seed=0)
    traj.add_parameter("i", 0)
    traj.explore({"i": list(range(n))})
    path = tmp_path / "large.h5"
    # Small chunks: a few thousand runs span several, so the chunk-wise read is exercised.
    storage = pr.HDF5StorageService(path, options=pr.StorageOptions(chunk_bytes=1024))

    def simulate(run: pr.Run) -> dict[str, object] | None:
        if run.i % 7 == 3:
            return None  # no result: masked
        z = float("nan") if run.i % 11 == 5 else run.i * 0.5
        return {"z": z, "arr": np.full(3, run.i, dtype=np.int32)}

    pr.Environment(traj, storage).run(simulate, progress=False)
    storage.close()
    return path


def test_a_results_mask_is_read_through_the_files_view_as_hdf5_holds_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The presence mask of the main file comes from the view's descriptor, byte for byte."""
    path = _large_study(tmp_path, 3000)
    sizes: list[int] = []
    read_at = FileView.read_at

    def counted(self: FileView, buffer: memoryview, offset: int) -> int:
        sizes.append(len(buffer))
        return read_at(self, buffer, offset)

    monkeypatch.setattr(FileView, "read_at", counted)
    with pr.load_trajectory(path) as study:
        values = study.results["z"][:]
    with h5py.File(path, "r") as file:
        stored = file["t/present/z"][:]
    assert not stored.all()  # every seventh run has no value
    np.testing.assert_array_equal(np.ma.getmaskarray(values), ~stored)
    assert sum(sizes) == 3000 * (8 + 1)  # every float value and every byte of the mask


@settings(max_examples=40, deadline=None)
@given(start=st.integers(-3000, 3000) | st.none(), stop=st.integers(-3000, 3000) | st.none())
def test_a_slice_of_runs_reads_like_the_whole_column(
    tmp_path_factory: pytest.TempPathFactory, start: int | None, stop: int | None
) -> None:
    path = _large_study_once(tmp_path_factory)
    with pr.load_trajectory(path) as study:
        assert isinstance(study.storage, SupportsSpanRead)
        for name in ("z", "arr"):
            column = study.results[name]
            everything = column[[*range(len(study))]]  # the index-array path
            sliced = column[start:stop]
            expected = everything[start:stop]
            np.testing.assert_array_equal(np.ma.getmaskarray(sliced), np.ma.getmaskarray(expected))
            np.testing.assert_array_equal(
                np.ma.filled(sliced, -1), np.ma.filled(expected, -1), strict=True
            )


@settings(max_examples=40, deadline=None)
@given(run=st.integers(-3000, 2999))
def test_one_run_reads_like_its_row_of_the_whole_column(
    tmp_path_factory: pytest.TempPathFactory, run: int
) -> None:
    """A fresh study per read: one run's mask byte is read alone (the whole mask is not cached)."""
    with pr.load_trajectory(_large_study_once(tmp_path_factory)) as study:
        everything = study.results["z"][[*range(len(study))]]
    with pr.load_trajectory(_large_study_once(tmp_path_factory)) as study:
        if np.ma.getmaskarray(everything)[run]:
            with pytest.raises(KeyError, match="has no result 'z'"):
                study.results["z"][run]
        else:
            np.testing.assert_array_equal(study.results["z"][run], everything.data[run])
            np.testing.assert_array_equal(study.results["arr"][run], np.full(3, run % 3000))
    with (
        pr.load_trajectory(_large_study_once(tmp_path_factory)) as study,
        pytest.raises(IndexError),
    ):
        study.results["z"][3000]


def test_a_stored_nan_is_a_value_and_a_missing_run_is_masked(tmp_path: Path) -> None:
    with pr.load_trajectory(_large_study(tmp_path, 3000)) as study:
        z = study.results["z"][:]
    mask = np.ma.getmaskarray(z)
    runs = np.arange(3000)
    np.testing.assert_array_equal(mask, runs % 7 == 3)
    assert np.isnan(z.data[(runs % 11 == 5) & ~mask]).all()
    assert not np.isnan(z.data[(runs % 11 != 5) & ~mask]).any()


_STUDIES: dict[str, Path] = {}


def _large_study_once(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if "large" not in _STUDIES:
        _STUDIES["large"] = _large_study(tmp_path_factory.mktemp("large"), 3000)
    return _STUDIES["large"]


def test_opening_and_reading_a_result_imports_no_pandas(tmp_path: Path) -> None:
    """A fresh process that reads numbers pays for no pandas import (about a second)."""
    path = _large_study(tmp_path, 300)
    code = (
        "import sys, pypet_rebuild as pr\n"
        f"study = pr.load_trajectory({str(path)!r})\n"
        "study.results['z'][:]; study.results['arr'][5]; len(study); study.parameters()\n"
        "study.close()\n"
        "print(sorted(m for m in ('pandas', 'xarray', 'scipy') if m in sys.modules))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert done.stdout.strip() == "[]", done.stderr


def test_looking_up_one_result_agrees_with_the_listing(tmp_path: Path) -> None:
    """``results[name]`` looks at that one node; it must say what the full listing says."""
    path = _large_study(tmp_path, 30)
    with pr.load_trajectory(path) as study:
        # The results group also links the explored column ``i`` and the unnamed dimension of
        # ``arr`` (netCDF coordinates): neither is a result.
        listed = set(study.results)
        assert listed == {"arr", "z"}
        for name in ("z", "arr", "i", "arr.axis1", "z/x", "", "nope", "../t/results/z"):
            assert (name in study.results) == (name in listed), name
        with pytest.raises(pr.errors.ResultNotFoundError, match="stored results: 'arr', 'z'"):
            study.results["i"]
    with pr.load_trajectory(path, load_only=["z"]) as study:
        assert "arr" not in study.results
        with pytest.raises(pr.errors.ResultNotFoundError, match="stored results: 'z'"):
            study.results["arr"]
        assert study.results["z"][:].count() == 30 - 4


def _hand_typed(file: h5py.File, name: str, type_id: h5py.h5t.TypeID, raw: np.ndarray) -> None:
    space = h5py.h5s.create_simple((len(raw),), (h5py.h5s.UNLIMITED,))
    plist = h5py.h5p.create(h5py.h5p.DATASET_CREATE)
    plist.set_chunk((4,))
    dataset = h5py.h5d.create(file.id, name.encode(), type_id, space, dcpl=plist)
    dataset.write(h5py.h5s.ALL, h5py.h5s.ALL, raw, mtype=type_id)


def test_a_type_h5py_converts_is_read_by_hdf5_not_as_raw_bytes(tmp_path: Path) -> None:
    """Types another tool may write that h5py reads as a plain numpy dtype by a conversion.

    An integer of 16 bits of precision at bit offset 8 in 4 bytes reads as ``int32``, and an
    enum FALSE/TRUE on 16 bits as ``bool``: their chunks' bytes are not numpy's bytes.
    """
    path = tmp_path / "typed.h5"
    shifted = h5py.h5t.STD_I32LE.copy()
    shifted.set_precision(16)
    shifted.set_offset(8)
    wide_bool = h5py.h5t.enum_create(h5py.h5t.STD_I16LE)
    wide_bool.enum_insert(b"FALSE", 0)
    wide_bool.enum_insert(b"TRUE", 1)
    with h5py.File(path, "w") as file:
        _hand_typed(file, "shifted", shifted, np.arange(16, dtype="<i4") << 8)
        _hand_typed(file, "wide_bool", wide_bool, (np.arange(16) % 2).astype("<i2"))
    view = FileView(path)
    with h5py.File(view, "r") as file:
        for name in ("shifted", "wide_bool"):
            expected = file[name][:]
            np.testing.assert_array_equal(read_span(file[name], 0, 16), expected, strict=True)
            direct = read_span(file[name], 0, 16, file=view)
            np.testing.assert_array_equal(direct, expected, strict=True)
    np.testing.assert_array_equal(expected, np.arange(16) % 2 == 1)


@pytest.mark.parametrize("addresses_in_file", [True, False])
def test_a_file_with_a_user_block_reads_as_through_hdf5(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, addresses_in_file: bool
) -> None:
    """HDF5 before 1.14.4 gives chunk addresses without the user block: not read directly."""
    from pypet_rebuild.storage.hdf5 import layout

    monkeypatch.setattr(layout, "_CHUNK_ADDRESSES_IN_FILE", addresses_in_file)
    path = tmp_path / "userblock.h5"
    with h5py.File(path, "w", userblock_size=4096) as file:
        dataset = file.create_dataset("d", shape=(64,), maxshape=(None,), chunks=(8,), dtype="<f8")
        dataset[:] = np.arange(64.0)
    reads: list[int] = []
    view = FileView(path)
    original = view.read_at

    def read_at(buffer: memoryview, offset: int) -> int:
        reads.append(offset)
        return original(buffer, offset)

    monkeypatch.setattr(view, "read_at", read_at)
    with h5py.File(view, "r") as file:
        got = read_span(file["d"], 0, 64, file=view)
        offset = file["d"].id.get_chunk_info_by_coord((0,)).byte_offset
    np.testing.assert_array_equal(got, np.arange(64.0), strict=True)
    # Where HDF5 says the chunks are: read directly only if that is where they are.
    assert bool(reads) == (addresses_in_file and offset >= 4096)
