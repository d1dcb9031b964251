"""Pin the public API (like httpx's tests/test_exported_members.py)."""

from __future__ import annotations

import inspect
import types

import pypet_rebuild as pr

# The exact public names of the package. This set must be updated whenever a public name is added
# to (or removed from) pypet_rebuild.__all__, together with the docs.
EXPECTED_ALL = {
    "AdaptiveSweep",
    "Axis",
    "Environment",
    "Group",
    "HDF5StorageService",
    "Hooks",
    "MemoryStorageService",
    "Parameter",
    "ParameterSpace",
    "PointHashes",
    "PypetStorageService",
    "Range",
    "Result",
    "Round",
    "Run",
    "RunFailure",
    "RunRecord",
    "RunReport",
    "RunStatus",
    "SpaceDescription",
    "StorageOptions",
    "StorageService",
    "StoredTrajectory",
    "SweepHooks",
    "Trajectory",
    "__version__",
    "cartesian_product",
    "convert_pypet",
    "errors",
    "latin_hypercube",
    "load_trajectory",
    "merge_trajectories",
    "open_storage",
    "point_hash",
    "random_sample",
    "register_codec",
    "sobol",
    "zipped",
}

# The names DESIGN.md section 2 makes a contract; they may only change with a reason recorded in
# DESIGN_NOTES.md.
DESIGN_CONTRACT = {
    "HDF5StorageService",
    "load_trajectory",
    "merge_trajectories",
    "Trajectory",
    "Parameter",
    "Result",
    "Run",
    "Environment",
    "RunReport",
    "cartesian_product",
    "StorageService",
    "MemoryStorageService",
    "errors",
}


def test_all_is_exactly_the_pinned_set() -> None:
    assert set(pr.__all__) == EXPECTED_ALL
    assert len(pr.__all__) == len(set(pr.__all__)), "duplicate entries in __all__"


def test_all_includes_the_design_contract() -> None:
    assert set(pr.__all__) >= DESIGN_CONTRACT


def test_every_exported_name_exists() -> None:
    for name in pr.__all__:
        assert hasattr(pr, name), name


def test_star_import_gives_exactly_all() -> None:
    namespace: dict[str, object] = {}
    exec("from pypet_rebuild import *", namespace)
    namespace.pop("__builtins__")
    assert set(namespace) == EXPECTED_ALL


def test_errors_is_the_errors_module() -> None:
    assert isinstance(pr.errors, types.ModuleType)
    assert pr.errors.__name__ == "pypet_rebuild.errors"


def test_version_is_a_string() -> None:
    assert isinstance(pr.__version__, str)
    assert pr.__version__.count(".") >= 1


def _has_own_docstring(obj: object) -> bool:
    doc = getattr(obj, "__doc__", None)
    if not doc or not doc.strip():
        return False
    # dataclasses without a docstring get their signature as __doc__.
    name = getattr(obj, "__name__", "")
    return not (inspect.isclass(obj) and doc.startswith(f"{name}("))


def test_every_public_object_has_a_docstring() -> None:
    missing = [
        name
        for name in pr.__all__
        if name != "__version__" and not _has_own_docstring(getattr(pr, name))
    ]
    assert not missing


def test_public_methods_of_public_classes_have_docstrings() -> None:
    missing: list[str] = []
    for name in pr.__all__:
        cls = getattr(pr, name)
        if not inspect.isclass(cls) or not cls.__module__.startswith("pypet_rebuild"):
            continue
        for attribute, member in vars(cls).items():
            if attribute.startswith("_"):
                continue
            target = member.fget if isinstance(member, property) else member
            if isinstance(target, classmethod | staticmethod):
                target = target.__func__
            if inspect.isfunction(target) and not _has_own_docstring(target):
                missing.append(f"{name}.{attribute}")
    assert not missing


def test_public_classes_come_from_the_package() -> None:
    for name in pr.__all__:
        obj = getattr(pr, name)
        if inspect.isclass(obj) or inspect.isfunction(obj):
            assert obj.__module__.startswith("pypet_rebuild."), name


def test_importing_the_package_imports_no_heavy_optional_library() -> None:
    """``import pypet_rebuild`` costs what the core needs: every process worker pays it at start.

    pandas alone took ~0.7 s of the first start of a fork server (through ``legacy``); the
    names that need it are imported on first use, and still work.
    """
    import subprocess
    import sys

    heavy = ("pandas", "xarray", "scipy", "dask", "distributed", "pint", "tables")
    script = (
        "import sys, pypet_rebuild\n"
        f"print(','.join(m for m in {heavy!r} if m in sys.modules))\n"
        "pypet_rebuild.convert_pypet, pypet_rebuild.PypetStorageService\n"
        "from pypet_rebuild import *\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "", f"imported by `import pypet_rebuild`: {done.stdout}"
    assert callable(pr.convert_pypet)
    assert isinstance(pr.PypetStorageService, type)
    assert "convert_pypet" in dir(pr)


def test_a_process_worker_imports_only_what_runs_a_simulate_function() -> None:
    """A fork server (or a spawn worker) imports the worker module before the first run starts.

    The packages import their exports on first use, so that import is the few modules that run
    a simulate function (and numpy), not the HDF5 backend, the codecs or the analysis layer:
    they were about half of a process's first sweep's pool start.
    """
    import subprocess
    import sys

    script = (
        "import sys, pypet_rebuild\n"
        "print(','.join(sorted(m for m in sys.modules if m.startswith('pypet_rebuild.'))))\n"
        "import pypet_rebuild.execution.worker\n"
        "wanted = ('pypet_rebuild', 'h5py')\n"
        "print(','.join(sorted(m for m in sys.modules if m.startswith(wanted))))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    package, worker = (set(line.split(",")) for line in done.stdout.splitlines())
    assert package <= {"pypet_rebuild._lazy", "pypet_rebuild.errors"}
    unwanted = {
        "h5py",
        "pypet_rebuild.analysis",
        "pypet_rebuild.execution.environment",
        "pypet_rebuild.storage.codecs",
        "pypet_rebuild.storage.hdf5",
        "pypet_rebuild.storage.memory",
        "pypet_rebuild.tree.trajectory",
    }
    assert not worker & unwanted, sorted(worker & unwanted)
    assert "pypet_rebuild.execution.worker" in worker


def test_subpackages_export_their_names_on_first_use() -> None:
    import pytest

    from pypet_rebuild import execution, exploration, storage, tree

    for package in (execution, exploration, storage, tree):
        for name in package.__all__:
            assert getattr(package, name) is not None, (package.__name__, name)
            assert name in dir(package)
        with pytest.raises(AttributeError, match=package.__name__):
            _ = package.no_such_name


def test_subpackages_stay_reachable_as_attributes() -> None:
    """``import pypet_rebuild`` used to import every subpackage; they are still attributes."""
    import subprocess
    import sys

    script = (
        "import pypet_rebuild as pr\n"
        "assert pr.storage.hdf5.HDF5StorageService is pr.HDF5StorageService\n"
        "assert pr.tree.Trajectory is pr.Trajectory\n"
        "assert pr.analysis.study.StoredTrajectory is pr.StoredTrajectory\n"
        "try:\n"
        "    pr.no_such_module\n"
        "except AttributeError:\n"
        "    pass\n"
        "else:\n"
        "    raise SystemExit('pr.no_such_module did not raise')\n"
        "try:\n"
        "    getattr(pr, 'storage.hdf5')\n"
        "except AttributeError:\n"
        "    pass\n"
        "else:\n"
        "    raise SystemExit('a dotted name reached a module below the package')\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
