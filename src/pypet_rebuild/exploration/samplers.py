"""Sample parameter spaces from ranges: uniform random, Latin hypercube and Sobol.

Every sampler draws points in the unit hypercube and maps each coordinate through a `Range`
(linear or logarithmic, continuous or integer). The same seed gives the same points. Latin
hypercube and Sobol need scipy (the ``scipy`` extra), imported only when called; without it
they raise :class:`~pypet_rebuild.errors.MissingDependencyError`.
"""

from __future__ import annotations

import inspect
import math
import operator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeAlias

import numpy as np
import numpy.typing as npt

from pypet_rebuild._optional import import_optional
from pypet_rebuild.errors import EmptyExplorationError, ExplorationError

from .axis import check_name
from .limits import check_size
from .space import ParameterSpace

if TYPE_CHECKING:
    from collections.abc import Mapping
    from types import ModuleType

__all__ = ["Range", "RangeSpec", "latin_hypercube", "random_sample", "sobol"]


@dataclass(frozen=True)
class Range:
    """The interval one sampled parameter is drawn from.

    Parameters
    ----------
    low
        Lower bound (included).
    high
        Upper bound: excluded for continuous ranges, included for integer ranges.
    log
        Draw uniformly in ``log(value)`` instead of ``value``; needs ``low > 0``.
    integer
        Draw integers in ``[low, high]`` (both ends included); the bounds must be whole numbers
        and are stored as ``int``.

    Raises
    ------
    ExplorationError
        If a bound is not a finite number, ``low >= high`` (``low > high`` for integers),
        ``log`` with ``low <= 0``, or an integer range has fractional bounds.

    Examples
    --------
    >>> Range(1e-3, 1.0, log=True)
    Range(low=0.001, high=1.0, log=True, integer=False)
    """

    low: float
    high: float
    log: bool = False
    integer: bool = False

    def __post_init__(self) -> None:
        for label, bound in (("low", self.low), ("high", self.high)):
            if not _is_real(bound) or not math.isfinite(float(bound)):
                raise ExplorationError(f"Range {label}={bound!r} must be a finite real number")
        low, high = float(self.low), float(self.high)
        if self.integer:
            if not (low.is_integer() and high.is_integer()):
                raise ExplorationError(
                    f"an integer Range needs whole-number bounds, got low={self.low!r}, "
                    f"high={self.high!r}"
                )
            if low > high:
                raise ExplorationError(f"Range low={self.low!r} must not exceed high={self.high!r}")
            object.__setattr__(self, "low", int(low))
            object.__setattr__(self, "high", int(high))
        else:
            if low >= high:
                raise ExplorationError(f"Range low={self.low!r} must be below high={self.high!r}")
            object.__setattr__(self, "low", low)
            object.__setattr__(self, "high", high)
        if self.log and low <= 0:
            raise ExplorationError(
                f"a log Range needs low > 0, got low={self.low!r}; shift the range or use log=False"
            )

    def scale(self, unit: npt.NDArray[np.float64]) -> list[Any]:
        """Map values of the unit interval ``[0, 1)`` into this range.

        Parameters
        ----------
        unit
            1-d array of numbers in ``[0, 1)``.

        Returns
        -------
        list
            Python ``float`` values in ``[low, high)``, or ``int`` values in ``[low, high]``
            for integer ranges.
        """
        low, high = float(self.low), float(self.high)
        top = high + 1.0 if self.integer else high
        if self.log:
            scaled = np.exp(np.log(low) + unit * (np.log(top) - np.log(low)))
        else:
            scaled = low + unit * (top - low)
        if self.integer:
            return np.clip(np.floor(scaled), low, high).astype(np.int64).tolist()  # type: ignore[no-any-return]
        # Rounding can land exactly on ``high``; the range is half-open.
        return np.clip(scaled, low, np.nextafter(high, low)).tolist()  # type: ignore[no-any-return]


RangeSpec: TypeAlias = Range | tuple[float, float]
"""A `Range`, or ``(low, high)``: two ints for an integer range, else a continuous one."""


def random_sample(
    ranges: Mapping[str, RangeSpec], n: int, *, seed: int | None, max_points: int | None = None
) -> ParameterSpace:
    """Draw ``n`` independent uniform points (numpy's default generator).

    Parameters
    ----------
    ranges
        Parameter path -> `Range` or ``(low, high)``; ``(int, int)`` means integers in
        ``[low, high]``, floats mean the continuous interval ``[low, high)``.
    n
        Number of points.
    seed
        Seed of ``numpy.random.default_rng``; ``None`` draws a fresh one (not reproducible).
    max_points
        Refuse an ``n`` above this (default :data:`~pypet_rebuild.exploration.MAX_POINTS`).

    Returns
    -------
    ParameterSpace
        ``kind="sampled"``, values as Python ``float`` / ``int``.

    Raises
    ------
    EmptyExplorationError
        If ``n < 1`` or ``ranges`` is empty.
    SpaceTooLargeError
        If ``n`` is over ``max_points``.
    ExplorationError
        If a range is malformed; the message names the parameter.
    """
    checked, count = _prepare(ranges, n, max_points)
    unit = np.random.default_rng(seed).random((count, len(checked)))
    return _space(checked, unit)


