"""``pypet-rebuild``: inspect, export, merge and compact result files without writing Python.

Every command is a thin layer over the public API. Output is a readable table, or JSON with
``--json``. Exit codes: 0 success, 1 an error about the file or its contents (one line on
stderr, no traceback), 2 a usage error.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

import pypet_rebuild as pr
from pypet_rebuild.analysis.queries import metadata_columns
from pypet_rebuild.errors import PypetRebuildError
from pypet_rebuild.storage.backends import open_storage
from pypet_rebuild.storage.protocol import SupportsCompaction

__all__ = ["main"]


def _json_default(value: object) -> object:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return str(value)


def _emit(data: object, as_json: bool, text: str) -> None:
    if as_json:
        print(json.dumps(data, default=_json_default, indent=2))
    else:
        print(text)


def _time(stamp: object) -> str:
    if not isinstance(stamp, int | float):
        return "-"
    return datetime.fromtimestamp(stamp, tz=UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _names(path: Path) -> tuple[str, ...]:
    storage = open_storage(path, mode="r")
    try:
        return storage.trajectory_names()
    finally:
        storage.close()


def _load(args: argparse.Namespace, path: Path, name: str | None) -> pr.StoredTrajectory:
    # --allow-pickle: unpickle stored pickles (runs code from the file; trusted files only).
    return pr.load_trajectory(path, name, allow_pickle=args.allow_pickle)


def _counts(trajectory: pr.StoredTrajectory) -> dict[str, int]:
    table = trajectory.run_table()
    return {status.value: table.count(status) for status in pr.RunStatus}


def _created(trajectory: pr.StoredTrajectory) -> object:
    records = trajectory.provenance
    return records[0].get("started") if records else None


def command_ls(args: argparse.Namespace) -> None:
    """List the trajectories in a file."""
    rows = []
    for name in _names(args.file):
        with _load(args, args.file, name) as trajectory:
            counts = _counts(trajectory)
            created = _created(trajectory)
            runs = len(trajectory)
        rows.append(
            {
                "name": name,
                "runs": runs,
                "done": counts["done"],
                "failed": counts["failed"],
                "pending": counts["pending"],
                "created": _time(created),
            }
        )
    frame = pd.DataFrame(rows, columns=["name", "runs", "done", "failed", "pending", "created"])
    _emit(rows, args.json, frame.to_string(index=False) if rows else "(no trajectories)")


def _range(values: Sequence[object]) -> str:
    distinct = list(dict.fromkeys(values))
    if all(isinstance(v, int | float) and not isinstance(v, bool) for v in distinct):
        low, high = min(distinct), max(distinct)  # type: ignore[type-var]
        return f"{len(distinct)} values in [{low}, {high}]"
    shown = ", ".join(repr(v) for v in distinct[:5])
    return f"{len(distinct)} values: {shown}{', ...' if len(distinct) > 5 else ''}"


def _result_info(trajectory: pr.StoredTrajectory, name: str) -> dict[str, object]:
    info = trajectory.result_info(name)
    if info.stackable:
        return {"name": name, "shape": list(info.shape or ()), "dtype": str(info.dtype)}
    for value in trajectory.collect_runs(name).values():
        shape = list(np.shape(value)) if isinstance(value, np.ndarray) else []
        dtype = str(getattr(value, "dtype", type(value).__name__))
        return {"name": name, "shape": shape, "dtype": dtype, "varies": True}
    return {"name": name, "shape": [], "dtype": "-"}


def command_info(args: argparse.Namespace) -> None:
    """Describe one trajectory: parameters, results, run status, provenance."""
    trajectory = _load(args, args.file, args.trajectory)
    space = trajectory.space
    parameters = []
    for parameter in trajectory.parameters():
        entry: dict[str, object] = {
            "path": parameter.path,
            "type": parameter.value_type.name,
            "default": repr(parameter.default),
            "comment": parameter.comment,
        }
        if space is not None and parameter.path in space.columns:
            entry["explored"] = _range(space.columns[parameter.path])
        parameters.append(entry)
    results = [_result_info(trajectory, name) for name in trajectory.results]
    provenance = trajectory.provenance
    data = {
        "name": trajectory.name,
        "comment": trajectory.comment,
        "runs": len(trajectory),
        "status": _counts(trajectory),
        "parameters": parameters,
        "results": results,
        "provenance": provenance[-1] if provenance else {},
        "sweeps": len(provenance),
    }
    lines = [f"trajectory {trajectory.name!r}: {len(trajectory)} runs ({trajectory.comment})"]
    lines.append("  status: " + ", ".join(f"{k} {v}" for k, v in data["status"].items()))  # type: ignore[attr-defined]
    lines.append("parameters:")
    lines.extend(
        f"  {p['path']}: {p['type']} = {p['default']}"
        + (f"  [explored: {p['explored']}]" if "explored" in p else "")
        for p in parameters
    )
    lines.append("results:")
    lines.extend(
        f"  {r['name']}: shape {tuple(r['shape'])}, {r['dtype']}"  # type: ignore[arg-type]
        + (" (varies between runs)" if r.get("varies") else "")
        for r in results
    )
    if provenance:
        last = provenance[-1]
        lines.append(f"provenance (last of {len(provenance)} sweeps):")
        lines.extend(f"  {key}: {_time(last.get(key))}" for key in ("started", "finished"))
        shown = ("executor", "workers", "hostname", "python", "git_commit", "git_dirty")
        lines.extend(f"  {key}: {last[key]}" for key in shown if key in last)
    _emit(data, args.json, "\n".join(lines))


def command_runs(args: argparse.Namespace) -> None:
    """Print a table of runs, optionally filtered."""
    trajectory = _load(args, args.file, args.trajectory)
    frame = trajectory.to_pandas(metadata=["status", "duration", "host"])
    # The status column follows the metadata naming rule (run_status if a result is "status").
    (status,) = metadata_columns(trajectory, ["status"])
    if args.failed:
        frame = frame[frame[status] == "failed"]
    if args.where:
        frame = frame.loc[frame.index.intersection(trajectory.find_runs(args.where))]
    if args.limit is not None:
        frame = frame.head(args.limit)
    if args.json:
        _emit(json.loads(frame.reset_index().to_json(orient="records")), True, "")
    else:
        print(frame.to_string() if len(frame) else "(no matching runs)")


def command_export(args: argparse.Namespace) -> None:
    """Write the runs table (csv, parquet) or the dataset (netcdf) to a file."""
    trajectory = _load(args, args.file, args.trajectory)
    suffix = {"csv": ".csv", "parquet": ".parquet", "netcdf": ".nc"}[args.format]
    out = args.output or args.file.with_name(f"{args.file.stem}.{trajectory.name}{suffix}")
    if args.format == "netcdf":
        dataset = trajectory.to_xarray()
        dataset.to_netcdf(out, engine="h5netcdf")
    else:
        frame = trajectory.to_pandas(metadata=["status", "duration", "host", "started"])
        if args.format == "csv":
            frame.to_csv(out)
        else:
            frame.to_parquet(out)
    _emit({"written": str(out)}, args.json, f"wrote {out}")


def command_merge(args: argparse.Namespace) -> None:
    """Merge the trajectories of several files into a new file."""
    if args.output.exists():
        raise PypetRebuildError(
            f"{str(args.output)!r} exists; merge writes a new file, choose another name"
        )
    sources: list[pr.StoredTrajectory] = []
    for path in args.inputs:
        names = _names(path) if args.trajectory is None else (args.trajectory,)
        sources.extend(_load(args, path, name) for name in names)
    if len(sources) < 2:
        raise PypetRebuildError("merge needs at least two trajectories among the input files")
    merged = pr.merge_trajectories(
        sources[0],
        *sources[1:],
        into=args.output,
        name=args.name,
        drop_duplicates=args.drop_duplicates,
        trial_parameter=args.trial,
    )
    _emit(
        {"written": str(args.output), "trajectory": merged.name, "runs": len(merged)},
        args.json,
        f"merged {len(sources)} trajectories into {args.output} "
        f"({merged.name!r}, {len(merged)} runs)",
    )


def command_compact(args: argparse.Namespace) -> None:
    """Fold leftover segment files into the main file."""
    size_before = args.file.stat().st_size
    storage = open_storage(args.file, mode="r")
    try:
        if not isinstance(storage, SupportsCompaction):
            raise PypetRebuildError(f"{str(args.file)!r} is of a format that needs no compaction")
        storage.compact()
    finally:
        storage.close()
    size_after = args.file.stat().st_size
    _emit(
        {"file": str(args.file), "bytes_before": size_before, "bytes_after": size_after},
        args.json,
        f"compacted {args.file} ({size_before:,} -> {size_after:,} bytes)",
    )


def command_convert(args: argparse.Namespace) -> None:
    """Convert a file of the original pypet into a native file."""
    from pypet_rebuild.legacy import convert_pypet

    names = convert_pypet(
        args.source, args.target, trajectories=args.name or None, allow_pickle=args.allow_pickle
    )
    _emit(
        {"source": str(args.source), "target": str(args.target), "trajectories": list(names)},
        args.json,
        f"converted {', '.join(names)} from {args.source} into {args.target}",
    )


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``pypet-rebuild``."""
    parser = argparse.ArgumentParser(
        prog="pypet-rebuild", description="Inspect and manage pypet_rebuild result files."
    )
    parser.add_argument("--version", action="version", version=pr.__version__)
    commands = parser.add_subparsers(dest="command", required=True)

    def command(name: str, help_text: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help_text, description=help_text)
        sub.add_argument("--json", action="store_true", help="machine-readable output")
        sub.add_argument(
            "--allow-pickle",
            action="store_true",
            help="unpickle stored pickles (runs code from the file: only for files you trust)",
        )
        return sub

    ls = command("ls", "list the trajectories in a file")
    ls.add_argument("file", type=Path)
    ls.set_defaults(handler=command_ls)

    info = command("info", "describe a trajectory: parameters, results, status, provenance")
    info.add_argument("file", type=Path)
    info.add_argument("-t", "--trajectory", help="trajectory name (if the file holds several)")
    info.set_defaults(handler=command_info)

    runs = command("runs", "a table of runs")
    runs.add_argument("file", type=Path)
    runs.add_argument("-t", "--trajectory")
    runs.add_argument("--where", help="a query, e.g. \"x > 1 and status == 'done'\"")
    runs.add_argument("--failed", action="store_true", help="only failed runs")
    runs.add_argument("--limit", type=int, help="show at most this many runs")
    runs.set_defaults(handler=command_runs)

    export = command("export", "export runs (csv, parquet) or the dataset (netcdf)")
    export.add_argument("file", type=Path)
    export.add_argument("-t", "--trajectory")
    export.add_argument("--format", choices=("csv", "parquet", "netcdf"), required=True)
    export.add_argument("-o", "--output", type=Path)
    export.set_defaults(handler=command_export)

    merge = command("merge", "merge the trajectories of several files into a new file")
    merge.add_argument("output", type=Path)
    merge.add_argument("inputs", type=Path, nargs="+")
    merge.add_argument("-t", "--trajectory", help="take this trajectory from each input")
    merge.add_argument("--name", help="name of the merged trajectory")
    merge.add_argument("--drop-duplicates", action="store_true")
    merge.add_argument("--trial", help="count repeated points in this parameter")
    merge.set_defaults(handler=command_merge)

    compact = command("compact", "fold crash-safety segments into the file and reclaim space")
    compact.add_argument("file", type=Path)
    compact.set_defaults(handler=command_compact)

    convert = command("convert", "convert a file of the original pypet into a native file")
    convert.add_argument("source", type=Path, help="the pypet HDF5 file")
    convert.add_argument("target", type=Path, help="the native file to write")
    convert.add_argument(
        "--name", action="append", help="a trajectory to convert (repeat; default: all)"
    )
    convert.set_defaults(handler=command_convert)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        handler: Any = args.handler
        handler(args)
    except (PypetRebuildError, OSError, ValueError) as exc:
        print(f"pypet-rebuild {args.command}: error: {exc}", file=sys.stderr)
        return 1
    except ImportError as exc:
        print(f"pypet-rebuild {args.command}: error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
