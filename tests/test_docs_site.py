"""The documentation site: every public name is in the API reference, every page is in the nav,
and the code of the home page and of the cookbook runs as shown."""

from __future__ import annotations

import importlib
import re
import sys
import types
from pathlib import Path

import pytest

import pypet_rebuild as pr
from pypet_rebuild.storage import codecs

# Console scripts, subprocesses or whole-site builds: outside the fast loop (-m "not slow").
pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
API_PAGES = sorted((DOCS / "api").glob("*.md"))
# Pages whose code blocks form a complete program: the home page and every cookbook recipe.
RUNNABLE_PAGES = [
    page
    for page in [DOCS / "index.md", *sorted((DOCS / "cookbook").glob("*.md"))]
    if "```python" in page.read_text()
]


BRIAN2_MISSING = (
    "Brian2 is not installed: Brian2 >= 2.10 needs Python >= 3.12, and older Brian2 does not "
    "import with numpy 2 (the dev group installs it on Python >= 3.12)"
)


def api_directives() -> set[str]:
    """Every ``::: dotted.path`` mkdocstrings directive of the API reference pages."""
    found: set[str] = set()
    for page in API_PAGES:
        found.update(re.findall(r"^::: *([\w.]+) *$", page.read_text(), flags=re.MULTILINE))
    return found


def python_blocks(markdown: Path) -> list[str]:
    return re.findall(r"```python\n(.*?)```", markdown.read_text(), flags=re.DOTALL)


def test_every_public_name_is_in_the_api_reference() -> None:
    documented = api_directives()
    missing = [name for name in pr.__all__ if f"pypet_rebuild.{name}" not in documented]
    assert not missing, (
        f"public names without an API reference entry: {missing}; add `::: pypet_rebuild.NAME` "
        "to a page under docs/api/"
    )


def test_every_api_directive_names_an_existing_object() -> None:
    for target in sorted(api_directives()):
        module_name, _, attribute = target.rpartition(".")
        try:
            importlib.import_module(target)
            continue
        except ModuleNotFoundError:
            pass
        module = importlib.import_module(module_name)
        assert hasattr(module, attribute), f"{target} does not exist"


def test_every_page_is_in_the_nav() -> None:
    config = (ROOT / "mkdocs.yml").read_text()
    pages = [p.relative_to(DOCS).as_posix() for p in DOCS.rglob("*.md")]
    missing = [page for page in pages if not re.search(rf"[:\-] +{re.escape(page)}$", config, re.M)]
    assert not missing, f"pages missing from the nav of mkdocs.yml: {missing}"


@pytest.mark.parametrize("page", RUNNABLE_PAGES, ids=lambda page: page.stem)
def test_page_code_runs(
    page: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    if "import brian2" in page.read_text():
        pytest.importorskip("brian2", reason=BRIAN2_MISSING)
    blocks = python_blocks(page)
    monkeypatch.chdir(tmp_path)
    # Codecs the recipes register go to a copy of the registry, not into the other tests.
    monkeypatch.setattr(codecs, "default_registry", codecs.default_registry.copy())
    # A module of its own (dataclasses look their module up), not "__main__": the parallel
    # recipe's process-pool and Dask part is guarded by it and runs in
    # examples/09_many_cheap_runs.py; here its definitions are checked on a small serial run.
    module = types.ModuleType(f"docs_{page.stem.replace('-', '_')}")
    monkeypatch.setitem(sys.modules, module.__name__, module)
    namespace = module.__dict__
    for number, block in enumerate(blocks):
        exec(compile(block, f"{page.name} block {number}", "exec"), namespace)
    if "build" in namespace and "logistic" in namespace:
        traj = namespace["build"]()
        report = pr.Environment(traj).run(namespace["logistic"], progress=False)
        assert report.done == len(traj) == 1500
    capsys.readouterr()
