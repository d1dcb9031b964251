"""examples/downstream_project: a project using the testing kit; its own suite passes.

It runs as a downstream developer runs it: ``pytest`` in that folder, with this interpreter (the
library is installed in this environment, so the plugin comes from the entry point) and the
folder's own ``pyproject.toml`` (warnings are errors there too).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

PROJECT = Path(__file__).resolve().parents[2] / "examples" / "downstream_project"


@pytest.mark.slow
def test_the_downstream_projects_tests_pass() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "HYPOTHESIS_"))}
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        cwd=PROJECT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-4000:]
    passed = re.search(r"(\d+) passed", output)
    assert passed is not None, output[-2000:]
    assert int(passed.group(1)) >= 9
    assert "failed" not in output
    assert "warning" not in output.lower()


def test_the_downstream_project_depends_on_this_library_by_path() -> None:
    pyproject = (PROJECT / "pyproject.toml").read_text()
    assert 'pypet_rebuild = { path = "../..", editable = true }' in pyproject
    assert '"pypet_rebuild[testing]"' in pyproject
