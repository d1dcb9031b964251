"""Strict comparison of two stored values: type, dtype, shape, memory order and value.

The codec law says ``decode(encode(x))`` equals ``x`` *and* has the same type and dtype; ``==``
checks neither (``np.float32(1) == 1.0``, ``[1] == (1,)`` is false but ``np.array([1]) ==
np.array([1.0])`` is true), and it says NaN differs from NaN. :func:`assert_values_equal` is the
comparison the project's own codec and backend tests use, shipped so downstream tests can use it
for their own types.
"""

from __future__ import annotations

import sys
from typing import Any

import numpy as np

__all__ = ["assert_values_equal", "values_difference"]


def assert_values_equal(
    expected: object, actual: object, *, rtol: float = 0.0, atol: float = 0.0
) -> None:
    """Assert that ``actual`` is ``expected`` as storage must give it back.

    Equal means: the same type (``np.float32`` is not ``float``, a tuple is not a list), the
    same dtype, shape and memory order (Fortran order must survive), and the same value, byte
    for byte where there are bytes (NaN equals NaN, ``-0.0`` differs from ``0.0``, NaT counts).
    Containers compare item by item (dict keys in order), pandas objects with
    ``pandas.testing`` (dtypes, index types and names included), scipy sparse matrices by
    format, dtype, shape and values. Objects of other types compare with ``==``, or attribute by
    attribute (``vars()``) when their class keeps ``object``'s identity equality.

    Parameters
    ----------
    expected
        The value that was stored.
    actual
        The value read back.
    rtol, atol
        Tolerances for floating-point and complex numbers and arrays (``numpy.isclose``
        semantics, NaN equal to NaN); with both zero (the default) they must be identical.

    Raises
    ------
    AssertionError
        Naming where (``[2]['k']``) and how the values differ.

    Examples
    --------
    >>> import numpy as np
    >>> from pypet_rebuild.testing import assert_values_equal
    >>> assert_values_equal(np.arange(3.0), np.arange(3.0))
    >>> assert_values_equal(1.0, 1.0 + 1e-12, rtol=1e-9)
    >>> assert_values_equal(np.float32(1), 1.0)
    Traceback (most recent call last):
    ...
    AssertionError: type: expected float32, got float
    """
    difference = values_difference(expected, actual, rtol=rtol, atol=atol)
    if difference is not None:
        raise AssertionError(difference)


def values_difference(
    expected: object, actual: object, *, rtol: float = 0.0, atol: float = 0.0
) -> str | None:
    """How ``actual`` differs from ``expected`` (see :func:`assert_values_equal`), or ``None``.

    Parameters
    ----------
    expected, actual
        The two values.
    rtol, atol
        Tolerances for floating-point and complex values.

    Returns
    -------
    str or None
        The first difference found, starting with where it is (``"[1]['a']: dtype: ..."``).
    """
    return _Comparison(rtol, atol).difference(expected, actual, "")


