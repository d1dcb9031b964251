"""Reading a file never runs code from it: a corpus of crafted files, read every way there is.

Each crafted file is a good file with one stored payload replaced (with h5py, as an attacker
would) by a pickle whose unpickling creates a marker file. Every read path and every CLI command
must either work without the pickled node or refuse it with ``PickleRefusedError`` naming the node
and the opt-in; the marker must never appear. With ``allow_pickle=True`` the same read does run
the pickle, which shows the corpus is really dangerous.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pytest

import pypet_rebuild as pr
from pypet_rebuild.errors import PickleRefusedError, StorageError
from pypet_rebuild.storage.codecs import encode_value
from pypet_rebuild.storage.hdf5.encoded import pack, write_encoded
from pypet_rebuild.tree.snapshot import PickledValue

MARKER_NAME = "PWNED"


class Payload:
    """Unpickling this creates ``marker``: the stand-in for any code an attacker would run."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (Path.touch, (self.marker,))


def simulate(run: pr.Run) -> dict[str, object]:
    return {"z": run.x * 2.0, "s": f"{run.label}!"}


def good_file(path: Path) -> Path:
    """Two explored parameters (a grid), a plain default, a fixed and a packed result, derived."""
    traj = pr.Trajectory("t", seed=1)
    traj.add_parameter("x", 1.0)
    traj.add_parameter("label", "a")
    traj.add_parameter("sim.obj", "plain", comment="an object")
    traj.explore(pr.cartesian_product({"x": [1.0, 2.0], "label": ["a", "b"]}))
    storage = pr.HDF5StorageService(path)
    pr.Environment(traj, storage=storage).run(simulate, progress=False)
    with storage.open_writer("t") as session:
        session.store_derived([pr.Result("ok", 1.5), pr.Result("evil", "fine for now")])
    storage.close()
    return path


def _pickled(marker: Path, nested: bool = False) -> Any:
    value: object = ["harmless", Payload(marker)] if nested else Payload(marker)
    return encode_value(value, allow_pickle=True)


def _replace_group(parent: h5py.Group, name: str, encoded: Any) -> None:
    attrs = dict(parent[name].attrs)
    del parent[name]
    node = write_encoded(parent, name, encoded)
    for key, value in attrs.items():
        if key not in ("codec", "codec_attrs"):
            node.attrs[key] = value


def _packed_column(results: h5py.Group, name: str, values: list[Any], marker: Path) -> None:
    """Rewrite result ``name`` as a packed column whose run 1 holds a pickle."""
    comment = results[name].attrs.get("comment", "")
    del results[name]
    column = results.create_group(name)
    column.attrs["comment"] = comment
    column.attrs["layout"] = "packed"
    headers, chunks = [], []
    bounds = np.zeros(len(values) + 1, dtype=np.int64)
    for row, value in enumerate(values):
        encoded = _pickled(marker, nested=True) if row == 1 else encode_value(value)
        header, parts, size = pack(encoded)
        headers.append(header)
        chunks.extend(parts)
        bounds[row + 1] = bounds[row] + size
    column.create_dataset("present", data=np.ones(len(values), dtype=bool))
    column.create_dataset("header", data=np.array(headers, dtype=object), dtype=h5py.string_dtype())
    column.create_dataset("bounds", data=bounds)
    column.create_dataset("heap", data=np.concatenate(chunks))


def plant_default(file: h5py.File, marker: Path) -> None:
    _replace_group(file["t/parameters"], "sim.obj", _pickled(marker))


def plant_fixed_result(file: h5py.File, marker: Path) -> None:
    _packed_column(file["t/results"], "z", [2.0, 2.0, 4.0, 4.0], marker)


def plant_packed_result(file: h5py.File, marker: Path) -> None:
    _packed_column(file["t/results"], "s", ["a!", "b!", "a!", "b!"], marker)


def plant_derived(file: h5py.File, marker: Path) -> None:
    _replace_group(file["t/derived"], "evil", _pickled(marker))


def plant_explored(file: h5py.File, marker: Path) -> None:
    _replace_group(file["t/explored"], "label", _pickled(marker, nested=True))


