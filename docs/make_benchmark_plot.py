"""Draw ``docs/img/benchmarks.png`` from the storage figures in ``benchmarks/README.md``.

The plot shows, for every workload size and phase, how many times longer pypet_rebuild takes
than the raw h5py baseline (the "rebuild / raw" column of the storage table). Run it after the
figures in ``benchmarks/README.md`` change::

    uv run python docs/make_benchmark_plot.py
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import matplotlib as mpl

mpl.use("Agg")

import matplotlib.pyplot as plt
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
SOURCE = ROOT / "benchmarks" / "README.md"
TARGET = ROOT / "docs" / "img" / "benchmarks.png"
PHASES = ("store", "load z", "load one", "load slice", "open")


def _cells(line: str) -> list[str]:
    return [cell.strip() for cell in line.strip().strip("|").split("|")]


def read_ratios(text: str) -> dict[int, dict[str, float]]:
    """The ``rebuild / raw`` ratio by workload size and phase, from the storage table.

    Parameters
    ----------
    text
        The Markdown of ``benchmarks/README.md``.

    Returns
    -------
    dict
        ``{N: {phase: ratio}}`` in the order of the table.

    Raises
    ------
    ValueError
        If no table has the columns ``N``, ``phase`` and ``rebuild / raw``.
    """
    ratios: dict[int, dict[str, float]] = {}
    columns: list[str] | None = None
    for line in text.splitlines():
        if not line.startswith("|"):
            columns = None
            continue
        cells = _cells(line)
        if columns is None:
            if {"N", "phase", "rebuild / raw"} <= set(cells):
                columns = cells
            continue
        if set(line) <= set("|-: "):
            continue
        row = dict(zip(columns, cells, strict=False))
        ratio = re.sub(r"[^0-9.]", "", row["rebuild / raw"])
        if row["phase"] in PHASES and ratio:
            size = int(row["N"].replace(",", ""))
            ratios.setdefault(size, {})[row["phase"]] = float(ratio)
    if not ratios:
        raise ValueError(f"no storage table with a 'rebuild / raw' column in {SOURCE}")
    return ratios


def plot(ratios: dict[int, dict[str, float]], target: Path) -> None:
    """Draw a grouped bar chart of the ratios (log scale) and save it as a PNG.

    Parameters
    ----------
    ratios
        ``{N: {phase: ratio}}`` as returned by :func:`read_ratios`.
    target
        The PNG file to write.
    """
    sizes = sorted(ratios)
    width = 0.8 / len(sizes)
    positions = np.arange(len(PHASES))
    figure, axes = plt.subplots(figsize=(9, 4.5), dpi=110)
    for offset, size in enumerate(sizes):
        values = [ratios[size].get(phase, np.nan) for phase in PHASES]
        bars = axes.bar(
            positions + (offset - (len(sizes) - 1) / 2) * width,
            values,
            width,
            label=f"N = {size:,}",
        )
        axes.bar_label(bars, labels=[f"{v:.3g}" for v in values], fontsize=7, padding=1)
    axes.axhline(1.0, color="black", linewidth=1)
    axes.axhline(
        2.0, color="grey", linewidth=1, linestyle="--", label="target (store, load z): 2x raw"
    )
    axes.set_yscale("log")
    axes.set_xticks(positions, PHASES)
    axes.set_ylabel("time / raw h5py time (log scale)")
    axes.set_title("pypet_rebuild vs raw h5py, standard workload (lower is better; 1 = raw)")
    axes.legend(fontsize=8, ncols=3)
    figure.tight_layout()
    target.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(target)
    plt.close(figure)


def main() -> int:
    """Read the figures, draw the plot, report where it went."""
    ratios = read_ratios(SOURCE.read_text(encoding="utf-8"))
    plot(ratios, TARGET)
    sys.stdout.write(f"wrote {TARGET.relative_to(ROOT)} ({len(ratios)} sizes)\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
