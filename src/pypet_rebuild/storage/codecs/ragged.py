"""Variable-length strings and bytes as flat ``uint8`` data plus ``int64`` lengths.

Element ``i`` is ``data[start_i : start_i + lengths[i]]`` with ``start_i`` the sum of the
non-negative lengths before it; a length of ``-1`` marks a missing element (``None``). The lengths
array has one entry per element, so it shares the row axis of the value and concatenates across
runs as it is; so does the data.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

from pypet_rebuild.storage.codecs.base import Array

__all__ = ["pack_bytes", "pack_texts", "unpack_bytes", "unpack_texts"]

_MISSING = -1


def pack_bytes(items: Iterable[bytes | None]) -> tuple[Array, Array]:
    """Pack byte strings (or ``None``) into ``(data, lengths)``."""
    chunks = list(items)
    lengths = np.fromiter(
        (_MISSING if chunk is None else len(chunk) for chunk in chunks),
        dtype=np.int64,
        count=len(chunks),
    )
    data = np.frombuffer(b"".join(chunk for chunk in chunks if chunk is not None), np.uint8)
    return data, lengths


def pack_texts(items: Iterable[str | None]) -> tuple[Array, Array]:
    """Pack strings (or ``None``) as UTF-8 into ``(data, lengths)``; lone surrogates survive."""
    return pack_bytes(None if s is None else s.encode("utf-8", "surrogatepass") for s in items)


def unpack_bytes(data: Array, lengths: Array) -> list[bytes | None]:
    """Inverse of :func:`pack_bytes` for a flat ``lengths`` array."""
    flat = np.asarray(lengths, dtype=np.int64).reshape(-1)
    ends = np.cumsum(np.maximum(flat, 0))
    starts = ends - np.maximum(flat, 0)
    buffer = np.ascontiguousarray(data, dtype=np.uint8).tobytes()
    return [
        None if size < 0 else buffer[start:end]
        for start, end, size in zip(starts.tolist(), ends.tolist(), flat.tolist(), strict=True)
    ]


def unpack_texts(data: Array, lengths: Array) -> list[str | None]:
    """Inverse of :func:`pack_texts` for a flat ``lengths`` array."""
    return [
        None if chunk is None else chunk.decode("utf-8", "surrogatepass")
        for chunk in unpack_bytes(data, lengths)
    ]


def all_of(items: Sequence[object], kind: type, *, allow_none: bool) -> bool:
    """Tell whether every item has exactly type ``kind`` (or is ``None`` if allowed)."""
    return all(type(item) is kind or (allow_none and item is None) for item in items)
