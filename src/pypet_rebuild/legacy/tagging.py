"""Annotation values as tagged JSON, so a converted file keeps them exactly.

pypet annotations are numpy scalars, strings, arrays and (pickled) arbitrary objects; the native
format keeps provenance as JSON. ``tag`` writes each value with its type (the tagging of the
fixture manifests: ``{"type": "numpy.float64", "value": 1e-06}``) and ``untag`` rebuilds it.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from pypet_rebuild.tree.snapshot import PickledValue

__all__ = ["tag", "untag"]


def tag(value: object) -> dict[str, Any]:
    """A JSON-able description of ``value`` from which :func:`untag` rebuilds it."""
    if isinstance(value, PickledValue):
        return {"type": "pickle", "refused": value.message}
    if isinstance(value, bool):
        return {"type": "bool", "value": value}
    if isinstance(value, int):
        return {"type": "int", "value": value}
    if isinstance(value, float):
        return {"type": "float", "value": _float(value)}
    if isinstance(value, complex):
        return {"type": "complex", "value": [_float(value.real), _float(value.imag)]}
    if isinstance(value, str):
        return {"type": "str", "value": value}
    if isinstance(value, bytes):
        return {"type": "bytes", "hex": value.hex()}
    if value is None:
        return {"type": "None"}
    if isinstance(value, np.str_):
        return {"type": "numpy.str_", "value": str(value)}
    if isinstance(value, np.bytes_):
        return {"type": "numpy.bytes_", "hex": bytes(value).hex()}
    if isinstance(value, np.generic):
        item = value.item()
        encoded = [item.real, item.imag] if isinstance(item, complex) else item
        if isinstance(item, float):
            encoded = _float(item)
        return {"type": f"numpy.{type(value).__name__}", "value": encoded}
    if isinstance(value, np.ndarray):
        return {
            "type": "numpy.ndarray",
            "dtype": value.dtype.str,
            "shape": list(value.shape),
            "values": [tag(v) for v in value.reshape(-1).tolist()],
        }
    if isinstance(value, list | tuple):
        return {"type": type(value).__name__, "items": [tag(v) for v in value]}
    if isinstance(value, dict):
        return {"type": "dict", "pairs": [[tag(k), tag(v)] for k, v in value.items()]}
    return {"type": "repr", "value": repr(value)}


def _float(value: float) -> float | str:
    if np.isnan(value):
        return "nan"
    if np.isinf(value):
        return "inf" if value > 0 else "-inf"
    return value


def _unfloat(value: object) -> float:
    return float(value)  # type: ignore[arg-type]  # "nan"/"inf" strings and numbers


def untag(data: dict[str, Any]) -> object:
    """Rebuild the value :func:`tag` described (a refused pickle comes back as a stand-in)."""
    kind = data["type"]
    if kind == "pickle":
        return PickledValue(str(data["refused"]), None)
    if kind == "bool":
        return bool(data["value"])
    if kind == "int":
        return int(data["value"])
    if kind == "float":
        return _unfloat(data["value"])
    if kind == "complex":
        return complex(_unfloat(data["value"][0]), _unfloat(data["value"][1]))
    if kind == "str":
        return str(data["value"])
    if kind == "bytes":
        return bytes.fromhex(data["hex"])
    if kind == "None":
        return None
    if kind == "numpy.str_":
        return np.str_(data["value"])
    if kind == "numpy.bytes_":
        return np.bytes_(bytes.fromhex(data["hex"]))
    if kind == "numpy.ndarray":
        values = [untag(v) for v in data["values"]]
        return np.array(values, dtype=np.dtype(data["dtype"])).reshape(data["shape"])
    if kind.startswith("numpy."):
        scalar = getattr(np, kind.removeprefix("numpy."), None)
        if not (isinstance(scalar, type) and issubclass(scalar, np.generic)):
            return str(data.get("value"))  # only numpy scalar types are rebuilt
        raw = data["value"]
        if isinstance(raw, list):
            return scalar(complex(_unfloat(raw[0]), _unfloat(raw[1])))
        return scalar(_unfloat(raw) if isinstance(raw, str) else raw)
    if kind in ("list", "tuple"):
        items = [untag(v) for v in data["items"]]
        return items if kind == "list" else tuple(items)
    if kind == "dict":
        return {untag(k): untag(v) for k, v in data["pairs"]}
    return str(data["value"])
