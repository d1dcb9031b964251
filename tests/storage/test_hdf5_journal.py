"""The rollback journal under in-place changes of the main file (storage/hdf5/journal.py).

A model test drives :class:`JournaledFile` with random writes and truncations against a plain
bytearray; the HDF5 tests change real files in place, and a subprocess is killed with SIGKILL at
random moments of a large in-place change: the file must then read as before the change (through
the journal view, and byte for byte after the rollback) or, if the kill came after the commit,
as after it.
"""

from __future__ import annotations

import hashlib
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from pypet_rebuild.storage.hdf5.files import open_checked
from pypet_rebuild.storage.hdf5.journal import (
    PAGE,
    JournaledFile,
    JournalView,
    journal_path,
    open_journaled,
    recover,
)

ORIGINAL = bytes(random.Random(0).randbytes(5 * PAGE + 123))

writes = st.tuples(st.integers(0, 8 * PAGE), st.binary(min_size=1, max_size=3 * PAGE)).map(
    lambda item: ("write", *item)
)
truncations = st.integers(0, 8 * PAGE).map(lambda size: ("truncate", size, b""))
# HDF5 writes whole chunks back, mostly unchanged: writes of the bytes already there.
rewrites = st.tuples(st.integers(0, len(ORIGINAL) - 1), st.integers(1, 3 * PAGE)).map(
    lambda item: ("write", item[0], ORIGINAL[item[0] : item[0] + item[1]])
)


@given(
    operations=st.lists(st.one_of(writes, rewrites, truncations), max_size=12),
    spill=st.sampled_from([0, PAGE, 1 << 20]),
    commit=st.booleans(),
)
def test_reads_see_the_writes_and_the_end_is_all_or_nothing(
    tmp_path_factory: pytest.TempPathFactory,
    operations: list[tuple[str, int, bytes]],
    spill: int,
    commit: bool,
) -> None:
    path = tmp_path_factory.mktemp("journal") / "file.bin"
    path.write_bytes(ORIGINAL)
    model = bytearray(ORIGINAL)
    journaled = JournaledFile(path, spill_bytes=spill)
    for kind, offset, data in operations:
        if kind == "write":
            if offset > len(model):
                model.extend(bytes(offset - len(model)))
            model[offset : offset + len(data)] = data
            journaled.seek(offset)
            journaled.write(data)
        else:
            del model[offset:]
            model.extend(bytes(max(0, offset - len(model))))
            journaled.truncate(offset)
        journaled.seek(0)
        buffer = bytearray(len(model) + 10)
        assert journaled.readinto(buffer) == len(model)
        assert bytes(buffer[: len(model)]) == bytes(model)
        # Meanwhile a reader sees the file as it was, whatever was spilled.
        view = JournalView(path)
        seen = bytearray(len(ORIGINAL) + 10)
        assert view.readinto(seen) == len(ORIGINAL)
        assert bytes(seen[: len(ORIGINAL)]) == ORIGINAL
        view.close()
    if commit:
        journaled.commit()
        assert path.read_bytes() == bytes(model)
    else:
        journaled.rollback()
        assert path.read_bytes() == ORIGINAL
    assert not journal_path(path).exists()


def _make(path: Path) -> None:
    with h5py.File(path, "w", libver=("v110", "latest"), fs_strategy="fsm", fs_persist=True) as f:
        f.attrs["pypet_rebuild_format_version"] = 1
        f.create_dataset("fixed", data=np.arange(1000.0))
        f.create_dataset("grows", data=np.arange(10), maxshape=(None,), chunks=(64,))


def test_a_commit_costs_what_it_adds_and_leaves_no_journal(tmp_path: Path) -> None:
    path = tmp_path / "main.h5"
    _make(path)
    size = path.stat().st_size
    with open_journaled(path) as file:
        file["grows"].resize((20,))
        file["grows"][10:] = np.arange(10, 20)
        file.attrs["note"] = "appended"
    assert not journal_path(path).exists()
    assert path.stat().st_size - size < 64 * 1024
    with h5py.File(path, "r") as file:
        np.testing.assert_array_equal(file["grows"][:], np.arange(20))
        assert file.attrs["note"] == "appended"


def test_an_error_inside_rolls_every_change_back(tmp_path: Path) -> None:
    path = tmp_path / "main.h5"
    _make(path)
    before = path.read_bytes()

    def change_then_fail() -> None:
        with open_journaled(path) as file:
            file.create_dataset("new", data=np.ones(100_000))
            file["fixed"][:10] = -1
            file.flush()
            raise RuntimeError("simulated")

    with pytest.raises(RuntimeError, match="simulated"):
        change_then_fail()
    assert path.read_bytes() == before
    assert not journal_path(path).exists()


