"""``HDF5StorageService``: one self-describing HDF5 file, crash-safe, read lazily.

Writing (only ever by the process holding ``<file>.lock``, through a writer session):

* ``begin_sweep`` checks the definition, takes the lock, rolls back a change a killed writer left
  uncommitted, and writes the trajectory's definition and a run table of pending runs (a new
  file is written whole; into an existing file, and when resuming with segments of an
  interrupted sweep to fold or new points, the main file is changed in place) and returns the
  session;
* ``session.store_runs`` writes each batch of finished runs to a new immutable segment file;
* ``session.finish`` folds the segments into the main file in place, deletes them and releases
  the lock (``close`` releases it without folding).

In-place changes go through the rollback journal of :mod:`.journal`: a ``kill -9`` at any moment
leaves the main file as of its last commit (readers read around an uncommitted change, the next
writer rolls it back) plus complete segments; readers merge them, so every run that reached a
segment is there.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from collections.abc import Set as AbstractSet
from pathlib import Path
from typing import Any, Literal

import h5py
import numpy as np
import numpy.typing as npt

from pypet_rebuild.errors import (
    FileLockedError,
    InvalidStorageError,
    PypetRebuildError,
    StorageError,
    TrajectoryNotFoundError,
)
from pypet_rebuild.storage.codecs import encode_value
from pypet_rebuild.storage.hdf5.appending import (
    append_extras,
    append_trajectory,
    is_appendable,
)
from pypet_rebuild.storage.hdf5.attributes import write_attrs
from pypet_rebuild.storage.hdf5.batch import RunBatch
from pypet_rebuild.storage.hdf5.columns import classify_layout
from pypet_rebuild.storage.hdf5.commit import COPY_COMMIT_BYTES, batch_in_memory, copied_h5
from pypet_rebuild.storage.hdf5.extras import (
    write_definition,
    write_derived,
    write_provenance,
)
from pypet_rebuild.storage.hdf5.files import (
    FOLDED_ATTR,
    FORMAT_ATTR,
    FORMAT_VERSION,
    WriterLock,
    atomic_h5,
    folded_segments,
    fsync_directory,
    list_segments,
    new_staging_path,
    open_checked,
    open_reading,
    real_path,
    remove_leftovers,
    remove_staging,
    remove_stale_staging,
    segment_path,
    write_failed,
)
from pypet_rebuild.storage.hdf5.folding import (
    copy_trajectory,
    fold_trajectory,
    start_main_file,
    write_extras,
)
from pypet_rebuild.storage.hdf5.journal import journal_path, open_journaled, recover
from pypet_rebuild.storage.hdf5.options import StorageOptions
from pypet_rebuild.storage.hdf5.skeleton import (
    STATUS_CODES,
)
from pypet_rebuild.storage.hdf5.view import TrajectoryView
from pypet_rebuild.storage.protocol import UNSTACKABLE, ResultInfo, StorageService, WriterSession
from pypet_rebuild.storage.records import (
    MISSING,
    RunIndexSet,
    RunRecord,
    RunStatus,
    RunTable,
)
from pypet_rebuild.storage.resume import check_resumable, snapshot_hashes
from pypet_rebuild.storage.session import SessionBase, check_definition, check_derived
from pypet_rebuild.tree.nodes import Result
from pypet_rebuild.tree.snapshot import TrajectorySnapshot

__all__ = ["MAX_UNFOLDED_SEGMENTS", "Compaction", "HDF5StorageService"]

logger = logging.getLogger(__name__)

Compaction = Literal["always", "auto", "manual"]
_FOLD_RATIO = 0.25
_FOLD_MIN_BYTES = 8 << 20
MAX_UNFOLDED_SEGMENTS = 64
"""The most segment files a trajectory has between folds, in every compaction mode.

