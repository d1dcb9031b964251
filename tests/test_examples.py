"""Every example runs, as a user would start it, on a small size; so does the SIR notebook.

Each script runs in a subprocess (``python examples/<script> OUT.h5 --size ...``) with its
output file in a temporary directory; the tests then open the file with the public API and check
what it holds. The scripts start together in the background when the first test of this module
asks for them (most of their time is interpreter, worker and cluster start-up), and the notebook
executes meanwhile.
"""

from __future__ import annotations

import math
import shutil
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

import pypet_rebuild as pr

pytestmark = pytest.mark.slow

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"

# script -> (output file name, arguments for a small run); the slowest first.
SMALL: dict[str, tuple[str, tuple[str, ...]]] = {
    "09_many_cheap_runs.py": ("cheap.h5", ("--size", "200", "--workers", "2")),
    "07_adaptive_loop.py": ("adaptive.h5", ("--size", "2", "--evaluations", "12")),
    "06_large_results.py": ("rod.h5", ("--size", "2", "--points", "60", "--frames", "30")),
    "quickstart.py": ("quickstart.h5", ()),
    "01_first_steps.py": ("first.h5", ("--size", "3")),
    "02_access_and_storage.py": ("lif.h5", ("--size", "3")),
    "03_merging_studies.py": ("merged.h5", ("--size", "2")),
    "04_lorenz_custom_type.py": ("lorenz.h5", ("--size", "2", "--steps", "400")),
    "05_selecting_runs.py": ("select.h5", ("--size", "3")),
    "08_wrap_existing_project.py": ("automata.h5", ("--size", "24")),
}


def run_example(script: str, target: Path, arguments: tuple[str, ...]) -> tuple[Path, str]:
    """Run ``examples/<script> target *arguments`` in a fresh interpreter; return its stdout."""
    target.parent.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        [sys.executable, str(EXAMPLES / script), str(target), *arguments],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        cwd=target.parent,
    )
    assert done.returncode == 0, f"{script} failed:\n{done.stdout[-2000:]}\n{done.stderr[-4000:]}"
    return target, done.stdout


Started = dict[str, "Future[tuple[Path, str]]"]


@pytest.fixture(scope="module")
def started(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Started]:
    """The example scripts whose tests are selected, running in the background (three at once).

    ``test_01_...`` checks ``01_first_steps.py``, ``test_quickstart_...`` ``quickstart.py``.
    """
    selected = [item.name for item in request.session.items]
    root = tmp_path_factory.mktemp("examples")
    with ThreadPoolExecutor(max_workers=3) as pool:
        yield {
            script: pool.submit(run_example, script, root / Path(script).stem / name, arguments)
            for script, (name, arguments) in SMALL.items()
            if any(
                test.startswith(f"test_{script.split('_')[0].removesuffix('.py')}_")
                for test in selected
            )
        }


def outcome(started: Started, script: str) -> tuple[Path, str]:
    """Wait for one example; return its output file and stdout."""
    return started[script].result(timeout=900)


