"""docs/testing.md: its code blocks, together one test module, pass under pytest."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import pypet_rebuild.testing

PAGE = Path(__file__).resolve().parents[2] / "docs" / "testing.md"


def python_blocks(markdown: Path) -> list[str]:
    return re.findall(r"```python\n(.*?)```", markdown.read_text(), flags=re.DOTALL)


@pytest.mark.slow
def test_the_testing_page_runs_as_a_test_module(pytester: pytest.Pytester) -> None:
    blocks = python_blocks(PAGE)
    assert len(blocks) >= 8
    pytester.makepyfile(test_docs_testing="\n\n".join(blocks))
    result = pytester.runpytest_subprocess("-W", "error", "-p", "no:cacheprovider", "-q")
    outcomes = result.parseoutcomes()
    assert outcomes.get("failed", 0) == 0, result.stdout.str()[-4000:]
    assert outcomes.get("errors", 0) == 0, result.stdout.str()[-4000:]
    # The page's own tests, twice the backend test, and the conformance suite's ~60.
    assert outcomes["passed"] > 60


def test_every_name_of_the_testing_module_is_in_the_api_reference() -> None:
    reference = (PAGE.parent / "api" / "testing.md").read_text()
    for name in pypet_rebuild.testing.__all__:
        assert f"::: pypet_rebuild.testing.{name}\n" in reference, name
