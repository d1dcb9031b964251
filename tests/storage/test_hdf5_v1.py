"""Files of format version 1 (written before the self-describing layout) still read, and
compacting converts them to version 2 without changing what they hold.

``tests/data/v1/sweep_v1.hdf5`` was written by ``tests/data/v1/generate.py`` at a version-1
commit; ``EXPECTED`` is what it holds.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest

import pypet_rebuild as pr
from pypet_rebuild.storage.hdf5.files import FORMAT_ATTR, FORMAT_VERSION
from pypet_rebuild.storage.hdf5.layout import LAYOUT_ATTR, LAYOUT_VERSION

V1 = Path(__file__).parents[1] / "data" / "v1" / "sweep_v1.hdf5"
XS = [1.0, 1.0, 2.0, 2.0, 3.0, 3.0]
LABELS = ["a", "b", "a", "b", "a", "b"]
FAILED = 3  # x=2.0, label="b"


@pytest.fixture
def v1_file(tmp_path: Path) -> Path:
    path = tmp_path / "sweep_v1.h5"
    shutil.copyfile(V1, path)
    return path


def _check_contents(path: Path) -> None:
    study = pr.load_trajectory(path, name="sweep")
    assert study.snapshot().explored == {"x": tuple(XS), "label": tuple(LABELS)}
    table = study.run_table()
    assert table.status.tolist() == ["failed" if i == FAILED else "done" for i in range(6)]
    assert "boom at x=2" in table.error[FAILED]
    assert table.output[FAILED] == "about to fail\n"
    z = study.results["z"]
    assert [z[i] for i in range(6) if i != FAILED] == [
        x * 10 for i, x in enumerate(XS) if i != FAILED
    ]
    assert study.results["trace"][0].tolist() == [0.0, 1.0, 2.0, 3.0]
    assert study.results["word"][4] == "a3.0"
    assert study.results["ragged"][5].tolist() == [0, 1, 2]
    frame = study.results["frame"][2]
    pd.testing.assert_frame_equal(frame, pd.DataFrame({"a": np.arange(3) * 2.0, "b": ["a"] * 3}))
    assert study.derived["total"].value == 42.0
    assert len(study.provenance) == 1
    study.close()
    grown = pr.load_trajectory(path, name="grown")
    assert [grown.results["sq"][i] for i in range(3)] == [1, 4, 9]
    grown.close()


def test_a_version_1_file_reads(v1_file: Path) -> None:
    with h5py.File(v1_file, "r") as file:
        assert file.attrs[FORMAT_ATTR] == 1
    _check_contents(v1_file)


def test_compacting_converts_a_version_1_file(v1_file: Path) -> None:
    storage = pr.HDF5StorageService(v1_file)
    storage.compact("sweep")
    storage.close()
    with h5py.File(v1_file, "r") as file:
        assert file.attrs[FORMAT_ATTR] == FORMAT_VERSION
        assert file["sweep"].attrs[LAYOUT_ATTR] == LAYOUT_VERSION
        assert LAYOUT_ATTR not in file["grown"].attrs  # untouched: still version 1, still reads
    _check_contents(v1_file)


def test_resuming_a_version_1_trajectory_converts_it(v1_file: Path) -> None:
    grown = pr.Trajectory("grown", seed=4)
    grown.add_parameter("n", 0)
    grown.explore({"n": [1, 2, 3, 4]})
    pr.Environment(grown, storage=v1_file).run(lambda run: {"sq": run.n * run.n}, resume=True)
    loaded = pr.load_trajectory(v1_file, name="grown")
    assert [loaded.results["sq"][i] for i in range(4)] == [1, 4, 9, 16]
    loaded.close()


def test_a_version_1_trajectory_left_in_a_converted_file_is_converted_when_written(
    v1_file: Path,
) -> None:
    # Compacting "sweep" converts the file, but "grown" keeps its version-1 group: growing it
    # later must convert it (by a rewrite) rather than try to append to datasets that cannot grow.
    storage = pr.HDF5StorageService(v1_file)
    storage.compact("sweep")
    storage.close()
    grown = pr.Trajectory("grown", seed=4)
    grown.add_parameter("n", 0)
    grown.explore({"n": [1, 2, 3, 4, 5]})
    env = pr.Environment(grown, storage=v1_file)
    assert env.run(lambda run: {"sq": run.n * run.n}, resume=True, progress=False).ok
    env.storage.close()
    with h5py.File(v1_file, "r") as file:
        assert file["grown"].attrs[LAYOUT_ATTR] == LAYOUT_VERSION
    loaded = pr.load_trajectory(v1_file, name="grown")
    assert [loaded.results["sq"][i] for i in range(5)] == [1, 4, 9, 16, 25]
    loaded.close()
    _check_contents(v1_file)
