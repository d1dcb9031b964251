"""The ``pypet-rebuild`` console script, invoked for real in a subprocess."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import pypet_rebuild as pr

# Console scripts, subprocesses or whole-site builds: outside the fast loop (-m "not slow").
pytestmark = pytest.mark.slow


def _executable() -> list[str]:
    found = shutil.which("pypet-rebuild", path=str(Path(sys.executable).parent))
    assert found is not None, "the console script is not installed in the environment"
    return [found]


def cli(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*_executable(), *map(str, args)], capture_output=True, text=True, timeout=120, check=False
    )


def simulate(run: pr.Run) -> dict[str, object]:
    if run.index == 3:
        raise ValueError("run three breaks")
    return {"z": run.x * run.y, "trace": np.full(3, run.x)}


def study(path: Path, name: str = "sweep", xs: tuple[float, ...] = (1.0, 2.0)) -> None:
    traj = pr.Trajectory(name, comment="cli test", seed=5)
    traj.add_parameter("x", 1.0, comment="first factor")
    traj.add_parameter("y", 1)
    traj.explore(pr.cartesian_product({"x": list(xs), "y": [10, 20]}))
    pr.Environment(traj, storage=path).run(simulate, on_error="continue", progress=False)


@pytest.fixture
def sweep_file(tmp_path: Path) -> Path:
    path = tmp_path / "sweep.h5"
    study(path)
    return path


def test_ls_lists_trajectories_with_counts(sweep_file: Path) -> None:
    study(sweep_file, name="other", xs=(5.0,))
    done = cli("ls", sweep_file, "--json")
    assert done.returncode == 0, done.stderr
    rows = {row["name"]: row for row in json.loads(done.stdout)}
    assert rows["sweep"]["runs"] == 4
    assert (rows["sweep"]["done"], rows["sweep"]["failed"]) == (3, 1)
    assert rows["other"]["runs"] == 2
    table = cli("ls", sweep_file)
    assert "sweep" in table.stdout
    assert "other" in table.stdout


def test_info_shows_parameters_results_status_and_provenance(sweep_file: Path) -> None:
    done = cli("info", sweep_file)
    assert done.returncode == 0, done.stderr
    assert "x: float = 1.0" in done.stdout
    assert "explored: 2 values in [1.0, 2.0]" in done.stdout
    assert "trace: shape (3,), float64" in done.stdout
    assert "failed 1" in done.stdout
    data = json.loads(cli("info", sweep_file, "--json").stdout)
    assert data["status"] == {"pending": 0, "done": 3, "failed": 1}
    assert data["provenance"]["executor"] == "serial"


def test_runs_filters_with_where_and_failed(sweep_file: Path) -> None:
    rows = json.loads(cli("runs", sweep_file, "--where", "z > 15", "--json").stdout)
    assert [row["run"] for row in rows] == [1, 2]
    failed = json.loads(cli("runs", sweep_file, "--failed", "--json").stdout)
    assert [row["run"] for row in failed] == [3]
    assert "status" in cli("runs", sweep_file).stdout


@pytest.mark.parametrize("fmt", ["csv", "parquet", "netcdf"])
def test_export_writes_each_format(sweep_file: Path, tmp_path: Path, fmt: str) -> None:
    out = tmp_path / f"out.{fmt}"
    done = cli("export", sweep_file, "--format", fmt, "-o", out)
    assert done.returncode == 0, done.stderr
    if fmt == "csv":
        assert pd.read_csv(out)["z"].tolist()[:3] == [10.0, 20.0, 20.0]
    elif fmt == "parquet":
        assert pd.read_parquet(out)["status"].tolist() == ["done", "done", "done", "failed"]
    else:
        xr = pytest.importorskip("xarray")
        with xr.open_dataset(out, engine="h5netcdf") as dataset:
            assert float(dataset.z.sel(x=2.0, y=10)) == 20.0


def test_merge_and_compact(sweep_file: Path, tmp_path: Path) -> None:
    second = tmp_path / "second.h5"
    study(second, xs=(3.0,))
    merged = tmp_path / "merged.h5"
    done = cli("merge", merged, sweep_file, second, "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["runs"] == 6
    assert pr.load_trajectory(merged).results["z"][:].tolist()[4:] == [30.0, 60.0]
    again = cli("merge", merged, sweep_file, second)
    assert again.returncode == 1
    assert "exists" in again.stderr
    compacted = cli("compact", merged)
    assert compacted.returncode == 0, compacted.stderr
    assert "compacted" in compacted.stdout


def test_errors_are_one_line_with_exit_code_1(tmp_path: Path) -> None:
    missing = cli("info", tmp_path / "missing.h5")
    assert missing.returncode == 1
    assert missing.stderr.count("\n") == 1
    assert "Traceback" not in missing.stderr
    assert "no such file" in missing.stderr
    text = tmp_path / "notes.h5"
    text.write_text("not hdf5")
    assert cli("ls", text).returncode == 1
    usage = cli("frobnicate")
    assert usage.returncode == 2
