"""A tiny, pre-existing simulation project: elementary (1-d, two-state) cellular automata.

It stands for the code you already have: its own functions, its own conventions (an integer
seed, a rule number, a plain numpy array out) and no knowledge of pypet_rebuild.
``examples/08_wrap_existing_project.py`` sweeps it without changing a line here.
"""

from .automaton import (
    density,
    make_rule_table,
    pattern_entropy,
    random_initial_state,
    run_automaton,
    to_text,
)

__all__ = [
    "density",
    "make_rule_table",
    "pattern_entropy",
    "random_initial_state",
    "run_automaton",
    "to_text",
]
