"""Provenance recorded once per ``Environment.run`` call: code version, packages, machine."""

from __future__ import annotations

import functools
import importlib.metadata
import os
import platform
import shutil
import socket
import subprocess
import sys
from pathlib import Path

__all__ = ["collect_provenance", "git_state"]

_PACKAGES = ("pypet_rebuild", "numpy", "h5py", "pandas", "scipy", "xarray", "dask", "distributed")


def _script_directory() -> Path:
    main = sys.modules.get("__main__")
    main_file = getattr(main, "__file__", None)
    return Path(main_file).resolve().parent if main_file else Path.cwd()


def git_state(directory: Path | None = None) -> dict[str, object]:
    """Commit, branch and dirty state of the git repository holding ``directory``.

    Returns an empty mapping outside a repository or when git is not installed; never raises.
    """
    git = shutil.which("git")
    if git is None:
        return {}
    where = str(directory or _script_directory())

    def ask(*args: str) -> str | None:
        try:
            done = subprocess.run(
                [git, "-C", where, *args], capture_output=True, text=True, timeout=5, check=False
            )
        except (OSError, subprocess.SubprocessError):
            return None
        return done.stdout.strip() if done.returncode == 0 else None

    commit = ask("rev-parse", "HEAD")
    if commit is None:
        return {}
    status = ask("status", "--porcelain", "--untracked-files=no")
    return {
        "git_commit": commit,
        "git_branch": ask("rev-parse", "--abbrev-ref", "HEAD") or "",
        "git_dirty": bool(status),
        "git_root": ask("rev-parse", "--show-toplevel") or "",
    }


@functools.cache
def _versions() -> dict[str, str]:
    versions: dict[str, str] = {}
    for package in _PACKAGES:
        try:
            versions[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            continue
    return versions


def collect_provenance(**extra: object) -> dict[str, object]:
    """Everything known about where and with what a sweep runs, plus ``extra`` fields.

    Parameters
    ----------
    **extra
        Fields of the sweep itself (start and end time, executor, worker count...).
    """
    provenance: dict[str, object] = {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "hostname": socket.gethostname(),
        "pid": os.getpid(),
        "command_line": " ".join(sys.argv),
        "working_directory": str(Path.cwd()),
    }
    provenance.update({f"version_{name}": v for name, v in _versions().items()})  # cached
    provenance.update(git_state())
    provenance.update(extra)
    return provenance
