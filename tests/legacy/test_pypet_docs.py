"""The example of "Reading your pypet files" (docs/migration.md) runs and prints what it says."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import pypet_rebuild as pr

ROOT = Path(__file__).resolve().parent.parent.parent


def test_reading_your_pypet_files_example(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    text = (ROOT / "docs" / "migration.md").read_text()
    section = text[text.index("## Reading your pypet files") :]
    block = re.findall(r"```python\n(.*?)```", section, flags=re.DOTALL)[0]
    monkeypatch.chdir(ROOT)
    block = block.replace('"multiply.h5"', repr(str(tmp_path / "multiply.h5")))
    exec(compile(block, "migration.md", "exec"), {})
    printed = capsys.readouterr().out.splitlines()
    documented = re.findall(r"print\(.*?\)\s+# (.*)", block)
    assert printed[0] == documented[0]
    assert printed[1] == documented[1]
    assert printed[2] == documented[2].split(",")[0]
    assert printed[3] == "['done' 'done' 'done']"
    with pr.load_trajectory(tmp_path / "multiply.h5") as study:
        assert isinstance(study.storage, pr.HDF5StorageService)
