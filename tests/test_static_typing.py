"""mypy sees parameter types: exploring a ``Parameter[int]`` with strings is a static error."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest
from mypy import api

pytestmark = pytest.mark.slow

SNIPPET = textwrap.dedent(
    """\
    import numpy as np

    import pypet_rebuild as pr

    traj = pr.Trajectory("t")
    n = traj.add_parameter("n", 1)
    x = traj.add_parameter("x", 1.0)
    name = traj.add_parameter("name", "a")
    reveal_type(n)
    traj.add_parameter("n2", 1).sweep(["a"])
    traj.add_parameter("x2", 1.0).sweep([1, 2.0])
    x.sweep(np.arange(3.0).tolist())
    n.sweep(range(3))
    name.sweep(["b", "c"])
    n.sweep([1.5])
    name.sweep([1])
    steps: pr.Parameter[int] = traj.add_parameter("steps", 1.0)
    traj.explore(pr.cartesian_product(n.sweep([1, 2]), x.sweep([0.5])))
    """
)

# 1-based line numbers of SNIPPET that mypy must flag; every other line must be clean.
EXPECTED_ERRORS = {
    10: 'List item 0 has incompatible type "str"; expected "int"',
    15: 'List item 0 has incompatible type "float"; expected "int"',
    16: 'List item 0 has incompatible type "int"; expected "str"',
    17: 'Argument 2 to "add_parameter" of "Trajectory" has incompatible type "float"',
}
REVEAL_LINE = 9


def test_mypy_checks_parameter_value_types(tmp_path: Path) -> None:
    source = tmp_path / "snippet.py"
    source.write_text(SNIPPET)
    config = tmp_path / "mypy.ini"
    config.write_text("[mypy]\n")  # keep the project's config (and its `files`) out of this run
    stdout, stderr, status = api.run(
        [
            "--strict",
            f"--config-file={config}",
            f"--cache-dir={tmp_path / 'mypy_cache'}",
            "--no-error-summary",
            "--hide-error-context",
            "--show-error-codes",
            str(source),
        ]
    )
    assert stderr == ""
    assert status == 1, stdout
    by_line: dict[int, list[str]] = {}
    notes: dict[int, list[str]] = {}
    for line in stdout.splitlines():
        match = re.match(rf"{re.escape(str(source))}:(\d+): (error|note): (.*)", line)
        assert match is not None, f"unexpected mypy output: {line}"
        target = by_line if match[2] == "error" else notes
        target.setdefault(int(match[1]), []).append(match[3])
    assert set(by_line) == set(EXPECTED_ERRORS), stdout
    for number, expected in EXPECTED_ERRORS.items():
        assert any(expected in message for message in by_line[number]), stdout
    assert any(
        re.search(r"Parameter\[(builtins\.)?int\]", message) for message in notes[REVEAL_LINE]
    ), stdout
