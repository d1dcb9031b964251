"""One explored parameter and its values, and the point type every layer passes around."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Generic, TypeAlias, TypeVar

from pypet_rebuild.errors import ExplorationError

__all__ = ["Axis", "Point"]

T = TypeVar("T")

Point: TypeAlias = Mapping[str, object]
"""The explored values of one run: explored parameter path -> value."""


@dataclass(frozen=True)
class Axis(Generic[T]):
    """One explored parameter and its values.

    Parameters
    ----------
    name
        The full parameter path, e.g. ``"sim.steps"``.
    values
        The values the parameter takes, in order.

    Examples
    --------
    >>> Axis.of("sim.steps", range(3))
    Axis(name='sim.steps', values=(0, 1, 2))
    """

    name: str
    values: tuple[T, ...]

    def __post_init__(self) -> None:
        check_name(self.name)
        values: object = self.values
        if not isinstance(values, tuple):
            # Untyped callers pass lists; keep the frozen axis immutable by converting.
            object.__setattr__(self, "values", values_tuple(self.name, values))

    @classmethod
    def of(cls, name: str, values: Iterable[T]) -> Axis[T]:
        """Build an axis from any iterable of values.

        Parameters
        ----------
        name
            The full parameter path.
        values
            The values; a string is refused because it would be read as its characters.

        Returns
        -------
        Axis
            The axis holding ``tuple(values)``.
        """
        check_values(name, values)
        return cls(name, tuple(values))

    def __len__(self) -> int:
        return len(self.values)


def check_name(name: object) -> str:
    """Return ``name`` if it is a usable explored path, else raise `ExplorationError`."""
    if not isinstance(name, str) or not name:
        raise ExplorationError(
            f"an explored parameter name must be a non-empty string path like 'sim.steps', "
            f"got {name!r}"
        )
    return name


def check_values(name: str, values: object) -> None:
    """Raise `ExplorationError` unless ``values`` is an iterable of values (not a string)."""
    if isinstance(values, str | bytes):
        raise ExplorationError(
            f"the values for {name!r} are a single {type(values).__name__} {values!r}; "
            f"wrap it in a list to explore it as one value: [{values!r}]"
        )
    if not isinstance(values, Iterable):
        raise ExplorationError(
            f"the values for {name!r} must be an iterable of values, got a "
            f"{type(values).__name__}: {values!r}; wrap it in a list"
        )


def values_tuple(name: str, values: object) -> tuple[object, ...]:
    """Turn the value list given for ``name`` into a tuple, refusing strings and non-iterables."""
    check_values(name, values)
    assert isinstance(values, Iterable)
    return tuple(values)
