"""Storage performance on the WORKLOAD sweep: pypet_rebuild's HDF5 backend vs raw h5py.

Every phase of ``WORKLOAD.md`` (``store``, ``load z``, ``load one``, ``load slice``, ``open``) runs
in its own fresh process: this script starts itself with ``--phase ...``, the child times the
phase (after its imports) and prints one JSON line. Implementations:

``rebuild``
    ``pr.Environment(traj, storage=path).run(simulate)`` and ``pr.load_trajectory(path)``.
``raw``
    The bare loop, results kept in preallocated numpy arrays, written at the end with h5py as
    datasets ``x``, ``y``, ``z``, ``arr``; loads are plain h5py reads.
``loop``
    The bare loop calling simulate, nothing stored (``store`` only).

The table shows medians over ``--repeats`` processes, the ratio to ``raw``, file sizes against
the raw payload (824 B per run) and the memory a ``store`` process gains while storing.

Run with ``uv run python benchmarks/storage.py [--sizes 1000 10000 100000] [--repeats 3]``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import h5py  # noqa: TID251
import numpy as np
from workload import PAYLOAD_PER_RUN, K, simulate, simulate_values, workload_points

PHASES = ("store", "load_z", "load_one", "load_slice", "open")
LOAD_PHASES = PHASES[1:]
IMPLS = ("loop", "raw", "rebuild")


# -- the workload --------------------------------------------------------------------------------


# -- the child: one phase of one implementation, timed ---------------------------------------


def _rss_bytes() -> int:
    """The current resident set size of this process."""
    with open("/proc/self/statm", encoding="ascii") as statm:
        return int(statm.read().split()[1]) * resource.getpagesize()


def _peak_rss_bytes() -> int:
    """The peak resident set size of this process so far (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


Store = Callable[[list[float], list[int], Path], float]


def store_loop(xs: list[float], ys: list[int], path: Path) -> float:
    for x, y in zip(xs, ys, strict=True):
        simulate_values(x, y)
    return float(len(xs))


def store_raw(xs: list[float], ys: list[int], path: Path) -> float:
    n = len(xs)
    z = np.empty(n, dtype=np.float64)
    arr = np.empty((n, K), dtype=np.float64)
    for i, (x, y) in enumerate(zip(xs, ys, strict=True)):
        result = simulate_values(x, y)
        z[i] = result["z"]
        arr[i] = result["arr"]
    with h5py.File(path, "w") as file:
        file.create_dataset("x", data=np.asarray(xs, dtype=np.float64))
        file.create_dataset("y", data=np.asarray(ys, dtype=np.int64))
        file.create_dataset("z", data=z)
        file.create_dataset("arr", data=arr)
    return float(z.sum())


def store_rebuild(xs: list[float], ys: list[int], path: Path) -> float:
    import pypet_rebuild as pr

    n = len(xs)
    traj = pr.Trajectory("wl", seed=0)
    traj.add_parameter("x", 0.0)
    traj.add_parameter("y", 0)
    traj.explore(pr.zipped({"x": xs, "y": ys}))
    report = pr.Environment(traj, storage=path).run(simulate, progress=False)
    if report.done != n:
        raise RuntimeError(f"expected {n} runs done, got {report.done}")
    return float(n)


def load_raw(phase: str, n: int, path: Path) -> float:
    with h5py.File(path, "r") as file:
        if phase == "load_z":
            return float(file["z"][:].sum())
        if phase == "load_one":
            return float(file["arr"][n // 2].sum())
        if phase == "load_slice":
            return float(file["arr"][:, 10].sum())
        runs = int(file["x"].shape[0])
        names = [name for name in file if name in ("x", "y")]
        return float(runs + len(names))


def load_rebuild(phase: str, n: int, path: Path) -> float:
    import pypet_rebuild as pr

    study = pr.load_trajectory(path)
    if phase == "load_z":
        return float(np.asarray(study.results["z"][:]).sum())
    if phase == "load_one":
        return float(np.asarray(study.results["arr"][n // 2]).sum())
    if phase == "load_slice":
        return float(np.asarray(study.results["arr"][:, 10]).sum())
    runs = len(study)
    names = [p.path for p in study.parameters()]
    return float(runs + len(names))


def run_phase(phase: str, impl: str, n: int, path: Path) -> dict[str, float]:
    """Time one phase in this process (imports and the sweep's input lists are not timed)."""
    start = time.perf_counter()
    if impl == "rebuild":
        import pypet_rebuild

        # The package imports its names on first use: resolve them here, so that the phase
        # times what it does, not the imports (the pypet reader is not used).
        for name in pypet_rebuild.__all__:
            if name not in ("PypetStorageService", "convert_pypet"):
                getattr(pypet_rebuild, name)
        import pypet_rebuild.storage.hdf5.service  # what open_storage loads for a path
    imported = time.perf_counter()
    if phase == "store":
        stores: dict[str, Store] = {"loop": store_loop, "raw": store_raw, "rebuild": store_rebuild}
        # The sweep's inputs exist before the store starts, for every implementation.
        xs, ys = workload_points(n)
        before = _rss_bytes()
        timed = time.perf_counter()
        check = stores[impl](xs, ys, path)
    else:
        loads = {"raw": load_raw, "rebuild": load_rebuild}
        before = _rss_bytes()
        timed = time.perf_counter()
        check = loads[impl](phase, n, path)
    seconds = time.perf_counter() - timed
    return {
        "seconds": seconds,
        "import_seconds": imported - start,
        "rss_before": float(before),
        "rss_peak": float(_peak_rss_bytes()),
        "check": check,
    }


# -- the parent: launch children, collect medians, print tables ------------------------------


@dataclass
class Sample:
    """The measurements of one phase of one implementation at one size."""

    seconds: list[float]
    growth: list[float]
    checks: list[float]
    imports: list[float]


def child_environment() -> dict[str, str]:
    """The children's environment: byte-code caching on, into a cache outside the sources.

    With ``PYTHONDONTWRITEBYTECODE`` set (as on some CI machines) every fresh process compiles
    every module it imports from source, which would add tens of milliseconds of compiling to
    a phase that imports lazily (numpy.ma, pandas...). A user's interpreter caches byte code, so
    the children do too, in a folder of their own (``PYTHONPYCACHEPREFIX``).
    """
    environment = dict(os.environ)
    environment.pop("PYTHONDONTWRITEBYTECODE", None)
    environment["PYTHONPYCACHEPREFIX"] = str(Path(tempfile.gettempdir()) / "pypet_rebuild_pycache")
    return environment


def child(phase: str, impl: str, n: int, path: Path) -> dict[str, float]:
    """Run one phase in a fresh interpreter and return its measurements."""
    command = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--phase",
        phase,
        "--impl",
        impl,
        "--n",
        str(n),
        "--file",
        str(path),
    ]
    done = subprocess.run(
        command, capture_output=True, text=True, check=False, env=child_environment()
    )
    if done.returncode != 0:
        raise RuntimeError(f"{phase} {impl} N={n} failed:\n{done.stderr}")
    measured: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return measured


def remove_store(path: Path) -> None:
    """Delete a file written by a previous repeat, with its lock and segment folder."""
    for extra in (path, path.with_name(path.name + ".lock")):
        extra.unlink(missing_ok=True)
    shutil.rmtree(path.with_name(path.name + ".segments"), ignore_errors=True)


def disk_bytes(path: Path) -> int:
    """The main file plus any leftover segment files."""
    size = path.stat().st_size
    segments = path.with_name(path.name + ".segments")
    if segments.is_dir():
        size += sum(p.stat().st_size for p in segments.iterdir())
    return size


def benchmark(
    n: int,
    repeats: int,
    store_repeats: int,
    phases: Sequence[str],
    impls: Sequence[str],
    work: Path,
    *,
    quiet: bool = False,
) -> tuple[dict[tuple[str, str], Sample], dict[str, int]]:
    """Measure every phase of every implementation at one size."""
    samples: dict[tuple[str, str], Sample] = {}
    files = {impl: work / f"{impl}_{n}.h5" for impl in impls if impl != "loop"}

    def record(phase: str, impl: str) -> None:
        measured = child(phase, impl, n, files.get(impl, work / "unused.h5"))
        sample = samples.setdefault((phase, impl), Sample([], [], [], []))
        sample.seconds.append(measured["seconds"])
        sample.growth.append(measured["rss_peak"] - measured["rss_before"])
        sample.checks.append(measured["check"])
        sample.imports.append(measured["import_seconds"])
        if not quiet:
            print(
                f"  N={n:,} {phase:<10} {impl:<7} {measured['seconds'] * 1e3:10.2f} ms", flush=True
            )

    if "store" in phases:
        for _ in range(store_repeats):
            for impl in impls:
                if impl in files:
                    remove_store(files[impl])
                record("store", impl)
    missing = [str(path) for path in files.values() if not path.exists()]
    if missing:
        raise RuntimeError(f"{missing} missing: run the store phase first (--phases store)")
    loads = [phase for phase in phases if phase != "store"]
    for _ in range(repeats):
        for phase in loads:
            for impl in files:
                record(phase, impl)
    check_agreement(n, samples, loads)
    sizes = {impl: disk_bytes(path) for impl, path in files.items()}
    return samples, sizes


def check_agreement(n: int, samples: dict[tuple[str, str], Sample], phases: Sequence[str]) -> None:
    """Refuse figures of implementations that did not read the same values."""
    for phase in phases:
        checks = {impl: s.checks[0] for (p, impl), s in samples.items() if p == phase}
        if len(set(checks.values())) > 1:
            raise RuntimeError(f"{phase} at N={n}: implementations disagree: {checks}")


def _ms(value: float | None) -> str:
    return "—" if value is None else f"{value * 1e3:,.1f}" if value >= 0.1 else f"{value * 1e3:.2f}"


def format_tables(
    results: dict[int, tuple[dict[tuple[str, str], Sample], dict[str, int]]],
    phases: Sequence[str],
) -> str:
    lines = [
        "| N | phase | loop ms | raw ms | rebuild ms | rebuild / raw | rebuild - loop µs/run |",
        "|---:|---|---:|---:|---:|---:|---:|",
    ]
    for n, (samples, _) in results.items():
        for phase in phases:
            med = {
                impl: statistics.median(samples[phase, impl].seconds)
                for impl in IMPLS
                if (phase, impl) in samples
            }
            raw, rebuild, loop = med.get("raw"), med.get("rebuild"), med.get("loop")
            ratio = f"{rebuild / raw:.2f}x" if raw and rebuild is not None else "—"
            per_run = (
                f"{(rebuild - loop) / n * 1e6:.1f}"
                if rebuild is not None and loop is not None
                else ""
            )
            lines.append(
                f"| {n:,} | {phase.replace('_', ' ')} | {_ms(loop) if phase == 'store' else ''} "
                f"| {_ms(raw)} | {_ms(rebuild)} | {ratio} | {per_run} |"
            )
    lines += [
        "",
        (
            "| N | raw file | rebuild file | rebuild B/run | rebuild / payload | raw / payload "
            "| store memory growth raw | rebuild | rebuild B/run |"
        ),
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for n, (samples, sizes) in results.items():
        payload = PAYLOAD_PER_RUN * n
        raw_size, rebuild_size = sizes.get("raw"), sizes.get("rebuild")
        growth = {
            impl: statistics.median(samples["store", impl].growth)
            for impl in ("raw", "rebuild")
            if ("store", impl) in samples
        }

        def mb(value: float | None) -> str:
            return "—" if value is None else f"{value / 1e6:,.1f} MB"

        lines.append(
            f"| {n:,} | {mb(raw_size)} | {mb(rebuild_size)} "
            f"| {rebuild_size / n if rebuild_size else 0:,.0f} "
            f"| {rebuild_size / payload if rebuild_size else 0:.3f}x "
            f"| {raw_size / payload if raw_size else 0:.3f}x "
            f"| {mb(growth.get('raw'))} | {mb(growth.get('rebuild'))} "
            f"| {growth['rebuild'] / n if 'rebuild' in growth else 0:,.0f} |"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0] if __doc__ else None)
    parser.add_argument(
        "--sizes", type=int, nargs="+", default=[1_000, 10_000, 100_000], help="numbers of runs"
    )
    parser.add_argument("--repeats", type=int, default=3, help="processes per phase (>= 3)")
    parser.add_argument(
        "--store-repeats", type=int, default=None, help="store processes (default: --repeats)"
    )
    parser.add_argument(
        "--phases", nargs="+", choices=PHASES, default=list(PHASES), help="phases to run"
    )
    parser.add_argument(
        "--impls", nargs="+", choices=IMPLS, default=list(IMPLS), help="implementations"
    )
    parser.add_argument(
        "--workdir", type=Path, default=None, help="where files go (default: a temporary folder)"
    )
    # The child's interface.
    parser.add_argument("--phase", choices=PHASES, help=argparse.SUPPRESS)
    parser.add_argument("--impl", choices=IMPLS, help=argparse.SUPPRESS)
    parser.add_argument("--n", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--file", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.phase is not None:
        print(json.dumps(run_phase(args.phase, args.impl, args.n, args.file)))
        return

    store_repeats = args.repeats if args.store_repeats is None else args.store_repeats
    temporary = args.workdir is None
    work = Path(tempfile.mkdtemp(prefix="pypet_rebuild_bench_")) if temporary else args.workdir
    work.mkdir(parents=True, exist_ok=True)
    phases = [phase for phase in PHASES if phase in args.phases]
    impls = [impl for impl in IMPLS if impl in args.impls]
    try:
        # One untimed pass at a small size fills the byte-code cache of every phase's imports.
        benchmark(100, 1, 1, phases, impls, work, quiet=True)
        results = {
            n: benchmark(n, args.repeats, store_repeats, phases, impls, work) for n in args.sizes
        }
    finally:
        if temporary:
            shutil.rmtree(work, ignore_errors=True)
    print()
    print(
        f"medians of {args.repeats} processes per load phase, {store_repeats} per store; "
        "each phase timed inside a fresh process, imports excluded; "
        f"payload {PAYLOAD_PER_RUN} B/run"
    )
    print(format_tables(results, phases))
    imports = [
        t
        for samples, _ in results.values()
        for (_, impl), sample in samples.items()
        if impl == "rebuild"
        for t in sample.imports
    ]
    if imports:
        print(
            f"\n`import pypet_rebuild` (after numpy and h5py), not included above: "
            f"median {statistics.median(imports) * 1e3:.0f} ms"
        )


if __name__ == "__main__":
    main()
