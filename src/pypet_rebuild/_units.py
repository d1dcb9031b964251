"""Values that carry physical units: which library's they are, without importing any of them.

A module of its own below every layer: the point hash (exploration), parameter types (tree),
codecs (storage) and the xarray view (analysis) all ask the same question.
"""

from __future__ import annotations

import numpy as np

__all__ = ["unit_library"]

_ARRAY_UNIT_ATTRIBUTES = ("dim", "dimensions", "unit", "units")


def unit_library(value: object) -> str | None:
    """The package of a value that carries physical units (``"brian2"``, ``"pint"``...), or None.

    A numpy array subclass with a unit attribute (Brian2's ``Quantity`` has ``dim``, astropy's
    ``unit``, unyt's ``units``) or an object with ``magnitude`` and ``units`` (pint) carries
    units: turning it into a plain array or float would silently drop them.
    """
    kind = type(value)
    if isinstance(value, np.ndarray) and kind is not np.ndarray:
        carries = any(hasattr(kind, name) for name in _ARRAY_UNIT_ATTRIBUTES)
    else:
        carries = hasattr(kind, "magnitude") and hasattr(kind, "units")
    return kind.__module__.split(".")[0] if carries else None
