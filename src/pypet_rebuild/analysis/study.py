"""The stored study: a trajectory as stored, and everything that reads it.

A :class:`Trajectory` describes a study and does no I/O. Running it (``env.study``) or loading a
file (:func:`load_trajectory`) gives a :class:`StoredTrajectory`, which owns reading: lazy result
handles, one run's view, queries, tables and datasets, derived results and provenance. Data flows
one way: describe -> run -> store -> read.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import PurePath
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from pypet_rebuild.errors import DuplicateNodeError, ResultNotFoundError, TrajectoryNotFoundError
from pypet_rebuild.exploration import ParameterSpace, PointHashes, point_hash
from pypet_rebuild.storage.backends import open_storage
from pypet_rebuild.storage.protocol import (
    UNSTACKABLE,
    ResultInfo,
    StorageService,
    SupportsHeader,
    SupportsResultInfo,
    SupportsRunCount,
)
from pypet_rebuild.storage.records import RunTable
from pypet_rebuild.tree.naming import check_path
from pypet_rebuild.tree.nodes import Group, Node, Parameter, Result
from pypet_rebuild.tree.snapshot import TrajectorySnapshot
from pypet_rebuild.tree.trajectory import Trajectory

if TYPE_CHECKING:
    import pandas as pd
    import xarray as xr

    from pypet_rebuild.analysis.results import ResultsView, RunView

__all__ = ["StoredTrajectory", "load_trajectory"]

_MODEL_METHODS = frozenset({"add_parameter", "explore", "expand", "lock"})
"""What a Trajectory offers to change a definition; asked of a stored study, they say how."""

T = TypeVar("T")


class StoredTrajectory:
    """A stored study: its definition, runs and results, each read when first used.

    Do not create it directly: :func:`load_trajectory` opens one from a file or backend, and
    ``Environment.study`` returns the one a sweep has just stored into.

    Parameter access follows the :class:`Trajectory` (``study["sim.steps"]``, ``study.steps``,
    ``study.parameters()``); item access always reaches a parameter, attribute access only where
    the name is not one of this class's own attributes (``study.seed`` is the study's seed,
    ``study["seed"]`` a parameter named ``seed``), as in pandas and xarray.

    Parameters
    ----------
    storage
        The backend the study is stored in.
    name
        The trajectory's name in that backend.
    load_only
        Result names to expose; the others are not listed in :attr:`results`.
    owns_storage
        Close ``storage`` when this study is closed (true when it was opened from a path).
    """

    def __init__(
        self,
        storage: StorageService,
        name: str,
        *,
        load_only: Iterable[str] | None = None,
        owns_storage: bool = False,
    ) -> None:
        self._storage = storage
        self._owns_storage = owns_storage
        self._name = name
        self._header: TrajectorySnapshot | None = None
        if isinstance(storage, SupportsRunCount):
            # The definition is read on first use: reading results needs only the run count,
            # and decoding every parameter's default cost more than opening the file.
            self._n_runs = storage.run_count(name)
        elif isinstance(storage, SupportsHeader):
            self._header, self._n_runs = storage.load_header(name)
        else:
            self._header = storage.load_snapshot(name)
            self._n_runs = self._header.n_runs
        # The parameters as stored (built on first use); explored values are read on first use
        # too (a million-run study opens in milliseconds).
        self._definition: Trajectory | None = None
        self._snapshot: TrajectorySnapshot | None = None
        self._space: ParameterSpace | None = None
        self._result_filter: frozenset[str] | None = None
        if load_only is not None:
            wanted = frozenset(load_only)
            stored = set(storage.result_names(name))
            unknown = sorted(wanted - stored)
            if unknown:
                raise ResultNotFoundError(
                    f"load_only names results that are not stored: {unknown}; "
                    f"stored: {sorted(stored)}"
                )
            self._result_filter = wanted

    # -- identity -------------------------------------------------------------------------------

    def _stored_header(self) -> TrajectorySnapshot:
        """The definition without explored values (read on first use)."""
        if self._header is None:
            if isinstance(self._storage, SupportsHeader):
                self._header, _ = self._storage.load_header(self._name)
            else:
                self._header = self._storage.load_snapshot(self._name)
        return self._header

    def _parameter_tree(self) -> Trajectory:
        """The parameters as stored, as a :class:`Trajectory` (built on first use)."""
        if self._definition is None:
            self._definition = Trajectory.from_snapshot(self._stored_header())
        return self._definition

    @property
    def name(self) -> str:
        """The trajectory's name."""
        return self._name

    @property
    def comment(self) -> str:
        """The study's description."""
        return self._stored_header().comment

    @property
    def seed(self) -> int:
        """The seed from which every run's random generator derives."""
        return self._stored_header().seed

    @property
    def storage(self) -> StorageService:
        """The backend the study is stored in."""
        return self._storage

    @property
    def is_locked(self) -> bool:
        """Always ``True``: a stored study's parameters describe stored runs (read-only)."""
        return True

    @property
    def result_filter(self) -> frozenset[str] | None:
        """The results exposed (``load_only``), or ``None`` for all of them."""
        return self._result_filter

    @property
    def trajectory(self) -> Trajectory:
        """A new :class:`Trajectory` with the study's definition, explored values included.

        Each access builds a new one (changing it never changes this stored study). Use it to
        grow the study: ``t = study.trajectory; t.expand(...)``, then
        ``Environment(t, storage=study.storage).run(simulate, resume=True)``.
        """
        return Trajectory.from_snapshot(self.snapshot())

    def snapshot(self) -> TrajectorySnapshot:
        """The stored definition as plain data, explored values included."""
        if self._snapshot is None:
            self._snapshot = self._storage.load_snapshot(self.name)
        return self._snapshot

    # -- parameters and exploration -------------------------------------------------------------

    def get_parameter(self, name: str) -> Parameter[Any]:
        """The parameter with this full path or unique leaf name."""
        return self._parameter_tree().get_parameter(name)

    def parameters(self) -> Iterator[Parameter[Any]]:
        """Every parameter in declaration order."""
        return self._parameter_tree().parameters()

    def groups(self) -> Iterator[Group]:
        """Every group, depth first."""
        return self._parameter_tree().groups()

    def nodes(self) -> Iterator[Node]:
        """Every group and parameter, depth first."""
        return self._parameter_tree().nodes()

    def __getitem__(self, path: str) -> Any:
        return self._parameter_tree()[path]

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        definition = self._parameter_tree()
        if name in _MODEL_METHODS and name not in definition:
            raise AttributeError(
                f"a stored study is read-only: {name!r} changes a study's definition; use "
                f"t = study.trajectory; t.{name}(...); then Environment(t, storage=study.storage)"
                ".run(simulate, resume=True)"
            )
        # Groups and parameters only (by path segment or unique leaf name), never the model's
        # own methods: the stored definition is not something to change in place.
        return Trajectory.__getattr__(definition, name)

    def __contains__(self, path: object) -> bool:
        return path in self._parameter_tree()

    @property
    def space(self) -> ParameterSpace | None:
        """The exploration (typed values by full path), or ``None`` if nothing is explored."""
        if self._space is None:
            snapshot = self.snapshot()
            if snapshot.explored:
                self._space = ParameterSpace(
                    snapshot.explored,
                    grid=snapshot.grid,
                    kind=snapshot.kind or None,
                    shape=snapshot.shape,
                )
        return self._space

    @property
    def explored_names(self) -> tuple[str, ...]:
        """The full paths of the explored parameters."""
        space = self.space
        return () if space is None else space.names

    def __len__(self) -> int:
        return self._n_runs

    def _check_index(self, index: int) -> int:
        if not -len(self) <= index < len(self):
            raise IndexError(f"run index {index} is out of range: the study has {len(self)} runs")
        return index % len(self)

    def point(self, index: int) -> dict[str, object]:
        """The explored values of run ``index`` by full path (empty if nothing is explored)."""
        index = self._check_index(index)
        space = self.space
        return {} if space is None else space.point(index)

    def run_parameters(self, index: int) -> dict[str, object]:
        """Every parameter's value in run ``index``: defaults overlaid with the explored values."""
        values: dict[str, object] = {p.path: p.default for p in self.parameters()}
        values.update(self.point(index))
        return values

    def point_hashes(self) -> PointHashes:
        """The stable hash of every run's explored point, in run order (16 bytes per run)."""
        space = self.space
        return PointHashes.from_hex([point_hash({})]) if space is None else space.hashes()

    def describe(self) -> str:
        """A readable summary of the parameters and the exploration."""
        return self.trajectory.describe()

    # -- runs and results -----------------------------------------------------------------------

    @property
    def results(self) -> ResultsView:
        """Lazy handles on the stored results, by name (``study.results["z"][:]``)."""
        from pypet_rebuild.analysis.results import ResultsView

        return ResultsView(self)

    def run(self, index: int) -> RunView:
        """One run's parameters, results and metadata."""
        from pypet_rebuild.analysis.results import RunView

        return RunView(self, self._check_index(index))

    def run_table(self) -> RunTable:
        """The run table: status, timing, host, pid, seed and error of every run."""
        return self._storage.load_run_table(self.name)

    def result_info(self, name: str) -> ResultInfo:
        """Whether result ``name`` stacks into one array (with its shape and dtype), unread."""
        if isinstance(self._storage, SupportsResultInfo):
            return self._storage.result_info(self.name, name)
        return UNSTACKABLE

    def find_runs(
        self, predicate: Callable[..., bool] | str | None = None, /, **conditions: object
    ) -> list[int]:
        """Indices of the runs whose values satisfy ``predicate`` and equal ``conditions``.

        The predicate's argument names select parameters (full path, unique leaf name, or
        ``a__b`` for ``a.b``) and stored results; only the named results are read. A string is
        a pandas query over explored values, scalar results and run metadata (the metadata
        columns carry a ``run_`` prefix when a result of the same name exists, see
        :meth:`to_pandas`).

        Examples
        --------
        >>> study.find_runs(lambda x, y: x > 1.0 and y == 10)  # doctest: +SKIP
        >>> study.find_runs("z > 15 and status == 'done'")  # doctest: +SKIP
        """
        from pypet_rebuild.analysis.queries import find_runs

        return find_runs(self, predicate, **conditions)

    def collect_runs(self, name: str) -> dict[int, object]:
        """A stored result by run index, for the runs that have it."""
        from pypet_rebuild.analysis.queries import collect_runs

        return collect_runs(self, name)

    def to_pandas(
        self,
        results: Iterable[str] | None = None,
        *,
        metadata: bool | Iterable[str] = True,
        index: Literal["run", "explored"] = "run",
    ) -> pd.DataFrame:
        """One row per run: explored values, scalar results and run metadata.

        Parameters
        ----------
        results
            The results to include (default: every result with scalar values).
        metadata
            ``True`` for ``status`` and ``duration``, ``False`` for none, or the names to
            include (``status, duration, started, finished, host, pid, seed, error, output``;
            ``started`` and ``finished`` are timezone-aware UTC datetimes). A
            metadata column is named ``run_<name>`` when a result or parameter has the same name, so
            metadata never replaces a result.
        index
            ``"run"``, or ``"explored"`` for a MultiIndex of the explored parameters.

        Returns
        -------
        pandas.DataFrame
            One row per run.
        """
        from pypet_rebuild.analysis.queries import to_pandas

        return to_pandas(self, results, metadata=metadata, index=index)

    def unique_points(self) -> list[tuple[dict[str, object], list[int]]]:
        """Each distinct explored point with the indices of the runs that explore it."""
        from pypet_rebuild.analysis.queries import unique_points

        return unique_points(self)

    def to_xarray(
        self,
        results: Iterable[str] | None = None,
        *,
        dims: Mapping[str, Sequence[str]] | None = None,
        coords: Mapping[str, Any] | None = None,
        layout: Literal["auto", "grid", "run"] = "auto",
        chunks: Any = None,
        pad: bool = False,
    ) -> xr.Dataset:
        """The results as an ``xarray.Dataset`` (grid dimensions for cartesian explorations).

        Parameters
        ----------
        results
            Result names to include (default: every result of numbers or arrays).
        dims
            Names of the extra dimensions of array results, by result name.
        coords
            Coordinate values of those extra dimensions, by dimension name.
        layout
            ``"auto"``, ``"grid"`` (one dimension per swept axis) or ``"run"``.
        chunks
            Load large results lazily as dask arrays with these chunks: a mapping of dimension
            names to sizes (as in xarray), an int, or ``"auto"``.
        pad
            Pad array results whose shapes differ between runs with NaN.

        Returns
        -------
        xarray.Dataset
            Data variables per result, plus the run metadata ``status`` and ``duration``
            (named ``run_status`` and ``run_duration`` when a result has the same name);
            parameters as coordinates named by their leaf name when it is unique; constants
            and provenance in ``attrs``.
        """
        from pypet_rebuild.analysis.xarray_view import to_xarray

        return to_xarray(
            self, results, dims=dims, coords=coords, layout=layout, chunks=chunks, pad=pad
        )

    # -- derived results and provenance ---------------------------------------------------------

    @property
    def derived(self) -> Mapping[str, Result[Any]]:
        """Trajectory-level results (analysis products of the whole study), read when asked."""
        return self._storage.load_derived(self.name)

    def add_derived(
        self,
        name: str,
        value: T,
        *,
        comment: str = "",
        annotations: Mapping[str, object] | None = None,
        runs: Iterable[int] | None = None,
        replace: bool = False,
    ) -> Result[T]:
        """Store a trajectory-level result: an analysis product of the whole study.

        The value is stored at once; one no codec can store is refused before anything is
        written, and the writer lock is released whatever happens.

        Parameters
        ----------
        name
            The result's dotted name.
        value
            The value to keep (any storable type, e.g. a firing-rate table).
        comment
            A human-readable description.
        annotations
            Free-form metadata.
        runs
            The runs the value was computed from; recorded as lineage in the annotations
            (``"lineage_runs"``), with the time it was added.
        replace
            Replace an existing derived result of the same name.

        Raises
        ------
        DuplicateNodeError
            If a derived result of that name exists and ``replace`` is false.
        UnsupportedTypeError
            If no codec can store the value (nothing is written).
        """
        check_path(name, what="derived result name")
        if name in self.derived and not replace:
            raise DuplicateNodeError(
                f"the derived result {name!r} already exists; pass replace=True to overwrite it"
            )
        meta = dict(annotations or {})
        if runs is not None:
            meta["lineage_runs"] = [int(i) for i in runs]
            meta["lineage_added"] = time.time()
        result = Result(name, value, comment, meta)
        with self._storage.open_writer(self.name) as session:
            session.store_derived([result])
        return result

    @property
    def provenance(self) -> list[dict[str, object]]:
        """The provenance of every sweep run on this study, oldest first."""
        return self._storage.load_provenance(self.name)

    # -- lifetime -------------------------------------------------------------------------------

    def close(self) -> None:
        """Release the files this study opened (a backend passed in by the caller stays open)."""
        if self._owns_storage:
            self._storage.close()

    def __enter__(self) -> StoredTrajectory:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        from pypet_rebuild.analysis.display import trajectory_summary

        return trajectory_summary(self)

    def _repr_html_(self) -> str:
        from pypet_rebuild.analysis.display import trajectory_html

        return trajectory_html(self)


