"""The ``Run`` a simulate function receives: this run's parameter values and a place for results."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from types import MappingProxyType
from typing import Any

import numpy as np

from pypet_rebuild.errors import (
    AmbiguousNameError,
    DuplicateResultError,
    InvalidNameError,
    InvalidResultError,
    NodeNotFoundError,
)
from pypet_rebuild.tree.naming import check_comment, check_path, leaf_name
from pypet_rebuild.tree.seeding import run_rng, run_seed

__all__ = ["ParameterLookup", "Run", "RunGroup"]


class ParameterLookup:
    """How names reach parameter paths inside a run; built once per sweep, shared by all runs.

    Parameters
    ----------
    paths
        The full paths of every parameter.
    """

    __slots__ = ("ambiguous", "groups", "names", "paths", "valid_results")

    def __init__(self, paths: tuple[str, ...]) -> None:
        self.paths = paths
        by_leaf: dict[str, list[str]] = {}
        for path in paths:
            by_leaf.setdefault(leaf_name(path), []).append(path)
        self.groups: frozenset[str] = frozenset(
            path.rsplit(".", depth)[0] for path in paths for depth in range(1, path.count(".") + 1)
        )
        # Full paths win over leaf names: "x" is the top-level x even if "sim.x" exists too, and
        # "sim" is the group "sim" even if "a.sim" exists (as for Trajectory attribute access).
        self.names: dict[str, str] = {
            leaf: found[0]
            for leaf, found in by_leaf.items()
            if len(found) == 1 and leaf not in self.groups
        }
        self.names.update((path, path) for path in paths)
        self.ambiguous: dict[str, tuple[str, ...]] = {
            leaf: tuple(found)
            for leaf, found in by_leaf.items()
            if len(found) > 1 and leaf not in self.names and leaf not in self.groups
        }
        self.valid_results: set[str] = set()

    def resolve(self, name: str) -> str:
        """The full path for a path or unique leaf name."""
        try:
            return self.names[name]
        except KeyError:
            pass
        if name in self.ambiguous:
            raise AmbiguousNameError(name, self.ambiguous[name])
        known = ", ".join(repr(p) for p in self.paths) or "none"
        raise NodeNotFoundError(f"the run has no parameter {name!r}; parameters: {known}")

    def check_result_name(self, name: object) -> str:
        """Validate a result name (cached: the same names come back in every run)."""
        if name in self.valid_results:
            return str(name)
        if not isinstance(name, str):
            raise InvalidResultError(
                f"result names must be strings, got {type(name).__name__} {name!r}"
            )
        try:
            check_path(name, what="result name")
        except InvalidNameError as exc:
            raise InvalidResultError(str(exc)) from None
        if name in self.paths or name in self.groups:
            raise InvalidResultError(
                f"the result name {name!r} collides with a parameter of the same path; "
                f"rename the result, e.g. {name + '_result'!r}"
            )
        self.valid_results.add(name)
        return name


class Run:
    """One point of the sweep, as seen by the simulate function.

    Parameter values are reached by attribute (``run.x``, ``run.sim.steps``), by unique leaf name
    (``run.steps``) or by path (``run["sim.steps"]``). Results are added with :meth:`add_result`
    or returned from the simulate function as a mapping.

    Parameters
    ----------
    index
        The run index within the trajectory.
    point_hash
        The stable hash of the run's explored point.
    values
        Every parameter's value in this run, by full path.
    lookup
        The sweep's name lookup.
    trajectory_seed
        The trajectory's seed, from which :attr:`seed` derives.
    mixer
        ``seed_mixer(trajectory_seed)``, precomputed once per sweep.
    """

    __slots__ = (
        "__dict__",
        "_comments",
        "_lookup",
        "_mixer",
        "_results",
        "_rng",
        "_seed",
        "_trajectory_seed",
        "index",
        "point_hash",
    )

    def __init__(
        self,
        index: int,
        point_hash: str,
        values: dict[str, object],
        lookup: ParameterLookup,
        trajectory_seed: int,
        mixer: int | None = None,
    ) -> None:
        self.index = index
        self.point_hash = point_hash
        # The values are the instance dictionary: ``run.x`` for a top-level parameter is
        # then a plain attribute lookup, the fastest Python has (this runs twice per run in a
        # typical simulate function). Dotted paths and leaf names go through __getattr__.
        self.__dict__ = values
        self._lookup = lookup
        self._trajectory_seed = trajectory_seed
        self._mixer = mixer
        self._results: dict[str, object] = {}
        self._comments: dict[str, str] = {}
        self._seed: int | None = None
        self._rng: np.random.Generator | None = None

    def __getattr__(self, name: str) -> Any:
        try:
            return self.__dict__[self._lookup.names[name]]
        except KeyError:
            pass
        if name.startswith("_"):
            raise AttributeError(name)
        if name in self._lookup.groups:
            return RunGroup(self, name)
        return self.__dict__[self._lookup.resolve(name)]

    def __getitem__(self, name: str) -> Any:
        return self.__dict__[self._lookup.resolve(name)]

    def __contains__(self, name: object) -> bool:
        return name in self._lookup.names

    @property
    def params(self) -> Mapping[str, object]:
        """Every parameter's value in this run, by full path (read-only)."""
        return MappingProxyType(self.__dict__)

    @property
    def seed(self) -> int:
        """The seed of :attr:`rng`, derived from the trajectory seed and the point hash."""
        if self._seed is None:
            self._seed = run_seed(self._trajectory_seed, self.point_hash, self._mixer)
        return self._seed

    @property
    def rng(self) -> np.random.Generator:
        """A random generator reproducible from the trajectory seed and this run's point."""
        if self._rng is None:
            self._rng = run_rng(self.seed)
        return self._rng

    @property
    def results(self) -> Mapping[str, object]:
        """The results added so far in this run (read-only)."""
        return MappingProxyType(self._results)

    @property
    def add_result(self) -> Callable[..., None]:
        """Add a result of this run: ``run.add_result(name, value, comment="")``.

        A property returning the method, so that it wins over a parameter named ``add_result``
        (parameter values live in the instance dictionary, which plain methods lose to); reach
        such a parameter as ``run["add_result"]``.
        """
        return self._add_result

    def _add_result(self, name: str, value: object, *, comment: str = "") -> None:
        """Add a result of this run.

        Parameters
        ----------
        name
            The result name (a dotted path of identifiers).
        value
            Any value the storage can hold (numbers, strings, numpy arrays, pandas objects...).
        comment
            A description stored with the result.

        Raises
        ------
        InvalidResultError
            If the name is invalid or collides with a parameter.
        DuplicateResultError
            If a result of this name was already set in this run.
        InvalidCommentError
            If the comment is not a string or holds a NUL character (HDF5 cannot store it).
        """
        self._lookup.check_result_name(name)
        if name in self._results:
            raise DuplicateResultError(
                f"run {self.index} sets the result {name!r} twice; each result name can be set "
                "once per run (returned mappings and add_result share one namespace)"
            )
        if comment:
            check_comment(comment, f"result {name!r} of run {self.index}")
            self._comments[name] = comment
        self._results[name] = value

    def _absorb(self, returned: object) -> None:
        if (
            type(returned) is dict
            and not self._results
            and self._lookup.valid_results.issuperset(returned)
        ):
            # The usual case: a plain dict of names already checked in an earlier run.
            self._results = dict(returned)
            return
        if not isinstance(returned, Mapping):
            raise InvalidResultError(
                f"the simulate function returned a {type(returned).__name__}; return a mapping "
                "of result names to values (e.g. {'z': z}), or None after run.add_result(...)"
            )
        for name, value in returned.items():
            self._add_result(name, value)

    def __repr__(self) -> str:
        shown = ", ".join(f"{k}={v!r}" for k, v in self.__dict__.items())
        return f"<Run {self.index}: {shown}>"


class RunGroup:
    """Attribute access to a group of a run's parameters (``run.sim.steps``).

    Parameters
    ----------
    run
        The run.
    prefix
        The group's path.
    """

    __slots__ = ("_prefix", "_run")

    def __init__(self, run: Run, prefix: str) -> None:
        self._run = run
        self._prefix = prefix

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        path = f"{self._prefix}.{name}"
        values = self._run.__dict__
        if path in values:
            return values[path]
        if path in self._run._lookup.groups:
            return RunGroup(self._run, path)
        raise NodeNotFoundError(f"the run has no parameter or group {path!r}")

    def __iter__(self) -> Iterator[str]:
        start = self._prefix + "."
        return (p for p in self._run.__dict__ if p.startswith(start))

    def __repr__(self) -> str:
        return f"<RunGroup {self._prefix!r}>"