Readers (and the writer, which keeps its reader up to date) hold every unfolded segment open:
one file descriptor and about 0.5 MB of HDF5 caches each. A long sweep with frequent flushes
would otherwise run out of descriptors (``Too many open files`` under ``ulimit -n 1024``), so
the writer folds as soon as this many segments are unfolded, whatever ``compaction`` says.
"""


class HDF5StorageService:
    """Stores trajectories in one HDF5 file (plus transient segment files while writing).

    Parameters
    ----------
    path
        The HDF5 file; created by the first sweep if it does not exist.
    options
        Layout options of the compacted file (compression, chunking).
    allow_pickle
        Trust this file with pickles: store values that no codec handles by pickling them, and
        unpickle stored pickles when reading. Off by default: unpickling runs code named in the
        file, so without it a stored pickle is refused with
        :class:`~pypet_rebuild.errors.PickleRefusedError` (and a pickle may not load in another
        environment anyway). Folding segments never unpickles, either way.
    compaction
        When segments are folded into the main file. ``"always"`` (default): at the start and
        end of every sweep, so the file stands alone afterwards. ``"auto"``: resumed sweeps and
        expansions only append segments, and the file is folded once the unfolded segments reach
        a quarter of its size (and at least 8 MB), so a long adaptive loop costs the same per
        round however much is stored. ``"manual"``: only :meth:`compact` folds. In every mode,
        the writer also folds once a trajectory has ``MAX_UNFOLDED_SEGMENTS`` (64) unfolded
        segment files, so that neither it nor a reader ever holds more files open.

    Examples
    --------
    >>> import pypet_rebuild as pr
    >>> storage = pr.HDF5StorageService("sweep.h5")  # doctest: +SKIP
    >>> pr.Environment(traj, storage=storage).run(simulate)  # doctest: +SKIP
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        options: StorageOptions | None = None,
        allow_pickle: bool = False,
        compaction: Compaction = "always",
    ) -> None:
        if compaction not in ("always", "auto", "manual"):
            raise InvalidStorageError(
                f"compaction must be 'always', 'auto' or 'manual', got {compaction!r} (for "
                f"{str(path)!r}); 'manual' folds only when asked (and at "
                f"{MAX_UNFOLDED_SEGMENTS} unfolded segments)"
            )
        self.compaction: Compaction = compaction
        self.path = Path(path)
        self.options = options or StorageOptions()
        self.allow_pickle = allow_pickle
        self._lock = WriterLock(self.path)
        self._next_segment: dict[str, int] = {}
        # Unfolded segments per trajectory, counted by this writer while it holds the lock.
        self._unfolded: dict[str, int] = {}
        self._reader: _Reader | None = None
        # Whether this writer created the main file while holding the lock now held (see
        # _append: such a file is committed by a copy, not through the journal).
        self._fresh = False

    # -- writing --------------------------------------------------------------------------------

    def begin_sweep(self, snapshot: TrajectorySnapshot, *, resume: bool) -> WriterSession:
        """Check, then write the definition and pending run table; returns the writer session.

        See :meth:`StorageService.begin_sweep`. The values are checked before the writer lock is
        taken; anything that fails after it releases the lock again.
        """
        self._check_writable()
        check_definition(snapshot)
        self._acquire_for_session()
        try:
            done = self._begin(snapshot, resume=resume)
        except BaseException:
            self._lock.release()
            raise
        return _HDF5Session(self, snapshot.name, done, snapshot)

    def open_writer(self, trajectory: str) -> WriterSession:
        """A session on a stored trajectory, for derived results (takes the writer lock)."""
        self._check_writable()
        if trajectory not in self._stored_names():
            listed = ", ".join(repr(n) for n in self._stored_names()) or "none"
            raise TrajectoryNotFoundError(
                f"{str(self.path)!r} has no trajectory {trajectory!r} to write to; it holds: "
                f"{listed}"
            )
        self._acquire_for_session()
        # No runs are written through this session, so it reads no run table (nor anything
        # else of the stored trajectory: a writer never decodes what it only copies).
        return _HDF5Session(self, trajectory, frozenset())

    def _acquire_for_session(self) -> None:
        """Take the writer lock for a new session; one session at a time, even in one process."""
        if self._lock.held:
            raise FileLockedError(
                f"{str(self.path)!r} is being written by an open writer session of this "
                "storage; finish or close that session (or leave its with-block) first"
            )
        self._lock.acquire()
        try:
            self._acquired()
        except BaseException:
            self._lock.release()
            raise

    def _begin(self, snapshot: TrajectorySnapshot, *, resume: bool) -> RunIndexSet:
        self._refresh()
        stored = self._stored_names()
        if snapshot.name in stored and not resume:
            raise StorageError(
                f"{str(self.path)!r} already holds a trajectory named {snapshot.name!r}; pass "
                "resume=True to continue it, overwrite=True to replace it, or give the new study "
                "another name"
            )
        if snapshot.name in stored:
            view = self._reader_for().view(snapshot.name)
            # By the stored point hashes: no explored value is read back and decoded.
            check_resumable(
                view.header,
                snapshot,
                stored_explored=view.explored_names(),
                stored_hashes=view.point_hashes(),
            )
            grown = snapshot.n_runs > view.n_runs
            if self.compaction == "always":
                stale = not self._current_layout(snapshot.name)
                if grown or stale or self._unfolded_segments(snapshot.name):
                    self._commit(snapshot.name, snapshot=snapshot)
            elif grown:
                self._append_definition(snapshot, view.n_runs)
        else:
            self._commit(snapshot.name, snapshot=snapshot)
            return RunIndexSet(())  # a new trajectory: every run is pending
        # The done runs straight from the status codes: building the whole run table (hex point
        # hashes, host names...) would cost every round of an adaptive loop O(stored runs).
        status = self._reader_for().view(snapshot.name).status_codes()
        done = np.flatnonzero(status == STATUS_CODES[RunStatus.DONE])
        logger.debug(
            "resuming %r in %s: %d of %d runs done%s",
            snapshot.name,
            self.path,
            len(done),
            snapshot.n_runs,
            f", {snapshot.n_runs - view.n_runs} new points" if grown else "",
        )
        return RunIndexSet(done)

    def _append_definition(self, snapshot: TrajectorySnapshot, stored_runs: int) -> None:
        """Record an expansion (the new points only) in a segment instead of a rewrite."""
        hashes = snapshot_hashes(snapshot)[stored_runs:]
        columns = {path: values[stored_runs:] for path, values in snapshot.explored.items()}

        def write(group: h5py.Group) -> None:
            write_definition(group, snapshot.n_runs, columns, hashes)

        self._write_segment(snapshot.name, write)

    def _store_runs(
        self,
        trajectory: str,
        records: Sequence[RunRecord],
        snapshot: TrajectorySnapshot | None = None,
    ) -> None:
        """Write a batch of finished runs to a new segment file (durable when this returns).

        ``snapshot`` is the sweep's definition, when known: a fold the segment limit forces
        then writes it instead of reading every explored value and point hash back.
        """
        self._write_segment(trajectory, self._batch(records).write, snapshot)

    def _finish_with_runs(
        self,
        trajectory: str,
        records: Sequence[RunRecord],
        provenance: Mapping[str, object] | None,
        snapshot: TrajectorySnapshot | None,
    ) -> None:
        """Fold the segments and the batch ``records`` into the main file in one commit.

        The batch goes into the fold from memory, never to a segment file; what fails before
        the commit (a value no codec stores, a failed write) leaves nothing of it stored.
        Only for ``compaction="always"``, whose finish folds anyway.
        """
        batch = self._batch(records)
        # A file this session created has the current layout: no reader is opened to check.
        if not (self._fresh or (self.path.exists() and self._current_layout(trajectory))):
            # A rewrite (a file converted from an older layout): as two steps.
            self._write_segment(trajectory, batch.write, snapshot)
            self._finish(trajectory, provenance, snapshot)
            return
        logger.debug("folding the last batch and the segments of %r into %s", trajectory, self.path)
        self._append(trajectory, snapshot=snapshot, provenance=provenance, batch=batch)

    def _batch(self, records: Sequence[RunRecord]) -> RunBatch:
        """Check a batch of finished runs; the batch, to write as a segment or fold from memory.

        Raises
        ------
        UnsupportedTypeError
            If a result value has no codec (before anything is written).
        """
        names = sorted({name for record in records for name in record.results})
        comments: dict[str, str] = {}
        for record in records:
            comments.update(record.comments)
        columns = {
            name: [record.results.get(name, MISSING) for record in records] for name in names
        }
        signatures = {name: classify_layout(values) for name, values in columns.items()}
        for name, values in columns.items():
            if signatures[name] is None:
                self._check_encodable(name, values)

        return RunBatch.from_records(
            records, signatures, comments, self.options, allow_pickle=self.allow_pickle
        )

    def _write_segment(
        self,
        trajectory: str,
        write: Callable[[h5py.Group], None],
        snapshot: TrajectorySnapshot | None = None,
    ) -> None:
        """Write one immutable segment file for ``trajectory`` (atomically, then durable)."""
        seq = self._next_segment.get(trajectory) or self._first_free_segment(trajectory)
        target = segment_path(self.path, trajectory, seq)
        target.parent.mkdir(exist_ok=True)
        with atomic_h5(target) as file:
            file.attrs[FORMAT_ATTR] = FORMAT_VERSION
            write(file.create_group(trajectory))
        self._next_segment[trajectory] = seq + 1
        unfolded = self._unfolded.get(trajectory)
        self._unfolded[trajectory] = (
            self._count_unfolded(trajectory) if unfolded is None else unfolded + 1
        )
        if self._unfolded[trajectory] >= MAX_UNFOLDED_SEGMENTS and self.path.exists():
            # Bounds the open files of this writer and of every reader (see the constant).
            self._commit(trajectory, snapshot=snapshot)
        elif self._reader is not None:
            # Only this process writes (it holds the lock): show the open reader the new segment
            # instead of closing it, so the next read does not reopen every segment.
            self._reader.add_segment(trajectory, target)

    def _count_unfolded(self, trajectory: str) -> int:
        folded = 0
        if self.path.exists():
            with contextlib.closing(open_checked(self.path)) as main:
                folded = folded_segments(main).get(trajectory, 0)
        return sum(1 for _, seq, _ in list_segments(self.path, trajectory) if seq > folded)

    def _first_free_segment(self, trajectory: str) -> int:
        """A segment number above every folded or existing one."""
        folded = 0
        if self.path.exists():
            with contextlib.closing(open_checked(self.path)) as main:
                folded = folded_segments(main).get(trajectory, 0)
        existing = [seq for _, seq, _ in list_segments(self.path, trajectory)]
        return max([folded, *existing]) + 1

    def _check_encodable(self, name: str, values: Sequence[object]) -> None:
        # Encoding is pure: an unsupported value raises here, before the segment exists.
        for value in values:
            if value is not MISSING:
                encode_value(value, f"results.{name}", allow_pickle=self.allow_pickle)

    def _store_derived(self, trajectory: str, results: Sequence[Result[Any]]) -> None:
        """Store trajectory-level results (in the main file, or a segment: see ``compaction``)."""
        check_derived(results, allow_pickle=self.allow_pickle)
        if self.compaction == "always":
            self._commit(trajectory, derived=results)
        else:
            self._write_segment(
                trajectory,
                lambda group: write_derived(group, results, allow_pickle=self.allow_pickle),
            )

    def _finish(
        self,
        trajectory: str,
        provenance: Mapping[str, object] | None,
        snapshot: TrajectorySnapshot | None = None,
    ) -> None:
        """Record provenance and fold the segments (see ``compaction``).

        ``snapshot`` is the definition the sweep began with (unchanged since: the session held
        the lock); folding with it does not read every explored value and point hash back.
        """
        if self.compaction == "always":
            logger.debug("folding the segments of %r into %s", trajectory, self.path)
            self._commit(trajectory, snapshot=snapshot, provenance=provenance)
            return
        if provenance is not None:
            self._write_segment(
                trajectory, lambda group: write_provenance(group, [dict(provenance)])
            )
        if self.compaction == "auto" and self._fold_due(trajectory):
            logger.debug(
                "folding the segments of %r into %s (they reached the threshold)",
                trajectory,
                self.path,
            )
            self._commit(trajectory)
        else:
            logger.debug(
                "leaving the segments of %r unfolded (compaction=%r)", trajectory, self.compaction
            )

    def _fold_due(self, trajectory: str) -> bool:
        """Whether the unfolded segments reached a quarter of the main file (and 8 MB)."""
        folded = folded_segments(self._reader_for().main).get(trajectory, 0)
        pending = [p for _, seq, p in list_segments(self.path, trajectory) if seq > folded]
        size = sum(p.stat().st_size for p in pending)
        threshold = max(_FOLD_RATIO * self.path.stat().st_size, _FOLD_MIN_BYTES)
        return size >= threshold

    def compact(self, trajectory: str | None = None) -> None:
        """Fold leftover segments (e.g. of a killed sweep) into the main file."""
        if trajectory and trajectory not in self._stored_names():
            listed = ", ".join(repr(n) for n in self._stored_names()) or "none"
            raise TrajectoryNotFoundError(
                f"cannot compact {trajectory!r}: {str(self.path)!r} holds no such trajectory "
                f"(it holds: {listed})"
            )
        with self._locked():
            names = (
                [trajectory]
                if trajectory
                else sorted(
                    {name for name, _, _ in list_segments(self.path)} & set(self._stored_names())
                )
            )
            for name in names:
                self._rewrite(name)

    def replace_trajectory(self, name: str, build: Callable[[StorageService], None]) -> None:
        """Build trajectory ``name`` in a staging file, then install it here atomically.

        The writer lock is held from before ``build`` runs (so no other process adds runs that
        the installed trajectory would silently replace) to the installation; the staging file
        lives next to this one and is removed whatever happens, as is any left by a killed merge.

        Raises
        ------
        FileLockedError
            If another process is writing the file.
        """
        with self._locked():
            remove_stale_staging(self.path)
            staging_path = new_staging_path(self.path)
            staging = HDF5StorageService(staging_path, options=self.options, allow_pickle=True)
            try:
                build(staging)
                staging.close()
                # One atomic rewrite of this file: a kill leaves it as it was, or replaced.
                self.adopt_trajectory(staging_path, name)
            finally:
                staging.close()
                remove_staging(staging_path)

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        held = self._lock.held
        self._check_writable()
        self._lock.acquire()
        try:
            if not held:
                self._acquired()
            yield
        finally:
            if not held:
                self._lock.release()

    def _acquired(self) -> None:
        """Make good what other writers did before this process took the lock it now holds.

        Another writer may have written or folded since this one last held the lock, or been
        killed mid-commit: its uncommitted in-place change is rolled back and its temporary
        files removed, once per hold. (Every commit listed the folder for them before: in a
        folder of many files that cost each commit a directory scan, although nothing but a
        killed writer of another hold leaves them; this writer's own failed commits remove
        their temporary files themselves.)
        """
        self._unfolded.clear()
        self._fresh = False
        self._recover()
        remove_leftovers(self.path)  # a killed writer's, even of a file it never committed

    def _check_writable(self) -> None:
        # The mode bits too: as root, os.access says yes even for a file marked read-only.
        if self.path.exists() and (
            not os.access(self.path, os.W_OK) or not self.path.stat().st_mode & 0o222
        ):
            raise StorageError(
                f"{str(self.path)!r} is read-only; open it with pr.load_trajectory to read it, "
                "or copy it to a writable place to add runs"
            )
        parent = self.path.parent if str(self.path.parent) else Path()
        if not parent.is_dir():
            raise StorageError(f"the folder {str(parent)!r} of {str(self.path)!r} does not exist")

    # -- committing: in place, or by a rewrite ---------------------------------------------------

    def _recover(self) -> None:
        """Roll back an in-place change a killed writer left uncommitted (holding the lock)."""
        if self.path.exists() and recover(real_path(self.path)):
            logger.warning(
                "%s: rolled back a change a killed writer had not committed (its runs are still "
                "in the segment files and are folded in now)",
                self.path,
            )
            self._invalidate()

    def _current_layout(self, trajectory: str) -> bool:
        """Whether the main file, and ``trajectory`` in it if stored, have this version's layout.

        If not, the next commit converts them by a rewrite. (A file converted while writing
        another trajectory still holds that one's older group: it is converted when written.)
        """
        main = self._reader_for().main
        if int(main.attrs[FORMAT_ATTR]) != FORMAT_VERSION:
            return False
        return trajectory not in main or is_appendable(main[trajectory])

    def _unfolded_segments(self, trajectory: str) -> list[tuple[int, Path]]:
        """The segment files of ``trajectory`` the main file has not folded in, in order."""
        folded = folded_segments(self._reader_for().main).get(trajectory, 0)
        return [(seq, p) for _, seq, p in list_segments(self.path, trajectory) if seq > folded]

    def _commit(
        self,
        trajectory: str,
        *,
        snapshot: TrajectorySnapshot | None = None,
        provenance: Mapping[str, object] | None = None,
        derived: Sequence[Result[Any]] = (),
    ) -> None:
        """Fold the unfolded segments of ``trajectory`` (plus the extras) into the main file.

        In place (:meth:`_append`) when the main file exists with this version's layout; else by
        writing a new file (:meth:`_rewrite`): the first sweep into a new file, and once to
        convert a file of an older layout.
        """
        if self.path.exists() and self._current_layout(trajectory):
            self._append(trajectory, snapshot=snapshot, provenance=provenance, derived=derived)
        else:
            self._rewrite(trajectory, snapshot=snapshot, provenance=provenance, derived=derived)

    def _append(
        self,
        trajectory: str,
        *,
        snapshot: TrajectorySnapshot | None = None,
        provenance: Mapping[str, object] | None = None,
        derived: Sequence[Result[Any]] = (),
        batch: RunBatch | None = None,
    ) -> None:
        """Fold in place, behind the rollback journal: costs what the segments add.

        ``batch`` is a last batch of runs, folded in after the segments from memory.
        Only called while holding the writer lock. A kill before the journal is deleted leaves a
        journal that the next writer rolls back (readers read around it meanwhile), with every
        segment still there; a kill after it leaves segments the main file lists as folded.

        A small file this writer created in this session is changed as a copy renamed over it
        instead (:func:`.commit.copied_h5`): its commit costs two fsyncs, not four, and a kill
        leaves the file as it was and a temporary copy that the next writer removes.
        """
        self._invalidate()
        on_disk = list_segments(self.path, trajectory)
        real = real_path(self.path)
        try:
            if self._fresh and real.stat().st_size <= COPY_COMMIT_BYTES:
                opened = copied_h5(real)
            else:
                opened = open_journaled(real)
            with opened as main:
                folded = self._fold_into(
                    main, trajectory, on_disk, snapshot, provenance, derived, batch
                )
        except (OSError, RuntimeError) as exc:
            # h5py reports HDF5 failures as OSError, some as RuntimeError; the file is as it was.
            if isinstance(exc, PypetRebuildError):
                raise
            raise write_failed(self.path, exc) from exc
        self._remove_folded(trajectory, folded.get(trajectory, 0), on_disk)

    def _fold_into(
        self,
        main: h5py.File,
        trajectory: str,
        on_disk: Sequence[tuple[str, int, Path]],
        snapshot: TrajectorySnapshot | None,
        provenance: Mapping[str, object] | None,
        derived: Sequence[Result[Any]],
        batch: RunBatch | None,
    ) -> dict[str, int]:
        """The in-place change itself; returns the folded segment numbers it commits.

        The batch is folded from memory as it is when it can be (:attr:`RunBatch.direct`), else
        through a segment written in memory.
        """
        folded = folded_segments(main)
        segments = [(seq, p) for _, seq, p in on_disk if seq > folded.get(trajectory, 0)]
        with contextlib.ExitStack() as stack:
            sources = [
                stack.enter_context(h5py.File(path, "r"))[trajectory] for _, path in segments
            ]
            direct = batch if batch is not None and batch.direct and trajectory in main else None
            if batch is not None and direct is None:
                sources.append(stack.enter_context(batch_in_memory(trajectory, batch.write)))
            if trajectory in main:
                append_trajectory(main[trajectory], sources, snapshot, self.options, direct)
                append_extras(main[trajectory], provenance, derived, self.allow_pickle, sources)
            else:
                fold_trajectory(main, trajectory, None, snapshot, self.options)
                write_extras(main[trajectory], None, provenance, derived, self.allow_pickle)
        if segments:
            folded[trajectory] = segments[-1][0]
        write_attrs(main, {FOLDED_ATTR: json.dumps(folded)})
        return folded

    def _remove_folded(
        self, trajectory: str, last: int, on_disk: Sequence[tuple[str, int, Path]]
    ) -> None:
        """Delete the segments up to ``last`` (now in the durable main file) and reset counts.

        That includes segments an earlier writer folded but was killed before deleting.
        """
        for _, seq, path in on_disk:
            if seq <= last:
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()
        if on_disk:
            directory = on_disk[0][2].parent
            fsync_directory(directory)
            with contextlib.suppress(OSError):
                directory.rmdir()  # only succeeds when no segment is left
        self._next_segment[trajectory] = last + 1
        self._unfolded[trajectory] = 0
        self._invalidate()

    # -- the atomic rewrite ---------------------------------------------------------------------

    def _rewrite(
        self,
        trajectory: str,
        *,
        snapshot: TrajectorySnapshot | None = None,
        provenance: Mapping[str, object] | None = None,
        derived: Sequence[Result[Any]] = (),
    ) -> None:
        """Fold the unfolded segments of ``trajectory`` into a new main file (atomically).

        Only called while holding the writer lock. A kill before the rename leaves the old main
        file and every segment (plus a temporary file that the next writer removes); a kill after
        it leaves segments the new main file lists as folded, which readers skip and the next
        writer deletes.
        """
        self._invalidate()
        old = open_checked(self.path) if self.path.exists() else None
        folded = folded_segments(old) if old is not None else {}
        on_disk = list_segments(self.path, trajectory)
        segments = [(seq, path) for _, seq, path in on_disk if seq > folded.get(trajectory, 0)]
        segment_files = [h5py.File(path, "r") for _, path in segments]
        try:
            with atomic_h5(self.path) as new:
                start_main_file(new, old, trajectory)
                view = None
                if old is not None and trajectory in old:
                    view = TrajectoryView(old[trajectory], [f[trajectory] for f in segment_files])
                fold_trajectory(new, trajectory, view, snapshot, self.options)
                write_extras(new[trajectory], view, provenance, derived, self.allow_pickle)
                if segments:
                    folded[trajectory] = segments[-1][0]
                write_attrs(new, {FOLDED_ATTR: json.dumps(folded)})
        finally:
            for file in segment_files:
                file.close()
            if old is not None:
                old.close()
        # The new main file is durable: every segment up to ``folded`` is in it.
        self._fresh = self._fresh or old is None
        self._remove_folded(trajectory, folded.get(trajectory, 0), on_disk)

    def adopt_trajectory(self, source: Path, trajectory: str) -> None:
        """Replace (or add) ``trajectory`` with the one stored in the compacted file ``source``.

        One atomic rewrite: a kill leaves this file as it was or with the new trajectory. Used by
        ``merge_trajectories`` to install a merge built in a temporary file.
        """
        with self._locked():
            self._invalidate()
            old = open_checked(self.path) if self.path.exists() else None
            incoming = open_checked(source)
            stale = list_segments(self.path, trajectory)
            try:
                folded = folded_segments(old) if old is not None else {}
                with atomic_h5(self.path) as new:
                    start_main_file(new, old, trajectory)
                    copy_trajectory(incoming[trajectory], new, trajectory)
                    # Segments of the replaced trajectory must never be read into the new one.
                    last = max([folded.get(trajectory, 0), *(seq for _, seq, _ in stale)])
                    folded[trajectory] = last
                    new.attrs[FOLDED_ATTR] = json.dumps(folded)
            finally:
                incoming.close()
                if old is not None:
                    old.close()
            for _, _, path in stale:
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()
            self._next_segment[trajectory] = folded.get(trajectory, 0) + 1
            self._unfolded[trajectory] = 0
            self._invalidate()

    # -- reading --------------------------------------------------------------------------------

    def _invalidate(self) -> None:
        if self._reader is not None:
            self._reader.close()
            self._reader = None

    def _refresh(self) -> None:
        """Drop the open reader if another writer changed the file since it was opened."""
        if self._reader is not None and self._reader.stamp != self._reader.stamp_paths.stamp():
            self._invalidate()

    def _reader_for(self) -> _Reader:
        if self._reader is not None and not self._lock.held:
            # Another process may have committed a change in place since: then read it anew
            # (the writer keeps its own reader up to date).
            self._refresh()
        if self._reader is None:
            self._reader = _Reader(self.path, allow_pickle=self.allow_pickle)
        return self._reader

    def _stored_names(self) -> tuple[str, ...]:
        if not self.path.exists():
            return ()
        return self._reader_for().names()

    def trajectory_names(self) -> tuple[str, ...]:
        """The names of the trajectories in the file (none while the file does not exist)."""
        return self._stored_names()

    def load_snapshot(self, trajectory: str) -> TrajectorySnapshot:
        """The stored definition of a trajectory, explored values included.

        The view keeps the decoded definition; each caller gets its own mutable values.
        """
        return self._reader_for().view(trajectory).snapshot().detached()

    def load_header(self, trajectory: str) -> tuple[TrajectorySnapshot, int]:
        """The definition without explored values, and the number of runs (cheap)."""
        view = self._reader_for().view(trajectory)
        return view.header, view.n_runs

    def run_count(self, trajectory: str) -> int:
        """The number of runs; the definition is checked for structure, not decoded."""
        return self._reader_for().view(trajectory).n_runs

    def load_run_table(self, trajectory: str) -> RunTable:
        """The merged run table of a trajectory."""
        return self._reader_for().view(trajectory).run_columns().to_table()

    def result_names(self, trajectory: str) -> tuple[str, ...]:
        """The names of the stored results, sorted."""
        return self._reader_for().view(trajectory).result_names()

    def has_result(self, trajectory: str, name: str) -> bool:
        """Whether result ``name`` is stored (only its own node is looked at)."""
        return self._reader_for().view(trajectory).has_result(name)

    def read_results(self, trajectory: str, name: str, runs: Sequence[int]) -> list[object]:
        """One result's values in the given runs (``MISSING`` where absent)."""
        rows = np.asarray(runs, dtype=np.int64).reshape(-1)
        return self._reader_for().view(trajectory).read_values(name, rows)

    def read_array(
        self, trajectory: str, name: str, runs: npt.NDArray[np.int64], item: tuple[Any, ...]
    ) -> tuple[npt.NDArray[Any], npt.NDArray[np.bool_]] | None:
        """Sliced read of a fixed-layout result: see :meth:`TrajectoryView.read_array`."""
        return self._reader_for().view(trajectory).read_array(name, runs, item)

    def read_span(
        self, trajectory: str, name: str, start: int, stop: int, item: tuple[Any, ...]
    ) -> tuple[npt.NDArray[Any], npt.NDArray[np.bool_]] | None:
        """Sliced read of runs ``start:stop``: see :meth:`TrajectoryView.read_span`."""
        return self._reader_for().view(trajectory).read_span(name, start, stop, item)

    def read_frame(self, trajectory: str, name: str, run: int, columns: Sequence[object]) -> object:
        """Only some columns of a DataFrame result in one run (the other columns are not read)."""
        return self._reader_for().view(trajectory).read_frame(name, run, columns)

    def read_frames(
        self,
        trajectory: str,
        name: str,
        runs: Sequence[int],
        columns: Sequence[object] | None = None,
        rows: slice | None = None,
    ) -> object | None:
        """Several runs' DataFrames stacked with a ``run`` level (``SupportsFrameStack``)."""
        view = self._reader_for().view(trajectory)
        return view.read_frames(name, np.asarray(runs, dtype=np.int64), columns, rows)

    def result_presence(self, trajectory: str, name: str) -> npt.NDArray[np.bool_]:
        """Which runs hold a value of result ``name``, without reading any value."""
        return self._reader_for().view(trajectory).presence(name)

    def result_comment(self, trajectory: str, name: str) -> str:
        """The comment given with the result."""
        return self._reader_for().view(trajectory).comment(name)

    def load_derived(self, trajectory: str) -> dict[str, Result[Any]]:
        """Trajectory-level results by name."""
        return self._reader_for().view(trajectory).derived()

    def load_provenance(self, trajectory: str) -> list[dict[str, object]]:
        """The provenance of every sweep, oldest first."""
        return self._reader_for().view(trajectory).provenance()

    @property
    def location(self) -> str:
        """The resolved path of the file (equal for two services on the same file)."""
        return str(self.path.resolve())

    def result_info(self, trajectory: str, name: str) -> ResultInfo:
        """Whether the result is stored in the fixed (stackable) layout, with shape and dtype."""
        signature = self._reader_for().view(trajectory).fixed_signature(name)
        if signature is None:
            return UNSTACKABLE
        return ResultInfo(stackable=True, shape=tuple(signature.shape), dtype=signature.dtype)

    def close(self) -> None:
        """Close the file handles and release the writer lock."""
        self._invalidate()
        self._lock.release()

    def __repr__(self) -> str:
        return f"HDF5StorageService({str(self.path)!r})"