def test_readers_see_the_committed_file_while_a_change_is_half_written(tmp_path: Path) -> None:
    path = tmp_path / "main.h5"
    _make(path)
    before = path.read_bytes()
    journaled = JournaledFile(path, spill_bytes=0)  # every changed page reaches the file at once
    file = h5py.File(journaled, "r+")
    file["fixed"][:] = -1.0
    file.create_dataset("new", data=np.ones(10_000))
    file.attrs["pypet_rebuild_format_version"] = 99
    file.flush()
    assert path.read_bytes() != before
    with open_checked(path) as reader:  # goes through the journal view
        assert sorted(reader) == ["fixed", "grows"]
        np.testing.assert_array_equal(reader["fixed"][:], np.arange(1000.0))
    file.close()
    journaled.close()  # as if killed: no commit, the journal stays
    assert recover(path)
    assert path.read_bytes() == before
    assert not recover(path)


KILLED_WRITER = """
import sys
from pathlib import Path
import numpy as np
from pypet_rebuild.storage.hdf5 import journal

path = Path(sys.argv[1])
journal._SPILL_BYTES = 64 * 1024  # many spills: kills land between them
print("ready", flush=True)
with journal.open_journaled(path) as file:
    for i in range(100):
        file["fixed"][:] = np.full(1000, float(i))
        file.create_dataset(f"new{i}", data=np.full(50_000, float(i)))
        file["grows"].resize((10 + 100 * (i + 1),))
        file.flush()
print("committed", flush=True)
"""


def _digest(path: Path) -> str:
    with open_checked(path) as file:
        parts = [f"{name}:{file[name][...].tobytes().hex()}" for name in sorted(file)]
    return hashlib.sha256("".join(parts).encode()).hexdigest()


@pytest.mark.slow
@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL is a POSIX feature")
def test_sigkill_during_an_in_place_change_loses_nothing(tmp_path: Path) -> None:
    """Killed anywhere, the file reads as before the change, or as after a completed commit."""
    script = tmp_path / "writer.py"
    script.write_text(KILLED_WRITER)
    rng = random.Random(13)

    def start(path: Path) -> tuple[subprocess.Popen[str], float]:
        process = subprocess.Popen(
            [sys.executable, str(script), str(path)], stdout=subprocess.PIPE, text=True
        )
        assert process.stdout is not None
        assert process.stdout.readline().strip() == "ready"
        return process, time.monotonic()

    # One uncut change, to learn how long the change takes on this machine (however loaded).
    _make(tmp_path / "timing.h5")
    process, began = start(tmp_path / "timing.h5")
    assert process.stdout is not None
    assert process.stdout.read().strip() == "committed"
    process.stdout.close()
    assert process.wait() == 0
    duration = time.monotonic() - began
    outcomes = []
    for attempt in range(8):
        path = tmp_path / f"main{attempt}.h5"
        _make(path)
        before_bytes, before = path.read_bytes(), _digest(path)
        process, began = start(path)
        time.sleep(max(0.0, began + rng.uniform(0.0, 0.9 * duration) - time.monotonic()))
        process.send_signal(signal.SIGKILL)
        process.wait()
        assert process.stdout is not None
        process.stdout.close()
        committed = not journal_path(path).exists() and _digest(path) != before
        if committed:
            outcomes.append("committed")
            continue
        # A reader, before anyone rolls back: the file as it was.
        assert _digest(path) == before
        recover(path)
        assert path.read_bytes() == before_bytes
        outcomes.append("rolled back")
    assert "rolled back" in outcomes, outcomes


def test_a_journal_that_is_not_ours_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "main.h5"
    _make(path)
    journal_path(path).write_bytes(b"something else")
    with pytest.raises(Exception, match="not a pypet_rebuild journal"):
        recover(path)
    assert os.path.exists(journal_path(path))


def test_a_reader_open_across_in_place_commits_sees_them(tmp_path: Path) -> None:
    import pypet_rebuild as pr

    path = tmp_path / "shared.h5"
    traj = pr.Trajectory("t", seed=0)
    traj.add_parameter("x", 0)
    traj.explore({"x": list(range(10))})

    def half(run: pr.Run) -> dict[str, int]:
        if run.x >= 5:
            raise ValueError("later")
        return {"y": run.x}

    pr.Environment(traj, storage=path).run(half, on_error="continue", progress=False)
    study = pr.load_trajectory(path)  # held open, as in a notebook
    assert study.results["y"][:].count() == 5
    other = pr.Trajectory("other", seed=1)
    other.add_parameter("x", 0)
    other.explore({"x": [1, 2]})
    pr.Environment(other, storage=path).run(lambda run: {"y": run.x}, progress=False)
    env = pr.Environment(traj, storage=path)
    env.run(lambda run: {"y": run.x}, resume=True, progress=False)  # in place, same inode
    env.storage.close()
    assert study.results["y"][:].tolist() == list(range(10))
    assert pr.load_trajectory(path, name="other").results["y"][:].tolist() == [1, 2]
    study.close()
