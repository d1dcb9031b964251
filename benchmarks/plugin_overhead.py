"""Wall time of a pytest session with the pypet_rebuild plugin loaded and with it disabled.

The plugin is loaded by every pytest session of an environment where pypet_rebuild is installed,
so a session that does not use it must not pay for it. The session here is a small project of
its own (a temporary folder with 20 plain tests that import nothing of pypet_rebuild), run as
``python -m pytest -q -p no:cacheprovider`` in a fresh interpreter, alternately with the plugin
and with ``-p no:pypet_rebuild``, ``--repeats`` times each; the table shows the medians and their
ratio (the same run, so the machine's load affects both alike). A third column times a session
whose tests use the ``pr_sweep`` fixture (the library is imported then: that cost is the
library's, paid only by sessions that use it).

Run with ``uv run python benchmarks/plugin_overhead.py [--repeats 15]``.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PLAIN = """
import math

def test_plain_{i}():
    assert math.sqrt({i} ** 2) == {i}
"""

USING = """
import pypet_rebuild as pr

def test_sweep(pr_sweep):
    traj = pr.Trajectory("t", seed=1)
    traj.add_parameter("x", 1.0)
    traj.explore({"x": [1.0, 2.0]})
    assert pr_sweep(traj, lambda run: {"y": run.x}, backend="memory").results["y"][:].size == 2
"""


def session(folder: Path, *options: str) -> float:
    """Seconds of one pytest session in ``folder`` (a fresh interpreter); it must pass."""
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *options],
        cwd=folder,
        capture_output=True,
        text=True,
        check=False,
    )
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"pytest failed in {folder}:\n{done.stdout}\n{done.stderr}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as root:
        plain = Path(root) / "plain"
        plain.mkdir()
        (plain / "pytest.ini").write_text("[pytest]\n")
        for i in range(20):
            (plain / f"test_plain_{i}.py").write_text(PLAIN.format(i=i))
        using = Path(root) / "using"
        using.mkdir()
        (using / "pytest.ini").write_text("[pytest]\n")
        (using / "test_using.py").write_text(USING)
        session(plain)  # warm the file system cache once
        loaded: list[float] = []
        disabled: list[float] = []
        used: list[float] = []
        for _ in range(args.repeats):
            loaded.append(session(plain))
            disabled.append(session(plain, "-p", "no:pypet_rebuild"))
            used.append(session(using))
    with_plugin, without = statistics.median(loaded), statistics.median(disabled)
    print(f"pytest sessions, medians of {args.repeats}, alternating (seconds)")
    print("| session | with the plugin | `-p no:pypet_rebuild` | ratio |")
    print("|---|---:|---:|---:|")
    print(f"| 20 plain tests | {with_plugin:.3f} | {without:.3f} | {with_plugin / without:.3f} |")
    print(f"| 1 test using `pr_sweep` | {statistics.median(used):.3f} | | |")


if __name__ == "__main__":
    main()
