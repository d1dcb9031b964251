"""Where finished runs go: batched to storage, counted, reported to hooks and the progress bar.

One bad run stays one bad run: when storage refuses a batch (a result no codec can store, a value
a backend cannot write), the batch is stored again in halves until the runs that fail alone are
found; those are stored as failed runs, with the reason, and every other run keeps its results.
"""

from __future__ import annotations

import logging
import time
import traceback
from collections.abc import Callable, Mapping, Sequence
from operator import attrgetter

from pypet_rebuild.execution.hooks import SweepHooks
from pypet_rebuild.execution.progress import Progress
from pypet_rebuild.execution.report import DurationLog, RunFailure, RunReport
from pypet_rebuild.storage.protocol import SupportsFinishWithRuns, WriterSession
from pypet_rebuild.storage.records import RunRecord, RunStatus

__all__ = ["RecordSink", "estimate_bytes"]

_FLUSH_BYTES = 64 << 20
_DONE = RunStatus.DONE
_monotonic = time.monotonic
_SAMPLE_EVERY = 8
_INDEX = attrgetter("index")
_DURATION = attrgetter("duration")


def estimate_bytes(results: Mapping[str, object]) -> int:
    """A cheap estimate of the memory a run's results take (arrays and strings dominate)."""
    total = 0
    for value in results.values():
        nbytes = getattr(value, "nbytes", None)
        if isinstance(nbytes, int):
            total += nbytes
        elif isinstance(value, str | bytes):
            total += len(value)
        else:
            total += 64
    return total


logger = logging.getLogger(__name__)


