"""``pypet-rebuild``: inspect, export, merge and compact result files without writing Python.

Every command is a thin layer over the public API. Output is a readable table, or JSON with
``--json``. Exit codes: 0 success (also when the reader of the output goes away, as ``| head``
does), 1 an error about the file or its contents (one line on stderr, no traceback unless
``--debug``; a JSON object with ``--json``), 2 a usage error.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

import pypet_rebuild as pr
from pypet_rebuild._optional import import_optional
from pypet_rebuild.analysis.queries import metadata_columns
from pypet_rebuild.cli.render import (
    dumps,
    error_summary,
    failures,
    format_time,
    summarize,
    summary_text,
)
from pypet_rebuild.errors import IncompatibleShapesError, PypetRebuildError
from pypet_rebuild.storage.backends import open_storage
from pypet_rebuild.storage.protocol import SupportsCompaction

__all__ = ["main"]


def _emit(data: object, as_json: bool, text: str) -> None:
    print(dumps(data) if as_json else text)


_time = format_time


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
        "failures": _failure_entries(trajectory, args.traceback),
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
    lines.extend(_failure_lines(data["failures"], args.traceback))  # type: ignore[arg-type]
    _emit(data, args.json, "\n".join(lines))


def _failure_entries(trajectory: pr.StoredTrajectory, with_traceback: bool) -> list[dict[str, Any]]:
    found = failures(trajectory)
    if not with_traceback:
        for entry in found:
            del entry["traceback"]
    return found


def _failure_lines(found: list[dict[str, Any]], with_traceback: bool) -> list[str]:
    if not found:
        return []
    lines = [f"failed runs ({len(found)}):"]
    for entry in found:
        point = ", ".join(f"{k}={v!r}" for k, v in entry["point"].items())
        lines.append(f"  run {entry['run']} ({point}): {entry['error']}")
        if with_traceback:
            lines.extend("    " + line for line in entry["traceback"].rstrip().splitlines())
    if not with_traceback:
        lines.append("  (--traceback shows the full tracebacks)")
    return lines


def command_runs(args: argparse.Namespace) -> None:
    """Print a table of runs, optionally filtered."""
    trajectory = _load(args, args.file, args.trajectory)
    frame = trajectory.to_pandas(metadata=["status", "duration", "host"])
    # The status column follows the metadata naming rule (run_status if a result is "status").
    (status,) = metadata_columns(trajectory, ["status"])
    if args.failed:
        frame = frame[frame[status] == "failed"]
        tracebacks = trajectory.run_table().error[frame.index.to_numpy()]
        (error,) = metadata_columns(trajectory, ["error"])
        frame[error] = [error_summary(str(text)) for text in tracebacks]
    if args.where:
        frame = frame.loc[frame.index.intersection(trajectory.find_runs(args.where))]
    if args.limit is not None:
        frame = frame.head(args.limit)
    if args.json:
        rows = json.loads(frame.reset_index().to_json(orient="records"))
        if args.traceback:
            table = trajectory.run_table()
            for row in rows:
                row["traceback"] = str(table.error[row["run"]])
        _emit(rows, True, "")
        return
    if not len(frame):
        print("(no matching runs)")
        return
    print(frame.to_string())
    if args.traceback:
        table = trajectory.run_table()
        for index in frame.index:
            text = str(table.error[index]).rstrip()
            if text:
                print(f"\nrun {index}:\n{text}")


def command_show(args: argparse.Namespace) -> None:
    """Print one run: parameters, results (arrays summarised), metadata and captured output."""
    trajectory = _load(args, args.file, args.trajectory)
    index = args.run + len(trajectory) if args.run < 0 else args.run
    view = trajectory.run(index)
    metadata = view.metadata
    results = {name: summarize(value) for name, value in view.results.items()}
    data = {
        "trajectory": trajectory.name,
        "run": index,
        "parameters": view.params,
        "results": results,
        "metadata": {
            key: metadata[key]
            for key in ("status", "started", "finished", "duration", "host", "pid", "seed")
        },
        "error": str(metadata["error"]),
        "output": str(metadata["output"]),
    }
    lines = [f"run {index} of {trajectory.name!r}: {metadata['status']}"]
    lines.append("parameters:")
    explored = set(trajectory.explored_names)
    lines.extend(
        f"  {path} = {value!r}" + ("  (explored)" if path in explored else "")
        for path, value in view.params.items()
    )
    lines.append("results:" if results else "results: (none)")
    lines.extend(f"  {name}: {summary_text(entry)}" for name, entry in results.items())
    lines.append("metadata:")
    lines.extend(f"  {key}: {_time(metadata[key])}" for key in ("started", "finished"))
    duration = float(metadata["duration"])  # type: ignore[arg-type]
    lines.append(f"  duration: {'-' if np.isnan(duration) else f'{duration:.6g} s'}")
    lines.extend(f"  {key}: {metadata[key]}" for key in ("host", "pid", "seed"))
    if data["error"]:
        lines.append("error:")
        lines.extend("  " + line for line in str(data["error"]).rstrip().splitlines())
    if data["output"]:
        lines.append("output:")
        lines.extend("  " + line for line in str(data["output"]).rstrip().splitlines())
    _emit(data, args.json, "\n".join(lines))


def command_export(args: argparse.Namespace) -> None:
    """Write the runs table (csv, parquet) or the dataset (netcdf) to a file."""
    trajectory = _load(args, args.file, args.trajectory)
    suffix = {"csv": ".csv", "parquet": ".parquet", "netcdf": ".nc"}[args.format]
    out = args.output or _default_output(args.file, trajectory.name, suffix)
    feature = f"pypet-rebuild export --format {args.format}"
    if args.format == "netcdf":
        import_optional("xarray", feature=feature, extra="export")
        import_optional("h5netcdf", feature=feature, extra="export")
        _write_netcdf(trajectory, args, out)
    else:
        frame = trajectory.to_pandas(
            args.results, metadata=["status", "duration", "host", "started"]
        )
        if args.format == "csv":
            frame.to_csv(out)
        else:
            import_optional("pyarrow", feature=feature, extra="export")
            frame.to_parquet(out)
    _emit({"written": str(out)}, args.json, f"wrote {out}")


def _default_output(path: Path, trajectory: str, suffix: str) -> Path:
    """``grid.csv`` for a file with one trajectory, ``grid.<trajectory>.csv`` otherwise."""
    if trajectory == path.stem or len(_names(path)) == 1:
        return path.with_suffix(suffix)
    return path.with_name(f"{path.stem}.{trajectory}{suffix}")


_CLI_CHOICES = (
    "on the command line: --pad pads ragged results with NaN, --results NAME... leaves "
    "them out, --layout run keeps one dimension per run"
)


def _write_netcdf(trajectory: pr.StoredTrajectory, args: argparse.Namespace, out: Path) -> None:
    try:
        dataset = trajectory.to_xarray(args.results, layout=args.layout, pad=args.pad)
    except IncompatibleShapesError as exc:
        raise IncompatibleShapesError(f"{exc} ({_CLI_CHOICES})") from exc
    ragged = [
        str(name)
        for name, variable in dataset.data_vars.items()
        if variable.dtype == object
        and any(isinstance(value, np.ndarray) for value in variable.values.ravel())
    ]
    if ragged:
        raise IncompatibleShapesError(
            f"results {ragged} hold one array per run of varying shape, which netCDF cannot "
            "store; pass --pad to pad them with NaN, or leave them out with --results"
        )
    dataset.to_netcdf(out, engine="h5netcdf")


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
        prog="pypet-rebuild",
        description="Inspect and manage pypet_rebuild result files.",
        epilog="Run 'pypet-rebuild COMMAND --help' for the options of a command.",
    )
    parser.add_argument(
        "--version",
        action="version",
        version=f"%(prog)s {pr.__version__}",
        help="print the program's name and version, then exit",
    )
    parser.add_argument(
        "--debug", action="store_true", help="on an error, print the full traceback"
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, help_text: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help_text, description=help_text)
        sub.add_argument(
            "--json", action="store_true", help="machine-readable output (errors too, on stderr)"
        )
        sub.add_argument(
            "--allow-pickle",
            action="store_true",
            help="unpickle stored pickles (runs code from the file: only for files you trust)",
        )
        # SUPPRESS: given before the command (`pypet-rebuild --debug ls`), it is not reset here.
        sub.add_argument(
            "--debug",
            action="store_true",
            default=argparse.SUPPRESS,
            help="on an error, print the full traceback",
        )
        return sub

    def file_argument(sub: argparse.ArgumentParser) -> None:
        sub.add_argument("file", type=Path, help="the result file (.h5)")

    def trajectory_option(sub: argparse.ArgumentParser) -> None:
        sub.add_argument(
            "-t", "--trajectory", help="the trajectory's name (needed if the file holds several)"
        )

    ls = command("ls", "list the trajectories in a file")
    file_argument(ls)
    ls.set_defaults(handler=command_ls)

    info = command(
        "info", "describe a trajectory: parameters, results, status, provenance, failures"
    )
    file_argument(info)
    trajectory_option(info)
    info.add_argument(
        "--traceback", action="store_true", help="print each failed run's full traceback"
    )
    info.set_defaults(handler=command_info)

    runs = command("runs", "a table of runs")
    file_argument(runs)
    trajectory_option(runs)
    runs.add_argument("--where", help="a query, e.g. \"x > 1 and status == 'done'\"")
    runs.add_argument("--failed", action="store_true", help="only failed runs, with their error")
    runs.add_argument(
        "--traceback", action="store_true", help="also print each listed run's full traceback"
    )
    runs.add_argument("--limit", type=int, help="show at most this many runs")
    runs.set_defaults(handler=command_runs)

    show = command("show", "one run: parameters, results, metadata, error and captured output")
    file_argument(show)
    show.add_argument("run", type=int, help="the run index (negative counts from the end)")
    trajectory_option(show)
    show.set_defaults(handler=command_show)

    export = command("export", "export runs (csv, parquet) or the dataset (netcdf)")
    file_argument(export)
    trajectory_option(export)
    export.add_argument(
        "--format",
        choices=("csv", "parquet", "netcdf"),
        required=True,
        help="csv or parquet: the runs table; netcdf: the dataset of study.to_xarray()",
    )
    export.add_argument(
        "-o",
        "--output",
        type=Path,
        help="where to write (default: next to FILE, FILE's name with the format's suffix)",
    )
    export.add_argument("--results", nargs="+", metavar="NAME", help="export only these results")
    export.add_argument(
        "--pad",
        action="store_true",
        help="netcdf: pad array results whose shape varies between runs with NaN",
    )
    export.add_argument(
        "--layout",
        choices=("auto", "grid", "run"),
        default="auto",
        help="netcdf: one dimension per swept axis (grid), one run dimension (run), or grid "
        "when the exploration is a grid (auto, the default)",
    )
    export.set_defaults(handler=command_export)

    merge = command("merge", "merge the trajectories of several files into a new file")
    merge.add_argument("output", type=Path, help="the new file to write (must not exist)")
    merge.add_argument("inputs", type=Path, nargs="+", help="the files to merge")
    merge.add_argument("-t", "--trajectory", help="take this trajectory from each input")
    merge.add_argument("--name", help="name of the merged trajectory")
    merge.add_argument(
        "--drop-duplicates", action="store_true", help="keep only the first run of each point"
    )
    merge.add_argument(
        "--trial", metavar="PARAM", help="count repeated points in this int parameter"
    )
    merge.set_defaults(handler=command_merge)

    compact = command("compact", "fold crash-safety segments into the file and reclaim space")
    file_argument(compact)
    compact.set_defaults(handler=command_compact)

    convert = command("convert", "convert a file of the original pypet into a native file")
    convert.add_argument("source", type=Path, help="the pypet HDF5 file")
    convert.add_argument("target", type=Path, help="the native file to write")
    convert.add_argument(
        "--name", action="append", help="a trajectory to convert (repeat; default: all)"
    )
    convert.set_defaults(handler=command_convert)
    return parser


def _report(args: argparse.Namespace, exc: BaseException) -> None:
    if getattr(args, "debug", False):
        traceback.print_exception(exc, file=sys.stderr)
    if args.json:
        error = {"command": args.command, "type": type(exc).__name__, "message": str(exc)}
        print(json.dumps({"error": error}), file=sys.stderr)
    else:
        print(f"pypet-rebuild {args.command}: error: {exc}", file=sys.stderr)


def _quiet_stdout() -> None:
    # The reader went away (`| head`): point stdout at /dev/null so that flushing it at exit
    # does not raise a second BrokenPipeError (the recipe of Python's signal documentation).
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        handler: Any = args.handler
        handler(args)
        sys.stdout.flush()
    except BrokenPipeError:
        _quiet_stdout()
        return 0
    except (PypetRebuildError, OSError, ValueError, LookupError, ImportError) as exc:
        _report(args, exc)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
