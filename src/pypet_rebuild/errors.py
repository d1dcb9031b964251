"""Every error pypet_rebuild raises on purpose.

All errors derive from :class:`PypetRebuildError`, and each one is also the builtin exception a
Python programmer would expect (a missing node is a ``KeyError``, a bad name a ``ValueError``, a
storage problem an ``OSError``), so ``except KeyError`` keeps working in user code.

The tree::

    PypetRebuildError
    ├── TreeError
    │   ├── InvalidNameError (ValueError)
    │   ├── DuplicateNodeError (ValueError)
    │   ├── NodeNotFoundError (KeyError, AttributeError)
    │   ├── AmbiguousNameError (LookupError, AttributeError)
    │   ├── ParameterLockedError (RuntimeError)
    │   └── InvalidCommentError (TypeError, ValueError)
    ├── InvalidSeedError (TypeError, ValueError)
    ├── ParameterTypeError (TypeError)
    ├── ExplorationError (ValueError)
    │   ├── UnknownParameterError (KeyError)
    │   ├── RaggedExplorationError
    │   ├── EmptyExplorationError
    │   └── SpaceTooLargeError
    ├── ExecutionError
    │   ├── InvalidExecutorError (ValueError)
    │   ├── UnpicklableError (TypeError)
    │   ├── SchedulerUnavailableError (ConnectionError)
    │   ├── ExecutorBrokenError (RuntimeError)
    │   ├── InvalidSimulateFunctionError (TypeError)
    │   ├── InvalidResultError (ValueError)
    │   │   └── DuplicateResultError
    │   ├── RunFailedError (RuntimeError)
    │   ├── SweepFailedError (ExceptionGroup of RunFailedError)
    │   └── ResumeMismatchError (ValueError)
    ├── StorageError (OSError)
    │   ├── FileFormatError
    │   ├── TrajectoryNotFoundError (KeyError)
    │   ├── FileLockedError
    │   └── PickleRefusedError (TypeError)
    ├── InvalidStorageError (TypeError, ValueError)
    ├── AnalysisError
    │   ├── ResultNotFoundError (KeyError)
    │   ├── IncompatibleShapesError (ValueError)
    │   ├── QueryError (ValueError)
    │   └── MergeError (ValueError)
    ├── UnsupportedTypeError (TypeError)
    └── MissingDependencyError (ImportError)

``PickleRefusedError`` is also an ``UnsupportedTypeError`` (hence the ``TypeError``): a stored
value this reader will not decode. Every message names the offending thing and says how to fix it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

__all__ = [
    "AmbiguousNameError",
    "AnalysisError",
    "DuplicateNodeError",
    "DuplicateResultError",
    "EmptyExplorationError",
    "ExecutionError",
    "ExecutorBrokenError",
    "ExplorationError",
    "FileFormatError",
    "FileLockedError",
    "IncompatibleShapesError",
    "InvalidCommentError",
    "InvalidExecutorError",
    "InvalidNameError",
    "InvalidResultError",
    "InvalidSeedError",
    "InvalidSimulateFunctionError",
    "InvalidStorageError",
    "MergeError",
    "MissingDependencyError",
    "NodeNotFoundError",
    "ParameterLockedError",
    "ParameterTypeError",
    "PickleRefusedError",
    "PypetRebuildError",
    "QueryError",
    "RaggedExplorationError",
    "ResultNotFoundError",
    "ResumeMismatchError",
    "RunFailedError",
    "SchedulerUnavailableError",
    "SpaceTooLargeError",
    "StorageError",
    "SweepFailedError",
    "TrajectoryNotFoundError",
    "TreeError",
    "UnknownParameterError",
    "UnpicklableError",
    "UnsupportedTypeError",
]


class PypetRebuildError(Exception):
    """Base class of every error raised by pypet_rebuild."""

    def __str__(self) -> str:
        # KeyError quotes its message; every error here is a sentence, so print it plainly.
        return str(self.args[0]) if self.args else ""


class TreeError(PypetRebuildError):
    """A problem with the structure of a trajectory's tree of parameters and results."""


class InvalidNameError(TreeError, ValueError):
    """A node name is not a valid identifier path (empty, leading digit, bad characters)."""


class DuplicateNodeError(TreeError, ValueError):
    """A parameter or group with this path already exists."""


class NodeNotFoundError(TreeError, KeyError, AttributeError):
    """No node has this path or name."""


class AmbiguousNameError(TreeError, LookupError, AttributeError):
    """A short name matches several nodes; the message lists the full paths to choose from."""

    def __init__(self, name: str, candidates: Sequence[str]) -> None:
        self.name = name
        self.candidates = tuple(sorted(candidates))
        listed = ", ".join(repr(c) for c in self.candidates)
        super().__init__(
            f"the name {name!r} is ambiguous: it matches {listed}; use the full path instead"
        )


class ParameterLockedError(TreeError, RuntimeError):
    """A parameter was changed after a run had started."""


class InvalidCommentError(TreeError, TypeError, ValueError):
    """A comment is not a string, or holds a NUL character (HDF5 attributes cannot store one)."""


class InvalidSeedError(PypetRebuildError, TypeError, ValueError):
    """A trajectory seed is not an integer in ``0 <= seed < 2**64``."""