def load_trajectory(
    source: str | os.PathLike[str] | StorageService,
    name: str | None = None,
    *,
    load_only: Iterable[str] | None = None,
    allow_pickle: bool = False,
    engine: str | None = None,
) -> StoredTrajectory:
    """Open a stored study: its parameters now, explored values and results when used.

    Opening checks the file's structure and reads the number of runs only (fast even for a
    million runs); the definition (parameters and their defaults) is read when first used.
    ``study.results[name]`` is a lazy handle; indexing it reads just the runs and the part of
    each value that the index selects.

    Parameters
    ----------
    source
        A file path (its backend is recognised by the file's signature), or any
        :class:`StorageService` (e.g. ``env.storage``).
    name
        The trajectory's name; may be omitted when the storage holds exactly one.
    load_only
        Result names to expose; others are not listed in ``study.results``.
    allow_pickle
        Unpickle values stored as pickles. Loading a pickle runs code from the file: pass
        ``True`` only for files you trust. Without it, such a value raises
        :class:`~pypet_rebuild.errors.PickleRefusedError` naming it when read, and everything
        else stays readable. A storage object passed as ``source`` keeps its own setting.
    engine
        The backend's name, to skip detection (``"hdf5"``).

    Returns
    -------
    StoredTrajectory
        The stored study; ``close()`` it (or use ``with``) to release the file.

    Raises
    ------
    FileFormatError
        If the file is missing, corrupted or of no known format. A definition that is there but
        cannot be decoded (a hand-edited attribute) raises it when first used instead.
    TrajectoryNotFoundError
        If ``name`` is not in the storage (the message lists those that are), or the storage
        holds several trajectories and no ``name`` was given.
    ResultNotFoundError
        If ``load_only`` names a result that is not stored.

    Examples
    --------
    >>> study = pr.load_trajectory("sweep.h5")  # doctest: +SKIP
    >>> study.results["z"][:]                   # doctest: +SKIP
    """
    # A path is never a backend (and checking it against the protocol costs 0.1 ms).
    owns = isinstance(source, str | PurePath) or not isinstance(source, StorageService)
    options = {"allow_pickle": True} if allow_pickle and owns else {}
    storage = open_storage(source, mode="r", engine=engine, **options)
    try:
        names = storage.trajectory_names()
        if name is None:
            if len(names) != 1:
                listed = ", ".join(repr(n) for n in names) or "none"
                raise TrajectoryNotFoundError(
                    f"the storage holds {len(names)} trajectories ({listed}); pass name= to choose"
                )
            name = names[0]
        elif name not in names:
            listed = ", ".join(repr(n) for n in names) or "none"
            raise TrajectoryNotFoundError(
                f"no trajectory {name!r} in the storage; it holds: {listed}"
            )
        return StoredTrajectory(storage, name, load_only=load_only, owns_storage=owns)
    except BaseException:
        if owns:
            storage.close()
        raise