def test_sir_notebook_executes_and_draws_the_heat_map(
    tmp_path: Path, started: Started, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The first test of the module: it starts the scripts (the fixture), and the notebook
    # executes while they run in the background.
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    for name in ("sir_sweep.ipynb", "sir_model.py"):
        shutil.copy(EXAMPLES / name, tmp_path / name)
    notebook = nbformat.read(tmp_path / "sir_sweep.ipynb", as_version=4)
    # The committed notebook carries no outputs.
    assert all(not cell.get("outputs") for cell in notebook.cells if cell.cell_type == "code")
    monkeypatch.setenv("JUPYTER_PLATFORM_DIRS", "1")  # jupyter_core's future default, no warning
    client = nbclient.NotebookClient(
        notebook, timeout=300, kernel_name="python3", resources={"metadata": {"path": tmp_path}}
    )
    client.execute()  # raises CellExecutionError if a cell fails
    outputs = [out for cell in notebook.cells if cell.cell_type == "code" for out in cell.outputs]
    assert not [out for out in outputs if out.output_type == "error"]
    heat_map = next(cell for cell in notebook.cells if "pcolormesh" in cell.source)
    assert any("image/png" in out.get("data", {}) for out in heat_map.outputs)
    loaded = pr.load_trajectory(tmp_path / "sir_sweep.h5")
    assert len(loaded) == 36
    storage = loaded.storage
    assert storage is not None
    assert str(storage.load_provenance("sir")[-1]["executor"]).startswith("process")
    peak = loaded.to_xarray(["peak"])["peak"]
    assert peak.shape == (6, 6)
    # No epidemic where R0 = beta / gamma < 1; a large one for beta = 0.6, gamma = 0.05.
    assert float(peak.sel(beta=0.1, gamma=0.3)) <= 1e-3
    assert float(peak.sel(beta=0.6, gamma=0.05)) > 0.5


def test_quickstart_runs_and_stores_the_sweep(started: Started) -> None:
    target, stdout = outcome(started, "quickstart.py")
    assert "12 done, 0 failed" in stdout
    loaded = pr.load_trajectory(target)
    assert len(loaded) == 12
    assert loaded.results["z"][:].tolist() == [x * y for x in (1.0, 2.0, 3.0) for y in (1, 2, 3, 4)]


def test_01_first_steps_records_failures_and_goes_on(started: Started) -> None:
    target, stdout = outcome(started, "01_first_steps.py")
    assert "6 done, 3 failed" in stdout
    loaded = pr.load_trajectory(target)
    assert len(loaded) == 9
    assert loaded["x"].annotations == {"unit": "m"}
    assert loaded.results["z"].comment == "the product x * y"
    # x = -1 (runs 0-2) fails in math.sqrt; those runs keep no results and store the error.
    assert loaded.find_runs("status == 'failed'") == [0, 1, 2]
    assert "math domain error" in str(loaded.run(1).metadata["error"])
    z = loaded.results["z"][:]
    assert isinstance(z, np.ma.MaskedArray)
    assert z.mask.tolist() == [True] * 3 + [False] * 6
    assert z[3:].tolist() == [x * y for x in (1.0, 2.0) for y in (1, 2, 3)]
    np.testing.assert_allclose(loaded.results["root"][3:], np.sqrt(z[3:]))


def test_02_access_and_storage_keeps_two_trajectories_in_one_file(started: Started) -> None:
    target, stdout = outcome(started, "02_access_and_storage.py")
    assert "'tau' is ambiguous" in stdout
    assert "neuron.tau" in stdout
    assert "synapse.tau" in stdout
    assert pr.HDF5StorageService(target).trajectory_names() == ("lif", "lif_long")
    lif = pr.load_trajectory(target, "lif")
    assert len(lif) == 9
    assert lif["neuron.tau"].annotations == {"unit": "ms"}
    assert lif.results["voltage"][:].shape == (9, 2000)
    rates = lif.results["rate"][:]
    # A current of 0.8 never reaches the threshold 1.0; larger currents fire, faster for a
    # shorter membrane time constant.
    assert rates[:3].tolist() == [0.0, 0.0, 0.0]
    assert (rates[3:] > 0).all()
    assert rates[3] > rates[4] > rates[5]
    spikes = lif.results["spike_times"][4]
    assert len(spikes) == round(rates[4] * 200.0 / 1000.0)
    f_i = lif.derived["f_i_curve"]
    assert f_i.value.shape == (3, 2)
    assert f_i.annotations["lineage_runs"] == [1, 4, 7]
    storage = lif.storage
    assert storage is not None
    assert storage.load_provenance("lif")[-1]["executor"] == "serial"
    assert len(pr.load_trajectory(target, "lif_long")) == 2


def test_03_merging_studies_drops_or_counts_the_repeated_points(started: Started) -> None:
    target, _ = outcome(started, "03_merging_studies.py")
    folder = target.parent
    for machine in ("a", "b"):
        assert len(pr.load_trajectory(folder / f"merged_machine_{machine}.h5")) == 6
    assert set(pr.HDF5StorageService(target).trajectory_names()) == {"walks_unique", "walks_trials"}
    unique = pr.load_trajectory(target, "walks_unique")
    assert len(unique) == 10
    assert len(unique.unique_points()) == 10
    trials = pr.load_trajectory(target, "walks_trials")
    assert len(trials) == 12
    assert trials.find_runs(trial=1) == [6, 7]
    assert [trials.point(i)["noise"] for i in (4, 5, 6, 7)] == [0.3, 0.3, 0.3, 0.3]
    # The repetitions ran on different "machines" (seeds): different walks, similar means.
    passages = trials.results["mean_passage"][[4, 6]]
    assert passages[0] != passages[1]
    assert math.isclose(passages[0], passages[1], rel_tol=0.2)
    storage = trials.storage
    assert storage is not None
    (lineage,) = storage.load_provenance("walks_trials")
    assert lineage["operation"] == "merge"
    sources = lineage["merged_from"]
    assert isinstance(sources, list)
    assert [Path(s["file"]).name for s in sources] == ["merged_machine_a.h5", "merged_machine_b.h5"]


def test_04_lorenz_stores_and_reloads_the_custom_type(started: Started) -> None:
    target, stdout = outcome(started, "04_lorenz_custom_type.py")
    assert "all 4 stored solutions equal a fresh integration" in stdout
    loaded = pr.load_trajectory(target)
    assert loaded["initial"].value_type.name == "ndarray[float64, 1-d]"
    np.testing.assert_array_equal(loaded.point(1)["initial"], [1.0 + 1e-6, 1.0, 1.0])
    assert loaded.results["final_state"][:].shape == (4, 3)
    # This process has not registered the example's codec: the error names the codec id.
    with pytest.raises(pr.errors.UnsupportedTypeError, match=r"examples\.LorenzTrajectory"):
        loaded.results["solution"][0]


def test_05_selecting_runs_finds_the_same_runs_every_way(started: Started) -> None:
    target, stdout = outcome(started, "05_selecting_runs.py")
    assert "17 done, 2 failed" in stdout
    loaded = pr.load_trajectory(target)
    assert len(loaded) == 19
    failed = loaded.find_runs("status == 'failed'")
    assert failed == [3, 13]
    assert all(loaded.point(i) == {"drive.omega": 1.0, "oscillator.damping": 0.0} for i in failed)
    by_predicate = loaded.find_runs(lambda amplitude, damping: amplitude > 1 and damping == 0.1)
    by_query = loaded.find_runs("amplitude > 1", damping=0.1)
    frame = loaded.to_pandas()
    by_frame = frame.index[(frame["amplitude"] > 1) & (frame["oscillator.damping"] == 0.1)]
    assert by_predicate == by_query == by_frame.tolist()
    assert len(loaded.unique_points()) == 17
    # Repeated points draw the same random numbers: identical results.
    assert loaded.results["amplitude"][4] == loaded.results["amplitude"][14]


def test_06_large_results_reads_slices_and_builds_a_lazy_dataset(started: Started) -> None:
    target, stdout = outcome(started, "06_large_results.py")
    assert "field is backed by dask" in stdout
    loaded = pr.load_trajectory(target)
    assert len(loaded) == 8
    field = loaded.results["field"]
    assert field[:].shape == (8, 30, 60)
    np.testing.assert_array_equal(field[:, -1], field[:][:, -1])
    fractions = loaded.results["heat_fraction"][:]
    assert ((fractions > 0) & (fractions <= 1)).all()
    # More diffusive rods (the second half) lose more heat through their ends.
    assert (fractions[4:] < fractions[:4]).all()


def test_07_adaptive_loop_stores_every_round(started: Started) -> None:
    target, stdout = outcome(started, "07_adaptive_loop.py")
    assert "round 1: 4 runs" in stdout
    rheobase = pr.load_trajectory(target, "rheobase")
    assert len(rheobase) == 8
    table = rheobase.to_pandas()
    assert table["round"].tolist() == [0] * 4 + [1] * 4
    exact = 1.0 / (1.0 - math.exp(-5.0))
    # Every firing current lies above the closed-form rheobase, every silent one below.
    assert (table.loc[table["fired"], "current"] > exact).all()
    assert (table.loc[~table["fired"], "current"] < exact).all()
    fit = pr.load_trajectory(target, "logistic_fit")
    assert 3 <= len(fit) <= 14  # Nelder-Mead may stop an evaluation or two past maxfev
    losses = fit.results["loss"][:]
    assert np.isfinite(losses).all()
    assert losses.min() < losses[0]


def test_08_wraps_the_cellular_automaton_project_unchanged(started: Started) -> None:
    target, _ = outcome(started, "08_wrap_existing_project.py")
    loaded = pr.load_trajectory(target)
    assert len(loaded) == 18
    patterns = loaded.results["pattern"][:]
    assert patterns.shape == (18, 25, 24)
    assert patterns.dtype == np.uint8
    entropy = loaded.to_pandas(["entropy"], metadata=False, index="explored")["entropy"]
    assert entropy.between(0.0, 1.0).all()
    assert entropy[(30, 0.5)] > 0.9  # rule 30 looks random
    assert entropy[(4, 0.5)] < entropy[(30, 0.5)]
    # The stored pattern is exactly what the project computes from the run's seed.
    sys.path.insert(0, str(EXAMPLES))
    try:
        import cellular_automaton as ca
    finally:
        sys.path.remove(str(EXAMPLES))
    (run,) = loaded.find_runs(rule=110, initial_density=0.5)
    seed = loaded.run(run).metadata["seed"]
    assert isinstance(seed, int | np.integer)
    initial = ca.random_initial_state(24, 0.5, seed=int(seed))
    np.testing.assert_array_equal(
        patterns[run], ca.run_automaton(initial, ca.make_rule_table(110), 24)
    )


def test_09_many_cheap_runs_agree_on_every_executor(started: Started) -> None:
    target, stdout = outcome(started, "09_many_cheap_runs.py")
    assert "[dask]" in stdout
    names = pr.HDF5StorageService(target).trajectory_names()
    assert set(names) == {"serial", "process", "chunks_of_1", "chunks_auto", "dask"}
    reference = pr.load_trajectory(target, "serial").results["lyapunov"][:]
    assert reference.shape == (200,)
    for name in ("process", "dask"):
        loaded = pr.load_trajectory(target, name)
        np.testing.assert_array_equal(loaded.results["lyapunov"][:], reference)
        table = loaded.to_pandas([], metadata=["status", "pid"])
        assert (table["status"] == "done").all()
        serial_pid = pr.load_trajectory(target, "serial").run(0).metadata["pid"]
        assert serial_pid not in set(table["pid"])  # the workers ran the runs
    for name in ("chunks_of_1", "chunks_auto"):
        assert len(pr.load_trajectory(target, name)) == 20
