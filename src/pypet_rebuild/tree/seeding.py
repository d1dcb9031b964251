r"""Per-run seeds: reproducible from the trajectory seed and the run's point hash.

A run's seed is the first 8 bytes (big-endian, unsigned) of SHA-256 over
``b"pypet_rebuild.seed.v1\\0"``, the trajectory seed in decimal, a NUL byte and the point hash.
It depends on *what* is run (the point), not on *when* or *where* (run index, worker), so a
resumed, re-ordered or parallel sweep draws the same random numbers as a serial one. Identical
points get identical streams: add a ``trial`` parameter to repeat a point with fresh randomness.
"""

from __future__ import annotations

import hashlib

import numpy as np

__all__ = ["run_rng", "run_seed"]

_PREFIX = b"pypet_rebuild.seed.v1\0"


def run_seed(trajectory_seed: int, point_hash: str) -> int:
    """The seed of the run at ``point_hash`` in a trajectory seeded with ``trajectory_seed``."""
    digest = hashlib.sha256(
        _PREFIX + str(trajectory_seed).encode() + b"\0" + point_hash.encode()
    ).digest()
    return int.from_bytes(digest[:8], "big")


def run_rng(seed: int) -> np.random.Generator:
    """The run's random generator (PCG64 seeded through a ``SeedSequence``)."""
    return np.random.default_rng(seed)
