"""Elementary cellular automata (Wolfram's rules 0-255) on a ring of cells."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

Cells = npt.NDArray[np.uint8]


def make_rule_table(rule: int) -> Cells:
    """The new state for each of the 8 neighbourhoods, indexed by ``4 * left + 2 * self + right``.

    Bit ``k`` of the rule number is the new state of neighbourhood ``k`` (Wolfram's numbering).
    """
    if not 0 <= rule <= 255:
        raise ValueError(f"an elementary rule is a number from 0 to 255, got {rule}")
    return np.array([(rule >> k) & 1 for k in range(8)], dtype=np.uint8)


def random_initial_state(n_cells: int, initial_density: float, seed: int) -> Cells:
    """``n_cells`` cells, each alive with probability ``initial_density``."""
    rng = np.random.default_rng(seed)
    return (rng.random(n_cells) < initial_density).astype(np.uint8)


def run_automaton(initial: Cells, rule_table: Cells, steps: int) -> Cells:
    """Apply the rule ``steps`` times on a ring; returns all ``steps + 1`` rows."""
    pattern = np.empty((steps + 1, initial.size), dtype=np.uint8)
    pattern[0] = initial
    for t in range(steps):
        row = pattern[t]
        neighbourhood = 4 * np.roll(row, 1) + 2 * row + np.roll(row, -1)
        pattern[t + 1] = rule_table[neighbourhood]
    return pattern


def density(pattern: Cells) -> npt.NDArray[np.float64]:
    """The fraction of live cells in every row."""
    return np.asarray(pattern.mean(axis=1), dtype=np.float64)


def pattern_entropy(pattern: Cells, block: int = 3) -> float:
    """Shannon entropy (bits per cell) of the ``block``-cell words in the second half of the run.

    Near 0 for patterns that die out or freeze, near 1 for random-looking ones.
    """
    rows = pattern[pattern.shape[0] // 2 :]
    weights = 2 ** np.arange(block)
    words = sum(np.roll(rows, -k, axis=1) * int(weights[k]) for k in range(block))
    counts = np.bincount(np.asarray(words).ravel(), minlength=2**block).astype(np.float64)
    p = counts[counts > 0] / counts.sum()
    return max(0.0, float(-(p * np.log2(p)).sum() / block))  # no -0.0 for a frozen pattern


def to_text(pattern: Cells, live: str = "#", dead: str = ".") -> str:
    """The pattern as text, one line per time step."""
    return "\n".join("".join(live if cell else dead for cell in row) for row in pattern)
