"""Two ways of committing a fold besides the journal: a copy for a new file, a batch in memory.

* :func:`copied_h5`: change a *copy* of a small main file this writer created in the same
  session, then rename the copy over it. A brand-new file has nothing a rollback journal would
  protect that a copy does not (its pending run table and definition, a few kilobytes), and the
  copy costs two fsyncs (the copy and its directory) where the journal costs four (the journal
  and its directory, the file, the directory after the journal's deletion). A kill before the
  rename leaves the main file as it was plus a temporary file the next writer removes (it has the
  name of a temporary main file, ``.<name>.<pid>.tmp``); a kill after it leaves the committed
  file. Readers never see the copy half written: it has another name until it is complete and
  durable.
* :func:`batch_in_memory`: the last batch of a sweep, written exactly as a segment file would
  hold it but into an HDF5 file in memory, so the final fold takes it in with the segments on
  disk instead of writing it to a segment file first (no file, no fsync, nothing to delete).
  Only for a batch with a ``frame`` column: the fold takes any other batch straight from its
  columns (:class:`~.batch.RunBatch`).
"""

from __future__ import annotations

import contextlib
import itertools
import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import h5py

from pypet_rebuild.storage.hdf5.files import FORMAT_ATTR, FORMAT_VERSION, renamed_into_place

__all__ = ["COPY_COMMIT_BYTES", "batch_in_memory", "copied_h5"]

COPY_COMMIT_BYTES = 1 << 20
"""The largest main file committed by a copy (:func:`copied_h5`) rather than the journal.

Copying a file of this size and syncing it costs about what the two extra fsyncs of the
journal cost; a larger file is changed in place, so a change still costs what it adds.
"""

_names = itertools.count()


@contextlib.contextmanager
def copied_h5(real: Path) -> Iterator[h5py.File]:
    """Yield a writable copy of the main file ``real``; it replaces ``real`` when the block ends.

    ``real`` is the main file's real path (symlinks resolved), held under the writer lock.

    Raises
    ------
    StorageError
        If copying, writing or syncing fails (disk full, file size limit, I/O error), naming the
        first failure: the copy is removed and ``real`` is left as it was.
    """
    temporary = real.with_name(f".{real.name}.{os.getpid()}.tmp")  # a temporary main file's name

    def copy() -> h5py.File:
        shutil.copyfile(real, temporary)
        return h5py.File(temporary, "r+")

    with renamed_into_place(real, temporary, copy) as file:
        yield file


@contextlib.contextmanager
def batch_in_memory(trajectory: str, write: Callable[[h5py.Group], None]) -> Iterator[h5py.Group]:
    """Yield the group ``trajectory`` of an in-memory segment that ``write`` filled.

    The file lives in memory only (HDF5's ``core`` driver without a backing store) and is gone
    when the block ends.
    """
    name = f"pypet_rebuild-batch-{os.getpid()}-{next(_names)}.h5"
    file = h5py.File(name, "w", driver="core", backing_store=False)
    try:
        file.attrs[FORMAT_ATTR] = FORMAT_VERSION
        group = file.create_group(trajectory)
        write(group)
        yield group
    finally:
        file.close()
