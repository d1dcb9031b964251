"""A batch of finished runs on its way to the file: written as a segment, or folded from memory.

A sweep's batches go to segment files, except the last one, which the final commit folds into
the main file from memory. :class:`RunBatch` holds such a batch as the columns a segment would
store (its run table as :class:`~.skeleton.RunColumns`, one :class:`BatchColumn` per result) and
can write them as a segment's trajectory group (:meth:`RunBatch.write`). The fold
(:func:`~.appending.append_trajectory`) takes the columns from it directly: no HDF5 file in
memory written only to be read back, no checks of what this process has just built. A batch
with a frame column (a table of rows per run) still goes through a segment in memory
(:meth:`RunBatch.direct` is false): only the fixed and packed layouts are read from memory.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import h5py
import numpy as np
import numpy.typing as npt

from pypet_rebuild.storage.hdf5.columns import (
    NO_PAYLOAD,
    FixedSignature,
    fixed_data,
    fixed_payload,
    packed_payloads,
    write_column,
)
from pypet_rebuild.storage.hdf5.framed import FrameSignature
from pypet_rebuild.storage.hdf5.options import StorageOptions
from pypet_rebuild.storage.hdf5.packed import Payload
from pypet_rebuild.storage.hdf5.skeleton import RunColumns, write_run_columns
from pypet_rebuild.storage.records import MISSING, RunRecord

__all__ = ["BatchColumn", "RunBatch"]


@dataclass(frozen=True)
class BatchColumn:
    """One result's values in a batch, as a segment's column would give them to a fold.

    Parameters
    ----------
    name
        The result name.
    values
        One value per batch row (``MISSING`` where the run has none).
    signature
        The fixed signature of the values, or ``None`` (packed).
    comment
        The result's comment (``""`` when none).
    allow_pickle
        Whether values without a codec may be pickled (checked before the batch was made).
    """

    name: str
    values: Sequence[object]
    signature: FixedSignature | None
    comment: str
    allow_pickle: bool

    @property
    def layout_signature(self) -> FixedSignature | None:
        """The fixed signature (``None``: packed), as a segment's column reports it."""
        return self.signature

    @cached_property
    def present(self) -> npt.NDArray[np.bool_]:
        """Which rows hold a value."""
        return np.array([value is not MISSING for value in self.values], dtype=bool)

    @cached_property
    def _stacked(self) -> npt.NDArray[Any]:
        assert self.signature is not None
        return fixed_data(self.values, self.signature)

    def fixed_rows(self, rows: npt.NDArray[np.int64]) -> npt.NDArray[Any]:
        """The stacked values of ``rows`` of a fixed column (the fill value where absent)."""
        return self._stacked[rows]

    def read_packed(self, rows: npt.NDArray[np.int64]) -> list[Payload]:
        """The header and bytes of each row, as a packed column stores them.

        A fixed column's values are packed as a segment's fixed column would pack them (each
        stacked value boxed back first), so a fold that turns the column packed stores the same
        bytes from memory as from a segment.
        """
        if self.signature is None:
            chosen = [self.values[row] for row in rows.tolist()]
            return packed_payloads(chosen, self.name, self.allow_pickle)
        block = self.fixed_rows(rows)
        present = self.present[rows]
        return [
            fixed_payload(self.signature, block[i]) if present[i] else NO_PAYLOAD
            for i in range(len(rows))
        ]


@dataclass(frozen=True)
class RunBatch:
    """A checked batch of finished runs: its run table and result columns.

    Parameters
    ----------
    runs
        The batch's run table.
    columns
        The result columns by name.
    signatures
        Each column's layout signature (fixed, frame, or ``None``: packed).
    options
        The storage options of the file the batch goes to.
    """

    runs: RunColumns
    columns: Mapping[str, BatchColumn]
    signatures: Mapping[str, FixedSignature | FrameSignature | None]
    options: StorageOptions

    @classmethod
    def from_records(
        cls,
        records: Sequence[RunRecord],
        signatures: Mapping[str, FixedSignature | FrameSignature | None],
        comments: Mapping[str, str],
        options: StorageOptions,
        *,
        allow_pickle: bool,
    ) -> RunBatch:
        """The batch of ``records``; ``signatures`` name every result the records hold."""
        columns = {
            name: BatchColumn(
                name,
                [record.results.get(name, MISSING) for record in records],
                # As a segment's attributes give it back (the fold compares signatures).
                FixedSignature.from_attrs(signature.to_attrs())
                if isinstance(signature, FixedSignature)
                else None,
                comments.get(name, ""),
                allow_pickle,
            )
            for name, signature in signatures.items()
        }
        return cls(RunColumns.from_records(records), columns, signatures, options)

    @property
    def direct(self) -> bool:
        """Whether a fold can take this batch from memory (no frame column)."""
        return not any(isinstance(s, FrameSignature) for s in self.signatures.values())

    def write(self, group: h5py.Group) -> None:
        """Write the batch into a segment's (new, empty) trajectory group ``group``."""
        write_run_columns(group, self.runs)
        results = group.create_group("results")
        for name, column in self.columns.items():
            write_column(
                results,
                name,
                column.values,
                column.comment,
                self.options,
                allow_pickle=column.allow_pickle,
                signature=self.signatures[name],
            )
