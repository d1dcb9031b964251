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

import contextlib
import glob
import os
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pypet_rebuild.errors import MergeError
from pypet_rebuild.exploration import ParameterSpace, hash_columns, point_hash, same_value
from pypet_rebuild.storage.memory import MemoryStorageService
from pypet_rebuild.storage.protocol import StorageService
from pypet_rebuild.storage.records import MISSING, RunRecord, RunStatus
from pypet_rebuild.tree.nodes import Result
from pypet_rebuild.tree.trajectory import Trajectory

__all__ = ["merge_trajectories"]

_BATCH = 10_000
"""Runs copied per segment of the staging file (a million runs make 100 segments to fold)."""


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
        if not all(same_value(d, defaults[0]) for d in defaults[1:]):
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
    plan, columns = _plan(sources, explored, trial_parameter, drop_duplicates)
    merged.explore(ParameterSpace(columns, kind="concatenated"))
    return _write(merged, sources, plan, into, target)


Plan = Sequence[tuple[int, int]]
"""``(source position, run index in that source)`` of every merged run, in merged order."""


def _plan(
    sources: Sequence[Trajectory],
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
    sources: Sequence[Trajectory],
    plan: Plan,
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
    if final is None:
        staging = MemoryStorageService()
        _build(staging, merged, sources, plan)
        return load_trajectory(staging, merged.name)
    if final.exists() and final.resolve() != Path(_location(target)[0]):
        existing = HDF5StorageService(final)
        try:
            names = existing.trajectory_names()
        finally:
            existing.close()
        if merged.name in names:
            raise MergeError(
                f"{str(final)!r} already holds a trajectory named {merged.name!r}, which is not "
                "the target of this merge; pass name= to choose another name, or another file"
            )
    installed = HDF5StorageService(final)
    # Hold the target file's writer lock from the first read to the installation: no other
    # process can add runs that the installed merge would silently replace.
    with contextlib.closing(installed), installed.writing():
        _remove_stale_staging(final)
        handle, name = tempfile.mkstemp(
            prefix=f".{final.name}{_STAGING}", suffix=".h5", dir=final.parent
        )
        os.close(handle)
        temporary = Path(name)
        temporary.unlink()
        staging_file = HDF5StorageService(temporary)
        try:
            _build(staging_file, merged, sources, plan)
            staging_file.close()
            # One atomic rewrite of the target file: a kill leaves it as it was, or merged.
            installed.adopt_trajectory(temporary, merged.name)
        finally:
            staging_file.close()
            _remove_staging(temporary)
    return load_trajectory(final, merged.name)


_STAGING = ".merge-"


def _remove_staging(temporary: Path) -> None:
    for leftover in (temporary, temporary.with_name(temporary.name + ".lock")):
        leftover.unlink(missing_ok=True)
    shutil.rmtree(temporary.with_name(temporary.name + ".segments"), ignore_errors=True)


def _remove_stale_staging(final: Path) -> None:
    """Delete what merges into ``final`` that were killed left behind.

    Called while holding ``final``'s writer lock: a merge builds its staging file (and its lock
    file, segment folder and temporary files, all named after it) only while holding that lock,
    so no merge into ``final`` is running and every staging file left is debris.
    """
    staging = glob.escape(f".{final.name}{_STAGING}") + "*"
    # The staging file, its lock file and segment folder, and (one more dot) its temporary files.
    leftovers = [*final.parent.glob(staging), *final.parent.glob("." + staging)]
    for leftover in leftovers:
        if leftover.is_dir():
            shutil.rmtree(leftover, ignore_errors=True)
        else:
            leftover.unlink(missing_ok=True)


def _build(
    staging: StorageService,
    merged: Trajectory,
    sources: Sequence[Trajectory],
    plan: Plan,
) -> None:
    """Write the merged trajectory (runs, derived results, lineage) to ``staging``."""
    staging.begin_sweep(merged.snapshot(), resume=False)
    try:
        hashes = merged.point_hashes()
        _copy_runs(staging, merged.name, sources, plan, hashes)
        derived = _derived(sources, plan)
        if derived:
            staging.store_derived(merged.name, derived)
    except BaseException:
        staging.close()
        raise
    staging.end_sweep(merged.name, _lineage(sources, plan))


def _derived(sources: Sequence[Trajectory], plan: Plan) -> list[Result[Any]]:
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
    staging: StorageService,
    name: str,
    sources: Sequence[Trajectory],
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
                        results=results,
                        comments={r: c for r, c in comments.items() if c and r in results},
                    )
                )
            staging.store_runs(name, records)


def _lineage(sources: Sequence[Trajectory], plan: Plan) -> dict[str, Any]:
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
