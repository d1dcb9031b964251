"""What every backend's writer session shares: the lock's lifetime and the checks before it.

A backend subclasses :class:`SessionBase` and implements the three ``_write_*`` methods; the base
class makes the session a context manager, refuses writes after it closed, and releases the
writer lock exactly once, on every exit path.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from collections.abc import Set as AbstractSet
from types import TracebackType
from typing import Any, ClassVar

from pypet_rebuild.errors import StorageError
from pypet_rebuild.storage.codecs import encode_value
from pypet_rebuild.storage.records import RunRecord
from pypet_rebuild.tree.naming import check_comment
from pypet_rebuild.tree.nodes import Result
from pypet_rebuild.tree.snapshot import TrajectorySnapshot

__all__ = ["SessionBase", "check_comments", "check_definition", "check_derived"]

# Parameter types whose converted values always encode: their explored columns need no check.
_PLAIN_TYPES = frozenset({"bool", "int", "float", "complex", "str", "bytes"})


def check_definition(snapshot: TrajectorySnapshot) -> None:
    """Raise ``UnsupportedTypeError`` if a default or explored value of ``snapshot`` has no codec.

    Also raises ``InvalidCommentError`` for a comment no backend can store (set after the
    trajectory was built, e.g. ``traj.comment = ...``).

    Encoding is pure, so this writes nothing; backends call it before taking the writer lock.
    The paths in the messages are those the backends store the values under (the parameter's
    path for a default, ``explored.<path>`` for an explored column).
    """
    check_comments(snapshot)
    plain = {spec.path for spec in snapshot.parameters if spec.type_name in _PLAIN_TYPES}
    for spec in snapshot.parameters:
        # Parameters are never pickled (a definition must load anywhere), whatever the setting.
        encode_value(spec.default, spec.path)
    for path, values in snapshot.explored.items():
        if path not in plain:
            encode_value(list(values), f"explored.{path}")


def check_comments(snapshot: TrajectorySnapshot) -> None:
    """Raise ``InvalidCommentError`` for a comment of ``snapshot`` that no backend can store.

    Comments are plain attributes of the model and may be set after it was built; HDF5
    attributes cannot hold a NUL character, and the memory backend refuses what HDF5 refuses.
    """
    check_comment(snapshot.comment, f"trajectory {snapshot.name!r}")
    for spec in snapshot.parameters:
        check_comment(spec.comment, f"parameter {spec.path!r}")


def check_derived(results: Sequence[Result[Any]], *, allow_pickle: bool = False) -> None:
    """Raise ``UnsupportedTypeError`` if a derived result's value has no codec.

    Also raises ``InvalidCommentError`` for a comment no backend can store.
    """
    for result in results:
        check_comment(result.comment, f"derived result {result.path!r}")
        encode_value(result.value, f"derived.{result.path}", allow_pickle=allow_pickle)


class SessionBase(ABC):
    """A writer session: holds the lock from creation until :meth:`close` or :meth:`finish`.

    Parameters
    ----------
    trajectory
        The trajectory written.
    done_runs
        The runs already stored as done.
    release
        Releases the backend's writer lock; called exactly once.
    """

    preferred_batch: ClassVar[int | None] = None
    """The most runs this backend wants per :meth:`store_runs` call, or ``None`` for no limit.

    A sweep hands finished runs to storage in batches of up to ``Environment(batch_size=...)``
    runs, fewer when this is smaller. A file backend pays per batch (a segment, fsyncs) and
    wants them large; the memory backend pays nothing per batch, while every run held in a
    pending batch survives into the garbage collector's oldest generation and makes full
    collections more frequent.
    """

    def __init__(
        self, trajectory: str, done_runs: AbstractSet[int], release: Callable[[], None]
    ) -> None:
        self._trajectory = trajectory
        self._done_runs = done_runs
        self._release: Callable[[], None] | None = release

    @property
    def trajectory(self) -> str:
        """The name of the trajectory being written."""
        return self._trajectory

    @property
    def done_runs(self) -> AbstractSet[int]:
        """Indices of the runs already stored as done when the session began."""
        return self._done_runs

    @property
    def closed(self) -> bool:
        """Whether the session has released its lock."""
        return self._release is None

    def _check_open(self, action: str) -> None:
        if self._release is None:
            raise StorageError(
                f"cannot {action}: the writer session of {self._trajectory!r} is closed; "
                "begin a new sweep (or open a new writer) to write again"
            )

    def store_runs(self, records: Sequence[RunRecord]) -> None:
        """Store a batch of finished runs; once this returns they survive a crash."""
        self._check_open("store runs")
        if records:
            self._write_runs(records)

    def store_derived(self, results: Sequence[Result[Any]]) -> None:
        """Store trajectory-level results (replacing any of the same name)."""
        self._check_open("store derived results")
        if results:
            self._write_derived(results)

    def finish(self, provenance: Mapping[str, object] | None = None) -> None:
        """Record the provenance (if any), make the stored state final, and release the lock."""
        self._check_open("finish the sweep")
        try:
            self._write_finish(provenance)
        finally:
            self.close()

    def finish_with_runs(
        self, records: Sequence[RunRecord], provenance: Mapping[str, object] | None = None
    ) -> None:
        """Store ``records``, then finish as :meth:`finish` does: in one commit where it can.

        The same as ``store_runs(records)`` followed by ``finish(provenance)``; a backend that
        overrides ``_write_finish_with_runs`` saves the separate write of the batch (see
        :class:`~pypet_rebuild.storage.protocol.SupportsFinishWithRuns`).

        Raises
        ------
        Exception
            Whatever storing ``records`` raised. While the session is still open (``closed``
            is false), none of ``records`` was stored and nothing was finished: store them with
            :meth:`store_runs`, then call :meth:`finish`.
        """
        self._check_open("finish the sweep")
        if not records:
            self.finish(provenance)
            return
        self._write_finish_with_runs(records, provenance)
        self.close()

    def _write_finish_with_runs(
        self, records: Sequence[RunRecord], provenance: Mapping[str, object] | None
    ) -> None:
        """Store ``records`` and finish; raise with nothing stored, or after closing.

        This default stores the batch as :meth:`store_runs` does, then finishes.
        """
        self._write_runs(records)
        self.finish(provenance)

    def close(self) -> None:
        """Release the writer lock (without finishing); safe to call twice."""
        release, self._release = self._release, None
        if release is not None:
            release()

    @abstractmethod
    def _write_runs(self, records: Sequence[RunRecord]) -> None: ...

    @abstractmethod
    def _write_derived(self, results: Sequence[Result[Any]]) -> None: ...

    @abstractmethod
    def _write_finish(self, provenance: Mapping[str, object] | None) -> None: ...

    def __enter__(self) -> SessionBase:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self.closed else "open"
        return f"<{type(self).__name__} of {self._trajectory!r} ({state})>"
