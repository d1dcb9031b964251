"""The declared type of a parameter, and lossless conversion of values into it.

pypet compared exact types, so exploring a ``float`` parameter with ``np.arange(...)`` failed.
Here a parameter's :class:`ValueType` comes from its default (or an explicit ``type=``), and a
value converts when nothing is lost:

========================  ===========================================================
declared type             accepted (converted to the declared type)
========================  ===========================================================
``bool``                  ``bool``, ``np.bool_``
``int``                   ``int``, numpy integers, integral floats (``2.0``)
``float``                 ``float``, numpy floats, integers exactly representable
``complex``               complex, float and integer numbers
``str`` / ``bytes``       ``str`` / ``np.str_``; ``bytes`` / ``np.bytes_``
``numpy.ndarray``         arrays or nested sequences of the same number of dimensions
                          whose dtype casts safely to the declared dtype
any other type ``T``      instances of ``T``
========================  ===========================================================

Everything else raises :class:`~pypet_rebuild.errors.ParameterTypeError` naming the parameter,
the value and, for explored values, the run position.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from pypet_rebuild._units import unit_library
from pypet_rebuild.errors import ParameterTypeError

__all__ = ["ValueType", "normalize_default"]

_NUMPY_SCALAR_TO_PYTHON: tuple[tuple[type[Any], type[Any]], ...] = (
    (np.bool_, bool),
    (np.integer, int),
    (np.floating, float),
    (np.complexfloating, complex),
    (np.str_, str),
    (np.bytes_, bytes),
)


def normalize_default(value: object) -> object:
    """Turn numpy scalars into the matching Python scalar, so the declared type is plain.

    ``np.float64(1.0)`` as a default declares a ``float`` parameter, ``np.int64(3)`` an ``int``.
    """
    if isinstance(value, np.generic) and not isinstance(value, np.void):
        for numpy_type, python_type in _NUMPY_SCALAR_TO_PYTHON:
            if isinstance(value, numpy_type):
                return python_type(value.item())
    return value


@dataclass(frozen=True)
class ValueType:
    """The declared type of a parameter.

    Parameters
    ----------
    python_type
        The Python type of the values (``float``, ``np.ndarray``, a user class...).
    dtype
        For array parameters, the element dtype.
    ndim
        For array parameters, the number of dimensions.
    """

    python_type: type[Any]
    dtype: np.dtype[Any] | None = None
    ndim: int | None = None

    @classmethod
    def of(cls, default: object, explicit: type[Any] | None = None) -> ValueType:
        """Derive the declared type from a default value (or take the explicit one)."""
        if explicit is not None:
            if explicit is np.ndarray and isinstance(default, np.ndarray):
                return cls(np.ndarray, default.dtype, default.ndim)
            return cls(explicit)
        if unit_library(default) is not None:
            # Its own type, never a plain ndarray: converting would strip the units. Storing
            # it needs a codec for that type (pint's ships with the "units" extra).
            return cls(type(default))
        if isinstance(default, np.ndarray):
            return cls(np.ndarray, default.dtype, default.ndim)
        return cls(type(default))

    @property
    def name(self) -> str:
        """A readable name, e.g. ``"float"`` or ``"ndarray[float64, 1-d]"``."""
        if self.python_type is np.ndarray and self.dtype is not None:
            return f"ndarray[{self.dtype}, {self.ndim}-d]"
        return self.python_type.__qualname__

    def convert(self, value: object, *, path: str, position: int | None = None) -> Any:
        """Return ``value`` as the declared type, or raise if that would lose information.

        Parameters
        ----------
        value
            The value to convert.
        path
            The parameter's path, named in the error message.
        position
            The run position of an explored value, named in the error message.

        Raises
        ------
        ParameterTypeError
            If the value does not fit the declared type losslessly.
        """
        converter = _CONVERTERS.get(self.python_type)
        if converter is not None:
            converted = converter(value)
            if converted is not _REFUSED:
                return converted
        elif self.python_type is np.ndarray:
            converted = self._convert_array(value)
            if converted is not _REFUSED:
                return converted
        elif isinstance(value, self.python_type):
            return value
        where = f" at run position {position}" if position is not None else ""
        raise ParameterTypeError(
            f"parameter {path!r} is declared as {self.name} but got {value!r} "
            f"({type(value).__name__}){where}; pass a value of type {self.name} "
            "(numbers convert only where no information is lost)"
        )

    def _convert_array(self, value: object) -> object:
        if isinstance(value, str | bytes):
            return _REFUSED
        try:
            array = np.asarray(value)
        except (ValueError, TypeError):
            return _REFUSED
        assert self.dtype is not None
        if array.ndim != self.ndim or array.dtype == np.dtype(object):
            return _REFUSED
        if array.dtype == self.dtype:
            return array
        if not np.can_cast(array.dtype, self.dtype, casting="safe"):
            return _REFUSED
        return array.astype(self.dtype)


class _Refused:
    """Marker for a value that does not convert."""


_REFUSED: Any = _Refused()


def _to_bool(value: object) -> object:
    if isinstance(value, bool | np.bool_):
        return bool(value)
    return _REFUSED


def _to_int(value: object) -> object:
    if isinstance(value, bool | np.bool_):
        return _REFUSED
    if isinstance(value, int | np.integer):
        return int(value)
    if (
        isinstance(value, float | np.floating)
        and math.isfinite(value)
        and float(value).is_integer()
    ):
        return int(value)
    return _REFUSED


def _to_float(value: object) -> object:
    if isinstance(value, bool | np.bool_):
        return _REFUSED
    if isinstance(value, float | np.floating):
        as_float = float(value)
        if as_float == value or math.isnan(as_float):
            return as_float
        return _REFUSED
    if isinstance(value, int | np.integer):
        as_int = int(value)
        try:
            as_float = float(as_int)
        except OverflowError:
            return _REFUSED
        # Python compares int and float exactly, so this refuses 2**53 + 1 but accepts 2**60.
        return as_float if as_float == as_int else _REFUSED
    return _REFUSED


def _to_complex(value: object) -> object:
    if isinstance(value, bool | np.bool_):
        return _REFUSED
    if isinstance(value, complex | np.complexfloating):
        return complex(value)
    as_float = _to_float(value)
    if isinstance(as_float, float):
        return complex(as_float)
    return _REFUSED


def _to_str(value: object) -> object:
    return str(value) if isinstance(value, str) else _REFUSED


def _to_bytes(value: object) -> object:
    return bytes(value) if isinstance(value, bytes) else _REFUSED


_CONVERTERS: dict[type[Any], Any] = {
    bool: _to_bool,
    int: _to_int,
    float: _to_float,
    complex: _to_complex,
    str: _to_str,
    bytes: _to_bytes,
}
