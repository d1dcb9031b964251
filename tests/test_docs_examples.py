"""The code shown in README.md and docs/ runs as shown."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

import pypet_rebuild as pr

ROOT = Path(__file__).resolve().parent.parent


def python_blocks(markdown: Path) -> list[str]:
    return re.findall(r"```python\n(.*?)```", markdown.read_text(), flags=re.DOTALL)


def test_readme_example_runs_and_gives_the_documented_results(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (block,) = python_blocks(ROOT / "README.md")
    namespace: dict[str, object] = {}
    exec(compile(block, "README.md", "exec"), namespace)
    loaded = namespace["loaded"]
    assert isinstance(loaded, pr.StoredTrajectory)
    assert loaded.results["z"][:].tolist() == [10.0, 20.0, 20.0, 40.0, 30.0, 60.0]
    np.testing.assert_array_equal(loaded.results["trace"][:, 10], [1.0, 1.0, 2.0, 2.0, 3.0, 3.0])
    assert loaded.find_runs(lambda x, y: x > 1.0 and y == 10) == [2, 4]


def test_getting_started_tutorial_runs_in_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, object] = {}
    for number, block in enumerate(python_blocks(ROOT / "docs" / "getting-started.md")):
        exec(compile(block, f"getting-started.md block {number}", "exec"), namespace)
    extended = pr.load_trajectory("multiply.h5")
    assert len(extended) == 16
    assert extended.results["z"][-4:].tolist() == [4.0, 8.0, 12.0, 16.0]


def test_custom_codec_from_the_storage_docs_round_trips(tmp_path: Path) -> None:
    blocks = [b for b in python_blocks(ROOT / "docs" / "storage.md") if "LorenzCodec" in b]
    namespace: dict[str, object] = {}
    exec(compile(blocks[0], "storage.md", "exec"), namespace)
    state_type = namespace["LorenzState"]
    assert isinstance(state_type, type)

    traj = pr.Trajectory("lorenz", seed=1)
    traj.add_parameter("sigma", 10.0)
    traj.explore({"sigma": [10.0, 12.0]})

    def simulate(run: pr.Run) -> dict[str, object]:
        return {"state": state_type(run.sigma, np.full((4, 3), run.sigma))}

    pr.Environment(traj, storage=tmp_path / "lorenz.h5").run(simulate)
    state = pr.load_trajectory(tmp_path / "lorenz.h5").run(1).results["state"]
    assert isinstance(state, state_type)
    assert state.sigma == 12.0  # type: ignore[attr-defined]
    np.testing.assert_array_equal(state.trajectory, np.full((4, 3), 12.0))  # type: ignore[attr-defined]


def test_file_format_page_reads_a_fresh_file_with_h5py_and_xarray(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, object] = {}
    blocks = python_blocks(ROOT / "docs" / "file-format.md")
    assert len(blocks) == 5  # writing the file, h5py (results, a DataFrame), xarray (same)
    for number, block in enumerate(blocks):
        exec(compile(block, f"file-format.md block {number}", "exec"), namespace)
