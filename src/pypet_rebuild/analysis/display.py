"""How trajectories, reports and result handles look in a notebook and in a terminal.

Each object gets a compact HTML table (``_repr_html_``, used by Jupyter) and a plain-text summary
with the same content (its ``repr``): parameters, explored axes, run counts by status, results
with shape and dtype, and the file the data lives in. Building them reads only the run table and
result metadata, never result data.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from pypet_rebuild.storage.protocol import SupportsLocation

if TYPE_CHECKING:
    from pypet_rebuild.analysis.results import ResultColumn
    from pypet_rebuild.analysis.study import StoredTrajectory

__all__ = ["column_summary", "html_table", "trajectory_html", "trajectory_summary"]

_STYLE = "border-collapse:collapse;font-size:12px;text-align:left"


def html_table(title: str, header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A collapsible HTML table with a title (the building block of every notebook view)."""
    head = "".join(f"<th style='padding:2px 8px'>{html.escape(h)}</th>" for h in header)
    body = "".join(
        "<tr>"
        + "".join(f"<td style='padding:2px 8px'>{html.escape(str(c))}</td>" for c in row)
        + "</tr>"
        for row in rows
    )
    return (
        f"<details open><summary><b>{html.escape(title)}</b></summary>"
        f"<table style='{_STYLE}'><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
        "</details>"
    )


def _explored_text(values: Sequence[object]) -> str:
    distinct = list(dict.fromkeys(_hashable(v) for v in values))
    numbers = all(isinstance(v, int | float) and not isinstance(v, bool) for v in distinct)
    if numbers and distinct:
        return f"{len(distinct)} values in [{min(distinct)}, {max(distinct)}]"  # type: ignore[type-var]
    shown = ", ".join(repr(v) for v in distinct[:3])
    return f"{len(distinct)} values: {shown}{', ...' if len(distinct) > 3 else ''}"


def _hashable(value: object) -> object:
    return repr(value) if isinstance(value, np.ndarray | list | dict) else value


def _parameter_rows(trajectory: StoredTrajectory) -> list[list[object]]:
    space = trajectory.space
    rows: list[list[object]] = []
    for parameter in trajectory.parameters():
        explored = ""
        if space is not None and parameter.path in space.columns:
            explored = _explored_text(space.columns[parameter.path])
        rows.append(
            [
                parameter.path,
                parameter.value_type.name,
                repr(parameter.default),
                explored,
                parameter.comment,
            ]
        )
    return rows


def _status_counts(trajectory: StoredTrajectory) -> dict[str, int] | None:
    table = trajectory.run_table()
    values, counts = np.unique(table.status.astype(str), return_counts=True)
    return {str(v): int(c) for v, c in zip(values, counts, strict=True)}


def _result_rows(trajectory: StoredTrajectory) -> list[list[object]]:
    rows: list[list[object]] = []
    for name in trajectory.results:
        info = trajectory.result_info(name)
        if info.stackable:
            rows.append([name, str(info.shape), str(info.dtype), "fixed"])
        else:
            rows.append([name, "per run", "-", "packed"])
    return rows


def _location(trajectory: StoredTrajectory) -> str:
    storage = trajectory.storage
    if isinstance(storage, SupportsLocation):
        return storage.location
    return type(storage).__name__


def trajectory_summary(trajectory: StoredTrajectory) -> str:
    """The plain-text view of a trajectory."""
    lines = [f"Trajectory {trajectory.name!r}: {len(trajectory)} run(s) in {_location(trajectory)}"]
    if trajectory.comment:
        lines.append(f"  {trajectory.comment}")
    space = trajectory.space
    if space is not None:
        shape = "" if space.shape is None else " " + " x ".join(map(str, space.shape))
        lines.append(f"  exploration: {space.kind}{shape} over {list(space.names)}")
    lines.append("  parameters:")
    for path, type_name, default, explored, _ in _parameter_rows(trajectory):
        suffix = f"  [explored: {explored}]" if explored else ""
        lines.append(f"    {path}: {type_name} = {default}{suffix}")
    counts = _status_counts(trajectory)
    if counts is not None:
        lines.append("  runs: " + ", ".join(f"{k} {v}" for k, v in counts.items()))
    results = _result_rows(trajectory)
    if results:
        lines.append("  results:")
        lines.extend(
            f"    {name}: {shape} {dtype} ({layout})" for name, shape, dtype, layout in results
        )
    return "\n".join(lines)


def trajectory_html(trajectory: StoredTrajectory) -> str:
    """The notebook view of a trajectory."""
    space = trajectory.space
    heading = (
        f"<div><b>Trajectory {html.escape(trajectory.name)}</b> — {len(trajectory)} run(s) — "
        f"<code>{html.escape(_location(trajectory))}</code>"
    )
    parts = [heading]
    if trajectory.comment:
        parts.append(f"<br><i>{html.escape(trajectory.comment)}</i>")
    if space is not None:
        shape = "" if space.shape is None else " " + " x ".join(map(str, space.shape))
        parts.append(f"<br>exploration: {html.escape(space.kind + shape)}")
    parts.append(
        html_table(
            "Parameters",
            ["path", "type", "default", "explored", "comment"],
            _parameter_rows(trajectory),
        )
    )
    counts = _status_counts(trajectory)
    if counts is not None:
        parts.append(html_table("Runs", list(counts), [list(counts.values())]))
    results = _result_rows(trajectory)
    if results:
        parts.append(html_table("Results", ["name", "shape per run", "dtype", "layout"], results))
    return "".join(parts) + "</div>"


def column_summary(column: ResultColumn) -> dict[str, Any]:
    """What a result handle knows without reading data: runs, shape and dtype per run."""
    trajectory = column._trajectory
    info = trajectory.result_info(column.name)
    return {
        "name": column.name,
        "runs": len(column),
        "shape per run": info.shape,
        "dtype": None if info.dtype is None else str(info.dtype),
        "layout": "fixed" if info.stackable else "packed",
        "file": _location(trajectory),
        "comment": column.comment,
    }
