"""Backend-neutral rules for resuming a stored sweep."""

from __future__ import annotations

from collections.abc import Collection

from pypet_rebuild.errors import ResumeMismatchError
from pypet_rebuild.exploration import ParameterSpace, PointHashes, point_hash, same_value
from pypet_rebuild.tree.snapshot import TrajectorySnapshot

__all__ = ["check_resumable", "snapshot_hashes"]


def snapshot_hashes(snapshot: TrajectorySnapshot) -> PointHashes:
    """The point hash of every run a snapshot defines."""
    if snapshot.hashes is not None:
        return snapshot.hashes
    if not snapshot.explored:
        return PointHashes.from_hex([point_hash({})])
    return ParameterSpace(
        snapshot.explored, grid=snapshot.grid, kind=snapshot.kind or None, shape=snapshot.shape
    ).hashes()


def check_resumable(
    stored: TrajectorySnapshot,
    new: TrajectorySnapshot,
    *,
    stored_explored: Collection[str] | None = None,
    stored_hashes: PointHashes | None = None,
) -> None:
    """Refuse to resume when the new sweep is not the stored one (possibly expanded).

    The parameters (paths, types, defaults) must be identical and the stored points must be the
    first points of the new exploration, in the same order.

    ``stored`` may be the definition without explored values when ``stored_explored`` (the
    explored paths) and ``stored_hashes`` (the stored point hashes; ``None`` when nothing is
    explored) are given: the points are compared by their hashes, so no stored value needs to be
    read back.

    Raises
    ------
    ResumeMismatchError
        Naming what differs.
    """
    name = stored.name
    stored_paths = [spec.path for spec in stored.parameters]
    new_paths = [spec.path for spec in new.parameters]
    if set(stored_paths) != set(new_paths):
        raise ResumeMismatchError(
            f"cannot resume {name!r}: the stored sweep has parameters {sorted(stored_paths)} "
            f"but this one has {sorted(new_paths)}; use a new trajectory name for a new study"
        )
    stored_specs = {spec.path: spec for spec in stored.parameters}
    changed = [
        spec.path
        for spec in new.parameters
        if (spec.type_name, spec.dtype)
        != (stored_specs[spec.path].type_name, stored_specs[spec.path].dtype)
        or not same_value(spec.default, stored_specs[spec.path].default)
    ]
    if changed:
        raise ResumeMismatchError(
            f"cannot resume {name!r}: the default or type of {changed} "
            "differs from the stored sweep; restore the stored values or start a new trajectory"
        )
    explored = set(stored.explored if stored_explored is None else stored_explored)
    if explored != set(new.explored):
        raise ResumeMismatchError(
            f"cannot resume {name!r}: the stored sweep explores {sorted(explored)} but "
            f"this one explores {sorted(new.explored)}"
        )
    if stored_explored is None:
        stored_hashes = snapshot_hashes(stored)
    elif stored_hashes is None:
        stored_hashes = PointHashes.from_hex([point_hash({})])
    new_hashes = snapshot_hashes(new)
    if len(new_hashes) < len(stored_hashes):
        raise ResumeMismatchError(
            f"cannot resume {name!r}: the stored sweep has {len(stored_hashes)} runs but this one "
            f"only {len(new_hashes)}; resuming never drops stored runs"
        )
    position = stored_hashes.first_difference(new_hashes)
    if position is not None:
        raise ResumeMismatchError(
            f"cannot resume {name!r}: run {position} explores a different point than the "
            "stored sweep; the explored values (and their order) must match, and new points "
            "can only be appended with traj.expand(...)"
        )
