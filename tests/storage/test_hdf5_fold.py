"""Folding segments into the main file never changes what the file says about its runs.

The fold writes the run table one column at a time (storage/hdf5/run_table.py) instead of
through the reader's merged table; these tests hold the two to the same answer, including runs
recorded twice, runs an expansion added, several hosts, and errors and outputs that a later
record replaces or clears.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import pypet_rebuild as pr
from pypet_rebuild.storage import RunRecord, RunStatus
from pypet_rebuild.storage.records import RunTable
from pypet_rebuild.tree.seeding import run_seed


def _trajectory(n: int) -> pr.Trajectory:
    traj = pr.Trajectory("t", seed=5)
    traj.add_parameter("x", 0)
    traj.explore({"x": list(range(n))})
    return traj


_record_spec = st.tuples(
    st.integers(0, 1000),  # run index, reduced modulo the sweep's length
    st.sampled_from([RunStatus.DONE, RunStatus.FAILED]),
    st.sampled_from(["", "alpha", "beta", "gamma"]),  # host
    st.sampled_from(["", "boom"]),  # error
    st.sampled_from(["", "printed\n"]),  # captured output
)
_batches = st.lists(st.lists(_record_spec, min_size=1, max_size=6), min_size=1, max_size=4)


def _record(traj: pr.Trajectory, spec: tuple[int, RunStatus, str, str, str], k: int) -> RunRecord:
    index, status, host, error, output = spec
    index %= len(traj)
    hashes = traj.point_hashes()
    return RunRecord(
        index,
        hashes[index],
        status,
        float(k),
        float(k) + 0.5,
        0.5,
        host,
        1000 + k,
        run_seed(traj.seed, hashes[index]),
        error if status is RunStatus.FAILED else "",
        {"z": float(index)} if status is RunStatus.DONE else {},
        output=output,
    )


def _sweep(
    storage: pr.HDF5StorageService, traj: pr.Trajectory, batches: object, *, resume: bool
) -> None:
    counter = 0
    with storage.begin_sweep(traj.snapshot(), resume=resume) as session:
        for batch in batches:  # type: ignore[attr-defined]
            records = []
            for spec in batch:
                counter += 1
                records.append(_record(traj, spec, counter))
            session.store_runs(records)
        session.finish({})


def _assert_same_tables(a: RunTable, b: RunTable) -> None:
    for name in ("index", "point_hash", "status", "host", "pid", "seed", "error", "output"):
        assert getattr(a, name).tolist() == getattr(b, name).tolist(), name
    for name in ("started", "finished", "duration"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(first=_batches, second=_batches, n0=st.integers(1, 7), grow=st.integers(0, 5))
def test_folding_keeps_the_run_table_the_reader_sees(
    tmp_path_factory: pytest.TempPathFactory,
    first: list[list[tuple[int, RunStatus, str, str, str]]],
    second: list[list[tuple[int, RunStatus, str, str, str]]],
    n0: int,
    grow: int,
) -> None:
    path = tmp_path_factory.mktemp("fold") / "f.h5"
    storage = pr.HDF5StorageService(path, compaction="manual")
    _sweep(storage, _trajectory(n0), first, resume=False)
    # The second sweep may add points: an expansion segment, then records for old and new runs.
    _sweep(storage, _trajectory(n0 + grow), second, resume=True)
    before = storage.load_run_table("t")
    results_before = storage.read_results("t", "z", list(range(n0 + grow)))
    storage.compact("t")
    after = storage.load_run_table("t")
    _assert_same_tables(before, after)
    assert storage.read_results("t", "z", list(range(n0 + grow))) == results_before

    # And both say what the records said: the last record of each run wins, whole.
    last: dict[int, tuple[RunStatus, str, str, str]] = {}
    for batches, n in ((first, n0), (second, n0 + grow)):
        for batch in batches:
            for index, status, host, error, output in batch:
                failed = status is RunStatus.FAILED
                last[index % n] = (status, host, error if failed else "", output)
    for run in range(n0 + grow):
        status, host, error, output = last.get(run, (RunStatus.PENDING, "", "", ""))
        assert after.status[run] == status.value
        assert (after.host[run], after.error[run], after.output[run]) == (host, error, output)
    storage.close()


def test_folding_a_large_sweep_keeps_every_row(tmp_path: Path) -> None:
    # More rows than one block of the column-wise writers, recorded in several segments.
    n = 70_000
    traj = _trajectory(n)
    path = tmp_path / "big.h5"
    storage = pr.HDF5StorageService(path, compaction="manual")
    pr.Environment(traj, storage, batch_size=20_000).run(
        lambda run: {"z": float(run.x)}, progress=False
    )
    before = storage.load_run_table("t")
    storage.compact("t")
    after = storage.load_run_table("t")
    _assert_same_tables(before, after)
    assert after.point_hash.tolist() == list(traj.point_hashes())
    assert (after.status == "done").all()
    storage.close()
