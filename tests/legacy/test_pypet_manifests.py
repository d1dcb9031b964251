"""Every pypet 0.7.0 fixture reads back as pypet read it, directly and after conversion."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pypet_manifest import check_study, manifests

import pypet_rebuild as pr
from pypet_rebuild.legacy import convert_pypet


@pytest.fixture(params=manifests(), ids=lambda p: p.stem)
def manifest(request: pytest.FixtureRequest) -> tuple[Path, dict[str, object]]:
    path: Path = request.param
    return path.with_suffix(".hdf5"), json.loads(path.read_text())


def test_reads_every_fixture_as_pypet_did(manifest: tuple[Path, dict[str, object]]) -> None:
    path, data = manifest
    trajectories = data["trajectories"]
    assert isinstance(trajectories, list)
    for entry in trajectories:
        with pr.load_trajectory(path, entry["name"], allow_pickle=True) as study:
            check_study(study, entry)


def test_converted_file_reads_as_pypet_did(
    manifest: tuple[Path, dict[str, object]], tmp_path: Path
) -> None:
    path, data = manifest
    target = tmp_path / "converted.h5"
    convert_pypet(path, target, allow_pickle=True)
    trajectories = data["trajectories"]
    assert isinstance(trajectories, list)
    for entry in trajectories:
        with pr.load_trajectory(target, entry["name"], allow_pickle=True) as study:
            assert isinstance(study.storage, pr.HDF5StorageService)
            check_study(study, entry, converted=True)
