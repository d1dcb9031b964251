"""Inputs that passed silently or raised builtins: each is refused before anything runs or is
written, with an error from ``pypet_rebuild.errors`` naming the offending thing and the fix."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

import pypet_rebuild as pr
from pypet_rebuild.errors import (
    InvalidCommentError,
    InvalidExecutorError,
    InvalidSeedError,
    InvalidStorageError,
    PypetRebuildError,
    RunFailedError,
)


def _trajectory(name: str = "v") -> pr.Trajectory:
    traj = pr.Trajectory(name, seed=1)
    traj.add_parameter("x", 0.0)
    traj.explore({"x": [1.0, 2.0]})
    return traj


# -- seeds --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("seed", "shown"),
    [(1.5, "float 1.5"), ("12", "str '12'.*int\\('12'\\)"), (True, "bool True"), (None, None)],
)
def test_a_seed_must_be_an_integer(seed: object, shown: str | None) -> None:
    if seed is None:
        assert 0 <= pr.Trajectory("t", seed=None).seed < 2**63
        return
    with pytest.raises(InvalidSeedError, match=f"trajectory 't'.*{shown}") as caught:
        pr.Trajectory("t", seed=seed)  # type: ignore[arg-type]
    assert isinstance(caught.value, TypeError)
    assert isinstance(caught.value, ValueError)


@pytest.mark.parametrize("seed", [-1, 2**64, 10**30])
def test_a_seed_must_fit_in_64_bits(seed: int) -> None:
    with pytest.raises(InvalidSeedError, match=r"0 <= seed < 2\*\*64.*alias"):
        pr.Trajectory("t", seed=seed)


@pytest.mark.parametrize("seed", [0, 2**64 - 1, np.int64(7), np.uint64(2**63)])
def test_every_64_bit_seed_is_kept_and_stored(tmp_path: Path, seed: int) -> None:
    traj = pr.Trajectory("t", seed=seed)
    assert traj.seed == int(seed)
    assert type(traj.seed) is int
    traj.add_parameter("x", 0)
    pr.Environment(traj, tmp_path / "s.h5").run(lambda run: None, progress=False)
    with pr.load_trajectory(tmp_path / "s.h5") as study:
        assert study.trajectory.seed == int(seed)


# -- environment and run settings -------------------------------------------------------------


@pytest.mark.parametrize("flush_seconds", [-1, math.nan, math.inf, "1", True])
def test_flush_seconds_is_refused_by_the_environment(flush_seconds: object) -> None:
    with pytest.raises(InvalidExecutorError, match="flush_seconds must be a finite number"):
        pr.Environment(_trajectory(), flush_seconds=flush_seconds)  # type: ignore[arg-type]


@pytest.mark.parametrize("batch_size", [0, -3, "10", 2.0, True])
def test_batch_size_is_refused_by_the_environment(batch_size: object) -> None:
    with pytest.raises(InvalidExecutorError, match="batch_size must be a positive integer"):
        pr.Environment(_trajectory(), batch_size=batch_size)  # type: ignore[arg-type]


@pytest.mark.parametrize("timeout", [math.nan, math.inf, -math.inf, 0, -1, "5", True])
def test_a_timeout_must_be_positive_and_finite(tmp_path: Path, timeout: object) -> None:
    path = tmp_path / "t.h5"
    env = pr.Environment(_trajectory(), path)
    ran: list[int] = []
    with pytest.raises(InvalidExecutorError, match=r"timeout must be a positive, finite.*None"):
        env.run(lambda run: ran.append(1), timeout=timeout, progress=False)  # type: ignore[arg-type]
    assert ran == []
    assert not path.exists()


def test_a_finite_timeout_and_none_are_accepted() -> None:
    report = pr.Environment(_trajectory()).run(lambda run: None, timeout=30.0, progress=False)
    assert report.done == 2


def test_storage_options_and_compaction_are_storage_errors(tmp_path: Path) -> None:
    with pytest.raises(InvalidStorageError, match=r"compression='zstd'.*'gzip'.*'lzf'"):
        pr.StorageOptions(compression="zstd")  # type: ignore[arg-type]
    with pytest.raises(InvalidStorageError, match=r"compaction.*got 'never'"):
        pr.HDF5StorageService(tmp_path / "c.h5", compaction="never")  # type: ignore[arg-type]


# -- comments with NUL characters -------------------------------------------------------------


def test_a_nul_in_the_trajectory_comment_is_refused_with_its_owner() -> None:
    with pytest.raises(InvalidCommentError, match=r"trajectory 'v' holds a NUL.*position 3"):
        pr.Trajectory("v", comment="abc\x00def")


def test_a_nul_in_a_parameter_comment_is_refused_with_its_path() -> None:
    traj = pr.Trajectory("v", seed=1)
    with pytest.raises(InvalidCommentError, match=r"parameter 'sim\.x' holds a NUL"):
        traj.add_parameter("sim.x", 1.0, comment="\x00")
    assert "sim.x" not in traj


def test_a_non_string_comment_is_refused() -> None:
    with pytest.raises(InvalidCommentError, match="must be a str, got int 5"):
        pr.Trajectory("v", comment=5)  # type: ignore[arg-type]


@pytest.mark.parametrize("storage", ["memory", "hdf5"])
def test_a_comment_changed_later_is_refused_before_anything_is_written(
    tmp_path: Path, storage: str
) -> None:
    traj = _trajectory()
    traj.comment = "late\x00"
    target = tmp_path / "late.h5" if storage == "hdf5" else None
    env = pr.Environment(traj, target)
    ran: list[int] = []
    with pytest.raises(InvalidCommentError, match="trajectory 'v' holds a NUL"):
        env.run(lambda run: ran.append(1), progress=False)
    assert ran == []
    assert target is None or not target.exists()
    traj2 = _trajectory("w")
    traj2["x"].comment = "p\x00"
    with pytest.raises(InvalidCommentError, match="parameter 'x' holds a NUL"):
        pr.Environment(traj2, tmp_path / "p.h5").run(lambda run: None, progress=False)


def test_a_nul_in_a_result_comment_fails_that_run_naming_result_and_run() -> None:
    def simulate(run: pr.Run) -> None:
        run.add_result("z", run.x, comment="bad\x00")

    with pytest.raises(RunFailedError, match=r"result 'z' of run 0 holds a NUL") as caught:
        pr.Environment(_trajectory()).run(simulate, progress=False)
    assert isinstance(caught.value.__cause__, InvalidCommentError)


def test_a_nul_in_a_derived_result_comment_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "d.h5"
    pr.Environment(_trajectory(), path).run(lambda run: {"z": run.x}, progress=False)
    with (
        pr.load_trajectory(path) as study,
        pytest.raises(InvalidCommentError, match=r"derived result 'total' holds a NUL"),
    ):
        study.add_derived("total", 3.0, comment="a\x00b")


def test_nul_characters_in_annotations_and_values_round_trip(tmp_path: Path) -> None:
    traj = pr.Trajectory("v", seed=1, comment="plain")
    traj.add_parameter("x", 0.0, comment="ok", annotations={"unit\x00": "m\x00s"})
    traj.add_parameter("label", "a\x00b")
    path = tmp_path / "ann.h5"
    pr.Environment(traj, path).run(lambda run: {"text": "c\x00d"}, progress=False)
    with pr.load_trajectory(path) as study:
        loaded = study.trajectory
        assert loaded["x"].annotations == {"unit\x00": "m\x00s"}
        assert loaded["label"].default == "a\x00b"
        assert study.results["text"][0] == "c\x00d"


def test_every_refusal_here_is_a_pypet_rebuild_error() -> None:
    for error in (InvalidCommentError, InvalidSeedError, InvalidStorageError):
        assert issubclass(error, PypetRebuildError)
