"""Check up front that what must travel to other processes can be pickled.

The simulate function travels with cloudpickle (as the executors send it), so a function defined
in ``__main__``, a notebook cell, a lambda or a closure is fine; one that holds a lock, an open
file or a live connection is not, and neither is such a parameter value. pypet reported this
from inside a worker, after the sweep had started; here it is refused before any run, naming the
object and the fix.
"""

from __future__ import annotations

import pickle
from collections.abc import Mapping, Sequence

import cloudpickle  # type: ignore[import-untyped]

from pypet_rebuild.errors import UnpicklableError
from pypet_rebuild.execution.worker import SweepContext

__all__ = ["check_picklable"]


def _describe(obj: object) -> str:
    return getattr(obj, "__qualname__", None) or type(obj).__qualname__


def check_picklable(
    context: SweepContext, explored: Mapping[str, Sequence[object]], executor: str
) -> None:
    """Raise :class:`UnpicklableError` naming the first object that cannot be pickled."""
    try:
        cloudpickle.dumps(context.simulate, protocol=pickle.HIGHEST_PROTOCOL)
    except Exception as exc:
        name = _describe(context.simulate)
        raise UnpicklableError(
            f"the simulate function {name!r} cannot be sent to {executor} workers because it "
            f"cannot be pickled, even with cloudpickle ({type(exc).__name__}: {exc}); it or "
            "something it refers to (a global, a closure variable, a bound argument) holds a "
            "resource such as a lock, an open file or a connection: create such resources "
            "inside the simulate function"
        ) from exc
    for path, value in context.defaults.items():
        _check_value(value, f"the default of parameter {path!r}", executor)
    for path, values in explored.items():
        try:
            pickle.dumps(values, protocol=pickle.HIGHEST_PROTOCOL)
        except Exception:
            for position, value in enumerate(values):
                _check_value(value, f"the value of parameter {path!r} in run {position}", executor)


def _check_value(value: object, what: str, executor: str) -> None:
    try:
        pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
    except Exception as exc:
        raise UnpicklableError(
            f"{what} ({type(value).__qualname__}) cannot be sent to {executor} workers because "
            f"it cannot be pickled ({type(exc).__name__}: {exc}); use a picklable value (plain "
            "data, arrays) and create resources such as files inside the simulate function"
        ) from exc
