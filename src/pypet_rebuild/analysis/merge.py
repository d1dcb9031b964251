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
from collections.abc import Sequence
from typing import Any

from pypet_rebuild.analysis.study import StoredTrajectory
from pypet_rebuild.errors import MergeError
from pypet_rebuild.exploration import ParameterSpace, hash_columns, point_hash, same_value
from pypet_rebuild.storage.backends import open_storage
from pypet_rebuild.storage.protocol import (
    StorageService,
    SupportsReplace,
    WriterSession,
    storage_location,
)
from pypet_rebuild.storage.records import MISSING, RunRecord, RunStatus
from pypet_rebuild.tree.nodes import Result
from pypet_rebuild.tree.trajectory import Trajectory

__all__ = ["merge_trajectories"]

_BATCH = 10_000
"""Runs copied per segment of the staging file (a million runs make 100 segments to fold)."""


def _storage(trajectory: StoredTrajectory) -> StorageService:
    if not isinstance(trajectory, StoredTrajectory):
        raise MergeError(
            f"merge_trajectories takes stored studies, got {type(trajectory).__name__} "
            f"{getattr(trajectory, 'name', '')!r}: run it (env.study) or load it with "
            "pr.load_trajectory before merging"
        )
    return trajectory.storage


def _location(trajectory: StoredTrajectory) -> tuple[str, str]:
    return storage_location(_storage(trajectory)), trajectory.name


def _check_compatible(sources: Sequence[StoredTrajectory], trial: str | None) -> None:
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


def _explored_union(sources: Sequence[StoredTrajectory], trial: str | None) -> list[str]:
    names: list[str] = []
    for source in sources:
        names.extend(n for n in source.explored_names if n not in names)
    for parameter in sources[0].parameters():
        path = parameter.path
        if path in names or path == trial:
            continue
        defaults = [source.get_parameter(path).default for source in sources]
        if not all(same_value(d, defaults[0]) for d in defaults[1:]):
            names.append(path)  # differing defaults: keep each run's real value
    if trial is not None and trial not in names:
        names.append(trial)
    return names


