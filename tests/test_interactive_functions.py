"""Simulate functions of ``__main__``, a notebook cell, a lambda or a closure run on any executor.

They cannot be imported by name in a worker process, so the sweep context travels with
cloudpickle (by value). Each case runs in a fresh interpreter, as a user's script or notebook
does: pytest's own ``__main__`` would hide the problem.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import pypet_rebuild as pr

pytestmark = pytest.mark.slow

SCRIPT = """
import sys

import numpy as np

import pypet_rebuild as pr

OFFSET = 100.0


def simulate(run):
    # A function of __main__ that uses a global of __main__ and numpy.
    return {"z": float(np.float64(run.x) * 2 + OFFSET)}


def make_closure(factor):
    def scaled(run):
        return {"z": factor * run.x + OFFSET}

    return scaled


def main():
    path, executor, kind = sys.argv[1:4]
    traj = pr.Trajectory(f"{kind}_sweep", seed=1)
    traj.add_parameter("x", 0)
    traj.explore({"x": list(range(6))})
    functions = {
        "main": simulate,
        "lambda": lambda run: {"z": 2.0 * run.x + OFFSET},
        "closure": make_closure(2.0),
    }
    env = pr.Environment(traj, path)
    report = env.run(functions[kind], executor=executor, workers=2, progress=False)
    print(report.summary(), flush=True)


if __name__ == "__main__":
    main()
"""


@pytest.mark.parametrize("executor", ["process", "dask"])
@pytest.mark.parametrize("kind", ["main", "lambda", "closure"])
def test_functions_of_main_lambdas_and_closures_run_on_worker_processes(
    tmp_path: Path, executor: str, kind: str
) -> None:
    script = tmp_path / "interactive_script.py"
    script.write_text(SCRIPT)
    path = tmp_path / "sweep.h5"
    done = subprocess.run(
        [sys.executable, str(script), str(path), executor, kind],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=180,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "6 done, 0 failed" in done.stdout, done.stdout + done.stderr
    loaded = pr.load_trajectory(path)
    assert loaded.results["z"][:].tolist() == [2.0 * x + 100.0 for x in range(6)]
    storage = loaded.storage
    assert storage is not None
    assert str(storage.load_provenance(f"{kind}_sweep")[-1]["executor"]).startswith(executor)
    storage.close()


NOTEBOOK_CELLS = [
    "import numpy as np\nimport pypet_rebuild as pr",
    (
        "def simulate(run):\n"
        "    return {'z': float(np.sqrt(run.x)) + run.offset}\n"
        "\n"
        "traj = pr.Trajectory('notebook', seed=2)\n"
        "traj.add_parameter('x', 0.0)\n"
        "traj.add_parameter('offset', 1.0)\n"
        "traj.explore({'x': [0.0, 1.0, 4.0, 9.0]})\n"
        "env = pr.Environment(traj, 'notebook.h5')\n"
        "report = env.run(simulate, executor='process', workers=2, progress=False)\n"
        "env.storage.close()\n"
        "print(report.summary())"
    ),
]


def test_a_simulate_function_defined_in_a_notebook_cell_runs_on_a_process_pool(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_code_cell(source) for source in NOTEBOOK_CELLS]
    monkeypatch.setenv("JUPYTER_PLATFORM_DIRS", "1")  # jupyter_core's future default, no warning
    client = nbclient.NotebookClient(
        notebook, timeout=300, kernel_name="python3", resources={"metadata": {"path": tmp_path}}
    )
    client.execute()  # raises CellExecutionError if a cell fails
    printed = "".join(out.get("text", "") for out in notebook.cells[1].outputs)
    assert "4 done, 0 failed" in printed, notebook.cells[1].outputs
    loaded = pr.load_trajectory(tmp_path / "notebook.h5")
    assert loaded.results["z"][:].tolist() == [1.0, 2.0, 3.0, 4.0]
    storage = loaded.storage
    assert storage is not None
    storage.close()