def latin_hypercube(
    ranges: Mapping[str, RangeSpec], n: int, *, seed: int | None, max_points: int | None = None
) -> ParameterSpace:
    """Draw ``n`` points by Latin hypercube sampling (``scipy.stats.qmc.LatinHypercube``).

    Each parameter's range is cut into ``n`` equal strata (in log space for log ranges) and
    every stratum holds exactly one point.

    Parameters
    ----------
    ranges
        Parameter path -> `Range` or ``(low, high)``, as for `random_sample`.
    n
        Number of points.
    seed
        Seed of the sampler; ``None`` is not reproducible.
    max_points
        Refuse an ``n`` above this (default :data:`~pypet_rebuild.exploration.MAX_POINTS`).

    Returns
    -------
    ParameterSpace
        ``kind="sampled"``, values as Python ``float`` / ``int``.

    Raises
    ------
    MissingDependencyError
        If scipy is not installed.
    EmptyExplorationError
        If ``n < 1`` or ``ranges`` is empty.
    SpaceTooLargeError
        If ``n`` is over ``max_points``.
    ExplorationError
        If a range is malformed.
    """
    checked, count = _prepare(ranges, n, max_points)
    qmc = _import_qmc("latin_hypercube")
    sampler = qmc.LatinHypercube(d=len(checked), **_rng_argument(qmc.LatinHypercube, seed))
    return _space(checked, np.asarray(sampler.random(count), dtype=np.float64))


def sobol(
    ranges: Mapping[str, RangeSpec],
    n: int,
    *,
    seed: int | None,
    scramble: bool = True,
    max_points: int | None = None,
) -> ParameterSpace:
    """Draw the first ``n`` points of a Sobol sequence (``scipy.stats.qmc.Sobol``).

    Parameters
    ----------
    ranges
        Parameter path -> `Range` or ``(low, high)``, as for `random_sample`.
    n
        Number of points; must be a power of two to keep the sequence's balance.
    seed
        Seed of the scrambling; ``None`` is not reproducible.
    max_points
        Refuse an ``n`` above this (default :data:`~pypet_rebuild.exploration.MAX_POINTS`).
    scramble
        Scramble the sequence (recommended); unscrambled, the first point is the low corner.

    Returns
    -------
    ParameterSpace
        ``kind="sampled"``, values as Python ``float`` / ``int``.

    Raises
    ------
    MissingDependencyError
        If scipy is not installed.
    EmptyExplorationError
        If ``n < 1`` or ``ranges`` is empty.
    SpaceTooLargeError
        If ``n`` is over ``max_points``.
    ExplorationError
        If ``n`` is not a power of two (the message suggests the nearest ones) or a range is
        malformed.
    """
    checked, count = _prepare(ranges, n, max_points)
    if count & (count - 1):
        lower = 1 << (count.bit_length() - 1)
        raise ExplorationError(
            f"sobol needs n to be a power of two to keep the sequence balanced; got n={count}, "
            f"use n={lower} or n={lower * 2}"
        )
    qmc = _import_qmc("sobol")
    sampler = qmc.Sobol(d=len(checked), scramble=scramble, **_rng_argument(qmc.Sobol, seed))
    unit = np.asarray(sampler.random_base2(count.bit_length() - 1), dtype=np.float64)
    return _space(checked, unit)


def _is_real(value: object) -> bool:
    return isinstance(value, int | float | np.integer | np.floating) and not isinstance(
        value, bool | np.bool_
    )


def _as_range(name: str, spec: object) -> Range:
    if isinstance(spec, Range):
        return spec
    if not (isinstance(spec, tuple | list) and len(spec) == 2):
        raise ExplorationError(
            f"the range for {name!r} must be a Range or a (low, high) pair, got {spec!r}"
        )
    low, high = spec
    integer = all(
        isinstance(b, int | np.integer) and not isinstance(b, bool | np.bool_) for b in spec
    )
    try:
        return Range(low, high, integer=integer)
    except ExplorationError as error:
        raise ExplorationError(f"the range for {name!r} is invalid: {error}") from error


def _prepare(
    ranges: Mapping[str, RangeSpec], n: int, max_points: int | None
) -> tuple[dict[str, Range], int]:
    if isinstance(n, bool) or not isinstance(n, int | np.integer):
        raise ExplorationError(f"the number of points n must be an int, got {n!r}")
    count = operator.index(n)
    if count < 1:
        raise EmptyExplorationError(f"the number of points n must be at least 1, got {count}")
    if not ranges:
        raise EmptyExplorationError("sampling needs at least one parameter range, got none")
    names = ", ".join(repr(name) for name in ranges)
    check_size(
        f"sampling {names}",
        [("n", count)],
        count,
        max_points,
        advice="ask for fewer points",
    )
    return {check_name(name): _as_range(name, spec) for name, spec in ranges.items()}, count


def _space(ranges: dict[str, Range], unit: npt.NDArray[np.float64]) -> ParameterSpace:
    columns = {name: tuple(rng.scale(unit[:, j])) for j, (name, rng) in enumerate(ranges.items())}
    return ParameterSpace._trusted(columns, kind="sampled")


def _import_qmc(function: str) -> ModuleType:
    stats = import_optional("scipy.stats", feature=f"pr.{function}", extra="scipy")
    qmc: ModuleType = stats.qmc
    return qmc


def _rng_argument(sampler: type, seed: int | None) -> dict[str, np.random.Generator]:
    # scipy >= 1.15 takes ``rng`` and deprecates ``seed``; both accept a Generator.
    generator = np.random.default_rng(seed)
    name = "rng" if "rng" in inspect.signature(sampler).parameters else "seed"
    return {name: generator}
