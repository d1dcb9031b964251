"""The Trajectory: the tree of typed parameters plus the exploration that defines the runs."""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any, TypeVar

from pypet_rebuild.errors import (
    AmbiguousNameError,
    DuplicateNodeError,
    NodeNotFoundError,
    ParameterLockedError,
    UnknownParameterError,
)
from pypet_rebuild.exploration import Axis, ParameterSpace, PointHashes, point_hash, zipped
from pypet_rebuild.tree.naming import check_comment, check_path, leaf_name, parent_path
from pypet_rebuild.tree.nodes import Group, Node, Parameter
from pypet_rebuild.tree.seeding import check_seed
from pypet_rebuild.tree.snapshot import ParameterSpec, TrajectorySnapshot, type_to_name
from pypet_rebuild.tree.values import ValueType, normalize_default

__all__ = ["Trajectory"]

T = TypeVar("T")

_READERS = frozenset(
    {
        "add_derived",
        "collect_runs",
        "derived",
        "find_runs",
        "provenance",
        "results",
        "run",
        "run_table",
        "storage",
        "to_pandas",
        "to_xarray",
        "unique_points",
    }
)
"""What a stored study offers and the model does not: asked of a model, they say where to look."""

ExplorationLike = ParameterSpace | Mapping[str, Iterable[object]] | Axis[Any] | Sequence[Axis[Any]]


