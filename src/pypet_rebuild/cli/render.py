"""Text and JSON forms of what the commands print: value summaries, failures, times."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    import pypet_rebuild as pr

__all__ = [
    "dumps",
    "error_summary",
    "failures",
    "format_time",
    "json_default",
    "summarize",
    "summary_text",
]

_MAX_REPR = 80


def json_default(value: object) -> object:
    """The JSON form of values ``json`` does not know: numpy values as lists, the rest as text."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return str(value)


def format_time(stamp: object) -> str:
    """A run-table time (seconds since the epoch) as UTC text; ``-`` when there is none."""
    if not isinstance(stamp, int | float | np.floating) or np.isnan(stamp):
        return "-"
    return datetime.fromtimestamp(float(stamp), tz=UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def error_summary(traceback: str) -> str:
    """The last line of a stored traceback: the exception type and its message."""
    lines = [line for line in traceback.strip().splitlines() if line.strip()]
    return lines[-1].strip() if lines else ""


def failures(trajectory: pr.StoredTrajectory) -> list[dict[str, object]]:
    """Every failed run: its index, explored point, error line and traceback."""
    table = trajectory.run_table()
    found: list[dict[str, object]] = []
    for index in np.flatnonzero(table.status == "failed").tolist():
        traceback = str(table.error[index])
        found.append(
            {
                "run": index,
                "point": trajectory.point(index),
                "error": error_summary(traceback),
                "traceback": traceback,
            }
        )
    return found


def summarize(value: object) -> dict[str, object]:
    """A short description of a result: arrays by shape, dtype and range, small values whole.

    Returns
    -------
    dict
        ``type`` always; ``value`` for scalars and short values; ``shape``, ``dtype`` and, for
        numbers, ``min``/``max``/``mean`` for arrays; ``shape`` and ``columns`` for frames.
    """
    if isinstance(value, np.ndarray) and value.ndim > 0:
        entry: dict[str, object] = {
            "type": "ndarray",
            "shape": list(value.shape),
            "dtype": str(value.dtype),
        }
        numeric = value.dtype.kind in "iuf" and value.size > 0
        if numeric:
            finite = value[np.isfinite(value)] if value.dtype.kind == "f" else value
            if finite.size:
                entry.update(
                    min=finite.min().item(), max=finite.max().item(), mean=float(finite.mean())
                )
        elif value.size <= 5:
            entry["value"] = value.tolist()
        return entry
    if isinstance(value, pd.DataFrame):
        return {
            "type": "DataFrame",
            "shape": list(value.shape),
            "columns": [str(c) for c in value.columns],
        }
    if isinstance(value, pd.Series):
        return {"type": "Series", "shape": list(value.shape), "dtype": str(value.dtype)}
    if isinstance(value, np.generic | np.ndarray):
        return {"type": type(value).__name__, "value": np.asarray(value).item()}
    if isinstance(value, bool | int | float | complex | str | bytes | None):
        return {"type": type(value).__name__, "value": value}
    text = repr(value)
    if len(text) > _MAX_REPR:
        text = text[: _MAX_REPR - 3] + "..."
    return {"type": type(value).__name__, "value": text}


def summary_text(entry: dict[str, Any]) -> str:
    """One line for a :func:`summarize` entry."""
    if "shape" in entry:
        text = f"{entry['type']} shape {tuple(entry['shape'])}"
        if "dtype" in entry:
            text += f", {entry['dtype']}"
        if "min" in entry:
            text += f", min {entry['min']:.6g}, max {entry['max']:.6g}, mean {entry['mean']:.6g}"
        if "columns" in entry:
            text += f", columns {entry['columns']}"
        if "value" in entry:
            text += f": {entry['value']}"
        return text
    return f"{entry['value']!r} ({entry['type']})"


def dumps(data: object) -> str:
    """Indented JSON, with :func:`json_default` for numpy values."""
    return json.dumps(data, default=json_default, indent=2)
