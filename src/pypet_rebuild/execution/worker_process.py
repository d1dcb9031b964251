"""The process a pool worker runs in: its own session, tied to its parent's life, deaf to Ctrl-C.

A worker process must not take part in the terminal's Ctrl-C. The terminal signals its whole
foreground process group, and ``uv run`` forwards the signal to the driving process as well; a
worker that got it would cut its run short while the driving process decides to let the runs in
flight finish. So each worker starts its own session: only the driving process hears the
terminal, and it alone decides what an interrupt stops.

A worker must not outlive the driving process either: an orphan keeps running runs nobody will
store, and a forked one keeps the HDF5 file's lock open, so that ``resume=True`` fails. On Linux
the kernel kills a worker when its parent dies (``PR_SET_PDEATHSIG``); elsewhere a thread polls
the parent process id. A forkserver worker's parent is the fork server, which exits when the
driving process does, once no process holds the write end of its "alive" pipe: a worker
inherits that end (to start fork servers of its own) and closes it here, or worker and server
would keep each other alive forever.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import sys
import threading
import time
from types import FrameType

__all__ = ["dask_setup", "ignore_sigint", "prepare_worker_process"]

_PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>
_WATCH_SECONDS = 0.25


def ignore_sigint(signum: int, frame: FrameType | None) -> None:
    """A SIGINT handler that does nothing.

    Unlike ``signal.SIG_IGN`` it is callable: simulate code that installs its own handler and
    calls the previous one (as some simulators do) works in a worker too.
    """


def prepare_worker_process(*, tie_to_parent: bool = True, parent: int | None = None) -> None:
    """Detach this worker process from the terminal and make it die with its parent.

    Called first in every process-pool worker (by the pool's initializer) and in every worker
    of an embedded Dask cluster (as its preload).

    Parameters
    ----------
    tie_to_parent
        Arm the death signal (or the parent-watch thread). Dask's worker processes already
        exit when their parent goes away.
    parent
        The process id this worker's parent had when the pool started it (the driving process,
        or the fork server), when known. A worker that boots slowly (``spawn`` imports
        everything first) may find its parent dead already and itself adopted by another
        process: it then exits at once instead of arming the death signal against the
        adoptive parent and running on as an orphan.
    """
    if parent is None:
        parent = os.getppid()
    elif os.getppid() != parent:
        os._exit(1)
    _release_forkserver()
    # Fails only when this process already leads a session or group: it is detached then.
    # (Windows has no sessions: there the console's Ctrl-C is ignored by the handler below.)
    if hasattr(os, "setsid"):
        with contextlib.suppress(OSError):
            os.setsid()
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, ignore_sigint)
    if tie_to_parent:
        _die_with_parent(parent)


def _release_forkserver() -> None:
    """Close this worker's copy of the fork server's "alive" pipe (see the module docstring)."""
    from multiprocessing import forkserver

    server = getattr(forkserver, "_forkserver", None)
    alive = getattr(server, "_forkserver_alive_fd", None)
    if server is None or alive is None:
        return
    with contextlib.suppress(OSError):
        os.close(alive)
    # This process may still start a fork server of its own (a pool inside a simulate call).
    server._forkserver_alive_fd = None


def _die_with_parent(parent: int) -> None:
    if not _arm_death_signal():
        # No kernel help: poll. A daemon thread only where needed, since a thread in the
        # worker makes any fork in the simulate code unsafe.
        watcher = threading.Thread(
            target=_watch_parent, args=(parent,), name="pypet-parent-watch", daemon=True
        )
        watcher.start()
    if os.getppid() != parent:  # the parent died before the death signal was armed
        os._exit(1)


def _arm_death_signal() -> bool:
    """Ask the Linux kernel to SIGKILL this process when its parent exits."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return int(libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)) == 0
    except (OSError, AttributeError):
        return False


def _watch_parent(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(_WATCH_SECONDS)
    os._exit(1)


def dask_setup(worker: object) -> None:
    """Dask preload hook: run in each worker process of an embedded ``LocalCluster``."""
    del worker
    prepare_worker_process(tie_to_parent=False)
