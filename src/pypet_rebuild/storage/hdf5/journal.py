"""Changing the main file in place, safely: a rollback journal under HDF5 (as SQLite does it).

HDF5 cannot change a file atomically: a process killed while HDF5 writes its metadata can leave
a file no library opens. Rewriting the whole file to a new name and renaming it over the old one
is safe but costs the whole file for every change. This module makes in-place changes safe at the
price of what they touch:

* The writer opens the main file through :class:`JournaledFile`, a file object h5py's
  ``fileobj`` driver reads and writes through. Bytes written past the file's size at open (new
  objects, new chunks) go straight to the file: nothing refers to them until the change commits.
  Bytes written over the file as it was at open are held back in memory (whole pages) until the
  commit, or until they grow past ``spill_bytes``; a page written back unchanged (HDF5 rewrites
  whole chunks) is neither held nor journaled.
* Before any held-back page reaches the file, its original bytes are appended to the journal
  ``<file>.journal`` (each record with a CRC) and the journal is fsynced. The journal's header
  records the file's size at open.
* The commit writes the held-back pages, fsyncs the file, then deletes the journal: the deletion
  is the commit point.

Whoever finds a journal knows a change did not commit. The next writer (under the writer lock)
rolls it back (:func:`recover`): the original pages go back, the file is cut to its size at open.
A reader does not wait for that: it reads through :class:`JournalView`, which shows the file as it
was at open (the original pages from the journal over the current ones), so a reader never sees a
half-made change, also while the writer is committing.
"""

from __future__ import annotations

import contextlib
import io
import os
import struct
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import h5py

from pypet_rebuild.errors import FileFormatError

__all__ = [
    "FileView",
    "JournalView",
    "JournaledFile",
    "journal_path",
    "open_journaled",
    "recover",
]

PAGE = 4096
_MAGIC = b"PYPET_REBUILD_JOURNAL_1\n"
_HEADER = struct.Struct("<Q")  # the file's size at open
_RECORD = struct.Struct("<QII")  # offset, length, crc32 of the original bytes
_SPILL_BYTES = 4 << 20  # held pages in memory at most (then journaled and written)


_BINARY = getattr(os, "O_BINARY", 0)  # Windows: no newline translation
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)  # POSIX: never write through a planted symlink


def _pread(fd: int, count: int, offset: int) -> bytes:
    """``os.pread`` where there is one (POSIX); a seek and a read elsewhere (Windows)."""
    if hasattr(os, "pread"):
        return os.pread(fd, count, offset)
    os.lseek(fd, offset, os.SEEK_SET)
    return os.read(fd, count)


def _pwrite(fd: int, data: bytes | bytearray | memoryview, offset: int) -> None:
    """Write all of ``data`` at ``offset`` (``os.pwrite`` may write less than asked)."""
    view = memoryview(data).cast("B")
    while len(view):
        if hasattr(os, "pwrite"):
            written = os.pwrite(fd, view, offset)
        else:
            os.lseek(fd, offset, os.SEEK_SET)
            written = os.write(fd, view)
        view, offset = view[written:], offset + written


def journal_path(path: Path) -> Path:
    """The rollback journal of the main file ``path`` (beside it)."""
    return path.with_name(path.name + ".journal")


class _FileObject(io.RawIOBase):
    """The positioning part of the file-object interface h5py's ``fileobj`` driver uses."""

    path: Path
    _size: int
    _position: int

    def __repr__(self) -> str:
        # h5py names a file opened through a file object by its repr (``File.filename``, and so
        # every error message that names the file): the path, as for a file opened by name.
        return str(self.path)

    def readable(self) -> bool:
        """Always readable."""
        return True

    def seekable(self) -> bool:
        """Always seekable."""
        return True

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        """Move to ``offset`` (from the start, the current position or the end)."""
        if whence == os.SEEK_SET:
            self._position = offset
        elif whence == os.SEEK_CUR:
            self._position += offset
        else:
            self._position = self._size + offset
        return self._position

    def tell(self) -> int:
        """The current position."""
        return self._position


