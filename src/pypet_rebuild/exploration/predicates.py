"""Bind a plain Python function's parameter names to explored parameter paths.

``lambda x, steps: x > 1 and steps < 100`` becomes a function of a point: each parameter of the
function names one explored path. This replaces pypet's string queries (``find_idx`` with
``'$ > 1'`` strings) with ordinary, checkable code.
"""

from __future__ import annotations

import inspect
from types import MappingProxyType
from typing import TYPE_CHECKING

from pypet_rebuild.errors import ExplorationError, UnknownParameterError

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence

    from .axis import Point

__all__ = ["BoundPredicate", "bind_predicate", "resolve_name"]


class BoundPredicate:
    """A function of named values turned into a function of a point.

    Built by `bind_predicate`; call it with a point (explored path -> value).

    Parameters
    ----------
    func
        The user's function.
    positional
        For each positional-only parameter in order: the explored path it reads, or ``None``
        and its default value when it matched nothing.
    keywords
        Keyword parameter name -> explored path.
    rest
        Explored paths passed through ``**kwargs`` by full path (empty if ``func`` has none).
    """

    __slots__ = ("_func", "_keywords", "_positional", "_rest")

    def __init__(
        self,
        func: Callable[..., object],
        positional: Sequence[tuple[str | None, object]],
        keywords: Mapping[str, str],
        rest: Sequence[str],
    ) -> None:
        self._func = func
        self._positional = tuple(positional)
        self._keywords = MappingProxyType(dict(keywords))
        self._rest = tuple(rest)

    @property
    def func(self) -> Callable[..., object]:
        """The wrapped user function."""
        return self._func

    @property
    def required_names(self) -> tuple[str, ...]:
        """The explored paths the predicate reads, without repeats, in first-use order.

        Callers that read values lazily (``traj.find_runs``) load only these columns.
        """
        used = [path for path, _ in self._positional if path is not None]
        ordered = [*used, *self._keywords.values(), *self._rest]
        return tuple(dict.fromkeys(ordered))

    @property
    def bindings(self) -> Mapping[str, str]:
        """Keyword parameter name -> explored path (positional-only parameters excluded)."""
        return self._keywords

    def __call__(self, point: Point) -> bool:
        """Evaluate the predicate on one point.

        Parameters
        ----------
        point
            Explored path -> value; must hold every name in `required_names`.

        Returns
        -------
        bool
            The function's result, converted with ``bool()``.
        """
        args = [default if path is None else point[path] for path, default in self._positional]
        kwargs = {param: point[path] for param, path in self._keywords.items()}
        kwargs.update((path, point[path]) for path in self._rest)
        return bool(self._func(*args, **kwargs))

    def __repr__(self) -> str:
        name = getattr(self._func, "__qualname__", repr(self._func))
        return f"BoundPredicate({name}, reads={list(self.required_names)!r})"


def resolve_name(param: str, names: Sequence[str]) -> str | None:
    """Return the explored path a function parameter name refers to, or ``None``.

    The rules, in order: the parameter name equals an explored path; with ``__`` read as ``.``
    (``sim__steps`` -> ``sim.steps``) it equals an explored path; it equals the trailing
    dotted segments of exactly one explored path (``steps`` -> ``sim.steps``).

    Parameters
    ----------
    param
        The function's parameter name.
    names
        The explored paths.

    Returns
    -------
    str or None
        The explored path, or ``None`` if nothing matches.

    Raises
    ------
    ExplorationError
        If the trailing-segment rule matches several paths; the message lists them.
    """
    if param in names:
        return param
    dotted = param.replace("__", ".")
    if dotted in names:
        return dotted
    candidates = [name for name in names if name.endswith("." + dotted)]
    if len(candidates) > 1:
        listed = ", ".join(repr(c) for c in sorted(candidates))
        raise ExplorationError(
            f"the predicate parameter {param!r} is ambiguous: it matches {listed}; "
            f"name it by the full path with '__' for '.', e.g. {candidates[0].replace('.', '__')}"
        )
    return candidates[0] if candidates else None


def bind_predicate(func: Callable[..., object], names: Sequence[str]) -> BoundPredicate:
    """Map ``func``'s parameter names to explored names and return a predicate of a point.

    Each parameter of ``func`` names an explored path by its full path, by the path with ``__``
    for ``.``, or by its last dotted segments when they are unique (see `resolve_name`).
    Parameters with a default that match nothing keep their default; ``*args`` gets nothing;
    ``**kwargs`` receives every explored value no named parameter took, by full path.

    Parameters
    ----------
    func
        A function returning something truthy for the points to keep, e.g.
        ``lambda x, sim__steps: x > 1 and sim__steps < 100``.
    names
        The explored paths available.

    Returns
    -------
    BoundPredicate
        A callable ``point -> bool`` that also reports which paths it reads.

    Raises
    ------
    UnknownParameterError
        If a parameter without default matches no explored path; the message lists them.
    ExplorationError
        If a parameter name is ambiguous, or ``func`` has no readable signature.
    """
    if isinstance(func, BoundPredicate):
        missing = [n for n in func.required_names if n not in names]
        if missing:
            raise UnknownParameterError(_unknown_message(missing, names))
        return func
    try:
        signature = inspect.signature(func)
    except (TypeError, ValueError) as error:
        raise ExplorationError(
            f"cannot read the parameters of the predicate {func!r}: {error}; "
            f"wrap it in a lambda naming the explored parameters"
        ) from error

    positional: list[tuple[str | None, object]] = []
    keywords: dict[str, str] = {}
    takes_rest = False
    for param in signature.parameters.values():
        if param.kind is inspect.Parameter.VAR_POSITIONAL:
            continue
        if param.kind is inspect.Parameter.VAR_KEYWORD:
            takes_rest = True
            continue
        path = resolve_name(param.name, names)
        if path is None and param.default is inspect.Parameter.empty:
            raise UnknownParameterError(_unknown_message([param.name], names))
        if param.kind is inspect.Parameter.POSITIONAL_ONLY:
            # Keep the slot even when unmatched, so later positional-only values stay in place.
            positional.append((path, param.default))
        elif path is not None:
            keywords[param.name] = path
    taken = {path for path, _ in positional} | set(keywords.values()) | set(keywords)
    rest = [name for name in names if name not in taken] if takes_rest else []
    return BoundPredicate(func, positional, keywords, rest)


def _unknown_message(params: Sequence[str], names: Sequence[str]) -> str:
    available = ", ".join(repr(n) for n in names) or "none"
    shown = ", ".join(repr(p) for p in params)
    return (
        f"the predicate parameter {shown} matches no explored parameter; available: "
        f"{available} (use the full path with '__' for '.', or the last part of the path)"
    )