PLANTS: dict[str, Callable[[h5py.File, Path], None]] = {
    "parameter default": plant_default,
    "fixed result": plant_fixed_result,
    "packed result": plant_packed_result,
    "derived value": plant_derived,
    "explored column": plant_explored,
}


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return good_file(tmp_path_factory.mktemp("good") / "good.h5")


@pytest.fixture(params=list(PLANTS))
def crafted(request: pytest.FixtureRequest, pristine: Path, tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "crafted.h5"
    shutil.copy(pristine, path)
    with h5py.File(path, "r+") as file:
        PLANTS[request.param](file, tmp_path / MARKER_NAME)
    yield path
    assert not (tmp_path / MARKER_NAME).exists(), "reading the file ran code from it"


def _refused_or_fine(read: Callable[[], object]) -> object:
    """Run one read: it works, or it refuses the pickle naming the opt-in. Never anything else."""
    try:
        return read()
    except PickleRefusedError as refused:
        message = str(refused)
    assert "allow_pickle=True" in message
    return message


READS: dict[str, Callable[[pr.StoredTrajectory], object]] = {
    "results z": lambda t: t.results["z"][:],
    "results s": lambda t: t.results["s"][:],
    "run 1": lambda t: dict(t.run(1).results),
    "run 1 z": lambda t: t.run(1).results["z"],
    "to_pandas": lambda t: t.to_pandas(),
    "derived": lambda t: {k: repr(v.value) for k, v in t.derived.items()},
    "find_runs": lambda t: t.find_runs(lambda x: x > 1.0),
    "to_xarray": lambda t: t.to_xarray(),
    "parameters": lambda t: [(p.path, repr(p.default)) for p in t.parameters()],
    "explored": lambda t: t.space.columns if t.space is not None else None,
}


@pytest.mark.parametrize("read", list(READS))
def test_no_read_path_runs_code_from_the_file(crafted: Path, read: str) -> None:
    loaded = pr.load_trajectory(crafted)  # opening always works: nothing is unpickled
    _refused_or_fine(lambda: READS[read](loaded))
    loaded.close()


def test_every_crafted_file_is_really_dangerous(pristine: Path, tmp_path: Path) -> None:
    # The control: with the opt-in, the same reads do unpickle (so the corpus tests something).
    for name, plant in PLANTS.items():
        path = tmp_path / f"{name.replace(' ', '_')}.h5"
        marker = tmp_path / f"{MARKER_NAME}-{name.replace(' ', '_')}"
        shutil.copy(pristine, path)
        with h5py.File(path, "r+") as file:
            plant(file, marker)
        storage = pr.HDF5StorageService(path, allow_pickle=True)
        # The unpickled objects are not what the readers expect: errors are fine here.
        with contextlib.suppress(Exception):
            loaded = pr.load_trajectory(storage)
            for read in READS.values():
                with contextlib.suppress(Exception):
                    read(loaded)
        storage.close()
        assert marker.exists(), name


def test_a_pickled_result_is_refused_naming_the_run(pristine: Path, tmp_path: Path) -> None:
    path = tmp_path / "r.h5"
    shutil.copy(pristine, path)
    with h5py.File(path, "r+") as file:
        plant_fixed_result(file, tmp_path / MARKER_NAME)
    loaded = pr.load_trajectory(path)
    assert loaded.run(0).results["z"] == 2.0  # the other runs read normally
    with pytest.raises(PickleRefusedError, match=r"results\.z of run 1.*allow_pickle=True"):
        loaded.results["z"][:]
    with pytest.raises(PickleRefusedError, match=r"--allow-pickle"):
        loaded.run(1).results["z"]
    assert loaded.results["s"][:].tolist() == ["a!", "b!", "a!", "b!"]
    assert not (tmp_path / MARKER_NAME).exists()


def test_a_pickled_default_opens_and_raises_only_when_used(pristine: Path, tmp_path: Path) -> None:
    path = tmp_path / "p.h5"
    shutil.copy(pristine, path)
    with h5py.File(path, "r+") as file:
        plant_default(file, tmp_path / MARKER_NAME)
    loaded = pr.load_trajectory(path)
    default = loaded.get_parameter("sim.obj").default
    assert isinstance(default, PickledValue)
    assert "allow_pickle=True" in repr(default)
    with pytest.raises(PickleRefusedError, match=r"default of parameter 'sim\.obj'"):
        default.anything  # noqa: B018
    assert loaded.results["z"][:].tolist() == [2.0, 2.0, 4.0, 4.0]
    assert len(loaded.to_pandas()) == 4
    assert not (tmp_path / MARKER_NAME).exists()


def test_a_pickled_derived_value_does_not_hide_the_others(pristine: Path, tmp_path: Path) -> None:
    path = tmp_path / "d.h5"
    shutil.copy(pristine, path)
    with h5py.File(path, "r+") as file:
        plant_derived(file, tmp_path / MARKER_NAME)
    loaded = pr.load_trajectory(path)
    assert loaded.derived["ok"].value == 1.5
    evil = loaded.derived["evil"].value
    with pytest.raises(PickleRefusedError, match=r"derived\.evil"):
        evil.payload_attribute  # noqa: B018
    assert not (tmp_path / MARKER_NAME).exists()


def test_a_writer_folds_a_crafted_file_without_unpickling(pristine: Path, tmp_path: Path) -> None:
    # Compaction rewrites the main file from what is stored: pickles are copied, not run, even
    # by a writer that may write pickles itself.
    path = tmp_path / "w.h5"
    shutil.copy(pristine, path)
    marker = tmp_path / MARKER_NAME
    with h5py.File(path, "r+") as file:
        plant_default(file, marker)
        plant_derived(file, marker)
        plant_packed_result(file, marker)
    for allow_pickle in (False, True):
        storage = pr.HDF5StorageService(path, allow_pickle=allow_pickle)
        storage.compact("t")
        with storage.open_writer("t") as session:
            session.store_derived([pr.Result("more", 2)])
        storage.close()
        assert not marker.exists()
    trusting = pr.HDF5StorageService(path, allow_pickle=True)  # the pickles survived as stored
    assert trusting.load_derived("t")["more"].value == 2
    assert marker.exists()
    marker.unlink()
    assert trusting.read_results("t", "s", [1])[0] == ["harmless", None]
    assert marker.exists()
    trusting.close()


# -- type names are looked up, never imported ------------------------------------------------------


def _plant_type_name(path: Path, type_name: str) -> None:
    with h5py.File(path, "r+") as file:
        file["t/parameters/sim.obj"].attrs["type_name"] = type_name


@pytest.mark.slow
def test_a_module_named_in_the_file_is_never_imported(pristine: Path, tmp_path: Path) -> None:
    path = tmp_path / "m.h5"
    shutil.copy(pristine, path)
    (tmp_path / "helpers_evil.py").write_text(
        f"from pathlib import Path\nPath({str(tmp_path / MARKER_NAME)!r}).touch()\n"
        "class Thing(str):\n    pass\n"
    )
    _plant_type_name(path, "helpers_evil.Thing")
    sys.path.insert(0, str(tmp_path))
    try:
        loaded = pr.load_trajectory(path)
        parameter = loaded.get_parameter("sim.obj")
        assert parameter.value_type.python_type is str  # unknown name: the default's type
        assert parameter.default == "plain"
    finally:
        sys.path.remove(str(tmp_path))
    assert "helpers_evil" not in sys.modules
    assert not (tmp_path / MARKER_NAME).exists()
    # The same file through the command line, run from the folder holding the module.
    done = _cli(tmp_path, "info", path, "--json")
    assert done.returncode == 0, done.stderr
    assert not (tmp_path / MARKER_NAME).exists()


def test_registered_types_resolve_by_name() -> None:
    from pypet_rebuild.tree.snapshot import type_from_name

    assert type_from_name("float") is float
    assert type_from_name("numpy.ndarray") is np.ndarray
    assert type_from_name("os.system") is None
    assert type_from_name("subprocess.Popen") is None
    assert type_from_name("__import__") is None


# -- the command line ------------------------------------------------------------------------------


def _cli(cwd: Path, *args: str | Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    return subprocess.run(
        [sys.executable, "-m", "pypet_rebuild.cli.main", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=cwd,
        env=env,
    )


CLI_COMMANDS: dict[str, Callable[[Path, Path], tuple[str | Path, ...]]] = {
    "ls": lambda path, out: ("ls", path),
    "info": lambda path, out: ("info", path),
    "runs": lambda path, out: ("runs", path),
    "runs json": lambda path, out: ("runs", path, "--json", "--where", "x > 1"),
    "export csv": lambda path, out: ("export", path, "--format", "csv", "-o", out / "o.csv"),
    "export netcdf": lambda path, out: ("export", path, "--format", "netcdf", "-o", out / "o.nc"),
    "merge": lambda path, out: ("merge", out / "merged.h5", path, out / "copy.h5"),
}


@pytest.mark.slow
@pytest.mark.parametrize("plant", list(PLANTS))
def test_no_command_runs_code_from_the_file(pristine: Path, tmp_path: Path, plant: str) -> None:
    path = tmp_path / "crafted.h5"
    shutil.copy(pristine, path)
    marker = tmp_path / MARKER_NAME
    with h5py.File(path, "r+") as file:
        PLANTS[plant](file, marker)
    shutil.copy(path, tmp_path / "copy.h5")
    for command, build in CLI_COMMANDS.items():
        done = _cli(tmp_path, *build(path, tmp_path))
        assert not marker.exists(), f"{command} ran code from the file"
        assert done.returncode in (0, 1), (command, done.stderr)
        assert "Traceback" not in done.stderr, (command, done.stderr)
        if done.returncode == 1:
            lines = done.stderr.strip().splitlines()
            assert len(lines) == 1, (command, done.stderr)
            # A refusal names the opt-in; merge hashes parameter defaults, and says which one
            # it cannot hash (a stand-in for a pickle).
            assert "--allow-pickle" in lines[0] or "PickledValue" in lines[0], (command, lines[0])


@pytest.mark.slow
def test_the_command_line_unpickles_with_allow_pickle(pristine: Path, tmp_path: Path) -> None:
    path = tmp_path / "crafted.h5"
    shutil.copy(pristine, path)
    marker = tmp_path / MARKER_NAME
    with h5py.File(path, "r+") as file:
        plant_packed_result(file, marker)
    refused = _cli(tmp_path, "runs", path, "--json")
    assert refused.returncode == 1
    assert "results.s of run 1" in refused.stderr
    assert not marker.exists()
    _cli(tmp_path, "runs", path, "--json", "--allow-pickle")
    assert marker.exists()


# -- lock files ------------------------------------------------------------------------------------


@pytest.mark.skipif(not hasattr(os, "symlink") or sys.platform == "win32", reason="POSIX links")
def test_a_symlinked_lock_file_is_refused_and_its_target_untouched(
    pristine: Path, tmp_path: Path
) -> None:
    path = tmp_path / "l.h5"
    shutil.copy(pristine, path)
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    (tmp_path / "l.h5.lock").symlink_to(victim)
    storage = pr.HDF5StorageService(path)
    with pytest.raises(StorageError, match="symbolic link"):
        storage.compact()
    storage.close()
    assert victim.read_text() == "precious"
    assert pr.load_trajectory(path).results["z"][:].tolist() == [2.0, 2.0, 4.0, 4.0]


def test_provenance_and_annotations_are_plain_json(pristine: Path, tmp_path: Path) -> None:
    # Nothing outside the codec'd payloads is decoded by anything but json.loads.
    path = tmp_path / "j.h5"
    shutil.copy(pristine, path)
    with h5py.File(path, "r+") as file:
        file["t/parameters/sim.obj"].attrs["annotations"] = json.dumps({"py/object": "os.system"})
    loaded = pr.load_trajectory(path)
    assert loaded.get_parameter("sim.obj").annotations == {"py/object": "os.system"}
    loaded.close()
