"""Rules for the names of trajectories, groups, parameters and results.

A path is a dot-separated sequence of segments (``"sim.steps"``). Every segment must be a Python
identifier (so attribute access works), must not be a keyword and must not start with an
underscore (reserved for internals). Nothing else is refused: ``seed``, ``name``, ``index`` or
``results`` are fine names. Item access (``traj["seed"]``, ``run["seed"]``) always reaches the
node; attribute access is a shortcut where the name is not an attribute of the API object, as in
pandas and xarray (``traj.seed`` is the trajectory's seed).
"""

from __future__ import annotations

import keyword
from functools import lru_cache

from pypet_rebuild.errors import InvalidCommentError, InvalidNameError

__all__ = ["check_comment", "check_path", "check_segment", "leaf_name", "parent_path"]


@lru_cache(maxsize=4096)
def check_segment(segment: str, *, what: str = "name") -> str:
    """Validate one segment of a path and return it.

    Parameters
    ----------
    segment
        The name to check, without dots.
    what
        What the name is for, used in the error message (``"parameter name"``...).

    Raises
    ------
    InvalidNameError
        If the name is empty, not an identifier, a keyword, or starts with an underscore.
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
    return segment


@lru_cache(maxsize=4096)
def check_path(path: str, *, what: str = "name", dotted: bool = True) -> str:
    """Validate a dotted path and return it.

    Parameters
    ----------
    path
        ``"a.b.c"``; each segment is checked with :func:`check_segment`.
    what
        What the path names, for error messages.
    dotted
        Whether dots (groups) are allowed at all.

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
            check_segment(segment, what=what)
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


def check_comment(comment: object, where: str) -> str:
    r"""Return ``comment`` if it can be stored as it is; ``where`` names its owner in messages.

    HDF5 stores comments as attributes, and an attribute string ends at its first NUL
    character: a comment holding one is refused up front instead of failing (or being cut) when
    the trajectory is written.

    Raises
    ------
    InvalidCommentError
        If ``comment`` is not a ``str`` or holds ``"\x00"``.
    """
    if not isinstance(comment, str):
        raise InvalidCommentError(
            f"the comment of {where} must be a str, got {type(comment).__name__} {comment!r}"
        )
    if "\x00" in comment:
        position = comment.index("\x00")
        raise InvalidCommentError(
            f"the comment of {where} holds a NUL character (at position {position}), which "
            "HDF5 attributes cannot store; remove it (e.g. comment.replace('\\x00', ''))"
        )
    return comment
