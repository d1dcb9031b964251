"""``merge_trajectories``: studies run on different machines become one.

The merged trajectory explores the union of what the sources explore. A parameter whose default
differs between sources becomes explored too, so every run keeps the values it really ran with.
Runs are renumbered (the target's first, then each other source's, in order); duplicate points can
be dropped by their stable point hash, or numbered with a trial counter. The provenance of every
source is kept as lineage.

The merge is written to a new file under a temporary name first; only when it is complete does
it replace the target trajectory, in one atomic rename. A merge killed at any moment leaves the
target as it was.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pypet_rebuild.errors import MergeError
from pypet_rebuild.exploration import ParameterSpace, point_hash
from pypet_rebuild.storage.memory import MemoryStorageService
from pypet_rebuild.storage.protocol import StorageService
from pypet_rebuild.storage.records import MISSING, RunRecord, RunStatus
from pypet_rebuild.tree.trajectory import Trajectory

__all__ = ["merge_trajectories"]

_BATCH = 2000


def _storage(trajectory: Trajectory) -> StorageService:
    storage = trajectory.storage
    if storage is None:
        raise MergeError(
            f"the trajectory {trajectory.name!r} has no stored runs: run it with an Environment "
            "or load it with pr.load_trajectory before merging"
        )
    return storage


def _location(trajectory: Trajectory) -> tuple[str, str]:
    storage = _storage(trajectory)
    path = getattr(storage, "path", None)
    where = str(Path(path).resolve()) if path is not None else f"memory:{id(storage)}"
    return where, trajectory.name


def _check_compatible(sources: Sequence[Trajectory], trial: str | None) -> None:
    reference = sources[0]
    expected = {p.path: p.value_type.name for p in reference.parameters() if p.path != trial}
    problems: list[str] = []
    for other in sources[1:]:
        found = {p.path: p.value_type.name for p in other.parameters() if p.path != trial}
        missing = sorted(set(expected) - set(found))
        extra = sorted(set(found) - set(expected))
        if missing:
            problems.append(f"{other.name!r} lacks parameters {missing}")
        if extra:
            problems.append(f"{other.name!r} has parameters {extra} that {reference.name!r} lacks")
        problems.extend(
            f"parameter {path!r} is {expected[path]} in {reference.name!r} but "
            f"{found[path]} in {other.name!r}"
            for path in sorted(set(expected) & set(found))
            if expected[path] != found[path]
        )
    if problems:
        raise MergeError(
            "the trajectories cannot be merged: "
            + "; ".join(problems)
            + ". Merge only studies of the same parameters and types"
        )


def _explored_union(sources: Sequence[Trajectory], trial: str | None) -> list[str]:
    names: list[str] = []
    for source in sources:
        names.extend(n for n in source.explored_names if n not in names)
    for parameter in sources[0].parameters():
        path = parameter.path
        if path in names or path == trial:
            continue
        defaults = [source.get_parameter(path).default for source in sources]
        if any(point_hash({"v": d}) != point_hash({"v": defaults[0]}) for d in defaults[1:]):
            names.append(path)  # differing defaults: keep each run's real value
    if trial is not None and trial not in names:
        names.append(trial)
    return names


def merge_trajectories(
    target: Trajectory,
    *others: Trajectory,
    into: str | os.PathLike[str] | None = None,
    name: str | None = None,
    drop_duplicates: bool = False,
    trial_parameter: str | None = None,
) -> Trajectory:
    """Merge stored trajectories into one; returns the merged trajectory (loaded lazily).

    Parameters
    ----------
    target
        The trajectory to merge into. Its runs come first; its file receives the result unless
        ``into`` is given.
    *others
        The trajectories to merge in, from the same or other files (or memory).
    into
        Write the merged trajectory to this HDF5 file instead of replacing ``target``.
    name
        The merged trajectory's name (default: the target's).
    drop_duplicates
        Keep only the first run of every point (by point hash; the target's runs come first).
    trial_parameter
        Count repeated points in this integer parameter (added if missing), so every run of a
        repeated point stays distinguishable: 0 for the first occurrence, 1 for the next...

    Raises
    ------
    MergeError
        If there is nothing to merge, a trajectory is merged into itself, or the parameter sets
        or types differ (the message lists every difference).
    """
    if not others:
        raise MergeError("nothing to merge: pass at least one trajectory besides the target")
    sources = [target, *others]
    seen: dict[tuple[str, str], int] = {}
    for position, source in enumerate(sources):
        where = _location(source)
        if where in seen:
            raise MergeError(
                f"cannot merge trajectory {source.name!r} of {where[0]!r} into itself "
                f"(it is passed as argument {seen[where]} and {position})"
            )
        seen[where] = position
    _check_compatible(sources, trial_parameter)
    if (
        trial_parameter is not None
        and trial_parameter in target
        and (target.get_parameter(trial_parameter).value_type.python_type is not int)
    ):
        raise MergeError(f"the trial parameter {trial_parameter!r} must be an int parameter")
    explored = _explored_union(sources, trial_parameter)
    merged = Trajectory(name or target.name, comment=target.comment, seed=target.seed)
    for parameter in target.parameters():
        merged.add_parameter(
            parameter.path,
            parameter.default,
            type=parameter.value_type.python_type,
            comment=parameter.comment,
            annotations=parameter.annotations,
        )._value_type = parameter.value_type
    if trial_parameter is not None and trial_parameter not in merged:
        merged.add_parameter(trial_parameter, 0, comment="occurrence of a repeated point")
    plan = _plan(sources, explored, trial_parameter, drop_duplicates)
    columns = {path: [point[path] for _, _, point in plan] for path in explored}
    merged.explore(ParameterSpace(columns, kind="concatenated"))
    return _write(merged, sources, plan, into, target)


def _plan(
    sources: Sequence[Trajectory],
    explored: Sequence[str],
    trial: str | None,
    drop_duplicates: bool,
) -> list[tuple[int, int, dict[str, object]]]:
    """``(source position, run index in the source, merged point)`` for every kept run."""
    plan: list[tuple[int, int, dict[str, object]]] = []
    occurrences: dict[str, int] = {}
    kept: set[str] = set()
    for position, source in enumerate(sources):
        space = source.space
        defaults = {p.path: p.default for p in source.parameters()}
        for index in range(len(source)):
            point = {
                path: (
                    space.columns[path][index]
                    if space is not None and path in space.columns
                    else defaults.get(path, 0)
                )
                for path in explored
            }
            if trial is not None:
                base = point_hash({k: v for k, v in point.items() if k != trial})
                point[trial] = occurrences.get(base, 0)
                occurrences[base] = point[trial] + 1  # type: ignore[operator]
            identity = point_hash(point)
            if drop_duplicates and identity in kept:
                continue
            kept.add(identity)
            plan.append((position, index, point))
    return plan


def _write(
    merged: Trajectory,
    sources: Sequence[Trajectory],
    plan: Sequence[tuple[int, int, dict[str, object]]],
    into: str | os.PathLike[str] | None,
    target: Trajectory,
) -> Trajectory:
    from pypet_rebuild.storage.hdf5 import HDF5StorageService
    from pypet_rebuild.storage.loading import load_trajectory

    target_storage = _storage(target)
    final: Path | None = None
    if into is not None:
        final = Path(into)
    elif isinstance(target_storage, HDF5StorageService):
        final = target_storage.path
    staging: StorageService
    temporary: Path | None = None
    if final is None:
        staging = MemoryStorageService()
    else:
        handle, name = tempfile.mkstemp(
            prefix=f".{final.name}.merge-", suffix=".h5", dir=final.parent
        )
        os.close(handle)
        temporary = Path(name)
        temporary.unlink()
        staging = HDF5StorageService(temporary)
    try:
        staging.begin_sweep(merged.snapshot(), resume=False)
        hashes = merged.point_hashes()
        _copy_runs(staging, merged.name, sources, plan, hashes)
        derived = list(_storage(target).load_derived(target.name).values())
        if derived:
            staging.store_derived(merged.name, derived)
        staging.end_sweep(merged.name, _lineage(sources, len(plan)))
        if temporary is not None and final is not None:
            HDF5StorageService(final).adopt_trajectory(temporary, merged.name)
            staging.close()
            return load_trajectory(final, merged.name)
        return load_trajectory(staging, merged.name)
    finally:
        staging.close()
        if temporary is not None:
            for leftover in (temporary, temporary.with_name(temporary.name + ".lock")):
                leftover.unlink(missing_ok=True)


def _copy_runs(
    staging: StorageService,
    name: str,
    sources: Sequence[Trajectory],
    plan: Sequence[tuple[int, int, dict[str, object]]],
    hashes: Sequence[str],
) -> None:
    by_source: dict[int, list[tuple[int, int]]] = {}
    for new_index, (position, old_index, _) in enumerate(plan):
        by_source.setdefault(position, []).append((new_index, old_index))
    for position, pairs in by_source.items():
        source = sources[position]
        storage = _storage(source)
        table = storage.load_run_table(source.name)
        result_names = storage.result_names(source.name)
        finished = [(new, old) for new, old in pairs if table.status[old] != RunStatus.PENDING]
        for start in range(0, len(finished), _BATCH):
            batch = finished[start : start + _BATCH]
            olds = [old for _, old in batch]
            values = {
                result: storage.read_results(source.name, result, olds) for result in result_names
            }
            comments = {
                result: storage.result_comment(source.name, result) for result in result_names
            }
            records = []
            for row, (new, old) in enumerate(batch):
                results = {r: v[row] for r, v in values.items() if v[row] is not MISSING}
                records.append(
                    RunRecord(
                        index=new,
                        point_hash=hashes[new],
                        status=RunStatus(str(table.status[old])),
                        started=float(table.started[old]),
                        finished=float(table.finished[old]),
                        duration=float(table.duration[old]),
                        host=str(table.host[old]),
                        pid=int(table.pid[old]),
                        seed=int(table.seed[old]),
                        error=str(table.error[old]),
                        results=results,
                        comments={r: c for r, c in comments.items() if c and r in results},
                    )
                )
            staging.store_runs(name, records)


def _lineage(sources: Sequence[Trajectory], n_runs: int) -> dict[str, Any]:
    lineage = []
    for source in sources:
        where, name = _location(source)
        lineage.append(
            {
                "file": where,
                "trajectory": name,
                "runs": len(source),
                "provenance": _storage(source).load_provenance(name),
            }
        )
    return {"operation": "merge", "runs": n_runs, "merged_from": lineage}
