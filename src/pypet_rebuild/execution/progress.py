"""The progress bar: tqdm with ETA in terminals and notebooks, silent otherwise unless asked."""

from __future__ import annotations

import os
import sys
from typing import Protocol

__all__ = ["Progress", "make_progress"]


class Progress(Protocol):
    """The part of a progress bar a sweep uses."""

    def update(self, n: int = 1) -> object:
        """Count ``n`` more finished runs."""
        ...

    def close(self) -> None:
        """Remove or finish the bar."""
        ...


class _NoProgress:
    def update(self, n: int = 1) -> None:
        return None

    def close(self) -> None:
        return None


def _interactive() -> bool:
    if "PYTEST_CURRENT_TEST" in os.environ:
        return False  # a test's output is a report, not a console (even under pytest -s)
    if "ipykernel" in sys.modules:
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
