"""Format version 2 on disk: per-run datasets that grow in place, and the version-2 dtypes.

Every per-run dataset of a main file (run-table columns, explored columns, result values and
their masks, packed headers and offsets) is chunked with an unlimited first axis, so a writer can
add runs by resizing instead of rewriting: growing adds chunks, and a chunk never written reads
as the dataset's fill value. Chunks hold about ``StorageOptions.chunk_bytes`` once a trajectory
is large; a small trajectory gets small chunks (at least ``_MIN_CHUNK_BYTES``), so a file of six
runs stays a few kilobytes per dataset instead of a megabyte.

Segment files are written once and never grown, so their datasets stay contiguous (cheapest to
write and read); they use the same names and dtypes.
"""

from __future__ import annotations

from typing import Any, Final

import h5py
import numpy as np
import numpy.typing as npt

from pypet_rebuild.storage.hdf5.journal import FileView
from pypet_rebuild.storage.hdf5.options import StorageOptions

__all__ = [
    "LAYOUT_ATTR",
    "LAYOUT_VERSION",
    "STATUS_DTYPE",
    "attribute",
    "create_growable",
    "dataset_at",
    "declared_fill",
    "digests_to_rows",
    "grow",
    "growable_kwargs",
    "layout_version",
    "open_uncached",
    "plain_text",
    "read_rows",
    "read_span",
    "unwritten_fill",
    "write_rows",
]

LAYOUT_ATTR: Final = "layout_version"
"""The attribute of a trajectory group (main file or segment) naming its layout version."""

LAYOUT_VERSION: Final = 2

STATUS_DTYPE: Final = h5py.enum_dtype({"pending": 0, "done": 1, "failed": 2}, basetype="u1")
"""The run status as an HDF5 enum: the meaning of each code travels with the file."""

_MIN_CHUNK_BYTES: Final = 512

try:
    # h5py's builder of creation property lists: private (not re-exported), so a future h5py
    # may move or change it. Without it datasets are created through ``create_dataset``.
    from h5py._hl.filters import fill_dcpl as _fill_dcpl
except ImportError:  # pragma: no cover - depends on the installed h5py
    _fill_dcpl = None
_FILL_DCPL_REFUSED: Final[list[bool]] = []  # not empty once a call found its signature changed


def attribute(node: h5py.HLObject, name: str, default: Any) -> Any:
    """Attribute ``name`` of ``node``, or ``default`` if it has none (``attrs.get``, but cheap).

    h5py's ``attrs.get`` tries to open a missing attribute: HDF5 fails, and h5py walks HDF5's
    error stack and compiles a regular expression to turn that into a ``KeyError`` -- a
    fifth of a millisecond, more than reading a present attribute. ``in`` only asks HDF5.
    """
    attrs = node.attrs
    return attrs[name] if name in attrs else default  # noqa: SIM401 - see above


def layout_version(group: h5py.Group) -> int:
    """The layout version of a trajectory group (groups written before version 2 have none)."""
    return int(attribute(group, LAYOUT_ATTR, 1))


