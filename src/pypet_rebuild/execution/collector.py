"""The garbage collector during a sweep: full collections skip what existed before it started.

CPython's full collections walk every tracked object of the process. During a sweep the driver
holds each batch's run records until the batch is stored, so full collections come every few
thousand runs, and each one walks everything the process held before the sweep too: the
imported modules, a notebook's data, the user's objects. On the benchmark machine that was
~25 ms per full collection with nothing but the imports loaded, about 1 µs per stored run.

:func:`gc.freeze` moves the objects that exist when the sweep starts to the permanent
generation, which collections do not walk; :func:`gc.unfreeze` puts them back when it ends.
Objects created during the sweep are collected as before. What this delays: a reference cycle
among objects that existed before the sweep and became garbage during it is freed after the
sweep, by the next full collection, instead of during it.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator

__all__ = ["older_objects_frozen"]


@contextlib.contextmanager
def older_objects_frozen() -> Iterator[None]:
    """Freeze the objects that exist now for the duration of the block (see the module).

    Does nothing when the collector is disabled, or when something else froze objects already
    (a server that froze before forking, an enclosing sweep): unfreezing would undo that.
    """
    if not gc.isenabled() or gc.get_freeze_count():
        yield
        return
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()
