"""Provenance recorded once per ``Environment.run`` call: code version, packages, machine.

Package versions are those of a fixed list (pypet_rebuild and the scientific stack it uses) and
of every installed distribution the simulate function's module uses: modules it imported, and
the modules of the functions and classes it imported (``from brian2 import ms``), found in its
globals. The standard library and the script's own modules are left out.
"""

from __future__ import annotations

import functools
import importlib.metadata
import inspect
import os
import platform
import shutil
import site
import socket
import subprocess
import sys
import sysconfig
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

__all__ = ["collect_provenance", "git_state", "prepare_provenance", "used_distributions"]

_PACKAGES = ("pypet_rebuild", "numpy", "h5py", "pandas", "scipy", "xarray", "dask", "distributed")


def _script_directory() -> Path:
    main = sys.modules.get("__main__")
    main_file = getattr(main, "__file__", None)
    return Path(main_file).resolve().parent if main_file else Path.cwd()


def git_state(directory: Path | None = None) -> dict[str, object]:
    """Commit, branch and dirty state of the git repository holding ``directory``.

    Asked once per process and directory (two ``git`` calls), then answered from a cache: a
    sweep, a round of an adaptive loop or a test pays no subprocess. Changes to the working tree
    made after the first sweep of a process are therefore not seen by later sweeps of that
    process. Returns an empty mapping outside a repository or when git is not installed;
    never raises.
    """
    where = str(directory or _script_directory())
    key = (os.getpid(), where)  # a forked child asks again: its cache is its parent's
    state = _GIT_STATES.get(key)
    if state is None:
        state = _GIT_STATES[key] = _ask_git(where)
    return dict(state)


_GIT_STATES: dict[tuple[int, str], dict[str, object]] = {}