class _Reader:
    """Open read handles on the main file and the unfolded segments."""

    def __init__(self, path: Path, *, allow_pickle: bool = False) -> None:
        self.path = path
        self.allow_pickle = allow_pickle
        self.real = real_path(path)  # resolved once: the stamp is taken on every read
        self.stamp_paths = _StampPaths(self.real)
        self.stamp = self.stamp_paths.stamp()
        self.main, self.main_view = open_reading(path, real=self.real)
        self._segments: dict[str, list[h5py.File]] = {}
        self._views: dict[str, TrajectoryView] = {}

    def add_segment(self, trajectory: str, path: Path) -> None:
        """Take in a segment this process has just written (it holds the writer lock)."""
        view = self._views.get(trajectory)
        if view is not None:
            file = h5py.File(path, "r")
            self._segments[trajectory].append(file)
            view.add_segment(file[trajectory])
        # A view opened later lists the segments on disk, this one included.
        self.stamp = self.stamp_paths.stamp()

    def names(self) -> tuple[str, ...]:
        # One pass over the root's links (h5py's ``keys`` asks for each name by its index: twice
        # the time, about as much as checking the header of a trajectory); the same order.
        found: list[bytes] = []
        self.main.id.links.iterate(found.append)
        return tuple(name.decode("utf-8", "surrogateescape") for name in found)

    def view(self, trajectory: str) -> TrajectoryView:
        if trajectory not in self._views:
            # Opened straight away: a missing one fails the same way as asking first would.
            try:
                group = self.main[trajectory]
            except KeyError:
                known = ", ".join(repr(n) for n in self.main) or "none"
                raise TrajectoryNotFoundError(
                    f"{str(self.path)!r} has no trajectory {trajectory!r}; it holds: {known}"
                ) from None
            files = self._open_segments(trajectory)
            self._segments[trajectory] = files
            self._views[trajectory] = TrajectoryView(
                group,
                [f[trajectory] for f in files],
                allow_pickle=self.allow_pickle,
                main_view=self.main_view,
            )
        return self._views[trajectory]

    def _open_segments(self, trajectory: str) -> list[h5py.File]:
        """The unfolded segments; if one vanishes, a writer folded it: reopen the main file."""
        for _ in range(_REOPEN_ATTEMPTS):
            # Most files have no segment folder: one ``stat`` says so (listing it resolves the
            # path's symlinks first).
            has_folder = os.path.isdir(self.stamp_paths.segments)
            segments = list_segments(self.path, trajectory) if has_folder else []
            # Without segment files there is nothing to skip: the record of folded ones (an
            # attribute decoded from JSON) is read only when there is a segment to judge.
            folded = folded_segments(self.main).get(trajectory, 0) if segments else 0
            files: list[h5py.File] = []
            try:
                for _, seq, path in segments:
                    if seq > folded:
                        files.append(h5py.File(path, "r"))
            except FileNotFoundError:
                for file in files:
                    file.close()
                # Deleted by a concurrent fold after we opened the main file: the new main file
                # holds its runs, so read that one instead (ours would miss them).
                self.close()
                self.stamp = self.stamp_paths.stamp()
                self.main, self.main_view = open_reading(self.path, real=self.real)
                continue
            return files
        raise StorageError(
            f"{str(self.path)!r} changed {_REOPEN_ATTEMPTS} times while being opened; a writer "
            "is folding segments quickly: try again"
        )

    def close(self) -> None:
        for files in self._segments.values():
            for file in files:
                file.close()
        self._segments.clear()
        self._views.clear()
        self.main.close()


