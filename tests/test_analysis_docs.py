"""The code of ``docs/analysis.md`` runs as shown, in order, and prints what its comments say."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

import matplotlib as mpl
import pytest

import pypet_rebuild as pr

ROOT = Path(__file__).resolve().parent.parent
PAGE = ROOT / "docs" / "analysis.md"


def python_blocks(markdown: Path) -> list[str]:
    return re.findall(r"```python\n(.*?)```", markdown.read_text(), flags=re.DOTALL)


@pytest.mark.slow
def test_every_block_of_the_analysis_page_runs_in_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    mpl.use("Agg")
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, object] = {}
    printed = io.StringIO()
    blocks = python_blocks(PAGE)
    assert len(blocks) >= 10
    with contextlib.redirect_stdout(printed):
        for number, block in enumerate(blocks):
            exec(compile(block, f"analysis.md block {number}", "exec"), namespace)
    output = printed.getvalue()

    # The figure the page shows was drawn.
    assert (tmp_path / "analysis_heatmap.png").stat().st_size > 10_000
    # A few of the printed values the page quotes in its comments.
    for quoted in (
        "18 6",
        "{'I': 6, 'tau_m': 4, 'time': 2000}",
        "{'path': 'I', 'long_name': 'input drive', 'units': 'threshold'}",
        "[18, 19, 22, 23]",
        "[0, 4, 8, 12, 16, 20]",
        "6 [1.0, 1.5, 2.0, 1.5, 2.0, 3.0]",
        "merge ['monday', 'tuesday']",
        "into itself",
        "{5.0: 1.161, 10.0: 1.333, 20.0: 1.75}",
        "25 {'run': 25}",
    ):
        assert quoted in output, quoted
    assert "False" not in output

    # What the page claims about the files it wrote.
    neuron = pr.load_trajectory(tmp_path / "neuron.h5")
    assert len(neuron) == 25
    assert neuron.derived["analysis.input_for_50Hz"].comment.startswith("input at which")
    tuning = pr.load_trajectory(tmp_path / "tuning.h5")
    assert tuning.find_runs("status != 'done'") == []
    assert not (tmp_path / "tuning.h5.segments").exists()  # compacted when the loops ended
    week = pr.load_trajectory(tmp_path / "week.h5")
    assert [p["I"] for p, _ in week.unique_points()] == [1.0, 1.5, 2.0, 3.0]


def test_the_figure_in_the_docs_exists() -> None:
    assert (ROOT / "docs" / "img" / "analysis_heatmap.png").stat().st_size > 10_000
    assert "img/analysis_heatmap.png" in PAGE.read_text()
