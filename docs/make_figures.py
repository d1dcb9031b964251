"""Draw the figures of ``docs/analysis.md`` by running the page's own code.

The Python blocks of ``docs/analysis.md`` run in order, in a temporary folder, with matplotlib's
Agg backend; the plot block saves ``analysis_heatmap.png`` there, and this script copies it to
``docs/img/``. So the figure is exactly what the documented code draws. Run it after changing
the page::

    uv run python docs/make_figures.py
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from pathlib import Path

import matplotlib as mpl

mpl.use("Agg")

ROOT = Path(__file__).resolve().parent
PAGE = ROOT / "analysis.md"
FIGURES = ("analysis_heatmap.png",)


def python_blocks(markdown: Path) -> list[str]:
    """The fenced ``python`` blocks of a Markdown page, in order."""
    return re.findall(r"```python\n(.*?)```", markdown.read_text(), flags=re.DOTALL)


def main() -> None:
    """Run the page in a temporary folder and copy its figures to ``docs/img/``."""
    target = ROOT / "img"
    target.mkdir(exist_ok=True)
    here = Path.cwd()
    with tempfile.TemporaryDirectory(prefix="pypet_rebuild_docs_") as folder:
        os.chdir(folder)
        try:
            namespace: dict[str, object] = {}
            for number, block in enumerate(python_blocks(PAGE)):
                exec(compile(block, f"{PAGE.name} block {number}", "exec"), namespace)
            for name in FIGURES:
                shutil.copyfile(Path(folder) / name, target / name)
                print(f"wrote {target / name}")
        finally:
            os.chdir(here)


if __name__ == "__main__":
    main()
