"""Ctrl-C while a sweep runs: what the driving process hears, and which runs it cut short.

The first Ctrl-C lets the runs in flight finish and be stored, then the sweep stops; a second one
cancels the runs in flight (they stay pending). Two signals within half a second count as one
press: under ``uv run`` one Ctrl-C arrives twice (uv forwards it, and the terminal signals the
whole foreground process group).

Simulate code may install its own SIGINT handler (Brian2 does on import) and return early when it
fires. Such a run must not be stored as done. The handler of this module would not even hear of
the signal, so the driving process also owns a *wakeup fd* (``signal.set_wakeup_fd``): the
interpreter writes the number of every signal that reaches any Python-level handler to it. After
each serial run, :meth:`Interrupts.cut_short` looks there: a SIGINT that arrived while a handler
other than ours was in charge means the run may be truncated; it is stored as failed with a
``KeyboardInterrupt`` reason (``resume=True`` runs it again) and the sweep stops.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import select
import signal
import socket
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from types import FrameType

__all__ = ["INTERRUPTED_MESSAGE", "Interrupts", "graceful_interrupts"]

logger = logging.getLogger(__name__)

_REPEAT_SECONDS = 0.5
INTERRUPTED_MESSAGE = (
    "KeyboardInterrupt: Ctrl-C (SIGINT) reached a signal handler of the simulate code while "
    "this run was executing, so it may have been cut short; it is stored as not done and "
    "resume=True runs it again"
)


@dataclass
class Interrupts:
    """What Ctrl-C asked for.

    After the first press ``stop`` is set: in-flight runs finish and are stored, nothing more is
    submitted. The second press raises ``KeyboardInterrupt`` where the driver waits.
    """

    stop: bool = False
    presses: int = 0
    _last_press: float = field(default=float("-inf"), repr=False)
    _handled: int = field(default=0, repr=False)
    _handler: object = field(default=None, repr=False)
    _wakeup: socket.socket | None = field(default=None, repr=False)
    _poll: select.poll | None = field(default=None, repr=False)
    _forward: int = field(default=-1, repr=False)
    signals_arrived: Callable[[], Sequence[object]] = field(default=tuple, repr=False)
    """Non-empty when any signal reached a Python handler since the last :meth:`cut_short`.

    One ``poll`` system call, no Python frame: it runs after every serial run.
    """

    def press(self) -> bool:
        """Count one SIGINT; ``False`` when it repeats the previous press (within 0.5 s)."""
        now = time.monotonic()
        repeated = now - self._last_press < _REPEAT_SECONDS
        self._last_press = now
        if repeated:
            return False
        self.presses += 1
        if self.presses == 1:
            self.stop = True
            logger.warning(
                "interrupted: finishing the runs in flight and storing them; "
                "press Ctrl-C again to cancel them"
            )
        return True

    def cut_short(self) -> bool:
        """Whether a SIGINT reached another handler since the last call (after each run).

        Then the run that just ended may be truncated, and the sweep stops (a first press).
        """
        poll = self._poll
        if poll is None or not poll.poll(0):  # the usual case: one cheap system call
            return False
        signals = self._drain()
        if signal.SIGINT not in signals:
            return False
        handled, self._handled = self._handled, 0
        if handled and signal.getsignal(signal.SIGINT) is self._handler:
            return False  # our handler took it: the run was not disturbed
        # Count it as a press (a second one only stops too: the run has ended already).
        if self.press() and self.presses > 1:
            logger.warning("interrupted again: stopping after this run")
        self.stop = True
        return True

    def _drain(self) -> set[int]:
        assert self._wakeup is not None
        seen: set[int] = set()
        with contextlib.suppress(BlockingIOError, InterruptedError):
            while data := self._wakeup.recv(4096):
                seen.update(data)
                if self._forward >= 0:
                    # Whoever owned the wakeup fd before the sweep still hears of its signals.
                    with contextlib.suppress(OSError):
                        os.write(self._forward, data)
        return seen


@contextlib.contextmanager
def graceful_interrupts() -> Iterator[Interrupts]:
    """Handle SIGINT in two steps while a sweep runs (only in the main thread)."""
    state = Interrupts()
    if threading.current_thread() is not threading.main_thread():
        yield state
        return

    def handler(signum: int, frame: FrameType | None) -> None:
        state._handled += 1
        if state.press() and state.presses > 1:
            raise KeyboardInterrupt

    state._handler = handler
    if not hasattr(select, "poll"):  # Windows: the handler alone
        previous = signal.signal(signal.SIGINT, handler)
        try:
            yield state
        finally:
            signal.signal(signal.SIGINT, previous)
        return
    reader, writer = socket.socketpair()
    reader.setblocking(False)
    writer.setblocking(False)
    state._wakeup = reader
    state._poll = select.poll()
    state._poll.register(reader.fileno(), select.POLLIN)
    state.signals_arrived = functools.partial(state._poll.poll, 0)
    previous = signal.signal(signal.SIGINT, handler)
    try:
        state._forward = signal.set_wakeup_fd(writer.fileno(), warn_on_full_buffer=False)
    except ValueError:  # pragma: no cover - main thread checked above
        state._forward = -1
    try:
        yield state
    finally:
        signal.set_wakeup_fd(state._forward)
        # ``previous`` is None when the handler was installed from C; leave that one alone.
        if previous is not None:
            signal.signal(signal.SIGINT, previous)
        state._poll = None
        state._wakeup = None
        state.signals_arrived = tuple
        reader.close()
        writer.close()
