"""The progress bar: tqdm with ETA in terminals and notebooks, silent otherwise unless asked.

While a terminal bar is drawn, log records and ``print`` output of runs in this process go
through ``tqdm.write``, above the bar, instead of breaking it: tqdm's own
``logging_redirect_tqdm`` for console logging handlers, and its ``DummyTqdmFile`` for standard
output. Workers in other processes print to their own streams, which a bar cannot intercept.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from typing import Protocol, TextIO, cast

__all__ = ["Progress", "make_progress", "output_above"]


class Progress(Protocol):
    """The part of a progress bar a sweep uses."""

    def update(self, n: int = 1) -> object:
        """Count ``n`` more finished runs."""
        ...

    def set_postfix_str(self, s: str = "", refresh: bool = True) -> object:
        """Show ``s`` after the counts (the number of failed runs)."""
        ...

    def close(self) -> None:
        """Remove or finish the bar."""
        ...


class _NoProgress:
    def update(self, n: int = 1) -> None:
        return None

    def set_postfix_str(self, s: str = "", refresh: bool = True) -> None:
        return None

    def close(self) -> None:
        return None


def _notebook() -> bool:
    return "ipykernel" in sys.modules


def _interactive() -> bool:
    if "PYTEST_CURRENT_TEST" in os.environ:
        return False  # a test's output is a report, not a console (even under pytest -s)
    if _notebook():
        return True
    stream = sys.stderr
    return bool(getattr(stream, "isatty", lambda: False)())


def make_progress(enabled: bool | None, total: int, description: str) -> Progress:
    """A tqdm bar if ``enabled`` (``None``: only in a terminal or a notebook, not under pytest)."""
    if enabled is None:
        enabled = _interactive()
    if not enabled:
        return _NoProgress()
    from tqdm.auto import tqdm

    bar: Progress = tqdm(total=total, desc=description, unit="run", dynamic_ncols=True)
    return bar


@contextlib.contextmanager
def output_above(bar: Progress) -> Iterator[None]:
    """While in the block, log records and prints are written above ``bar`` instead of over it.

    Nothing changes for a disabled bar. In a notebook the widget is not disturbed by output, so
    only logging is routed (which is harmless there).
    """
    if isinstance(bar, _NoProgress):
        yield
        return
    from tqdm.auto import tqdm
    from tqdm.contrib import DummyTqdmFile
    from tqdm.contrib.logging import logging_redirect_tqdm

    with contextlib.ExitStack() as stack:
        stack.enter_context(logging_redirect_tqdm(tqdm_class=tqdm))
        if not type(bar).__module__.startswith("tqdm.notebook"):
            # A file-like object with write/flush, which is all print() needs.
            above = cast("TextIO", DummyTqdmFile(sys.stdout))
            stack.enter_context(contextlib.redirect_stdout(above))
        yield