def merge_trajectories(
    target: StoredTrajectory,
    *others: StoredTrajectory,
    into: str | os.PathLike[str] | StorageService | None = None,
    name: str | None = None,
    drop_duplicates: bool = False,
    trial_parameter: str | None = None,
) -> StoredTrajectory:
    """Merge stored studies into one; returns the merged study (read lazily).

    Parameters
    ----------
    target
        The trajectory to merge into. Its runs come first; its file receives the result unless
        ``into`` is given.
    *others
        The trajectories to merge in, from the same or other files (or memory).
    into
        Write the merged trajectory to this file (or storage) instead of replacing ``target``.
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
    for source in (target, *others):
        _storage(source)
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
    plan, columns = _plan(sources, explored, trial_parameter, drop_duplicates)
    merged.explore(ParameterSpace(columns, kind="concatenated"))
    return _write(merged, sources, plan, into, target)


Plan = Sequence[tuple[int, int]]
"""``(source position, run index in that source)`` of every merged run, in merged order."""


def _plan(
    sources: Sequence[StoredTrajectory],
    explored: Sequence[str],
    trial: str | None,
    drop_duplicates: bool,
) -> tuple[list[tuple[int, int]], dict[str, list[object]]]:
    """The runs to keep, in merged order, and the merged explored columns.

    Points are hashed column by column (and only when duplicates or trials need the hashes),
    so planning a merge of a million runs costs seconds, not minutes.
    """
    pairs = [
        (position, index) for position, source in enumerate(sources) for index in range(len(source))
    ]
    columns: dict[str, list[object]] = {path: [] for path in explored}
    for source in sources:
        space = source.space
        n = len(source)
        defaults = {p.path: p.default for p in source.parameters()}
        for path in explored:
            if space is not None and path in space.columns:
                columns[path].extend(space.columns[path])
            else:
                columns[path].extend([defaults.get(path, 0)] * n)
    if trial is not None:
        others = {path: values for path, values in columns.items() if path != trial}
        base = hash_columns(others) if others else [point_hash({})] * len(pairs)
        occurrences: dict[str, int] = {}
        trials: list[object] = []
        for digest in base:
            count = occurrences.get(digest, 0)
            trials.append(count)
            occurrences[digest] = count + 1
        columns[trial] = trials
    if drop_duplicates:
        seen: set[str] = set()
        keep = []
        for row, digest in enumerate(hash_columns(columns)):
            if digest not in seen:
                seen.add(digest)
                keep.append(row)
        if len(keep) < len(pairs):
            pairs = [pairs[row] for row in keep]
            columns = {path: [values[row] for row in keep] for path, values in columns.items()}
    return pairs, columns


def _write(
    merged: Trajectory,
    sources: Sequence[StoredTrajectory],
    plan: Plan,
    into: str | os.PathLike[str] | StorageService | None,
    target: StoredTrajectory,
) -> StoredTrajectory:
    destination = _storage(target) if into is None else open_storage(into, mode="w")
    location = (storage_location(destination), merged.name)
    if location != _location(target) and merged.name in destination.trajectory_names():
        raise MergeError(
            f"{location[0]!r} already holds a trajectory named {merged.name!r}, which is not "
            "the target of this merge; pass name= to choose another name, or another file"
        )
    if not isinstance(destination, SupportsReplace):
        raise MergeError(
            f"the storage {destination!r} cannot install a merged trajectory (it does not "
            "implement SupportsReplace); merge into a file with into=PATH"
        )

    def build(staging: StorageService) -> None:
        _build(staging, merged, sources, plan)

    # The backend builds the merge in staging storage while holding its writer lock, then
    # installs it in one atomic step: a kill leaves the destination as it was, or merged.
    destination.replace_trajectory(merged.name, build)
    owns = into is not None and not isinstance(into, StorageService)
    return StoredTrajectory(destination, merged.name, owns_storage=owns)


def _build(
    staging: StorageService,
    merged: Trajectory,
    sources: Sequence[StoredTrajectory],
    plan: Plan,
) -> None:
    """Write the merged trajectory (runs, derived results, lineage) to ``staging``."""
    with staging.begin_sweep(merged.snapshot(), resume=False) as session:
        hashes = merged.point_hashes()
        _copy_runs(session, sources, plan, hashes)
        derived = _derived(sources, plan)
        if derived:
            session.store_derived(derived)
        session.finish(_lineage(sources, plan))


def _derived(sources: Sequence[StoredTrajectory], plan: Plan) -> list[Result[Any]]:
    """Every source's derived results, their run lineage renumbered to the merged runs.

    The target's keep their names; those of source ``i`` (counting the target as 0) are stored
    under ``source_<i>.<name>`` so equally named analysis products of two studies both survive.
    """
    renumber = {(position, old): new for new, (position, old) in enumerate(plan)}
    found: list[Result[Any]] = []
    for position, source in enumerate(sources):
        for result in _storage(source).load_derived(source.name).values():
            annotations = dict(result.annotations)
            runs = annotations.get("lineage_runs")
            if isinstance(runs, list):
                annotations["lineage_runs"] = [
                    renumber[position, int(i)] for i in runs if (position, int(i)) in renumber
                ]
            path = result.path if position == 0 else f"source_{position}.{result.path}"
            found.append(Result(path, result.value, result.comment, annotations))
    return found


def _copy_runs(
    session: WriterSession,
    sources: Sequence[StoredTrajectory],
    plan: Plan,
    hashes: Sequence[str],
) -> None:
    by_source: dict[int, list[tuple[int, int]]] = {}
    for new_index, (position, old_index) in enumerate(plan):
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
                        output=str(table.output[old]),
                        results=results,
                        comments={r: c for r, c in comments.items() if c and r in results},
                    )
                )
            session.store_runs(records)


def _lineage(sources: Sequence[StoredTrajectory], plan: Plan) -> dict[str, Any]:
    kept = [0] * len(sources)
    for position, _ in plan:
        kept[position] += 1
    lineage = []
    for position, source in enumerate(sources):
        where, name = _location(source)
        lineage.append(
            {
                "file": where,
                "trajectory": name,
                "runs": len(source),
                "runs_kept": kept[position],
                "provenance": _storage(source).load_provenance(name),
            }
        )
    return {"operation": "merge", "runs": len(plan), "merged_from": lineage}
