"""Module-level simulate functions for the bad-run tests (process workers import them by name)."""

from __future__ import annotations

import ctypes
import faulthandler
import os
import sys
import threading

import pypet_rebuild as pr


class PlainObject:
    """A user class no codec knows: storing it raises ``UnsupportedTypeError``."""

    def __init__(self, value: int) -> None:
        self.value = value


class AbortRunError(BaseException):
    """A ``BaseException`` that is neither ``KeyboardInterrupt`` nor ``SystemExit``."""


def plain_object_at(run: pr.Run) -> dict[str, object]:
    """``z = 10 x``; run ``bad`` also returns an object no codec can store."""
    if run.x == run.bad:
        return {"z": 10 * run.x, "extra": PlainObject(run.x)}
    return {"z": 10 * run.x}


def lock_at(run: pr.Run) -> dict[str, object]:
    """Run ``bad`` returns a lock, which cannot be pickled back from a worker."""
    if run.x == run.bad:
        return {"z": 10 * run.x, "extra": threading.Lock()}
    return {"z": 10 * run.x}


def exit_at(run: pr.Run) -> dict[str, object]:
    """Run ``bad`` calls ``sys.exit(3)``; run ``bad + 1`` raises another ``BaseException``."""
    if run.x == run.bad:
        sys.exit(3)
    if run.x == run.bad + 1:
        raise AbortRunError("abort this run")
    return {"z": 10 * run.x}


def segfault_at(run: pr.Run) -> dict[str, object]:
    """Run ``bad`` crashes its worker process in native code."""
    if run.x == run.bad:
        faulthandler.disable()  # a forked worker inherits pytest's: keep the log quiet
        ctypes.string_at(0)  # reads address 0: SIGSEGV
    return {"z": 10 * run.x}


def pid(run: pr.Run) -> dict[str, object]:
    """Which process ran the run."""
    return {"pid": os.getpid(), "z": 10 * run.x}