def _ask_git(where: str) -> dict[str, object]:
    git = shutil.which("git")
    if git is None:
        return {}

    def ask(*args: str) -> str | None:
        try:
            done = subprocess.run(
                [git, "-C", where, *args], capture_output=True, text=True, timeout=5, check=False
            )
        except (OSError, subprocess.SubprocessError):
            return None
        return done.stdout.strip() if done.returncode == 0 else None

    # One call for the three names; it fails as a whole outside a repository or before the
    # first commit (no HEAD), as asking for the commit alone did.
    answer = ask("rev-parse", "HEAD", "--abbrev-ref", "HEAD", "--show-toplevel")
    lines = [] if answer is None else answer.splitlines()
    if len(lines) != 3:
        return {}
    commit, branch, root = lines
    status = ask("status", "--porcelain", "--untracked-files=no")
    return {
        "git_commit": commit,
        "git_branch": branch,
        "git_dirty": bool(status),
        "git_root": root,
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


@functools.cache
def _distributions_of() -> dict[str, list[str]]:
    # Top-level import name -> distributions providing it ("yaml" -> ["PyYAML"]): a scan of every
    # installed distribution's file list, 0.1-0.3 s, so only for names _providers cannot place.
    return dict(importlib.metadata.packages_distributions())


@functools.cache
def _providers(name: str) -> tuple[str, ...]:
    """The distributions providing top-level import ``name`` ("brian2" -> ("Brian2",)).

    Most distributions are named after what they install: that one is looked up directly (one
    metadata read) and used when it does provide ``name``. A module imported from outside the
    installation directories (the user's own modules, a source checkout) belongs to no
    distribution's file list. Only other names (``yaml`` from PyYAML) need the full scan of
    every installed distribution, so most processes never pay for it.
    """
    try:
        distribution = importlib.metadata.distribution(name)
    except (importlib.metadata.PackageNotFoundError, ValueError):
        distribution = None
    if distribution is not None and _installs(distribution, name):
        return (str(distribution.metadata["Name"]),)
    module = sys.modules.get(name)
    location = getattr(module, "__file__", None)
    if isinstance(location, str) and not _installed(location):
        return ()
    return tuple(_distributions_of().get(name, ()))


@functools.cache
def _install_directories() -> tuple[str, ...]:
    paths = sysconfig.get_paths()
    found = {paths["purelib"], paths["platlib"], *site.getsitepackages()}
    if site.ENABLE_USER_SITE:
        found.add(site.getusersitepackages())
    return tuple(os.path.join(os.path.realpath(path), "") for path in found)


def _installed(location: str) -> bool:
    """Whether a module file lies in a directory distributions are installed into."""
    return os.path.realpath(location).startswith(_install_directories())


def _installs(distribution: importlib.metadata.Distribution, name: str) -> bool:
    """Whether ``distribution`` installs the top-level package or module ``name``.

    Reads ``top_level.txt``, else searches the text of ``RECORD`` (parsing it into paths, as
    ``Distribution.files`` does, costs more than the scan it replaces for numpy or scipy).
    """
    listed = distribution.read_text("top_level.txt")
    if listed:
        return name in listed.split()
    record = "\n" + (distribution.read_text("RECORD") or "")
    # A package directory, or a module (name.py, name.cpython-311-x86_64-linux-gnu.so...).
    return f"\n{name}/" in record or f"\n{name}." in record


def _top_level(thing: object) -> str | None:
    """The top-level package of a module, or of the module a function or class comes from."""
    if isinstance(thing, ModuleType):
        return thing.__name__.partition(".")[0]
    if not callable(thing):
        return None  # a constant (``tau = 10 * ms``) says nothing about what was imported
    name: object = getattr(thing, "__module__", None)
    return name.partition(".")[0] if isinstance(name, str) else None


def used_distributions(simulate: Callable[..., Any]) -> dict[str, str]:
    """The installed distributions the simulate function's module uses, with their versions.

    Parameters
    ----------
    simulate
        The simulate function (a function, a method, or any callable object).

    Returns
    -------
    dict
        Distribution name (as installed, e.g. ``"Brian2"``) -> version.
    """
    target = inspect.unwrap(getattr(simulate, "__func__", simulate))
    namespace = getattr(target, "__globals__", None)
    if namespace is None:
        module = sys.modules.get(getattr(type(simulate), "__module__", ""), None)
        namespace = vars(module) if module is not None else {}
    # (__module__ is None for a function made by exec() without a __name__ in its globals.)
    module_name = getattr(target, "__module__", None) or ""
    own = {module_name.partition(".")[0], "builtins", "__main__"}
    names = {_top_level(value) for value in list(namespace.values())}
    found: dict[str, str] = {}
    for name in sorted(n for n in names if n):
        if name in sys.stdlib_module_names or name in own or name.startswith("_"):
            continue
        for distribution in _providers(name):
            version = _version_of(distribution)
            if version is not None:
                found[distribution] = version
    return found


@functools.cache
def _version_of(distribution: str) -> str | None:
    # Reading a distribution's metadata costs a file read; the modules a process has imported
    # stay the same versions for its whole life.
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None


def prepare_provenance(simulate: Callable[..., Any] | None = None) -> None:
    """Fill the caches :func:`collect_provenance` reads (package versions, git), never raising.

    Called when a sweep starts, while process workers boot: the first sweep of a process then
    spends nothing on them at its end, where a second Ctrl-C should stop it at once.
    """
    try:
        _versions()
        if simulate is not None:
            used_distributions(simulate)
        git_state()
    except Exception:  # provenance must never fail a sweep
        return


def collect_provenance(
    simulate: Callable[..., Any] | None = None, **extra: object
) -> dict[str, object]:
    """Everything known about where and with what a sweep runs, plus ``extra`` fields.

    Parameters
    ----------
    simulate
        The simulate function: its module's packages are recorded as ``version_<name>``, and
        the function itself as ``simulate`` (``module.qualname``).
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
    if simulate is not None:
        module = getattr(simulate, "__module__", None) or "<unknown module>"
        qualname = getattr(simulate, "__qualname__", type(simulate).__qualname__)
        provenance["simulate"] = f"{module}.{qualname}"
        try:
            used = used_distributions(simulate)
        except Exception:  # provenance is recorded after the runs: it must never fail them
            used = {}
        for name, version in used.items():
            provenance.setdefault(f"version_{name.lower()}", version)
    provenance.update(git_state())
    provenance.update(extra)
    return provenance
