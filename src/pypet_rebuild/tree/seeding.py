"""Per-run seeds: reproducible from the trajectory seed and the run's point hash.

Version 1 of the derivation: with ``mix`` the SplitMix64 finaliser (64-bit arithmetic),

    seed = int(point_hash[:16], 16) XOR mix(trajectory_seed mod 2**64)

The point hash is already a SHA-256 digest of the point, so its first 64 bits are uniform; the
mixed trajectory seed (computed once per sweep) keeps the seeds of neighbouring trajectory seeds
unrelated, and ``numpy.random.default_rng`` hashes the seed once more through a
``SeedSequence``. Per run this is one hex parse and one XOR.

A seed depends on *what* is run (the point), not on *when* or *where* (run index, worker), so a
resumed, re-ordered or parallel sweep draws the same random numbers as a serial one. Identical
points get identical streams: add a ``trial`` parameter to repeat a point with fresh randomness.
"""

from __future__ import annotations

import operator
from typing import Any

import numpy as np
import numpy.typing as npt

from pypet_rebuild.errors import InvalidSeedError

__all__ = ["check_seed", "run_rng", "run_seed", "run_seeds", "seed_mixer"]

_MASK = (1 << 64) - 1


def _mix(value: int) -> int:
    """The SplitMix64 finaliser: a bijection of 64-bit integers with good avalanche."""
    value = (value + 0x9E3779B97F4A7C15) & _MASK
    value = ((value ^ (value >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    value = ((value ^ (value >> 27)) * 0x94D049BB133111EB) & _MASK
    return value ^ (value >> 31)


def check_seed(seed: object, trajectory: str) -> int:
    """The seed as an ``int``, if it is an integer in ``0 <= seed < 2**64``.

    Only the low 64 bits enter the run seeds, so a larger or negative seed would silently give
    the same random numbers as another one (``-1`` as ``2**64 - 1``); a float or a string is
    most likely a mistake (``seed=1.5``, a seed read from a text file).

    Raises
    ------
    InvalidSeedError
        If ``seed`` is not an integer (``bool`` included) or out of range.
    """
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer):
        hint = f"; convert it with int({seed!r})" if isinstance(seed, str) else ""
        raise InvalidSeedError(
            f"the seed of trajectory {trajectory!r} must be an integer in 0 <= seed < 2**64, "
            f"got {type(seed).__name__} {seed!r}{hint}"
        )
    value = operator.index(seed)
    if not 0 <= value <= _MASK:
        raise InvalidSeedError(
            f"the seed of trajectory {trajectory!r} must be in 0 <= seed < 2**64, got {value}; "
            "only 64 bits enter the run seeds, so larger and negative seeds would alias others"
        )
    return value


def seed_mixer(trajectory_seed: int) -> int:
    """The trajectory seed's contribution to every run seed (compute once per sweep)."""
    return _mix(trajectory_seed & _MASK)


def run_seed(trajectory_seed: int, point_hash: str, mixer: int | None = None) -> int:
    """The seed of the run at ``point_hash`` in a trajectory seeded with ``trajectory_seed``.

    Parameters
    ----------
    trajectory_seed
        The trajectory's seed.
    point_hash
        The run's point hash (hex).
    mixer
        ``seed_mixer(trajectory_seed)``, when the caller has it already.
    """
    if mixer is None:
        mixer = seed_mixer(trajectory_seed)
    return int(point_hash[:16], 16) ^ mixer


def run_seeds(trajectory_seed: int, digests: npt.NDArray[Any]) -> npt.NDArray[np.uint64]:
    """:func:`run_seed` of many runs at once, from their raw point-hash digests.

    Parameters
    ----------
    trajectory_seed
        The trajectory's seed.
    digests
        The 16-byte digests of the point hashes (dtype ``V16`` or ``S16``, shape ``(n,)``).

    Returns
    -------
    numpy.ndarray
        The ``uint64`` seeds, in the order of ``digests``.
    """
    n = len(digests)
    raw = np.ascontiguousarray(digests).view(np.uint8).reshape(n, 16)
    high = raw[:, :8].copy().view(">u8").reshape(n).astype(np.uint64)
    return high ^ np.uint64(seed_mixer(trajectory_seed))


def run_rng(seed: int) -> np.random.Generator:
    """The run's random generator (PCG64 seeded through a ``SeedSequence``)."""
    return np.random.default_rng(seed)
