"""Storage options of the HDF5 backend: a small frozen config object with good defaults."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from pypet_rebuild.errors import InvalidStorageError

__all__ = ["StorageOptions"]

Compression = Literal["gzip", "lzf"] | None


@dataclass(frozen=True)
class StorageOptions:
    """How result datasets are laid out in the compacted HDF5 file.

    The defaults favour speed and exact size: uncompressed, contiguous datasets (the file is
    within a few percent of the raw payload, and a sliced read touches only the bytes it needs).
    Turn compression on for compressible results (smooth traces, many zeros); ``docs/storage.md``
    has a measured table.

    Parameters
    ----------
    compression
        ``None`` (default), ``"gzip"`` (portable, slower) or ``"lzf"`` (fast, h5py only).
    compression_level
        The gzip level, 1-9.
    shuffle
        Apply the byte-shuffle filter before compressing (helps numeric data).
    chunk_bytes
        Target size of one chunk when datasets are chunked (with compression): about 1 MiB
        keeps one run's read cheap and the chunk index small.

    Examples
    --------
    >>> import pypet_rebuild as pr
    >>> options = pr.StorageOptions(compression="gzip", compression_level=4, shuffle=True)
    >>> service = pr.HDF5StorageService("sweep.h5", options=options)  # doctest: +SKIP
    """

    compression: Compression = None
    compression_level: int = 4
    shuffle: bool = False
    chunk_bytes: int = 1 << 20

    def __post_init__(self) -> None:
        if self.compression not in (None, "gzip", "lzf"):
            raise InvalidStorageError(
                f"StorageOptions(compression={self.compression!r}) is not supported: use None, "
                "'gzip' (portable) or 'lzf' (fast, h5py only); other filters are not readable "
                "everywhere"
            )
        level: object = self.compression_level
        if isinstance(level, bool) or not isinstance(level, int) or not 1 <= level <= 9:
            raise InvalidStorageError(
                f"StorageOptions(compression_level={level!r}) must be an integer in 1..9"
            )
        size: object = self.chunk_bytes
        if isinstance(size, bool) or not isinstance(size, int) or size < 1024:
            raise InvalidStorageError(
                f"StorageOptions(chunk_bytes={size!r}) must be an integer of at least 1024"
            )
        shuffle: object = self.shuffle
        if not isinstance(shuffle, bool):
            raise InvalidStorageError(
                f"StorageOptions(shuffle={self.shuffle!r}) must be True or False"
            )

    def dataset_kwargs(self, shape: tuple[int, ...], itemsize: int) -> dict[str, Any]:
        """Keyword arguments for ``h5py.Group.create_dataset`` of a dataset of this shape."""
        if self.compression is None or 0 in shape or not shape:
            return {}
        row_bytes = max(1, itemsize)
        for extent in shape[1:]:
            row_bytes *= extent
        rows = max(1, min(shape[0], self.chunk_bytes // row_bytes))
        kwargs: dict[str, Any] = {
            "chunks": (rows, *shape[1:]),
            "compression": self.compression,
            "shuffle": self.shuffle,
        }
        if self.compression == "gzip":
            kwargs["compression_opts"] = self.compression_level
        return kwargs