class RecordSink:
    """Collects finished runs in the driving process, the single writer of a sweep.

    Parameters
    ----------
    session
        The writer session the batches go to.
    hooks
        Called with each record once its batch is stored.
    progress
        Counts finished runs.
    batch_size
        Flush after this many runs.
    flush_seconds
        Flush at least this often while runs keep finishing.
    points
        Gives a run's explored values, for failure reports.
    """

    def __init__(
        self,
        session: WriterSession,
        *,
        hooks: Sequence[SweepHooks],
        progress: Progress,
        batch_size: int,
        flush_seconds: float,
        points: Callable[[int], dict[str, object]],
    ) -> None:
        self._session = session
        self._hooks = hooks
        self._progress = progress
        self._batch_size = batch_size
        self._flush_seconds = flush_seconds
        self._points = points
        self._batch: list[RunRecord] = []
        self._batch_bytes = 0
        self._flush_at = time.monotonic() + flush_seconds
        self._durations = DurationLog()
        self._logged = 0  # how many records at the start of the batch have their duration logged
        self._failures: list[RunFailure] = []
        self.done = 0
        self.failed = 0
        self.unstorable: list[tuple[RunRecord, Exception]] = []
        """Runs whose results storage refused (stored as failed runs instead), with the error."""

    def add(self, record: RunRecord, error: BaseException | None) -> None:
        """Take one finished run."""
        # Once per run in the driving process, whatever the executor: keep it lean.
        batch = self._batch
        batch.append(record)
        if not len(batch) % _SAMPLE_EVERY:
            # Sizing every record costs more than the bound needs: sample and extrapolate.
            self._batch_bytes += _SAMPLE_EVERY * estimate_bytes(record.results)
        if record.status is _DONE:
            self.done += 1
        else:
            self._count_failure(record, error)
        if (
            len(batch) >= self._batch_size
            or self._batch_bytes >= _FLUSH_BYTES
            or _monotonic() >= self._flush_at
        ):
            self.flush()

    def flush(self) -> None:
        """Hand the pending batch to storage, then report its runs as done.

        Hooks and the progress bar hear of a run only once it is stored, so a run reported
        done survives a crash.
        """
        self._log_durations()
        batch, self._batch, self._logged = self._batch, [], 0
        self._batch_bytes = 0
        self._flush_at = time.monotonic() + self._flush_seconds
        if not batch:
            return
        try:
            self._session.store_runs(batch)
        except KeyboardInterrupt:
            self._keep(batch)
            raise
        except Exception as exc:
            batch = self._store_apart(batch, exc)
        self._stored(batch)

    def _log_durations(self) -> None:
        """Log the run times of the batch's runs not logged yet (once per batch, not per run)."""
        batch, logged = self._batch, self._logged
        if logged < len(batch):
            pending = batch[logged:] if logged else batch
            self._durations.extend(map(_INDEX, pending), map(_DURATION, pending))
            self._logged = len(batch)

    def _stored(self, batch: list[RunRecord]) -> None:
        """Report a stored batch: to the log, the hooks and the progress bar."""
        logger.debug(
            "stored a batch of %d runs (%d done, %d failed so far)",
            len(batch),
            self.done,
            self.failed,
        )
        for hook in self._hooks:
            for record in batch:
                hook.after_run(record)
        if self.failed:
            self._progress.set_postfix_str(f"{self.failed} failed", refresh=False)
        self._progress.update(len(batch))

    def _keep(self, batch: list[RunRecord]) -> None:
        # A second Ctrl-C while writing: keep the runs, so that closing the sink stores them
        # instead of leaving finished runs pending in the file.
        self._batch = batch + self._batch
        self._logged = len(batch)  # the runs added since are not logged yet
        self._batch_bytes = sum(estimate_bytes(record.results) for record in self._batch)

    def _store_apart(self, batch: list[RunRecord], error: Exception) -> list[RunRecord]:
        """Store a batch that storage refused, in halves, down to the runs that fail alone.

        Returns the records as stored (a refused run as its failed record). A single refused
        run is stored as failed without its results; if even that fails, storage itself is
        broken and the error propagates. A batch of ``n`` runs with ``k`` bad ones costs about
        ``2 k log2(n)`` attempts, and nothing when every run is fine.
        """
        stored: list[RunRecord] = []
        parts: list[tuple[list[RunRecord], Exception]] = [(batch, error)]
        try:
            while parts:
                part, failure = parts.pop()
                if len(part) == 1:
                    failed = _unstorable_record(part[0], failure)
                    self._session.store_runs([failed])
                    self._became_failed(part[0], failed, failure)
                    stored.append(failed)
                    continue
                half = len(part) // 2
                for piece in (part[:half], part[half:]):
                    try:
                        self._session.store_runs(piece)
                    except KeyboardInterrupt:
                        raise
                    except Exception as exc:
                        parts.append((piece, exc))
                    else:
                        stored.extend(piece)
        except KeyboardInterrupt:
            done = {record.index for record in stored}
            self._keep([record for record in batch if record.index not in done])
            raise
        return stored

    def _became_failed(self, record: RunRecord, failed: RunRecord, error: Exception) -> None:
        if record.status is RunStatus.DONE:
            self.done -= 1
        else:
            self.failed -= 1
            self._failures = [f for f in self._failures if f.index != record.index]
        self._count_failure(failed, error)
        self.unstorable.append((failed, error))

    def _count_failure(self, record: RunRecord, error: BaseException | None) -> None:
        self.failed += 1
        last_line = record.error.strip().rsplit("\n", 1)[-1]
        remote_type, _, remote_message = last_line.partition(": ")
        self._failures.append(
            RunFailure(
                index=record.index,
                point=self._points(record.index),
                error_type=type(error).__name__ if error is not None else remote_type,
                message=str(error) if error is not None else remote_message,
                traceback=record.error,
            )
        )
        logger.warning("run %d failed: %s", record.index, last_line)

    def close(self) -> None:
        """Flush what is left and close the progress bar."""
        try:
            self.flush()
        finally:
            self._progress.close()

    @property
    def keeps_last_batch(self) -> bool:
        """Whether :meth:`finish` stores the last batch in the session's final commit."""
        return isinstance(self._session, SupportsFinishWithRuns)

    def finish(self, provenance: Callable[[], Mapping[str, object] | None]) -> None:
        """Store what is left, finish the session and close the progress bar.

        Where the session can (:class:`SupportsFinishWithRuns`), the last batch is stored by
        its final commit, with the provenance: one write instead of two (for the HDF5 backend,
        no segment file). If that cannot store the batch, nothing of it was stored: it is then
        stored as any batch (:meth:`flush`: in halves down to the runs storage refuses) and the
        session finished after it. ``provenance`` is called for the counts as they are then.
        """
        interrupt: KeyboardInterrupt | None = None
        try:
            self._log_durations()
            batch, session = self._batch, self._session
            if batch and isinstance(session, SupportsFinishWithRuns):
                self._batch, self._batch_bytes, self._logged = [], 0, 0
                try:
                    session.finish_with_runs(batch, provenance())
                except BaseException as exc:
                    if session.closed or not isinstance(exc, Exception | KeyboardInterrupt):
                        raise
                    # Nothing of the batch is stored and the session is open: store it apart.
                    logger.debug("the final commit could not store its batch (%r)", exc)
                    self._batch, self._logged = batch, len(batch)
                    if isinstance(exc, KeyboardInterrupt):
                        interrupt = exc
                else:
                    self._stored(batch)
                    return
            try:
                self.flush()
            finally:
                self._session.finish(provenance())
        finally:
            self._progress.close()
        if interrupt is not None:
            raise interrupt

    def report(
        self, *, n_runs: int, skipped: int, wall_time: float, interrupted: bool
    ) -> RunReport:
        """The report of everything this sink has taken."""
        self._log_durations()
        return RunReport(
            trajectory=self._session.trajectory,
            n_runs=n_runs,
            done=self.done,
            failed=self.failed,
            skipped=skipped,
            wall_time=wall_time,
            durations=self._durations.frozen(),
            failures=tuple(sorted(self._failures, key=lambda f: f.index)),
            interrupted=interrupted,
        )


def _unstorable_record(record: RunRecord, error: Exception) -> RunRecord:
    """The failed record of a run whose results storage refused (the reason last)."""
    reason = "".join(traceback.format_exception(error))
    return record.without_results(
        status=RunStatus.FAILED,
        error=f"{record.error}the results of this run could not be stored:\n{reason}",
    )
