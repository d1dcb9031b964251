"""What surrounds one run in the process that executes it: timeout, output capture, log context.

None of this changes ``sys.stdout`` for anybody else: while capturing runs are active, output
capture installs a pass-through proxy that routes writes made *inside a capturing run* (tracked
with a context variable, so it is per thread) to that run's buffer, and everything else to the
original stream, untouched; the original stream is put back when the last capturing run ends.
"""

from __future__ import annotations

import contextlib
import contextvars
import ctypes
import io
import logging
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from typing import Any, TextIO

__all__ = [
    "RunIndexFilter",
    "captured_output",
    "current_run_index",
    "enter_run",
    "leave_run",
    "run_context",
    "time_limit",
]

_RUN_INDEX: contextvars.ContextVar[int | None] = contextvars.ContextVar(
    "pypet_rebuild_run_index", default=None
)
_CAPTURE: contextvars.ContextVar[io.StringIO | None] = contextvars.ContextVar(
    "pypet_rebuild_capture", default=None
)


def current_run_index() -> int | None:
    """The index of the run executing in this thread, or ``None`` outside a run."""
    return _RUN_INDEX.get()


class RunIndexFilter(logging.Filter):
    """Adds ``run_index`` to every log record (``None`` outside a run).

    Attach it to a handler to print the run index with any message logged during a run::

        handler.addFilter(RunIndexFilter())
        handler.setFormatter(logging.Formatter("[run %(run_index)s] %(message)s"))
    """

    def filter(self, record: logging.LogRecord) -> bool:
        """Annotate the record; never drops it."""
        record.run_index = _RUN_INDEX.get()
        return True


class _StreamProxy(io.TextIOBase):
    """Routes writes to the current run's capture buffer, or to the original stream."""

    def __init__(self, original: TextIO) -> None:
        super().__init__()
        self.original = original

    def write(self, text: str) -> int:
        buffer = _CAPTURE.get()
        target = buffer if buffer is not None else self.original
        return target.write(text)

    def flush(self) -> None:
        if _CAPTURE.get() is None:
            self.original.flush()

    def writable(self) -> bool:
        return True

    # io.TextIOBase answers these itself (encoding None, not a tty, no file descriptor); code
    # outside the capturing runs must see the original stream's answers.
    @property
    def encoding(self) -> str:  # type: ignore[override]
        return str(getattr(self.original, "encoding", None) or "utf-8")

    @property
    def errors(self) -> str | None:  # type: ignore[override]
        return getattr(self.original, "errors", None)

    def isatty(self) -> bool:
        return _CAPTURE.get() is None and self.original.isatty()

    def fileno(self) -> int:
        return self.original.fileno()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.original, name)


_PROXY_LOCK = threading.Lock()
_PROXY_USERS = [0]  # capturing runs active in this process, in any thread
_STREAMS = ("stdout", "stderr")


def _install_proxies() -> None:
    with _PROXY_LOCK:
        if _PROXY_USERS[0] == 0:
            for name in _STREAMS:
                stream = getattr(sys, name)
                if stream is not None and not isinstance(stream, _StreamProxy):
                    setattr(sys, name, _StreamProxy(stream))
        _PROXY_USERS[0] += 1


def _remove_proxies() -> None:
    """Put the original streams back once no capturing run is left (unless replaced since)."""
    with _PROXY_LOCK:
        _PROXY_USERS[0] -= 1
        if _PROXY_USERS[0] == 0:
            for name in _STREAMS:
                stream = getattr(sys, name)
                if isinstance(stream, _StreamProxy):
                    setattr(sys, name, stream.original)


@contextlib.contextmanager
def captured_output(enabled: bool) -> Iterator[io.StringIO | None]:
    """Capture what this thread prints to stdout and stderr while the block runs.

    ``sys.stdout`` and ``sys.stderr`` are pass-through proxies while any capturing run is
    active (in any thread) and are restored when the last one ends.
    """
    if not enabled:
        yield None
        return
    _install_proxies()
    buffer = io.StringIO()
    token = _CAPTURE.set(buffer)
    try:
        yield buffer
    finally:
        _CAPTURE.reset(token)
        _remove_proxies()


# The context variable's own methods, not functions calling them: every run enters and leaves,
# and a Python frame each costs more than the variable itself.
enter_run: Callable[[int | None], contextvars.Token[int | None]] = _RUN_INDEX.set
"""Mark this thread as executing run ``index``; pass the token to :func:`leave_run`."""

leave_run: Callable[[contextvars.Token[int | None]], None] = _RUN_INDEX.reset
"""Undo :func:`enter_run`."""


@contextlib.contextmanager
def run_context(index: int) -> Iterator[None]:
    """Mark this thread as executing run ``index`` (for log records)."""
    token = _RUN_INDEX.set(index)
    try:
        yield
    finally:
        _RUN_INDEX.reset(token)


class RunTimeoutError(TimeoutError):
    """A run exceeded the per-run timeout."""


def _raise_timeout(seconds: float) -> None:
    raise RunTimeoutError(f"the run exceeded the timeout of {seconds:g} s")


@contextlib.contextmanager
def time_limit(seconds: float | None) -> Iterator[None]:
    """Interrupt the block with :class:`RunTimeoutError` after ``seconds``.

    In the main thread (serial runs, process-pool workers) a ``SIGALRM`` timer interrupts even a
    blocking call. In other threads (thread pools, Dask workers) the exception is raised
    asynchronously in the running thread, which takes effect at the next Python bytecode, so a
    long call into C code finishes first.
    """
    if seconds is None:
        yield
        return
    if threading.current_thread() is threading.main_thread() and hasattr(signal, "setitimer"):
        previous = signal.signal(signal.SIGALRM, lambda *_: _raise_timeout(seconds))
        signal.setitimer(signal.ITIMER_REAL, seconds)
        try:
            yield
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous)
        return
    thread_id = threading.get_ident()
    guard = threading.Lock()
    state = {"finished": False, "fired": False}

    def interrupt() -> None:
        with guard:
            if state["finished"]:
                return
            state["fired"] = True
            ctypes.pythonapi.PyThreadState_SetAsyncExc(
                ctypes.c_ulong(thread_id), ctypes.py_object(RunTimeoutError)
            )

    timer = threading.Timer(seconds, interrupt)
    timer.daemon = True
    timer.start()
    try:
        yield
    finally:
        with guard:
            state["finished"] = True
            timer.cancel()
            if state["fired"]:
                # The block ended before the pending exception was delivered: withdraw it.
                ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(thread_id), None)
