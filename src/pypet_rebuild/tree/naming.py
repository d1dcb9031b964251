"""Rules for the names of trajectories, groups, parameters and results.

A path is a dot-separated sequence of segments (``"sim.steps"``). Every segment must be a Python
identifier (so attribute access works), must not be a keyword, must not start with an underscore
(reserved for internals) and must not shadow a public attribute of the API objects users reach
nodes through (``Trajectory``, groups and ``Run``). The reserved set is spelled out here rather
than computed from ``dir()`` so that it is visible and stable; a test checks that it covers every
public attribute of those classes.
"""

from __future__ import annotations

import keyword
from functools import lru_cache

from pypet_rebuild.errors import InvalidNameError, ReservedNameError

__all__ = ["RESERVED_NAMES", "check_path", "check_segment", "leaf_name", "parent_path"]

RESERVED_NAMES: frozenset[str] = frozenset(
    {
        # Trajectory
        "add_derived",
        "add_parameter",
        "comment",
        "derived",
        "describe",
        "expand",
        "explore",
        "explored_names",
        "find_runs",
        "from_snapshot",
        "collect_runs",
        "get_parameter",
        "groups",
        "is_locked",
        "lock",
        "name",
        "nodes",
        "parameters",
        "path",
        "point",
        "point_hashes",
        "results",
        "run",
        "run_parameters",
        "runs",
        "seed",
        "snapshot",
        "space",
        "storage",
        "to_pandas",
        "to_xarray",
        "unique_points",
        "annotations",
        # Group
        "children",
        # Run
        "add_result",
        "index",
        "params",
        "point_hash",
        "rng",
        "trajectory",
    }
)


@lru_cache(maxsize=4096)
def check_segment(segment: str, *, what: str = "name", reserved: bool = True) -> str:
    """Validate one segment of a path and return it.

    Parameters
    ----------
    segment
        The name to check, without dots.
    what
        What the name is for, used in the error message (``"parameter name"``...).
    reserved
        Whether to refuse the names in :data:`RESERVED_NAMES` (only names reached by attribute
        access on API objects need to be refused).

    Raises
    ------
    InvalidNameError
        If the name is empty, not an identifier, a keyword, or starts with an underscore.
    ReservedNameError
        If the name would shadow part of the API.
    """
    if not segment:
        raise InvalidNameError(f"empty {what}: every part of a dotted path needs a name")
    if not segment.isidentifier():
        hint = " (it starts with a digit)" if segment[0].isdigit() else ""
        raise InvalidNameError(
            f"invalid {what} {segment!r}{hint}: use letters, digits and underscores, "
            "starting with a letter, e.g. 'n_steps'"
        )
    if keyword.iskeyword(segment):
        raise InvalidNameError(
            f"invalid {what} {segment!r}: it is a Python keyword; try {segment + '_'!r}"
        )
    if segment.startswith("_"):
        raise InvalidNameError(
            f"invalid {what} {segment!r}: names starting with '_' are reserved for internals"
        )
    if reserved and segment in RESERVED_NAMES:
        raise ReservedNameError(
            f"the {what} {segment!r} would shadow the API attribute of the same name; "
            f"choose another name, e.g. {segment + '_value'!r}"
        )
    return segment


@lru_cache(maxsize=4096)
def check_path(path: str, *, what: str = "name", dotted: bool = True, reserved: bool = True) -> str:
    """Validate a dotted path and return it.

    Parameters
    ----------
    path
        ``"a.b.c"``; each segment is checked with :func:`check_segment`.
    what
        What the path names, for error messages.
    dotted
        Whether dots (groups) are allowed at all.
    reserved
        Whether to refuse names that shadow the API (see :func:`check_segment`).

    Raises
    ------
    InvalidNameError
        If the path is not a string, is empty, or a segment is invalid.
    """
    if not isinstance(path, str):
        raise InvalidNameError(f"a {what} must be a string, got {type(path).__name__}: {path!r}")
    if not path:
        raise InvalidNameError(f"empty {what}")
    if not dotted and "." in path:
        raise InvalidNameError(
            f"invalid {what} {path!r}: dots are not allowed here; use underscores instead"
        )
    for segment in path.split("."):
        try:
            check_segment(segment, what=what, reserved=reserved)
        except InvalidNameError as exc:
            if segment == path:
                raise
            raise type(exc)(f"in {what} {path!r}: {exc}") from None
    return path


def leaf_name(path: str) -> str:
    """Return the last segment of a dotted path."""
    return path.rpartition(".")[2]


def parent_path(path: str) -> str:
    """Return the path of the parent group (``""`` for the root)."""
    return path.rpartition(".")[0]
