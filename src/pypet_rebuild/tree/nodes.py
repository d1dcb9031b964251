"""The nodes of a trajectory's tree: typed parameters, results and the groups that hold them."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from pypet_rebuild.errors import NodeNotFoundError, ParameterLockedError
from pypet_rebuild.exploration import Axis
from pypet_rebuild.tree.naming import leaf_name
from pypet_rebuild.tree.values import ValueType, normalize_default

if TYPE_CHECKING:
    from pypet_rebuild.tree.trajectory import Trajectory

__all__ = ["Group", "Node", "Parameter", "Result"]

T = TypeVar("T")


class Parameter(Generic[T]):
    """A typed input of the simulation, with a default value.

    Parameters are created with :meth:`Trajectory.add_parameter`; their type ``T`` comes from the
    default. Explored values are held by the trajectory's exploration, not by the parameter.

    Parameters
    ----------
    path
        The full dotted path, e.g. ``"sim.steps"``.
    default
        The default value; it fixes the declared type unless ``value_type`` is given.
    value_type
        The declared type.
    comment
        A human-readable description.
    annotations
        Free-form metadata (units, bounds, references...).
    owner
        The trajectory whose lock applies to this parameter.
    """

    __slots__ = ("_default", "_owner", "_path", "_value_type", "annotations", "comment")

    def __init__(
        self,
        path: str,
        default: T,
        value_type: ValueType,
        *,
        comment: str = "",
        annotations: Mapping[str, object] | None = None,
        owner: Trajectory | None = None,
    ) -> None:
        self._path = path
        self._value_type = value_type
        self._default: T = value_type.convert(normalize_default(default), path=path)
        self._owner = owner
        self.comment = comment
        self.annotations: dict[str, object] = dict(annotations or {})

    @property
    def path(self) -> str:
        """The full dotted path of the parameter."""
        return self._path

    @property
    def name(self) -> str:
        """The last segment of the path."""
        return leaf_name(self._path)

    @property
    def value_type(self) -> ValueType:
        """The declared type that every value of this parameter converts to."""
        return self._value_type

    @property
    def locked(self) -> bool:
        """Whether a run has started, after which the default cannot change."""
        return self._owner is not None and self._owner.is_locked

    @property
    def default(self) -> T:
        """The value used in every run that does not explore this parameter."""
        return self._default

    @default.setter
    def default(self, value: T) -> None:
        if self.locked:
            raise ParameterLockedError(
                f"parameter {self._path!r} is locked because a run has started; "
                "create a new Trajectory (or expand this one) to run other values"
            )
        self._default = self._value_type.convert(normalize_default(value), path=self._path)

    def convert(self, value: object, position: int | None = None) -> T:
        """Convert a value to this parameter's type, losslessly, or raise ``ParameterTypeError``.

        Parameters
        ----------
        value
            The candidate value.
        position
            The run position, used in the error message for explored values.
        """
        converted: T = self._value_type.convert(value, path=self._path, position=position)
        return converted

    def sweep(self, values: Iterable[T]) -> Axis[T]:
        """Describe an exploration axis over this parameter.

        The static type of ``values`` must match the parameter's, so mypy rejects
        ``steps.sweep(["a"])`` for a ``Parameter[int]``.

        Parameters
        ----------
        values
            The values to explore, in order.

        Examples
        --------
        >>> import pypet_rebuild as pr
        >>> traj = pr.Trajectory("t")
        >>> x = traj.add_parameter("x", 1.0)
        >>> traj.explore(pr.cartesian_product(x.sweep([1.0, 2.0])))
        >>> len(traj)
        2
        """
        return Axis.of(self._path, values)

    def __repr__(self) -> str:
        comment = f", comment={self.comment!r}" if self.comment else ""
        return (
            f"Parameter({self._path!r}, default={self._default!r}, "
            f"type={self._value_type.name}{comment})"
        )


@dataclass(frozen=True, slots=True)
class Result(Generic[T]):
    """A named output of a run (or of the whole trajectory, for derived results).

    Parameters
    ----------
    path
        The full dotted result name, e.g. ``"stats.mean"``.
    value
        The stored value.
    comment
        A human-readable description.
    annotations
        Free-form metadata (units...).
    """

    path: str
    value: T
    comment: str = ""
    annotations: Mapping[str, object] = field(default_factory=dict)

    @property
    def name(self) -> str:
        """The last segment of the path."""
        return leaf_name(self.path)


class Group:
    """A group of parameters and sub-groups, reached by attribute or by relative path.

    Parameters
    ----------
    path
        The full dotted path of the group (``""`` for the root).
    comment
        A human-readable description.
    """

    __slots__ = ("_children", "_path", "annotations", "comment")

    def __init__(self, path: str, *, comment: str = "") -> None:
        self._path = path
        self._children: dict[str, Node] = {}
        self.comment = comment
        self.annotations: dict[str, object] = {}

    @property
    def path(self) -> str:
        """The full dotted path of the group."""
        return self._path

    @property
    def name(self) -> str:
        """The last segment of the path."""
        return leaf_name(self._path)

    @property
    def children(self) -> Mapping[str, Node]:
        """The direct children by name (read-only)."""
        return MappingProxyType(self._children)

    def _add_child(self, name: str, node: Node) -> None:
        self._children[name] = node

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        try:
            return self._children[name]
        except KeyError:
            raise self._not_found(name) from None

    def __getitem__(self, path: str) -> Any:
        node: Node = self
        for segment in path.split("."):
            if not isinstance(node, Group) or segment not in node._children:
                raise self._not_found(path)
            node = node._children[segment]
        return node

    def __contains__(self, path: object) -> bool:
        if not isinstance(path, str):
            return False
        try:
            self[path]
        except NodeNotFoundError:
            return False
        return True

    def __iter__(self) -> Iterator[Node]:
        return iter(tuple(self._children.values()))

    def __len__(self) -> int:
        return len(self._children)

    def parameters(self) -> Iterator[Parameter[Any]]:
        """Yield every parameter below this group, depth first, in insertion order."""
        for node in self.nodes():
            if isinstance(node, Parameter):
                yield node

    def groups(self) -> Iterator[Group]:
        """Yield every group below this group, depth first, in insertion order."""
        for node in self.nodes():
            if isinstance(node, Group):
                yield node

    def nodes(self) -> Iterator[Node]:
        """Yield every node below this group (groups before their children), depth first."""
        for child in tuple(self._children.values()):
            yield child
            if isinstance(child, Group):
                yield from child.nodes()

    def _not_found(self, name: str) -> NodeNotFoundError:
        where = f"group {self._path!r}" if self._path else "the trajectory"
        known = ", ".join(repr(n) for n in self._children) or "nothing yet"
        return NodeNotFoundError(f"{where} has no node {name!r}; it contains {known}")

    def __repr__(self) -> str:
        return f"Group({self._path!r}, children={list(self._children)})"


Node = Parameter[Any] | Group
