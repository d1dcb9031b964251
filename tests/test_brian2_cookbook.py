"""The Brian2 cookbook page runs as a script, as shown, where Brian2 installs."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PAGE = ROOT / "docs" / "cookbook" / "brian2-sweep.md"

pytest.importorskip(
    "brian2",
    reason=(
        "Brian2 is not installed: Brian2 >= 2.10 needs Python >= 3.12, and older Brian2 does "
        "not import with numpy 2 (the dev group installs it on Python >= 3.12; .ci/run runs "
        "this test on Python 3.13)"
    ),
)


def test_the_brian2_page_runs_and_prints_what_its_comments_say(tmp_path: Path) -> None:
    blocks = re.findall(r"```python\n(.*?)```", PAGE.read_text(), flags=re.DOTALL)
    script = tmp_path / "brian2_sweep.py"
    script.write_text("\n".join(blocks))
    # A script (__main__), so that the process pool runs as the page shows it.
    done = subprocess.run(
        [sys.executable, "-W", "error", str(script)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    lines = done.stdout.splitlines()
    assert lines[:5] == ["12 runs done", "10. ms", "s True", "60. Hz", "('I', 'tau') s-1"]
    assert lines[5] == "[  0.   0.   0.  60.  90. 110.]"