class JournaledFile(_FileObject):
    """A read-write file object over ``path`` whose changes commit atomically.

    Hand it to ``h5py.File(journaled, "r+")``; call :meth:`commit` after closing the h5py file,
    or :meth:`rollback` to drop every change. See the module docstring for the protocol.

    Parameters
    ----------
    path
        The existing main file.
    spill_bytes
        How many bytes of changed pages are held in memory before they are journaled and written.
    """

    def __init__(self, path: Path, *, spill_bytes: int = _SPILL_BYTES) -> None:
        super().__init__()
        self.path = path
        self.journal = journal_path(path)
        self._fd = os.open(path, os.O_RDWR | _BINARY)
        try:
            self._original_size = os.fstat(self._fd).st_size
            self._journal_fd = _new_journal(self.journal, self._original_size)
        except BaseException:
            os.close(self._fd)
            raise
        self._size = self._original_size
        self._position = 0
        self._held: dict[int, bytearray] = {}  # page number -> the page as changed
        self._journaled: set[int] = set()  # pages whose original bytes are in the journal
        self._spill_bytes = spill_bytes
        self._discarding = False
        self.failure: OSError | None = None
        """The first write that failed (HDF5 reports it as an error of its own)."""
        self._journal_size = len(_MAGIC) + _HEADER.size
        self._journal_synced = False

    # -- the file-object interface h5py's fileobj driver uses ------------------------------------

    def writable(self) -> bool:
        """Always writable."""
        return True

    def readinto(self, buffer: Any) -> int:
        """Read at the position: the file's bytes with the held-back pages laid over them."""
        view = memoryview(buffer).cast("B")
        start = self._position
        count = _read_at(self._fd, view, start, self._size)
        for page in self._pages_in(start, start + count):
            held = self._held.get(page)
            if held is not None:
                lo = max(start, page * PAGE)
                hi = min(start + count, page * PAGE + len(held))
                view[lo - start : hi - start] = held[lo - page * PAGE : hi - page * PAGE]
        self._position = start + count
        return count

    def write(self, buffer: Any) -> int:
        """Write at the position: past the original size directly, over it held back."""
        if self._discarding:
            return len(memoryview(buffer).cast("B"))
        try:
            return self._write(buffer)
        except OSError as exc:
            # The change can only be rolled back now, which the commit will do (it raises this
            # first failure: a full disk...). Until then HDF5 must not see a failure: it reports
            # some only as "Exception ignored" (a write while closing an object), and a file
            # whose close failed stays half open and can crash the interpreter at exit. So this
            # and every later write is accepted and dropped.
            self.failure = exc
            self._discarding = True
            return len(memoryview(buffer).cast("B"))

    def _write(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        start = self._position
        end = start + len(view)
        split = min(max(start, self._original_size), end)
        if split > start:
            self._write_over_original(start, view[: split - start])
        if end > split:
            _pwrite(self._fd, view[split - start :], split)
        self._size = max(self._size, end)
        self._position = end
        return len(view)

    def truncate(self, size: int | None = None) -> int:
        """Cut (or extend) the file, journaling first any original bytes cut off."""
        size = self._position if size is None else size
        if self._discarding:
            return size
        try:
            return self._truncate(size)
        except OSError as exc:
            self.failure = exc  # as in write: rolled back by the commit
            self._discarding = True
            return size

    def _truncate(self, size: int) -> int:
        if size < self._original_size:
            # Bytes of the original file are about to go: journal them first.
            self._journal_pages(self._pages_in(size, self._original_size))
            # Held pages at or past the cut have their originals journaled now: write out what
            # of them stays (nothing past ``size`` may reappear).
            for page in [p for p in self._held if p in self._journaled]:
                held = self._held.pop(page)
                keep = min(len(held), size - page * PAGE)
                if keep > 0:
                    _pwrite(self._fd, held[:keep], page * PAGE)
        os.ftruncate(self._fd, size)
        self._size = size
        return size

    def flush(self) -> None:
        """Nothing to do: changes reach the file at :meth:`commit` (or when spilled)."""

    def fileno(self) -> int:
        """The main file's descriptor."""
        return self._fd

    # -- commit and rollback --------------------------------------------------------------------

    def commit(self) -> None:
        """Make every change durable, then delete the journal (the commit point).

        Raises
        ------
        OSError
            The first write that failed, if one did (HDF5 may not have said so): nothing is
            committed.
        """
        if self.failure is not None:
            raise self.failure
        self._spill()
        os.fsync(self._fd)
        self._close_fds()
        self.journal.unlink()
        _fsync_directory(self.path.parent)

    def discard(self) -> None:
        """From now on accept writes without making them, so HDF5 can close after a failure.

        (A close flushes; if the flush fails, HDF5 keeps the file half open and flushes again at
        interpreter exit, which can crash the process.)
        """
        self._discarding = True

    def rollback(self) -> None:
        """Undo every change: the file is byte for byte as it was at open."""
        self._discarding = True
        self._held.clear()
        self._close_fds()
        recover(self.path)

    def close(self) -> None:
        """Close the descriptors (an uncommitted change stays recoverable from the journal)."""
        self._close_fds()
        super().close()

    def _close_fds(self) -> None:
        for fd in (self._fd, self._journal_fd):
            if fd >= 0:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self._fd = self._journal_fd = -1

    # -- pages ----------------------------------------------------------------------------------

    @staticmethod
    def _pages_in(start: int, end: int) -> range:
        return range(start // PAGE, (end + PAGE - 1) // PAGE) if end > start else range(0)

    def _write_over_original(self, start: int, data: memoryview) -> None:
        end = start + len(data)
        originals: bytes | None = None  # the old bytes under the write, read once if needed
        offset = (start // PAGE) * PAGE
        for page in self._pages_in(start, end):
            base = page * PAGE
            lo, hi = max(start, base), min(end, base + PAGE)
            if page in self._journaled:  # its original is safe: write through
                _pwrite(self._fd, data[lo - start : hi - start], lo)
                continue
            held = self._held.get(page)
            if held is None:
                if originals is None:
                    originals = _pread(self._fd, min(end, self._original_size) - offset, offset)
                old = originals[lo - offset : hi - offset]
                if data[lo - start : hi - start] == old:
                    # HDF5 writes whole chunks back: most pages of a chunk that gained a few
                    # rows come back unchanged, and an unchanged page needs no journal.
                    continue
                held = bytearray(_pread(self._fd, min(PAGE, self._original_size - base), base))
                self._held[page] = held
            if hi - base > len(held):
                held.extend(bytes(hi - base - len(held)))
            held[lo - base : hi - base] = data[lo - start : hi - start]
        if len(self._held) * PAGE > self._spill_bytes:
            self._spill()

    def _spill(self) -> None:
        """Journal the originals of the held pages (durably), then write the pages."""
        pages = sorted(self._held)
        self._journal_pages(pages)
        for first, last in _runs_of(pages):  # one write per stretch of consecutive pages
            block = b"".join(self._held.pop(page) for page in range(first, last + 1))
            _pwrite(self._fd, block, first * PAGE)

    def _journal_pages(self, pages: range | list[int]) -> None:
        records = []
        fresh = [page for page in pages if page not in self._journaled]
        for first, last in _runs_of(fresh):  # one read per stretch, one record per page
            start = first * PAGE
            block = _pread(self._fd, min((last + 1) * PAGE, self._original_size) - start, start)
            for page in range(first, last + 1):
                original = block[(page - first) * PAGE : (page - first + 1) * PAGE]
                records.append(
                    _RECORD.pack(page * PAGE, len(original), zlib.crc32(original)) + original
                )
                self._journaled.add(page)
        if not records:
            return
        data = b"".join(records)
        _pwrite(self._journal_fd, data, self._journal_size)
        self._journal_size += len(data)
        os.fsync(self._journal_fd)
        if not self._journal_synced:  # the journal's name must survive a power cut too
            _fsync_directory(self.path.parent)
            self._journal_synced = True


def _new_journal(journal: Path, original_size: int) -> int:
    """Create the journal with its header, appearing whole (readers never see half a header).

    Returns its descriptor, open for appending records.
    """
    temporary = journal.with_name(f".{journal.name}.{os.getpid()}.tmp")
    fd = os.open(temporary, os.O_RDWR | os.O_CREAT | os.O_TRUNC | _NOFOLLOW | _BINARY, 0o644)
    try:
        _pwrite(fd, _MAGIC + _HEADER.pack(original_size), 0)
        os.replace(temporary, journal)
    except BaseException:
        os.close(fd)
        with contextlib.suppress(OSError):
            temporary.unlink()
        raise
    return fd


def _runs_of(pages: list[int]) -> list[tuple[int, int]]:
    """Sorted page numbers as ``(first, last)`` stretches of consecutive pages."""
    runs: list[tuple[int, int]] = []
    for page in pages:
        if runs and runs[-1][1] == page - 1:
            runs[-1] = (runs[-1][0], page)
        else:
            runs.append((page, page))
    return runs


def _read_at(fd: int, view: memoryview, start: int, size: int) -> int:
    """Read into ``view`` from ``start`` up to ``size``; a hole at the end reads as zeros."""
    count = max(0, min(len(view), size - start))
    if hasattr(os, "preadv"):
        # Straight into HDF5's buffer: a chunk is copied once, not twice.
        got = 0
        while got < count:
            read = os.preadv(fd, [view[got:count]], start + got)
            if read == 0:
                break
            got += read
    else:
        data = _pread(fd, count, start)
        got = len(data)
        view[:got] = data
    if got < count:
        view[got:count] = bytes(count - got)
    return count


def _read_journal(data: bytes, path: Path) -> tuple[int, list[tuple[int, bytes]]]:
    """The file size at open and the complete original-page records of a journal's bytes.

    A record cut short or with a wrong CRC ends the journal: it was being appended when the writer
    died, before the page it saves was touched (pages are written only after their record is
    durable).
    """
    if not data.startswith(_MAGIC) or len(data) < len(_MAGIC) + _HEADER.size:
        raise FileFormatError(
            f"{str(journal_path(path))!r} is not a pypet_rebuild journal (or its header was cut "
            "short); if no writer is running, move it away and check the file"
        )
    (size,) = _HEADER.unpack_from(data, len(_MAGIC))
    at = len(_MAGIC) + _HEADER.size
    records = []
    while at + _RECORD.size <= len(data):
        offset, length, crc = _RECORD.unpack_from(data, at)
        body = data[at + _RECORD.size : at + _RECORD.size + length]
        if len(body) < length or zlib.crc32(body) != crc:
            break
        records.append((offset, body))
        at += _RECORD.size + length
    return size, records


def recover(path: Path) -> bool:
    """Roll back an uncommitted in-place change of ``path``, if its journal says there was one.

    Only call this while holding the writer lock (no writer is then changing the file).

    Returns
    -------
    bool
        Whether a journal was found and rolled back.
    """
    journal = journal_path(path)
    try:
        data = journal.read_bytes()
    except FileNotFoundError:
        return False
    size, records = _read_journal(data, path)
    fd = os.open(path, os.O_RDWR | _BINARY)
    try:
        for offset, original in records:
            _pwrite(fd, original, offset)
        os.ftruncate(fd, size)
        os.fsync(fd)
    finally:
        os.close(fd)
    journal.unlink()
    _fsync_directory(path.parent)
    return True


class FileView(_FileObject):
    """A read-only file object over ``path``, for h5py's ``fileobj`` driver.

    HDF5 shares one open file, with its metadata cache, between all handles a process opens on
    the same file through its default driver; a handle opened after an in-place change would see
    what an older handle cached before it. Through a file object each open is a file of its own.
    """

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.path = path
        self._fd = os.open(path, os.O_RDONLY | _BINARY)
        self._size = os.fstat(self._fd).st_size
        self._position = 0

    @property
    def size(self) -> int:
        """The file's size when it was opened: reads end there, as for HDF5 through this view."""
        return self._size

    def readinto(self, buffer: Any) -> int:
        """Read at the position."""
        count = _read_at(self._fd, memoryview(buffer).cast("B"), self._position, self._size)
        self._position += count
        return count

    def read_at(self, buffer: memoryview, offset: int) -> int:
        """Fill ``buffer`` from ``offset`` as :meth:`readinto` would there (the position stays).

        For a reader that knows where HDF5 keeps a dataset's chunks (see ``layout.read_span``):
        the bytes are the ones HDF5 itself would get through this view, a part of the file cut
        short since it was opened reading as zeros.

        Parameters
        ----------
        buffer
            A writable byte buffer.
        offset
            Where in the file to start.

        Returns
        -------
        int
            The number of bytes filled: fewer than asked only past the file's size at open.
        """
        return _read_at(self._fd, buffer, offset, self._size)

    def close(self) -> None:
        """Close the descriptor."""
        if self._fd >= 0:
            with contextlib.suppress(OSError):
                os.close(self._fd)
            self._fd = -1
        super().close()


class JournalView(_FileObject):
    """A read-only file object showing ``path`` as it was before an uncommitted change.

    While a journal exists, the current bytes of the file may be half changed; this view lays
    the original pages from the journal over them and ends at the original size. The journal is
    read again on every read, after the file: a page the writer changes is journaled before it
    is written, so a read that saw the new bytes always finds the original in the journal.
    """

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.path = path
        self._fd = os.open(path, os.O_RDONLY | _BINARY)
        try:
            self._journal_fd = os.open(journal_path(path), os.O_RDONLY | _BINARY)
        except BaseException:
            os.close(self._fd)
            raise
        self._seen = 0
        self._originals: dict[int, bytes] = {}
        self._size = self._refresh()
        self._position = 0

    def _refresh(self) -> int:
        size = os.fstat(self._journal_fd).st_size
        if size > self._seen:
            data = _pread(self._journal_fd, size, 0)
            original_size, records = _read_journal(data, self.path)
            self._originals = dict(records)
            self._seen = size
            return original_size
        return self._size

    def readinto(self, buffer: Any) -> int:
        """Read at the position: the current bytes, then the original pages over them."""
        view = memoryview(buffer).cast("B")
        start = self._position
        count = _read_at(self._fd, view, start, self._size)
        self._refresh()
        for page in range(start // PAGE, (start + count + PAGE - 1) // PAGE):
            original = self._originals.get(page * PAGE)
            if original is not None:
                base = page * PAGE
                lo, hi = max(start, base), min(start + count, base + len(original))
                if hi > lo:
                    view[lo - start : hi - start] = original[lo - base : hi - base]
        self._position = start + count
        return count

    def close(self) -> None:
        """Close both descriptors."""
        for fd in (self._fd, self._journal_fd):
            if fd >= 0:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self._fd = self._journal_fd = -1
        super().close()


@contextlib.contextmanager
def open_journaled(path: Path) -> Iterator[h5py.File]:
    """Open the main file ``path`` for changing in place; they commit when the block ends.

    Any exception in the block (or while committing) rolls every change back, so the file is as
    it was, and is raised again; a write that failed below HDF5 (a full disk) is raised by the
    commit, HDF5 never sees it. A kill leaves the journal for :func:`recover`. Call only
    while holding the writer lock, after :func:`recover`.
    """
    journaled = JournaledFile(path)
    try:
        file = h5py.File(journaled, "r+")
    except BaseException:
        journaled.rollback()
        raise
    try:
        yield file
        file.close()
        journaled.commit()
    except BaseException:
        journaled.discard()
        with contextlib.suppress(Exception):
            file.close()
        if file.id.valid:  # the close failed half way: drop the handle HDF5 still keeps
            with contextlib.suppress(Exception):
                file.id.close()
        journaled.rollback()
        raise


def _fsync_directory(directory: Path) -> None:
    if os.name == "nt":
        return
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
