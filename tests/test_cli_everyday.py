"""The command line in daily use: failures, one run, ragged exports, pipes, errors, help."""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import pypet_rebuild as pr
from pypet_rebuild.cli.main import build_parser, main

# Console scripts, subprocesses or whole-site builds: outside the fast loop (-m "not slow").
pytestmark = pytest.mark.slow


def _executable() -> str:
    found = shutil.which("pypet-rebuild", path=str(Path(sys.executable).parent))
    assert found is not None, "the console script is not installed in the environment"
    return found


def cli(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [_executable(), *map(str, args)], capture_output=True, text=True, timeout=120, check=False
    )


def simulate(run: pr.Run) -> dict[str, object]:
    print(f"computing x={run.x}")
    if run.index == 3:
        raise ValueError("run three breaks")
    return {"z": run.x * run.y, "trace": np.arange(run.y // 10 + 1, dtype=float)}


@pytest.fixture
def sweep_file(tmp_path: Path) -> Path:
    path = tmp_path / "sweep.h5"
    traj = pr.Trajectory("sweep", comment="cli test", seed=5)
    traj.add_parameter("x", 1.0)
    traj.add_parameter("y", 10)
    traj.explore(pr.cartesian_product({"x": [1.0, 2.0], "y": [10, 20]}))
    pr.Environment(traj, storage=path).run(
        simulate, on_error="continue", progress=False, capture_output=True
    )
    return path


def test_runs_failed_shows_each_error_and_on_request_its_traceback(sweep_file: Path) -> None:
    table = cli("runs", sweep_file, "--failed")
    assert table.returncode == 0, table.stderr
    assert "ValueError: run three breaks" in table.stdout
    assert "Traceback" not in table.stdout
    rows = json.loads(cli("runs", sweep_file, "--failed", "--traceback", "--json").stdout)
    assert [row["run"] for row in rows] == [3]
    assert rows[0]["error"] == "ValueError: run three breaks"
    assert rows[0]["traceback"].startswith("Traceback")
    assert "Traceback" in cli("runs", sweep_file, "--failed", "--traceback").stdout


def test_info_lists_failures_and_tracebacks_on_request(
    sweep_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["info", str(sweep_file)]) == 0
    text = capsys.readouterr().out
    assert "failed runs (1):" in text
    assert "run 3 (x=2.0, y=20): ValueError: run three breaks" in text
    assert "Traceback" not in text
    assert main(["info", str(sweep_file), "--traceback", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    (failure,) = data["failures"]
    assert failure["run"] == 3
    assert failure["error"] == "ValueError: run three breaks"
    assert "raise ValueError" in failure["traceback"]


def test_show_prints_one_run(sweep_file: Path) -> None:
    done = cli("show", sweep_file, "1")
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "run 1 of 'sweep': done" in out
    assert "y = 20  (explored)" in out
    assert "z: 20.0 (float)" in out
    assert "trace: ndarray shape (3,), float64, min 0, max 2, mean 1" in out
    assert "computing x=1.0" in out
    data = json.loads(cli("show", sweep_file, "-1", "--json").stdout)
    assert data["run"] == 3
    assert data["metadata"]["status"] == "failed"
    assert "run three breaks" in data["error"]
    assert data["output"] == "computing x=2.0\n"
    assert data["parameters"] == {"x": 2.0, "y": 20}


def test_show_of_a_run_out_of_range_is_one_line(
    sweep_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["show", str(sweep_file), "9"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "run index 9 is out of range" in err


def test_export_netcdf_of_ragged_results_offers_the_to_xarray_choices(
    sweep_file: Path, tmp_path: Path
) -> None:
    xr = pytest.importorskip("xarray")
    out = tmp_path / "out.nc"
    refused = cli("export", sweep_file, "--format", "netcdf", "-o", out)
    assert refused.returncode == 1
    assert "--pad" in refused.stderr
    assert "--results" in refused.stderr
    padded = cli("export", sweep_file, "--format", "netcdf", "-o", out, "--pad")
    assert padded.returncode == 0, padded.stderr
    with xr.open_dataset(out, engine="h5netcdf") as dataset:
        assert dataset.trace.shape == (2, 2, 3)
        assert np.isnan(float(dataset.trace.sel(x=1.0, y=10)[2]))
    subset = tmp_path / "subset.nc"
    assert main(["export", str(sweep_file), "--format", "netcdf", "-o", str(subset)]) == 1
    argv = ["export", str(sweep_file), "--format", "netcdf", "-o", str(subset), "--results", "z"]
    assert main([*argv, "--layout", "run"]) == 0
    with xr.open_dataset(subset, engine="h5netcdf") as dataset:
        assert "trace" not in dataset
        assert dataset.z.dims == ("run",)
    as_runs = ["export", str(sweep_file), "--format", "netcdf", "-o", str(subset)]
    assert main([*as_runs, "--layout", "run"]) == 1


def test_export_names_the_file_after_the_input(sweep_file: Path) -> None:
    assert cli("export", sweep_file, "--format", "csv").returncode == 0
    written = sweep_file.with_name("sweep.csv")
    assert pd.read_csv(written)["z"].tolist()[:3] == [10.0, 20.0, 20.0]
    other = pr.Trajectory("other", seed=1)
    other.add_parameter("x", 1.0)
    other.explore({"x": [1.0]})
    pr.Environment(other, storage=sweep_file).run(lambda run: {"z": run.x}, progress=False)
    assert main(["export", str(sweep_file), "-t", "other", "--format", "csv"]) == 0
    assert sweep_file.with_name("sweep.other.csv").exists()


@pytest.mark.slow
def test_a_closed_pipe_ends_the_command_quietly(tmp_path: Path) -> None:
    path = tmp_path / "big.h5"
    traj = pr.Trajectory("big", seed=1)
    traj.add_parameter("x", 1.0)
    traj.explore({"x": [float(i) for i in range(4000)]})
    pr.Environment(traj, storage=path).run(lambda run: {"z": run.x}, progress=False)
    # `pypet-rebuild runs big.h5 | head -1`: the output (200 kB) is larger than a pipe holds.
    process = subprocess.Popen(
        [_executable(), "runs", str(path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    assert process.stderr is not None
    assert "x" in process.stdout.readline()
    process.stdout.close()
    returncode = process.wait(timeout=120)
    stderr = process.stderr.read()
    process.stderr.close()
    assert stderr == ""
    assert returncode == 0


def test_debug_prints_the_traceback(tmp_path: Path) -> None:
    missing = tmp_path / "missing.h5"
    plain = cli("info", missing)
    assert "Traceback" not in plain.stderr
    for argv in (("--debug", "info", missing), ("info", missing, "--debug")):
        debug = cli(*argv)
        assert debug.returncode == 1
        assert "Traceback (most recent call last)" in debug.stderr
        assert "no such file" in debug.stderr.splitlines()[-1]


def test_json_errors_are_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["info", str(tmp_path / "missing.h5"), "--json"]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    error = json.loads(captured.err)["error"]
    assert error["command"] == "info"
    assert error["type"] == "FileFormatError"
    assert "missing.h5" in error["message"]


def test_version_names_the_program() -> None:
    done = cli("--version")
    assert done.stdout.strip() == f"pypet-rebuild {pr.__version__}"


def _parsers(parser: argparse.ArgumentParser) -> list[argparse.ArgumentParser]:
    found = [parser]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                found.extend(_parsers(sub))
    return found


def test_every_argument_has_help_text() -> None:
    for parser in _parsers(build_parser()):
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                continue
            assert action.help, f"{parser.prog}: {action.option_strings or action.dest}"
