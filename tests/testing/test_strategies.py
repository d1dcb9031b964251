"""The shipped hypothesis strategies: what they draw is valid, storable and round-trips."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import pypet_rebuild as pr
from pypet_rebuild.storage.codecs import decode_value, encode_value
from pypet_rebuild.testing import (
    assert_studies_equal,
    assert_values_equal,
    check_encoded,
    run_study,
    strategies,
)
from pypet_rebuild.tree.snapshot import ParameterSpec


def roundtrip(value: object) -> object:
    encoded = encode_value(value, "results.v")
    check_encoded(encoded)
    return decode_value(encoded)


@settings(max_examples=60)
@given(strategies.storable_values())
def test_storable_values_keep_the_codec_law(value: object) -> None:
    assert_values_equal(value, roundtrip(value))


@settings(max_examples=20)
@given(strategies.sparse_matrices())
def test_sparse_matrices_keep_the_codec_law(value: object) -> None:
    assert_values_equal(value, roundtrip(value))


@settings(max_examples=30)
@given(st.lists(strategies.storable_values(max_leaves=3), min_size=1, max_size=3))
def test_storable_values_come_back_from_memory_storage(values: list[object]) -> None:
    traj = pr.Trajectory("values", seed=0)
    traj.add_parameter("i", 0)
    traj.explore({"i": list(range(len(values)))})
    study = run_study(traj, lambda run: {"v": values[run.i]})
    for index, value in enumerate(study.storage.read_results("values", "v", range(len(values)))):
        assert_values_equal(values[index], value)


@settings(max_examples=40)
@given(strategies.parameter_names(max_size=6))
def test_parameter_names_are_accepted_together(names: list[str]) -> None:
    traj = pr.Trajectory("names", seed=0)
    for name in names:
        traj.add_parameter(name, 1)
    assert [p.path for p in traj.parameters()] == names


@settings(max_examples=30)
@given(strategies.parameter_specs())
def test_parameter_specs_survive_storage(spec: ParameterSpec) -> None:
    traj = pr.Trajectory("specs", seed=0)
    traj.add_parameter(spec.path, spec.default, comment=spec.comment, annotations=spec.annotations)
    storage = pr.MemoryStorageService()
    pr.Environment(traj, storage=storage).run(lambda run: None)
    (stored,) = storage.load_snapshot("specs").parameters
    assert (stored.path, stored.type_name, stored.comment) == (
        spec.path,
        spec.type_name,
        spec.comment,
    )
    assert stored.annotations == spec.annotations
    assert_values_equal(spec.default, stored.default)


@settings(max_examples=60)
@given(strategies.parameter_spaces(("a", "b.c"), value_types=["float", "int"], max_runs=12))
def test_parameter_spaces_are_explorable(space: pr.ParameterSpace) -> None:
    assert 1 <= len(space) <= 12
    assert set(space.names) == {"a", "b.c"}
    traj = pr.Trajectory("space", seed=0)
    traj.add_parameter("a", 0.0)
    traj.add_parameter("b.c", 0)
    traj.explore(space)
    assert len(traj) == len(space)
    assert all(isinstance(traj.point(i)["b.c"], int) for i in range(len(traj)))


@pytest.mark.parametrize("kind", ["grid", "zipped", "union", "sample"])
def test_each_kind_of_space_is_drawn(kind: strategies.SpaceKind) -> None:
    seen: list[str] = []

    @settings(max_examples=5)
    @given(strategies.parameter_spaces(("x",), kinds=[kind]))
    def draw(space: pr.ParameterSpace) -> None:
        seen.append(space.kind)

    draw()
    assert seen


@pytest.fixture(scope="module")
def one_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("hypothesis") / "examples.h5"


@settings(max_examples=15, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(strategies.trajectories(max_runs=6))
def test_whole_trajectories_run_store_and_reload(one_file: Path, traj: pr.Trajectory) -> None:
    def simulate(run: pr.Run) -> dict[str, object]:
        return {"index": run.index, "point": repr(sorted(run.params))}

    # Every example runs into the same file: overwrite=True replaces the previous example.
    stored = run_study(traj, simulate, storage=one_file, overwrite=True)
    try:
        in_memory = run_study(traj, simulate)
        assert len(stored) == len(traj)
        assert_studies_equal(in_memory, stored)
    finally:
        stored.close()


def test_without_hypothesis_the_strategies_name_the_extra() -> None:
    code = (
        "import sys; sys.modules['hypothesis'] = None\n"
        "try:\n"
        "    import pypet_rebuild.testing.strategies\n"
        "except ImportError as error:\n"
        "    print(type(error).__name__, error)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.startswith("MissingDependencyError")
    assert '"testing" extra' in out.stdout
    assert "hypothesis>=" in out.stdout  # the requirement, from the installed metadata