_REOPEN_ATTEMPTS = 20


class _HDF5Session(SessionBase):
    """A writer session on an :class:`HDF5StorageService`: owns the file's writer lock."""

    def __init__(
        self,
        service: HDF5StorageService,
        trajectory: str,
        done: AbstractSet[int],
        snapshot: TrajectorySnapshot | None = None,
    ) -> None:
        super().__init__(trajectory, done, service._lock.release)
        self._service = service
        self._snapshot = snapshot

    def _write_runs(self, records: Sequence[RunRecord]) -> None:
        self._service._store_runs(self.trajectory, records, self._snapshot)

    def _write_derived(self, results: Sequence[Result[Any]]) -> None:
        self._service._store_derived(self.trajectory, results)

    def _write_finish(self, provenance: Mapping[str, object] | None) -> None:
        self._service._finish(self.trajectory, provenance, self._snapshot)

    def _write_finish_with_runs(
        self, records: Sequence[RunRecord], provenance: Mapping[str, object] | None
    ) -> None:
        if self._service.compaction != "always":
            # The other modes leave segments unfolded: the batch is one more segment.
            super()._write_finish_with_runs(records, provenance)
            return
        self._service._finish_with_runs(self.trajectory, records, provenance, self._snapshot)


class _StampPaths:
    """The names whose ``stat`` identifies the stored state of a main file (checked on every read).

    The main file's identity, size and modification time (an in-place commit changes them), its
    journal (an uncommitted change: reads go through the journal view) and the segment folder's
    modification time (a segment written or deleted changes it). Kept as strings, built once:
    a stamp is three ``stat`` calls and nothing else.
    """

    def __init__(self, real: Path) -> None:
        self.file = str(real)
        self.segments = str(real.with_name(real.name + ".segments"))
        self.journal = str(journal_path(real))

    def stamp(self) -> tuple[object, ...]:
        """The state now: ``()`` if the main file does not exist."""
        try:
            info = os.stat(self.file)
        except FileNotFoundError:
            return ()
        try:
            segments = os.stat(self.segments).st_mtime_ns
        except (FileNotFoundError, NotADirectoryError):
            segments = 0
        journal = os.path.exists(self.journal)
        return (info.st_ino, info.st_mtime_ns, info.st_size, journal, segments)
