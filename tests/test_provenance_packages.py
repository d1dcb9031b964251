"""Provenance records the versions of the packages the simulate function's module uses."""

from __future__ import annotations

import importlib
import sys
from importlib import metadata
from pathlib import Path

import pytest

import pypet_rebuild as pr
from pypet_rebuild.execution.provenance import used_distributions

MODULE = """
import json
import pint
from hypothesis import given

def simulate(run):
    return {"z": run.x, "encoded": json.dumps([run.x])}
"""


def test_the_simulate_modules_packages_are_recorded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "my_model.py").write_text(MODULE)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "my_model", raising=False)
    model = importlib.import_module("my_model")
    found = {name.lower(): version for name, version in used_distributions(model.simulate).items()}
    assert found == {
        "pint": metadata.version("pint"),
        "hypothesis": metadata.version("hypothesis"),
    }
    traj = pr.Trajectory("prov", seed=1)
    traj.add_parameter("x", 1.0)
    traj.explore({"x": [1.0, 2.0]})
    env = pr.Environment(traj, storage=tmp_path / "prov.h5")
    env.run(model.simulate, progress=False)
    (record,) = env.study.provenance
    assert record["simulate"] == "my_model.simulate"
    assert record["version_pint"] == metadata.version("pint")
    assert record["version_hypothesis"] == metadata.version("hypothesis")
    assert record["version_numpy"] == metadata.version("numpy")  # the fixed list stays
    assert "version_json" not in record  # the standard library is not a package


def test_a_function_made_by_exec_is_recorded_too(tmp_path: Path) -> None:
    namespace: dict[str, object] = {}
    exec("import numpy as np\ndef simulate(run):\n    return {'z': np.float64(run.x)}", namespace)
    traj = pr.Trajectory("exec", seed=1)
    traj.add_parameter("x", 1.0)
    traj.explore({"x": [1.0]})
    env = pr.Environment(traj, storage=tmp_path / "exec.h5")
    env.run(namespace["simulate"], progress=False)  # type: ignore[arg-type]
    (record,) = env.study.provenance
    assert record["simulate"] == "<unknown module>.simulate"


def test_each_imported_package_is_placed_as_the_full_scan_of_metadata_places_it() -> None:
    # The direct lookup (a distribution named after the package, or a module outside the
    # installation directories) must agree with importlib.metadata's scan of every
    # distribution for every top-level module this process has imported.
    from pypet_rebuild.execution.provenance import _providers

    scanned = metadata.packages_distributions()
    for name in sorted(n for n in list(sys.modules) if "." not in n and not n.startswith("_")):
        # As sets: the scan names a distribution once per path entry that holds it (an isolated
        # environment layered over another lists "packaging" twice); provenance keys by name.
        assert set(_providers(name)) == set(scanned.get(name, ())), name
