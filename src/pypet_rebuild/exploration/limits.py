"""How many points a space may have before it is built.

A space holds one Python object per point and explored parameter (plus a point hash per point),
so a careless ``cartesian_product`` of a few long axes (1000 x 1000 x 1000) would otherwise be
built in full until the machine runs out of memory. The size is known from the axis lengths
before anything is built; above the limit the builder refuses with
:class:`~pypet_rebuild.errors.SpaceTooLargeError`.
"""

from __future__ import annotations

import operator
from collections.abc import Sequence

from pypet_rebuild.errors import ExplorationError, SpaceTooLargeError

__all__ = ["MAX_POINTS", "check_size"]

MAX_POINTS = 50_000_000
"""The default limit on the points of one space (pass ``max_points=`` to a builder to change it).

Fifty million points of two float parameters take about 6 GB in a space (Python floats in tuples
plus the point hashes): more than that is almost always a mistake in the axis lengths.
"""


def check_size(
    builder: str,
    axes: Sequence[tuple[str, int]],
    total: int,
    max_points: int | None,
    *,
    advice: str = "explore fewer values, or sample the space instead (random_sample, sobol)",
) -> None:
    """Refuse a space of ``total`` points if it is over ``max_points`` (default `MAX_POINTS`).

    Parameters
    ----------
    builder
        The function building the space, for the message.
    axes
        ``(description, length)`` of every axis, for the message.
    total
        The number of points the space would have.
    max_points
        The limit; ``None`` for `MAX_POINTS`.
    advice
        What to do instead, for the message.

    Raises
    ------
    SpaceTooLargeError
        If ``total`` is over the limit.
    ExplorationError
        If ``max_points`` is not a positive integer.
    """
    limit = MAX_POINTS if max_points is None else _checked_limit(max_points)
    if total <= limit:
        return
    shown = " x ".join(f"{name} ({length:,})" for name, length in axes)
    raise SpaceTooLargeError(
        f"{builder} would build {total:,} points ({shown}), over the limit of {limit:,} "
        f"points (max_points); {advice}, or pass max_points={total} if this many points are "
        "really meant and fit in memory (about 100 bytes per point and parameter)",
        size=total,
        limit=limit,
    )


def _checked_limit(max_points: object) -> int:
    if isinstance(max_points, bool):
        raise ExplorationError(f"max_points must be a positive integer, got {max_points!r}")
    try:
        limit = operator.index(max_points)  # type: ignore[arg-type]
    except TypeError:
        raise ExplorationError(
            f"max_points must be a positive integer, got {max_points!r}"
        ) from None
    if limit < 1:
        raise ExplorationError(f"max_points must be a positive integer, got {max_points!r}")
    return limit