def growable_kwargs(
    options: StorageOptions, shape: tuple[int, ...], itemsize: int
) -> dict[str, Any]:
    """``create_dataset`` keywords for a dataset of ``shape`` whose first axis can grow.

    The chunk spans whole rows: about ``options.chunk_bytes``, less for a small dataset (its
    rows: reading a whole dataset of one chunk then goes straight to the caller's buffer),
    never under ``_MIN_CHUNK_BYTES``.
    """
    row_bytes = max(1, itemsize)
    for extent in shape[1:]:
        row_bytes *= max(1, extent)
    most = max(1, options.chunk_bytes // row_bytes)
    least = max(1, _MIN_CHUNK_BYTES // row_bytes)
    rows = min(most, max(least, int(shape[0])))
    # A fixed axis of length 0 cannot be chunked by 0: let it be unlimited (it never grows).
    tail = tuple(max(1, extent) for extent in shape[1:])
    kwargs: dict[str, Any] = {
        "chunks": (rows, *tail),
        "maxshape": (None, *(None if extent == 0 else extent for extent in shape[1:])),
    }
    if options.compression is not None:
        kwargs["compression"] = options.compression
        kwargs["shuffle"] = options.shuffle
        if options.compression == "gzip":
            kwargs["compression_opts"] = options.compression_level
    return kwargs


def create_growable(
    group: h5py.Group,
    name: str,
    shape: tuple[int, ...],
    dtype: Any,
    options: StorageOptions,
    *,
    data: npt.ArrayLike | None = None,
    fillvalue: Any = None,
    cached: bool = False,
) -> h5py.Dataset:
    """Create dataset ``name`` whose first axis can grow (``data`` written if given).

    Writes through this dataset object bypass HDF5's chunk cache unless ``cached``: a full disk
    then fails the write itself, inside the writer's error handling, instead of the flush at
    close (after which h5py crashes the process at exit). Pass ``cached`` when the dataset will
    take many small writes (rows written in place).
    """
    dtype = np.dtype(dtype)
    kwargs = growable_kwargs(options, shape, dtype.itemsize)
    # h5py's own path gives a text fill value the dataset's string type.
    text_fill = fillvalue is not None and h5py.check_string_dtype(dtype) is not None
    dcpl = None if text_fill else _creation_plist(shape, dtype, fillvalue, kwargs)
    if dcpl is None:
        if fillvalue is not None:
            kwargs["fillvalue"] = fillvalue
        if not cached:
            kwargs["rdcc_nbytes"] = 1  # h5py reads 0 as "the default cache"
        dataset = group.create_dataset(name, shape=shape, dtype=dtype, **kwargs)
    else:
        # What ``group.create_dataset(name, shape=shape, dtype=dtype, **kwargs)`` does, by the
        # low-level calls it makes (a third of its cost: a sweep creates dozens of these), with
        # the creation property list built once per kind of dataset.
        dataset = h5py.Dataset(
            h5py.h5d.create(
                group.id,
                name.encode(),
                h5py.h5t.py_create(dtype, logical=True),
                h5py.h5s.create_simple(shape, _unlimited(kwargs["maxshape"])),
                dcpl=dcpl,
                dapl=None if cached else _UNCACHED_ACCESS,
            )
        )
    if data is not None and shape[0]:
        array = np.asarray(data)
        if array.dtype == dtype and array.shape == shape and array.dtype.kind in "biuf":
            # The whole dataset from a C-contiguous array of its own type: one HDF5 write.
            dataset.id.write(h5py.h5s.ALL, h5py.h5s.ALL, np.ascontiguousarray(array))
        else:
            dataset[...] = data
    return dataset


def _unlimited(maxshape: tuple[int | None, ...]) -> tuple[int, ...]:
    return tuple(h5py.h5s.UNLIMITED if extent is None else extent for extent in maxshape)


def _uncached_access() -> h5py.h5p.PropDAID:
    """The access property list h5py builds for ``rdcc_nbytes=1``: no chunk cache to speak of."""
    access = h5py.h5p.create(h5py.h5p.DATASET_ACCESS)
    slots, _, w0 = access.get_chunk_cache()
    access.set_chunk_cache(slots, 1, w0)
    return access


_UNCACHED_ACCESS: Final = _uncached_access()


def _no_chunk_cache() -> h5py.h5p.PropDAID:
    """An access property list without a chunk cache (HDF5 copies it into each dataset)."""
    access = h5py.h5p.create(h5py.h5p.DATASET_ACCESS)
    access.set_chunk_cache(0, 0, 1.0)
    return access


_NO_CHUNK_CACHE: Final = _no_chunk_cache()

_PLISTS: dict[tuple[object, ...], h5py.h5p.PropDCID] = {}
_MAX_PLISTS: Final = 256


def _creation_plist(
    shape: tuple[int, ...], dtype: np.dtype[Any], fillvalue: Any, kwargs: dict[str, Any]
) -> h5py.h5p.PropDCID | None:
    """The creation property list h5py makes for a dataset of ``kwargs`` (cached; not changed).

    Built by h5py's own ``fill_dcpl`` plus what ``make_new_dset`` adds (fill value, no
    creation times, attribute order as h5py's configuration says), so the datasets' chunking,
    filters and fill value are the ones ``create_dataset`` would give them. HDF5 copies the
    list into each dataset it creates. ``None`` if this h5py has no ``fill_dcpl`` of the
    signature known here (the caller then goes through ``create_dataset``).
    """
    if _fill_dcpl is None or _FILL_DCPL_REFUSED:
        return None
    fill = None if fillvalue is None else np.array(fillvalue)
    key = (
        kwargs["chunks"],
        kwargs["maxshape"],
        kwargs.get("compression"),
        kwargs.get("compression_opts"),
        kwargs.get("shuffle"),
        dtype.str,
        None if fill is None else (fill.dtype.str, fill.tobytes()),
    )
    plist = _PLISTS.get(key)
    if plist is not None:
        return plist
    try:
        plist = _fill_dcpl(
            h5py.h5p.create(h5py.h5p.DATASET_CREATE),
            shape,
            dtype,
            kwargs["chunks"],
            kwargs.get("compression"),
            kwargs.get("compression_opts"),
            kwargs.get("shuffle"),
            None,
            kwargs["maxshape"],
            None,
            None,
        )
    except TypeError:  # a future h5py changed its private signature: use its public API
        _FILL_DCPL_REFUSED.append(True)
        return None
    if fill is not None:
        plist.set_fill_value(fill)
    plist.set_obj_track_times(False)
    if h5py.get_config().track_order:
        plist.set_attr_creation_order(h5py.h5p.CRT_ORDER_TRACKED | h5py.h5p.CRT_ORDER_INDEXED)
    else:
        plist.set_attr_creation_order(0)
    if len(_PLISTS) >= _MAX_PLISTS:
        _PLISTS.clear()
    _PLISTS[key] = plist
    return plist


def grow(dataset: h5py.Dataset, rows: int) -> None:
    """Resize the first axis of ``dataset`` to ``rows`` (new rows read as the fill value)."""
    if dataset.shape[0] != rows:
        dataset.resize(rows, axis=0)


def write_rows(dataset: h5py.Dataset, rows: npt.NDArray[np.int64], values: Any) -> None:
    """Write ``values[i]`` to row ``rows[i]``; rows in any order, each at most once.

    h5py writes increasing index lists only (and slowly, point by point): this sorts and writes
    one slice per stretch of consecutive rows.
    """
    if len(rows) == 0:
        return
    values = np.asarray(values)
    if len(rows) > 1 and not bool(np.all(rows[1:] > rows[:-1])):
        order = np.argsort(rows, kind="stable")
        rows, values = rows[order], values[order]
    breaks = np.flatnonzero(np.diff(rows) != 1) + 1
    direct = _writes_directly(dataset, values)
    start = 0
    for stop in [*breaks.tolist(), len(rows)]:
        first = int(rows[start])
        if direct:
            _write_slice(dataset, first, np.ascontiguousarray(values[start:stop]))
        else:
            dataset[first : first + stop - start] = values[start:stop]
        start = stop


def _writes_directly(dataset: h5py.Dataset, values: npt.NDArray[Any]) -> bool:
    """Whether ``values`` are numbers of the dataset's own type (see :func:`_write_slice`)."""
    dtype = dataset.dtype
    return (
        values.dtype == dtype
        and dtype.kind in "biuf"
        and dtype.metadata is None  # not an enum (equal to its base type for numpy)
        and values.shape[1:] == dataset.shape[1:]
    )


def _write_slice(dataset: h5py.Dataset, first: int, block: npt.NDArray[Any]) -> None:
    """``dataset[first : first + len(block)] = block`` by the HDF5 calls h5py makes for it.

    For a C-contiguous block of the dataset's own numeric type only: h5py's slicing builds a
    selection object per write, which costs more than the write of a few hundred rows.
    """
    space = dataset.id.get_space()
    space.select_hyperslab((first, *(0 for _ in block.shape[1:])), block.shape)
    dataset.id.write(h5py.h5s.create_simple(block.shape), space, block)


def plain_text(text: str) -> bool:
    """Whether ``text`` survives an HDF5 string: no NUL (it ends the string), valid UTF-8."""
    if "\x00" in text:
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def digests_to_rows(digests: npt.NDArray[Any]) -> npt.NDArray[np.uint8]:
    """Point-hash digests (``V16``/``S16`` items or ``(n, 16)`` bytes) as ``(n, 16)`` uint8.

    Version 1 stored ``S16`` items, which netCDF readers decode as text and fail on; a 2-D
    byte array is read by every HDF5 reader.
    """
    array = np.ascontiguousarray(digests)
    if array.dtype == np.uint8 and array.ndim == 2:
        return array
    return array.view(np.uint8).reshape(len(array), 16)


def dataset_at(group: h5py.Group, name: str) -> h5py.Dataset:
    """Dataset ``name`` of ``group``, as ``group[name]`` gives it, for a writer's many lookups.

    ``group[name]`` builds an h5py ``File`` object for every dataset it opens (to ask whether
    the file is read-only); this opens the dataset alone.

    Raises
    ------
    KeyError
        If ``group`` has no member ``name`` or it is not a dataset.
    """
    return h5py.Dataset(h5py.h5d.open(group.id, name.encode()))


def open_uncached(group: h5py.Group, path: str) -> h5py.Dataset | None:
    """Dataset ``path`` of ``group`` opened without a chunk cache, or ``None`` if there is none.

    For datasets read whole (see :func:`read_span`) or a few rows at a time, never strided: a
    row is then read alone, not with the ~1 MiB chunk around it. HDF5 shares one open dataset,
    cache included, between the handles of a file, so this must be the dataset's first open.
    """
    try:
        return h5py.Dataset(h5py.h5d.open(group.id, path.encode(), _NO_CHUNK_CACHE))
    except KeyError:  # missing, or not a dataset
        return None


_OWN_STORAGE: Final = (h5py.h5d.CHUNKED, h5py.h5d.CONTIGUOUS, h5py.h5d.COMPACT)


def unwritten_fill(dataset: h5py.Dataset, plist: h5py.h5p.PropDCID | None = None) -> Any:
    """The value every element of ``dataset`` reads as, if nothing was ever written to it.

    A dataset without allocated storage holds no data: HDF5 returns its fill value for every
    element. This says so from metadata alone (one call when storage is allocated, the usual
    case: then ``None``). A write of any element allocates storage, so a dataset written after
    its creation -- by this library or by hand -- is never taken for unwritten. ``None`` too
    where the answer would need more than a plain number: a text or compound type, or a fill
    value that HDF5 is told never to use; and for a virtual dataset (no storage of its own).
    ``plist`` is the dataset's creation property list, when the caller has it.

    Returns
    -------
    numpy.generic or None
        The fill value as a numpy scalar of the dataset's type (``numpy.bool_`` for a mask).
    """
    if dataset.id.get_storage_size() != 0:
        return None
    return declared_fill(dataset, plist)


def declared_fill(dataset: h5py.Dataset, plist: h5py.h5p.PropDCID | None = None) -> Any:
    """The value an element of ``dataset`` that was never written reads as, if HDF5 says so.

    ``None`` where the answer would need more than a plain number (a text or compound type),
    where HDF5 is told never to write the fill value, and for a virtual dataset. ``plist`` is
    the dataset's creation property list, when the caller has it.

    Returns
    -------
    numpy.generic or None
        The fill value as a numpy scalar of the dataset's type (``numpy.bool_`` for a mask).
    """
    dsid = dataset.id
    dtype = dsid.dtype
    if dtype.kind not in "biufc" or dtype.metadata is not None or dtype.names is not None:
        return None
    plist = dsid.get_create_plist() if plist is None else plist
    if (
        # A virtual dataset has no storage of its own: its elements are other datasets'.
        plist.get_layout() not in _OWN_STORAGE
        or plist.fill_value_defined() == h5py.h5d.FILL_VALUE_UNDEFINED
        or plist.get_fill_time() == h5py.h5d.FILL_TIME_NEVER
    ):
        return None
    fill = np.zeros((), dtype=dtype)
    plist.get_fill_value(fill)
    return fill[()]


def read_span(
    dataset: h5py.Dataset, start: int, stop: int, *, file: FileView | None = None
) -> npt.NDArray[Any]:
    """Rows ``start:stop`` of ``dataset``, whole: the same array as ``dataset[start:stop]``.

    An uncompressed dataset whose chunks span whole rows is read chunk by chunk straight into
    the result (``H5Dread_chunk``). Through h5py, HDF5 stages every chunk that fits its chunk
    cache (ours are about 1 MiB, the cache is larger) in a freshly allocated buffer and copies
    it out: in a fresh process that doubles the memory touched, and reading a million-run
    column took three times as long. A chunk that is not allocated (it reads as the fill
    value) or not as large as its shape says is read the ordinary way. A dataset never
    written (see :func:`unwritten_fill`; a result's mask where every run has the value) is
    not read at all: it is its fill value everywhere.

    Parameters
    ----------
    dataset
        The dataset.
    start, stop
        The rows to read.
    file
        The view the dataset's file was opened through, read-only (never a journal view, nor
        a file open for writing: a writer's chunk cache may hold bytes the file has not yet).
        The chunks' bytes are then read from its descriptor where HDF5 says they are, one read
        per stretch of chunks that lie back to back in the file: the bytes HDF5 would read
        through the view, without a call back into Python per chunk (a fifth less time for a
        million-run column in a fresh process).
    """
    # One creation property list for the layout, chunk shape, filters and fill value (h5py's
    # ``chunks`` and ``compression`` each fetch their own).
    dsid = dataset.id
    plist = dsid.get_create_plist()
    fill = unwritten_fill(dataset, plist)
    if fill is not None:
        rows = max(0, min(stop, dsid.shape[0]) - start)
        return np.full((rows, *dsid.shape[1:]), fill, dtype=fill.dtype)
    chunks = plist.get_chunk() if plist.get_layout() == h5py.h5d.CHUNKED else None
    shape = dsid.shape
    stored = dsid.dtype
    if (
        chunks is None
        or stop - start < chunks[0]
        or tuple(chunks[1:]) != tuple(shape[1:])
        or stored.kind not in "biufc"
        or plist.get_nfilters()
        or not _plain_type(dsid, stored)
    ):
        return np.asarray(dataset[start:stop])
    # Booleans are read as their bytes and compared with zero: a hand-edited byte of 2 must not
    # become a numpy bool that is neither True nor False.
    dtype = np.dtype(np.uint8) if stored.kind == "b" else stored
    per_chunk = chunks[0]
    chunk_bytes = per_chunk * dtype.itemsize * int(np.prod(shape[1:], dtype=np.int64))
    out = np.empty((stop - start, *shape[1:]), dtype=dtype)
    tail = (0,) * (len(shape) - 1)
    if (
        file is not None
        and hasattr(dsid, "get_chunk_info_by_coord")
        and (_CHUNK_ADDRESSES_IN_FILE or _userblock(dsid) == 0)
    ):
        for low, high in _read_from_file(file, dsid, out, start, stop, per_chunk, chunk_bytes):
            out[low - start : high - start] = dataset[low:high]
        return _as_stored(out, stored)
    scratch: npt.NDArray[Any] | None = None
    for first in range(start - start % per_chunk, stop, per_chunk):
        low, high = max(first, start), min(first + per_chunk, stop)
        target = out[low - start : high - start]
        whole = low == first and high == first + per_chunk
        if not whole and scratch is None:
            scratch = np.empty((per_chunk, *shape[1:]), dtype=dtype)
        buffer = target if whole else scratch
        assert buffer is not None
        try:
            _, got = dsid.read_direct_chunk((first, *tail), out=buffer.reshape(-1).view(np.uint8))
        except (RuntimeError, OSError, ValueError):
            got = None  # not allocated (or unreadable): let HDF5 say what it holds
        if got is None or len(got) != chunk_bytes:
            target[...] = dataset[low:high]
        elif not whole:
            target[...] = buffer[low - first : high - first]
    return _as_stored(out, stored)


def _plain_type(dsid: h5py.h5d.DatasetID, stored: np.dtype[Any]) -> bool:
    """Whether the dataset's HDF5 type is the one ``stored`` maps to, so its bytes are numpy's.

    A hand-made type that h5py reads as ``stored`` through a conversion (an integer of fewer
    bits of precision, or at a bit offset; a boolean enum on a wider integer) has bytes that
    mean something else: only HDF5 reads it right.
    """
    return bool(dsid.get_type() == h5py.h5t.py_create(stored, logical=True))


# HDF5 before 1.14.4 reports a chunk's address without the file's user block (HDFGroup/hdf5
# #3003, fixed by #4236): in a file with a user block (added by ``h5jam``, say) it is not where
# the chunk's bytes are. h5py 3.12's wheels carry HDF5 1.14.2.
_CHUNK_ADDRESSES_IN_FILE: Final = h5py.version.hdf5_version_tuple >= (1, 14, 4)


def _userblock(dsid: h5py.h5d.DatasetID) -> int:
    """The size of the user block of the file holding dataset ``dsid``."""
    return int(h5py.h5i.get_file_id(dsid).get_create_plist().get_userblock())


def _as_stored(out: npt.NDArray[Any], stored: np.dtype[Any]) -> npt.NDArray[Any]:
    """The rows :func:`read_span` read, as the dataset's own dtype (booleans from their bytes)."""
    if stored.kind == "b":
        # In place, into the bytes just read: a second array of a million booleans would cost
        # more (its fresh pages) than reading the mask.
        flags: npt.NDArray[np.bool_] = np.not_equal(out, 0, out=out.view(np.bool_))
        return flags
    return out


def _read_from_file(
    file: FileView,
    dsid: h5py.h5d.DatasetID,
    out: npt.NDArray[Any],
    start: int,
    stop: int,
    per_chunk: int,
    chunk_bytes: int,
) -> list[tuple[int, int]]:
    """Read rows ``start:stop`` of unfiltered chunks of whole rows from ``file`` into ``out``.

    Returns the stretches of rows left for HDF5 to read: chunks not allocated (they read as the
    fill value), of another size than their shape says, filtered, or reaching past the end of
    the file as it was opened.
    """
    row_bytes = chunk_bytes // per_chunk
    tail = (0,) * (out.ndim - 1)
    left: list[tuple[int, int]] = []
    # Stretches to read: [file offset, first byte in out, end byte in out].
    reads: list[list[int]] = []
    for first in range(start - start % per_chunk, stop, per_chunk):
        low, high = max(first, start), min(first + per_chunk, stop)
        try:
            info = dsid.get_chunk_info_by_coord((first, *tail))
        except (RuntimeError, OSError, ValueError):
            info = None  # unreadable index: let HDF5 say what the chunk holds
        offset = None if info is None else info.byte_offset
        if (
            info is None
            or offset is None
            or info.size != chunk_bytes
            or info.filter_mask
            or offset + chunk_bytes > file.size
        ):
            if left and left[-1][1] == low:
                left[-1] = (left[-1][0], high)
            else:
                left.append((low, high))
            continue
        # Rows are whole in a chunk: rows low:high are one run of bytes inside it.
        offset += (low - first) * row_bytes
        begin, end = (low - start) * row_bytes, (high - start) * row_bytes
        last = reads[-1] if reads else None
        if last is not None and last[2] == begin and last[0] + (last[2] - last[1]) == offset:
            last[2] = end
        else:
            reads.append([offset, begin, end])
    buffer = out.reshape(-1).view(np.uint8).data
    for offset, begin, end in reads:
        file.read_at(buffer[begin:end], offset)
    return left


def read_rows(
    dataset: h5py.Dataset, rows: npt.NDArray[np.int64], item: tuple[Any, ...] = ()
) -> Any:
    """Rows ``rows`` (any order, repeats allowed) of ``dataset``, each indexed by ``item``.

    h5py only reads increasing, unique index lists; this reads the sorted unique rows (one
    slice when they are dense) and reorders in memory.
    """
    if len(rows) == 0:
        empty = np.zeros((0, *dataset.shape[1:]), dtype=dataset.dtype)
        return empty[(slice(None), *item)]
    first = int(rows[0])
    if int(rows[-1]) - first + 1 == len(rows) and (
        len(rows) < 2 or bool(np.all(np.diff(rows) == 1))
    ):
        # The common case (a slice of runs): one contiguous read, nothing to reorder.
        if not item:
            return read_span(dataset, first, first + len(rows))
        return dataset[(slice(first, first + len(rows)), *item)]
    unique, inverse = np.unique(rows, return_inverse=True)
    first, last = int(unique[0]), int(unique[-1])
    span = last - first + 1
    if span == len(unique) or span <= 4 * len(unique):
        block = dataset[(slice(first, last + 1), *item)]
        block = block[unique - first] if span != len(unique) else block
    elif len(unique) <= 64:
        block = np.stack([dataset[(int(r), *item)] for r in unique.tolist()])
    else:
        block = dataset[(unique, *item)]
    return block[inverse.reshape(-1)] if len(unique) != len(rows) or not _sorted(rows) else block


def _sorted(rows: npt.NDArray[np.int64]) -> bool:
    return bool(np.all(rows[1:] > rows[:-1]))