def _short(value: object, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _is_sparse(value: object) -> bool:
    # scipy is optional: a value can only be a sparse matrix if scipy is already imported.
    sparse = sys.modules.get("scipy.sparse")
    return sparse is not None and bool(sparse.issparse(value))


class _Comparison:
    def __init__(self, rtol: float, atol: float) -> None:
        self.rtol = rtol
        self.atol = atol

    @property
    def tolerant(self) -> bool:
        return self.rtol > 0 or self.atol > 0

    def difference(self, expected: object, actual: object, where: str) -> str | None:
        at = f"{where}: " if where else ""
        if type(actual) is not type(expected):
            return f"{at}type: expected {type(expected).__name__}, got {type(actual).__name__}"
        if isinstance(expected, np.ndarray):
            return self._arrays(expected, np.asarray(actual), where)
        if isinstance(expected, np.generic):
            return self._arrays(np.asarray(expected), np.asarray(actual), where)
        if isinstance(expected, float | complex):
            assert isinstance(actual, float | complex)
            if self._numbers_equal(expected, actual):
                return None
            return f"{at}expected {expected!r}, got {actual!r}"
        if isinstance(expected, list | tuple):
            assert isinstance(actual, list | tuple)
            if len(actual) != len(expected):
                return f"{at}length: expected {len(expected)}, got {len(actual)}"
            for i, (left, right) in enumerate(zip(expected, actual, strict=True)):
                found = self.difference(left, right, f"{where}[{i}]")
                if found is not None:
                    return found
            return None
        if isinstance(expected, dict):
            assert isinstance(actual, dict)
            if list(actual) != list(expected):
                return f"{at}keys: expected {_short(list(expected))}, got {_short(list(actual))}"
            for key, left in expected.items():
                found = self.difference(left, actual[key], f"{where}[{key!r}]")
                if found is not None:
                    return found
            return None
        module = type(expected).__module__.split(".")[0]
        if module == "pandas":
            return self._pandas(expected, actual, at)
        if _is_sparse(expected):
            return self._sparse(expected, actual, where)
        if type(expected).__eq__ is object.__eq__ and hasattr(expected, "__dict__"):
            # A class with identity equality (e.g. a dataclass(eq=False)): compare its state.
            return self.difference(vars(expected), vars(actual), f"{where}.__dict__")
        try:
            same = bool(actual == expected)
        except (TypeError, ValueError) as exc:
            return f"{at}cannot compare with ==: {exc}"
        return None if same else f"{at}expected {_short(expected)}, got {_short(actual)}"

    def _numbers_equal(self, expected: complex, actual: complex) -> bool:
        if repr(expected) == repr(actual):  # NaN equals NaN, -0.0 differs from 0.0
            return True
        if not self.tolerant:
            return False
        return bool(np.isclose(actual, expected, rtol=self.rtol, atol=self.atol, equal_nan=True))

    def _arrays(
        self, expected: np.ndarray[Any, Any], actual: np.ndarray[Any, Any], where: str
    ) -> str | None:
        at = f"{where}: " if where else ""
        if actual.dtype != expected.dtype:
            return f"{at}dtype: expected {expected.dtype}, got {actual.dtype}"
        if actual.shape != expected.shape:
            return f"{at}shape: expected {expected.shape}, got {actual.shape}"
        if (
            expected.flags.f_contiguous
            and not expected.flags.c_contiguous
            and not actual.flags.f_contiguous
        ):
            return f"{at}memory order: expected Fortran order, got C order"
        if expected.dtype.names is not None:
            for name in expected.dtype.names:
                found = self._arrays(expected[name], actual[name], f"{where}[{name!r}]")
                if found is not None:
                    return found
            return None
        if expected.dtype.kind in "OT":
            flat = zip(expected.reshape(-1), actual.reshape(-1), strict=True)
            for i, (left, right) in enumerate(flat):
                found = self.difference(left, right, f"{where}.flat[{i}]")
                if found is not None:
                    return found
            return None
        # Bytes, not values: NaN payloads, -0.0 and NaT must survive too.
        if np.ascontiguousarray(expected).tobytes() == np.ascontiguousarray(actual).tobytes():
            return None
        if self.tolerant and expected.dtype.kind in "fc":
            close = np.isclose(actual, expected, rtol=self.rtol, atol=self.atol, equal_nan=True)
            if bool(np.all(close)):
                return None
            first = tuple(int(i) for i in np.argwhere(~close)[0])
        else:
            differs = (expected != actual) & ~(_nan(expected) & _nan(actual))
            positions = np.argwhere(differs)
            first = tuple(int(i) for i in positions[0]) if len(positions) else ()
        if not first and expected.ndim:
            return f"{at}the bytes differ (e.g. a NaN payload or the sign of zero)"
        position = f"at {list(first)}: " if first else ""
        return (
            f"{at}{position}expected {_short(expected[first].tolist())}, "
            f"got {_short(actual[first].tolist())}"
        )

    def _pandas(self, expected: Any, actual: Any, at: str) -> str | None:
        import pandas as pd

        exact = not self.tolerant
        # Used by pandas only when not exact.
        rtol, atol = (self.rtol, self.atol) if not exact else (1e-5, 1e-8)
        try:
            if isinstance(expected, pd.DataFrame):
                pd.testing.assert_frame_equal(
                    actual,
                    expected,
                    check_exact=exact,
                    check_index_type=True,
                    check_column_type=True,
                    rtol=rtol,
                    atol=atol,
                )
                dtypes = list(expected.dtypes), list(actual.dtypes)
                if dtypes[0] != dtypes[1]:
                    return f"{at}dtypes: expected {dtypes[0]}, got {dtypes[1]}"
            elif isinstance(expected, pd.Series):
                pd.testing.assert_series_equal(
                    actual,
                    expected,
                    check_exact=exact,
                    check_index_type=True,
                    rtol=rtol,
                    atol=atol,
                )
            elif isinstance(expected, pd.Index):
                pd.testing.assert_index_equal(actual, expected, exact=True, check_exact=exact)
                if actual.names != expected.names:
                    return f"{at}names: expected {expected.names}, got {actual.names}"
            elif isinstance(expected, pd.api.extensions.ExtensionArray):
                pd.testing.assert_extension_array_equal(actual, expected, check_exact=exact)
            elif not bool(actual == expected) and not (pd.isna(actual) and pd.isna(expected)):
                return f"{at}expected {_short(expected)}, got {_short(actual)}"
            elif str(getattr(expected, "tz", None)) != str(getattr(actual, "tz", None)):
                # Equal instants in two time zones compare equal; storage must keep the zone.
                return f"{at}time zone: expected {expected.tz}, got {actual.tz}"
        except AssertionError as exc:
            return f"{at}{str(exc).strip()}"
        return None

    def _sparse(self, expected: Any, actual: Any, where: str) -> str | None:
        at = f"{where}: " if where else ""
        for attribute in ("format", "dtype", "shape"):
            left, right = getattr(expected, attribute), getattr(actual, attribute)
            if left != right:
                return f"{at}sparse {attribute}: expected {left}, got {right}"
        return self._arrays(expected.toarray(), actual.toarray(), f"{where}.toarray()")


def _nan(array: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    if array.dtype.kind in "fc":
        return np.asarray(np.isnan(array), dtype=bool)
    if array.dtype.kind in "mM":
        return np.asarray(np.isnat(array), dtype=bool)
    return np.zeros(array.shape, dtype=bool)
