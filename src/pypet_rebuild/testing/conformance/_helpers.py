"""What the conformance suite shares: the backend under test, a standard sweep, stored records.

Public so a backend's own extra tests can build on the same pieces as the suite.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

import pypet_rebuild as pr
from pypet_rebuild.storage import RunRecord, RunStatus
from pypet_rebuild.tree.seeding import run_seed

__all__ = [
    "XS",
    "YS",
    "BoomError",
    "StorageUnderTest",
    "Unstorable",
    "Z",
    "fail_on_x2",
    "files_in",
    "mutable_values",
    "mutate",
    "record",
    "simulate",
    "store_sweep",
    "stored_state",
    "trajectory",
]

XS = [1.0, 2.0, 3.0]
"""The explored values of ``x`` in :func:`trajectory`."""
YS = [10, 20]
"""The explored values of ``y`` in :func:`trajectory`."""
Z = [10.0, 20.0, 20.0, 40.0, 30.0, 60.0]
"""The result ``z`` that :func:`simulate` gives for each run of :func:`trajectory`."""


@dataclass
class StorageUnderTest:
    """A storage under test: ``storage`` writes, ``reopen()`` gives a reader of the same data.

    Parameters
    ----------
    name
        The backend's name (for messages and known failures).
    storage
        The fresh storage the test writes to.
    reopen
        Another handle on the same data (for a file a new service, which proves the data is on
        disk); every handle is closed after the test.
    folder
        The folder the storage keeps its files in (empty for in-memory storage).
    """

    name: str
    storage: pr.StorageService
    reopen: Callable[[], pr.StorageService]
    folder: Path


@dataclass
class Unstorable:
    """A type without a codec (module level, so it pickles)."""

    payload: list[int]


class BoomError(Exception):
    """The user's own exception, raised by :func:`fail_on_x2`."""


def files_in(folder: Path) -> dict[str, bytes]:
    """The bytes of every file under ``folder``, by relative path."""
    return {
        str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()
    }


def trajectory(name: str = "sweep", *, y_default: int = 1) -> pr.Trajectory:
    """The standard sweep: ``x`` over :data:`XS` times ``y`` over :data:`YS`, six runs."""
    traj = pr.Trajectory(name, seed=7, comment="conformance")
    traj.add_parameter("x", 1.0, comment="first factor")
    traj.add_parameter("y", y_default)
    traj.add_parameter("sim.steps", 5)
    traj.explore(pr.cartesian_product({"x": XS, "y": YS}))
    return traj


def simulate(run: pr.Run) -> dict[str, object]:
    """The standard simulate function: ``z = x * y`` and a ``trace`` of ``sim.steps`` values."""
    return {"z": run.x * run.y, "trace": np.arange(run["sim.steps"]) * run.x}


def fail_on_x2(run: pr.Run) -> dict[str, object]:
    """:func:`simulate`, failing with :class:`BoomError` where ``x == 2.0`` (runs 2 and 3)."""
    if run.x == 2.0:
        raise BoomError(f"boom at y={run.y}")
    return simulate(run)


def record(index: int, traj: pr.Trajectory, **results: object) -> RunRecord:
    """A done run record of run ``index`` of ``traj`` holding ``results``."""
    point_hash = traj.point_hashes()[index]
    return RunRecord(
        index=index,
        point_hash=point_hash,
        status=RunStatus.DONE,
        started=1000.0 + index,
        finished=1000.5 + index,
        duration=0.5,
        host="node-a",
        pid=4242,
        seed=run_seed(traj.seed, point_hash),
        results=results,
    )


def store_sweep(
    storage: pr.StorageService,
    traj: pr.Trajectory,
    runs: Sequence[RunRecord] = (),
    *,
    derived: Sequence[pr.Result[Any]] = (),
    provenance: Mapping[str, object] | None = None,
    resume: bool = False,
) -> frozenset[int]:
    """One sweep through a writer session: begin, store ``runs`` and ``derived``, finish.

    Returns the session's ``done_runs`` (as a frozenset, whatever set the backend gives).
    """
    with storage.begin_sweep(traj.snapshot(), resume=resume) as session:
        done = frozenset(session.done_runs)
        session.store_runs(runs)
        session.store_derived(derived)
        session.finish({} if provenance is None else provenance)
    return done


def stored_state(storage: pr.StorageService) -> dict[str, object]:
    """Everything a storage holds, comparable with ``==`` (values by their ``repr``)."""
    state: dict[str, object] = {}
    for name in storage.trajectory_names():
        table = storage.load_run_table(name)
        runs = list(range(len(table)))
        state[name] = {
            "snapshot": storage.load_snapshot(name),
            "status": table.status.tolist(),
            "results": {
                result: [repr(v) for v in storage.read_results(name, result, runs)]
                for result in storage.result_names(name)
            },
            "derived": {key: repr(r.value) for key, r in storage.load_derived(name).items()},
            "provenance": storage.load_provenance(name),
        }
    return state


def mutable_values() -> dict[str, object]:
    """Values that can be changed in place (fresh objects on every call)."""
    return {
        "array": np.arange(3.0),
        "array_0d": np.array(1.5),
        "nested": {"k": [1, [2]], "a": np.zeros(2)},
        "frame": pd.DataFrame({"a": [1.0, 2.0]}),
        "structured": np.zeros(2, dtype=[("a", "i4"), ("b", "f8")]),
    }


def mutate(values: dict[str, Any]) -> None:
    """Change in place every value of :func:`mutable_values` present in ``values``."""
    if "array" in values:
        values["array"][0] = 99.0
    if "array_0d" in values:
        values["array_0d"][...] = -1.0
    if "nested" in values:
        values["nested"]["k"][1].append(3)
        values["nested"]["a"][0] = 5.0
        values["nested"]["new"] = 1
    if "frame" in values:
        values["frame"].iloc[0, 0] = -1.0
    if "structured" in values:
        values["structured"]["a"][0] = 3
