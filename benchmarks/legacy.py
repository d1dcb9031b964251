"""Converting a pypet 0.7.0 file versus pypet 0.7.0 loading it (issue 11).

The file is the standard workload (``../shared/bench/WORKLOAD.md``: ``x`` outer, ``y`` inner,
``z = x * y`` and ``arr = np.full(100, x * y)`` per run) written by pypet 0.7.0 itself, so the
pypet side needs a Python with pypet 0.7.0 (it needs Python >= 3.12): pass it with
``--pypet-python`` (default: ``$PYPET_PYTHON``, else ``/tmp/pypet312/bin/python``), e.g. a venv
made with ``python3.12 -m venv /tmp/pypet312 && /tmp/pypet312/bin/pip install -r
tests/data/pypet/requirements.txt``. Without it the benchmark prints a note and stops: the
3,000-run file can only be written by pypet.

Each phase runs in a fresh process and times itself after its imports:

* ``pypet load``: ``pypet.load_trajectory(filename=..., load_all=2)`` (everything, data included);
* ``convert``: ``pr.convert_pypet(old, new)``;
* ``open + z``: ``pr.load_trajectory(old)`` and ``study.results["z"][:]`` on the pypet file.

Usage: ``uv run python benchmarks/legacy.py [--runs 3000] [--repeats 3] [--workdir DIR]``
(a pypet file already in ``--workdir`` is reused: writing 3,000 runs takes pypet a minute or
two).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

WRITE = """
import math, sys
import numpy as np
from pypet import Environment
path, n = sys.argv[1], int(sys.argv[2])
def simulate(traj):
    z = traj.x * traj.y
    traj.f_add_result("z", z)
    traj.f_add_result("arr", np.full(100, z))
env = Environment(trajectory="Workload", filename=path, overwrite_file=True, log_config=None,
                  multiproc=False)
traj = env.trajectory
traj.f_add_parameter("x", 0.0)
traj.f_add_parameter("y", 0)
nx = math.ceil(math.sqrt(n)); ny = math.ceil(n / nx)
xs = np.linspace(0, 1, nx)
traj.f_explore({"x": [float(xs[i // ny]) for i in range(n)], "y": [i % ny for i in range(n)]})
env.run(simulate)
env.disable_logging()
"""

PYPET_LOAD = """
import json, sys, time
from pypet import load_trajectory
start = time.perf_counter()
traj = load_trajectory(filename=sys.argv[1], index=-1, load_all=2)
z = [traj.results.runs[name].z for name in traj.f_get_run_names()]
print(json.dumps({"seconds": time.perf_counter() - start, "runs": len(z), "sum": sum(z)}))
"""

CONVERT = """
import json, sys, time
import pypet_rebuild as pr
start = time.perf_counter()
pr.convert_pypet(sys.argv[1], sys.argv[2])
seconds = time.perf_counter() - start
with pr.load_trajectory(sys.argv[2]) as study:
    z = study.results["z"][:]
print(json.dumps({"seconds": seconds, "runs": len(z), "sum": float(z.sum())}))
"""

OPEN_Z = """
import json, sys, time
import pypet_rebuild as pr
start = time.perf_counter()
with pr.load_trajectory(sys.argv[1]) as study:
    z = study.results["z"][:]
print(json.dumps({"seconds": time.perf_counter() - start, "runs": len(z), "sum": float(z.sum())}))
"""


def _pypet_python(given: str | None) -> str | None:
    candidate = given or os.environ.get("PYPET_PYTHON") or "/tmp/pypet312/bin/python"
    if not Path(candidate).exists():
        return None
    probe = subprocess.run(
        [candidate, "-c", "import pypet; print(pypet.__version__)"],
        capture_output=True,
        text=True,
        check=False,
    )
    return candidate if probe.stdout.strip() == "0.7.0" else None


def _phase(python: str, code: str, *args: str) -> dict[str, float]:
    done = subprocess.run(
        [python, "-c", code, *args], capture_output=True, text=True, check=False, timeout=3600
    )
    if done.returncode != 0:
        raise RuntimeError(f"phase failed:\n{done.stderr}")
    result: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--runs", type=int, default=3000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--pypet-python")
    parser.add_argument("--workdir", type=Path)
    args = parser.parse_args()
    pypet = _pypet_python(args.pypet_python)
    if pypet is None:
        print(
            "pypet 0.7.0 is not available (pass --pypet-python, or set PYPET_PYTHON, to a "
            "Python 3.12 with `pip install -r tests/data/pypet/requirements.txt`): the pypet "
            "side, and the file it writes, are skipped"
        )
        return
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="pypet_legacy_bench_"))
    workdir.mkdir(parents=True, exist_ok=True)
    old = workdir / f"pypet_{args.runs}.hdf5"
    try:
        if old.exists():  # a --workdir of an earlier invocation: the file is reused
            print(f"reusing {old} ({old.stat().st_size:,} B)")
        else:
            start = time.perf_counter()
            subprocess.run([pypet, "-c", WRITE, str(old), str(args.runs)], check=True, cwd=workdir)
            write = time.perf_counter() - start
            print(f"pypet 0.7.0 wrote {args.runs} runs in {write:.1f} s ({old.stat().st_size:,} B)")
        times: dict[str, list[float]] = {"pypet load": [], "convert": [], "open + z": []}
        sums: set[float] = set()
        for repeat in range(args.repeats):
            new = workdir / f"converted_{repeat}.h5"
            for name, python, code, extra in (
                ("pypet load", pypet, PYPET_LOAD, ()),
                ("convert", sys.executable, CONVERT, (str(new),)),
                ("open + z", sys.executable, OPEN_Z, ()),
            ):
                result = _phase(python, code, str(old), *extra)
                assert result["runs"] == args.runs, (name, result)
                sums.add(round(result["sum"], 6))
                times[name].append(result["seconds"])
            new.unlink()
        assert len(sums) == 1, f"the phases read different values of z: {sums}"
        pypet_median = statistics.median(times["pypet load"])
        print(f"\n{args.runs} runs, medians of {args.repeats} fresh processes:")
        print("| phase | median s | pypet load / phase |")
        print("|---|---:|---:|")
        for name, values in times.items():
            median = statistics.median(values)
            print(f"| {name} | {median:.2f} | {pypet_median / median:.1f}x |")
    finally:
        if args.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