class ParameterTypeError(PypetRebuildError, TypeError):
    """A value does not fit its parameter's declared type and does not convert losslessly."""


class ExplorationError(PypetRebuildError, ValueError):
    """An exploration (the set of points to run) is malformed."""


class UnknownParameterError(ExplorationError, KeyError):
    """An exploration or query names a parameter that the trajectory does not have."""


class RaggedExplorationError(ExplorationError):
    """Sequences that must vary together (zipped or linked) have different lengths."""


class EmptyExplorationError(ExplorationError):
    """An exploration has no points or no parameters."""


class SpaceTooLargeError(ExplorationError):
    """A space would have more points than the limit; nothing was built.

    Parameters
    ----------
    message
        Names the builder, every axis with its length, the size and what to do.
    size
        The number of points the space would have.
    limit
        The limit it is over.
    """

    def __init__(self, message: str, *, size: int, limit: int) -> None:
        super().__init__(message)
        self.size = size
        self.limit = limit


class ExecutionError(PypetRebuildError):
    """A problem while running a sweep."""


class InvalidExecutorError(ExecutionError, ValueError):
    """An unknown executor name, a worker count below one, or a bad chunk size."""


class UnpicklableError(ExecutionError, TypeError):
    """The simulate function or a parameter value cannot be sent to another process."""


class SchedulerUnavailableError(ExecutionError, ConnectionError):
    """A Dask scheduler address did not answer in time."""


class ExecutorBrokenError(ExecutionError, RuntimeError):
    """An executor that pypet_rebuild cannot restart stopped working during the sweep."""


class InvalidSimulateFunctionError(ExecutionError, TypeError):
    """The simulate function is not callable or cannot be called with a single ``Run``."""


class InvalidResultError(ExecutionError, ValueError):
    """A simulate function produced a result with an invalid name or form."""


class DuplicateResultError(InvalidResultError):
    """A result name was set twice in the same run."""


class RunFailedError(ExecutionError, RuntimeError):
    """A run raised an exception; ``__cause__`` is the user's exception.

    Parameters
    ----------
    index
        The run index.
    point
        The explored values of the run, by parameter path.
    message
        The description of the failure.
    traceback_text
        The formatted traceback of the original exception (kept when the exception itself
        cannot cross a process boundary).
    """

    def __init__(
        self,
        index: int,
        point: Mapping[str, object],
        message: str,
        traceback_text: str = "",
    ) -> None:
        self.index = index
        self.point = dict(point)
        self.traceback_text = traceback_text
        shown = ", ".join(f"{k}={v!r}" for k, v in self.point.items())
        super().__init__(f"run {index} ({shown}) failed: {message}")


class SweepFailedError(ExecutionError, ExceptionGroup[RunFailedError]):
    """Several runs failed; raised by :meth:`RunReport.raise_for_failures`."""

    def __new__(cls, message: str, errors: Sequence[RunFailedError]) -> SweepFailedError:
        """Create the group from the failures of the individual runs."""
        return super().__new__(cls, message, errors)

    def __str__(self) -> str:
        return ExceptionGroup.__str__(self)


class ResumeMismatchError(ExecutionError, ValueError):
    """``resume=True`` was asked for a sweep that differs from the stored one."""


class StorageError(PypetRebuildError, OSError):
    """A storage backend could not read or write."""


class FileFormatError(StorageError):
    """A file is missing, not HDF5, corrupted, or was not written by pypet_rebuild."""


class TrajectoryNotFoundError(StorageError, KeyError):
    """The requested trajectory is not in the storage; the message lists those that are."""


class FileLockedError(StorageError):
    """The file is already open for writing by another process."""


class InvalidStorageError(PypetRebuildError, TypeError, ValueError):
    """What was passed as storage is not a path, a StorageService or a known backend name."""


class AnalysisError(PypetRebuildError):
    """A question asked of stored results cannot be answered as asked."""


class ResultNotFoundError(AnalysisError, KeyError):
    """No result of that name is stored; the message lists the stored results."""


class IncompatibleShapesError(AnalysisError, ValueError):
    """Results cannot be aligned into one array (shapes differ between runs, no grid...)."""


class QueryError(AnalysisError, ValueError):
    """A query string names something unknown or does not parse."""


class MergeError(AnalysisError, ValueError):
    """Trajectories cannot be merged; the message lists the differences."""


class UnsupportedTypeError(PypetRebuildError, TypeError):
    """A value has a type no codec can store; the message names the type and the path."""


class MissingDependencyError(PypetRebuildError, ImportError):
    """An optional dependency is needed; the message says which extra to install."""


class PickleRefusedError(StorageError, UnsupportedTypeError):
    """A stored value is a pickle and the reader did not pass ``allow_pickle=True``.

    Unpickling runs code named in the file, so it is refused unless the reader trusts the file.
    The message names the node (``"results.z of run 3"``, ``"parameter 'sim.obj' default"``)
    and how to opt in. It is also an :class:`UnsupportedTypeError`: a value this reader will not
    decode, like one stored with an unknown codec (tables built from several results leave such
    a result out instead of failing).
    """