class Trajectory:
    """A named study: typed parameters in a tree, and the points at which to run them.

    Parameters
    ----------
    name
        The trajectory's name (an identifier; several trajectories can share one file).
    comment
        A description of the study.
    seed
        The seed every run's random generator derives from (with the run's point hash). Drawn at
        random and recorded when not given, so the study stays reproducible. An integer in
        ``0 <= seed < 2**64``.

    Raises
    ------
    InvalidSeedError
        If ``seed`` is not an integer in that range (a float, a string, ``True``...).
    InvalidCommentError
        If ``comment`` is not a string or holds a NUL character.

    Examples
    --------
    >>> import pypet_rebuild as pr
    >>> traj = pr.Trajectory("sweep", seed=1)
    >>> x = traj.add_parameter("x", 1.0, comment="first factor")
    >>> steps = traj.add_parameter("sim.steps", 100)
    >>> traj.explore(pr.cartesian_product({"x": [1.0, 2.0], "sim.steps": [10, 20]}))
    >>> len(traj), traj["sim.steps"] is steps, traj.steps is steps
    (4, True, True)
    """

    def __init__(self, name: str, *, comment: str = "", seed: int | None = None) -> None:
        self._name = check_path(name, what="trajectory name", dotted=False)
        self.comment = check_comment(comment, f"trajectory {self._name!r}")
        self._seed = secrets.randbits(63) if seed is None else check_seed(seed, self._name)
        self._root = Group("")
        self._parameters: dict[str, Parameter[Any]] = {}
        self._by_leaf: dict[str, list[str]] = {}
        self._space: ParameterSpace | None = None
        self._locked = False

    # -- identity -------------------------------------------------------------------------------

    @property
    def name(self) -> str:
        """The trajectory's name."""
        return self._name

    @property
    def seed(self) -> int:
        """The seed from which every run's random generator derives."""
        return self._seed

    @property
    def is_locked(self) -> bool:
        """Whether a run has started; parameters can then no longer change."""
        return self._locked

    def lock(self) -> None:
        """Lock the parameters (the Environment does this when a run starts)."""
        self._locked = True

    # -- building the tree ----------------------------------------------------------------------

    def add_parameter(
        self,
        path: str,
        default: T,
        *,
        type: type[T] | None = None,
        comment: str = "",
        annotations: Mapping[str, object] | None = None,
    ) -> Parameter[T]:
        """Declare a parameter; dotted paths create the groups on the way.

        Parameters
        ----------
        path
            The full dotted path, e.g. ``"sim.steps"``.
        default
            The default value; it fixes the parameter's type (``1`` declares an ``int``).
        type
            An explicit declared type, when the default's own type is not the one meant.
        comment
            A human-readable description.
        annotations
            Free-form metadata such as units.

        Returns
        -------
        Parameter
            The new parameter node.

        Raises
        ------
        InvalidNameError
            If the path is not valid or shadows the API.
        DuplicateNodeError
            If the path already exists.
        ParameterLockedError
            If a run has already started.
        """
        self._check_unlocked(f"add parameter {path!r}")
        check_path(path, what="parameter name")
        check_comment(comment, f"parameter {path!r}")
        if path in self._parameters or path in self._group_paths():
            raise DuplicateNodeError(
                f"the trajectory {self._name!r} already has a node {path!r}; "
                "change its default with traj[path].default = value instead of adding it again"
            )
        value_type = ValueType.of(normalize_default(default), type)
        # Build (and type-check) the parameter before creating groups, so a refused default
        # leaves no empty groups behind.
        parameter = Parameter(
            path, default, value_type, comment=comment, annotations=annotations, owner=self
        )
        self._insert(parameter)
        return parameter

    def _insert(self, parameter: Parameter[Any]) -> None:
        """Put a built parameter into the tree (the checks are the caller's)."""
        group = self._ensure_group(parent_path(parameter.path))
        group._add_child(leaf_name(parameter.path), parameter)
        self._parameters[parameter.path] = parameter
        self._by_leaf.setdefault(leaf_name(parameter.path), []).append(parameter.path)

    def _ensure_group(self, path: str) -> Group:
        group = self._root
        if not path:
            return group
        walked: list[str] = []
        for segment in path.split("."):
            walked.append(segment)
            child = group.children.get(segment)
            if child is None:
                child = Group(".".join(walked))
                group._add_child(segment, child)
            elif not isinstance(child, Group):
                raise DuplicateNodeError(
                    f"cannot create group {'.'.join(walked)!r}: it is already a parameter"
                )
            group = child
        return group

    def _group_paths(self) -> set[str]:
        return {group.path for group in self._root.groups()}

    def _check_unlocked(self, action: str) -> None:
        if self._locked:
            raise ParameterLockedError(
                f"cannot {action}: the trajectory {self._name!r} is locked because a run has "
                "started; create a new Trajectory, or use traj.expand(...) to add points"
            )

    # -- access ---------------------------------------------------------------------------------

    def get_parameter(self, name: str) -> Parameter[Any]:
        """Return the parameter with this full path or unique leaf name.

        Raises
        ------
        NodeNotFoundError
            If no parameter matches.
        AmbiguousNameError
            If a leaf name matches several parameters; the error lists their full paths.
        """
        return self._parameters[self._resolve(name)]

    def _resolve(self, name: str) -> str:
        if name in self._parameters:
            return name
        candidates = self._by_leaf.get(name, [])
        if len(candidates) == 1:
            return candidates[0]
        if len(candidates) > 1:
            raise AmbiguousNameError(name, candidates)
        known = ", ".join(repr(p) for p in self._parameters) or "none yet"
        raise NodeNotFoundError(
            f"the trajectory {self._name!r} has no parameter {name!r}; its parameters are {known}"
        )

    def __getitem__(self, path: str) -> Any:
        if path in self._parameters:
            return self._parameters[path]
        if "." in path or path in self._root.children:
            return self._root[path]
        return self._parameters[self._resolve(path)]

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        children = self.__dict__["_root"].children
        if name in children:
            return children[name]
        if name in _READERS and name not in self._parameters and name not in self._by_leaf:
            raise AttributeError(
                f"a Trajectory describes a study and reads nothing: {name!r} belongs to the "
                "stored study; use env.study after Environment(traj, ...).run(...), or "
                "pr.load_trajectory(path)"
            )
        return self._parameters[self._resolve(name)]

    def __contains__(self, path: object) -> bool:
        return isinstance(path, str) and (path in self._parameters or path in self._root)

    def parameters(self) -> Iterator[Parameter[Any]]:
        """Yield every parameter in declaration order (``groups()`` walks the tree instead)."""
        return iter(tuple(self._parameters.values()))

    def groups(self) -> Iterator[Group]:
        """Yield every group, depth first."""
        return self._root.groups()

    def nodes(self) -> Iterator[Node]:
        """Yield every group and parameter, depth first (a group before its children)."""
        return self._root.nodes()

    # -- exploration ----------------------------------------------------------------------------

    def explore(self, exploration: ExplorationLike) -> None:
        """Set the points to run: a space (``cartesian_product``...), or a mapping zipped together.

        Values are converted to each parameter's declared type now, so a wrong value fails here,
        not in the middle of the sweep.

        Parameters
        ----------
        exploration
            A :class:`ParameterSpace`, a mapping of parameter name to equal-length sequences
            (zipped), or parameter axes (``x.sweep([...])``, zipped).

        Raises
        ------
        UnknownParameterError
            If a name is not a parameter of this trajectory.
        ParameterTypeError
            If a value does not convert to its parameter's type; names the run position.
        ParameterLockedError
            If a run has already started (use :meth:`expand`).
        """
        self._check_unlocked("re-explore")
        self._space = self._typed_space(exploration)

    def expand(self, exploration: ExplorationLike) -> None:
        """Append points to the exploration; allowed after runs, to extend a finished study.

        The new points must explore exactly the parameters already explored. Run only the new
        points with ``env.run(simulate, resume=True)``.

        Parameters
        ----------
        exploration
            The points to add, in any form :meth:`explore` accepts.
        """
        addition = self._typed_space(exploration, offset=len(self))
        if self._space is None:
            self._space = addition
            return
        if set(addition.names) != set(self._space.names):
            missing = sorted(set(self._space.names) - set(addition.names))
            extra = sorted(set(addition.names) - set(self._space.names))
            raise UnknownParameterError(
                "an expansion must explore exactly the parameters already explored "
                f"{list(self._space.names)}; missing {missing}, unexpected {extra}"
            )
        # Hash the new points now (and the old ones once): the concatenation keeps both, so a
        # study grown round after round never hashes its stored points again.
        self._space.hashes()
        addition.hashes()
        self._space = self._space + addition

    def _typed_space(self, exploration: ExplorationLike, offset: int = 0) -> ParameterSpace:
        space = exploration if isinstance(exploration, ParameterSpace) else zipped(exploration)
        resolved = {name: self._resolve_explored(name) for name in space.names}
        columns: dict[str, Sequence[object]] = {}
        for name, values in space.columns.items():
            parameter = self._parameters[resolved[name]]
            columns[parameter.path] = [
                parameter.convert(value, offset + position) for position, value in enumerate(values)
            ]
        grid = None
        if space.grid is not None:
            grid = tuple(tuple(resolved[name] for name in dim) for dim in space.grid)
        return ParameterSpace(columns, grid=grid, kind=space.kind, shape=space.shape)

    def _resolve_explored(self, name: str) -> str:
        try:
            return self._resolve(name)
        except NodeNotFoundError:
            known = ", ".join(repr(p) for p in self._parameters) or "none yet"
            raise UnknownParameterError(
                f"cannot explore {name!r}: the trajectory {self._name!r} has no such parameter; "
                f"declare it with traj.add_parameter({name!r}, default) first (known: {known})"
            ) from None

    @property
    def space(self) -> ParameterSpace | None:
        """The exploration (typed values by full path), or ``None`` if nothing is explored."""
        return self._space

    @property
    def explored_names(self) -> tuple[str, ...]:
        """The full paths of the explored parameters."""
        return () if self._space is None else self._space.names

    def __len__(self) -> int:
        return 1 if self._space is None else len(self._space)

    def point(self, index: int) -> dict[str, object]:
        """The explored values of run ``index`` by full path (empty if nothing is explored)."""
        self._check_index(index)
        return {} if self._space is None else self._space.point(index)

    def run_parameters(self, index: int) -> dict[str, object]:
        """Every parameter's value in run ``index``: defaults overlaid with the explored values."""
        values: dict[str, object] = {p.path: p.default for p in self._parameters.values()}
        values.update(self.point(index))
        return values

    def point_hashes(self) -> PointHashes:
        """The stable hash of every run's explored point, in run order (16 bytes per run)."""
        if self._space is None:
            return PointHashes.from_hex([point_hash({})])
        return self._space.hashes()

    def describe(self) -> str:
        """A readable summary of the parameters and the exploration."""
        lines = [f"Trajectory {self._name!r}: {len(self)} run(s), seed {self._seed}"]
        if self.comment:
            lines.append(f"  {self.comment}")
        explored = set(self.explored_names)
        for parameter in self._parameters.values():
            mark = " (explored)" if parameter.path in explored else ""
            lines.append(
                f"  {parameter.path}: {parameter.value_type.name} = {parameter.default!r}{mark}"
            )
        if self._space is not None:
            lines.extend("  " + line for line in repr(self._space).splitlines())
        return "\n".join(lines)

    def _check_index(self, index: int) -> None:
        if not -len(self) <= index < len(self):
            raise IndexError(f"run index {index} is out of range: the trajectory has {len(self)}")

    # -- plain data -----------------------------------------------------------------------------

    def snapshot(self) -> TrajectorySnapshot:
        """Everything that defines the sweep, as plain data for storage backends."""
        specs = tuple(
            ParameterSpec(
                path=p.path,
                default=p.default,
                type_name=type_to_name(p.value_type.python_type),
                dtype=None if p.value_type.dtype is None else str(p.value_type.dtype),
                ndim=p.value_type.ndim,
                comment=p.comment,
                annotations=dict(p.annotations),
            )
            for p in self._parameters.values()
        )
        space = self._space
        return TrajectorySnapshot(
            name=self._name,
            comment=self.comment,
            seed=self._seed,
            parameters=specs,
            explored={} if space is None else dict(space.columns),
            grid=None if space is None else space.grid,
            shape=None if space is None else space.shape,
            kind="" if space is None else space.kind,
            hashes=self.point_hashes(),
        )

    @classmethod
    def from_snapshot(cls, snapshot: TrajectorySnapshot) -> Trajectory:
        """Rebuild a trajectory from its plain-data description (e.g. as stored).

        The stored description is taken as it is: names and defaults are not checked again, so a
        file stays loadable whatever names later versions give their own attributes. The
        trajectory comes back locked (its parameters describe stored runs); ``expand`` still
        adds points.
        """
        trajectory = cls(snapshot.name, comment=snapshot.comment, seed=0)
        trajectory._seed = snapshot.seed  # as stored, even from before seeds were range-checked
        for spec in snapshot.parameters:
            trajectory._insert(
                Parameter(
                    spec.path,
                    spec.default,
                    spec.value_type(),
                    comment=spec.comment,
                    annotations=spec.annotations,
                    owner=trajectory,
                )
            )
        if snapshot.explored:
            trajectory._space = ParameterSpace(
                snapshot.explored,
                grid=snapshot.grid,
                kind=snapshot.kind or "zipped",
                shape=snapshot.shape,
            )
        trajectory.lock()
        return trajectory

    def __repr__(self) -> str:
        return self.describe()
