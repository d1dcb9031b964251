"""Every example runs, as a user would start it, on a small size."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pypet_rebuild as pr

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def test_quickstart_runs_and_stores_the_sweep(tmp_path: Path) -> None:
    target = tmp_path / "quickstart.h5"
    done = subprocess.run(
        [sys.executable, str(EXAMPLES / "quickstart.py"), str(target)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "12 done, 0 failed" in done.stdout
    loaded = pr.load_trajectory(target)
    assert len(loaded) == 12
    assert loaded.results["z"][:].tolist() == [x * y for x in (1.0, 2.0, 3.0) for y in (1, 2, 3, 4)]
