"""Installing and depending on the package: version, ``python -m``, extras, missing extras."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import numpy as np
import pytest

import pypet_rebuild as pr
from pypet_rebuild._optional import extra_requirements
from pypet_rebuild.cli.main import main
from pypet_rebuild.errors import MissingDependencyError

# Console scripts, subprocesses or whole-site builds: outside the fast loop (-m "not slow").
pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent


def test_version_is_the_installed_metadata_version() -> None:
    assert pr.__version__ == metadata.version("pypet_rebuild")


def test_python_dash_m_runs_the_command_line(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "pypet_rebuild", "--version"],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"pypet-rebuild {pr.__version__}"
    listed = subprocess.run(
        [sys.executable, "-m", "pypet_rebuild", "ls", str(tmp_path / "absent.h5")],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert listed.returncode == 1
    assert "absent.h5" in listed.stderr


@pytest.mark.parametrize(
    ("extra", "packages"),
    [
        ("export", {"h5netcdf", "pyarrow", "xarray"}),
        ("notebook", {"ipywidgets", "jupyterlab"}),
        ("units", {"pint"}),
        ("scipy", {"scipy"}),
        ("dask", {"distributed"}),
        ("xarray", {"xarray"}),
    ],
)
def test_each_extra_holds_what_its_features_need(extra: str, packages: set[str]) -> None:
    names = {re.split(r"[<>=!~\[ ]", requirement)[0] for requirement in extra_requirements(extra)}
    assert names == packages


def _block(monkeypatch: pytest.MonkeyPatch, *modules: str) -> None:
    # A None entry in sys.modules makes `import name` raise ImportError, as if not installed.
    for module in modules:
        monkeypatch.setitem(sys.modules, module, None)


def _assert_names(
    error: MissingDependencyError, feature: str, requirement: str, extra: str
) -> None:
    message = str(error)
    assert message.startswith(f"{feature} needs ")
    assert requirement in message
    assert f'"{extra}" extra' in message
    assert "getting-started" in message


@pytest.mark.parametrize("sampler", ["sobol", "latin_hypercube"])
def test_samplers_without_scipy_raise_missing_dependency(
    monkeypatch: pytest.MonkeyPatch, sampler: str
) -> None:
    _block(monkeypatch, "scipy.stats")
    function = getattr(pr, sampler)
    with pytest.raises(MissingDependencyError) as caught:
        function({"x": pr.Range(0.0, 1.0)}, 8, seed=1)
    _assert_names(caught.value, f"pr.{sampler}", "scipy>=1.13", "scipy")
    assert isinstance(caught.value, ImportError)


def _study(path: Path) -> pr.StoredTrajectory:
    traj = pr.Trajectory("deps", seed=1)
    traj.add_parameter("x", 1.0)
    traj.explore({"x": [1.0, 2.0]})
    env = pr.Environment(traj, storage=path)
    env.run(lambda run: {"z": np.full(3, run.x)}, progress=False)
    return env.study


def test_to_xarray_without_xarray_names_the_feature(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    study = _study(tmp_path / "deps.h5")
    _block(monkeypatch, "xarray")
    with pytest.raises(MissingDependencyError) as caught:
        study.to_xarray()
    _assert_names(caught.value, "study.to_xarray()", "xarray>=2026.1", "xarray")


def test_lazy_to_xarray_without_dask_names_the_feature(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    study = _study(tmp_path / "deps.h5")
    _block(monkeypatch, "dask.array")
    with pytest.raises(MissingDependencyError) as caught:
        study.to_xarray(chunks="auto")
    _assert_names(caught.value, "study.to_xarray(chunks=...)", "distributed", "dask")


def test_dask_executor_without_distributed_names_the_feature(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    traj = pr.Trajectory("deps", seed=1)
    traj.add_parameter("x", 1.0)
    traj.explore({"x": [1.0, 2.0]})
    _block(monkeypatch, "distributed")
    with pytest.raises(MissingDependencyError) as caught:
        pr.Environment(traj, storage=tmp_path / "d.h5").run(
            lambda run: {"z": run.x}, executor="dask", progress=False
        )
    _assert_names(caught.value, "executor='dask'", "distributed", "dask")


@pytest.mark.parametrize(("fmt", "blocked"), [("parquet", "pyarrow"), ("netcdf", "h5netcdf")])
def test_export_without_its_extra_is_one_line_naming_the_extra(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    fmt: str,
    blocked: str,
) -> None:
    _study(tmp_path / "deps.h5").close()
    _block(monkeypatch, blocked)
    assert main(["export", str(tmp_path / "deps.h5"), "--format", fmt]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert f"pypet-rebuild export --format {fmt} needs {blocked}" in err
    assert '"export" extra' in err


@pytest.mark.slow
def test_a_wheel_installed_as_documented_runs_the_getting_started_guide(tmp_path: Path) -> None:
    """The acceptance test of the install docs: build, install in a fresh venv, run the guide."""
    uv = shutil.which("uv")
    if uv is None:
        pytest.skip("uv is not on PATH: cannot build and install a wheel here")
    guide = (ROOT / "docs" / "getting-started.md").read_text()
    assert "pip install dist/pypet_rebuild-" in guide
    subprocess.run(
        [uv, "build", "--wheel", "--out-dir", str(tmp_path / "dist"), str(ROOT)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    (wheel,) = (tmp_path / "dist").glob("pypet_rebuild-*.whl")
    venv = tmp_path / "venv"
    subprocess.run(
        [uv, "venv", "--python", sys.executable, str(venv)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    python = venv / "bin" / "python"
    # `uv pip install` is `pip install` (the documented command) without needing pip in the venv.
    subprocess.run(
        [uv, "pip", "install", "--python", str(python), str(wheel)],
        check=True,
        capture_output=True,
        timeout=600,
    )
    blocks = re.findall(r"```python\n(.*?)```", guide, flags=re.DOTALL)
    script = tmp_path / "guide.py"
    script.write_text("\n".join(blocks))
    done = subprocess.run(
        [str(python), "-W", "error", str(script)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    assert "12 done" in done.stdout
