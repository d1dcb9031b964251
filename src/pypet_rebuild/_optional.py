"""Optional dependencies: one import helper, one error message.

Every feature that needs a package outside the core dependencies imports it through
:func:`import_optional`, so that a missing package always raises
:class:`~pypet_rebuild.errors.MissingDependencyError` naming the feature, the package, the
extra that provides it, and the two ways to install it. The requirement strings come from the
installed package metadata, so the hint cannot drift from ``pyproject.toml``.
"""

from __future__ import annotations

import importlib
import re
from importlib import metadata
from types import ModuleType

from pypet_rebuild.errors import MissingDependencyError

__all__ = ["extra_requirements", "import_optional", "missing_dependency"]

_DISTRIBUTION = "pypet_rebuild"
_EXTRA_MARKER = re.compile(r"""extra\s*==\s*["']([^"']+)["']""")


def extra_requirements(extra: str) -> list[str]:
    """The requirements an extra of pypet_rebuild installs, as declared in its metadata.

    Parameters
    ----------
    extra
        The extra's name, e.g. ``"scipy"``.

    Returns
    -------
    list of str
        Requirement strings without markers (``["scipy>=1.13"]``); empty if the package
        metadata is not available (running from a source tree that was never installed).
    """
    try:
        requires = metadata.requires(_DISTRIBUTION) or []
    except metadata.PackageNotFoundError:
        return []
    found = []
    for requirement in requires:
        spec, _, marker = requirement.partition(";")
        match = _EXTRA_MARKER.search(marker)
        if match is not None and match.group(1) == extra and not spec.startswith(_DISTRIBUTION):
            found.append(spec.strip().replace(" ", ""))
    return found


def missing_dependency(feature: str, package: str, extra: str) -> MissingDependencyError:
    """The error for a feature whose optional dependency is not installed.

    Parameters
    ----------
    feature
        What the user asked for, as they wrote it (``"pr.sobol"``, ``"study.to_xarray()"``).
    package
        The import name that failed (``"scipy"``).
    extra
        The pypet_rebuild extra that installs it (``"scipy"``).

    Returns
    -------
    MissingDependencyError
        An error (to raise) whose message says how to install the package.
    """
    requirements = extra_requirements(extra) or [package.split(".", maxsplit=1)[0]]
    quoted = " ".join(f'"{requirement}"' for requirement in requirements)
    return MissingDependencyError(
        f"{feature} needs {package}, which is not installed. Install it with "
        f"`pip install {quoted}` (or `uv add {quoted}`), or install pypet_rebuild with its "
        f'"{extra}" extra (`pip install "<clone, git URL or wheel>[{extra}]"`; see Install in '
        "the getting-started guide)"
    )


def import_optional(module: str, *, feature: str, extra: str) -> ModuleType:
    """Import an optional dependency, or raise :class:`MissingDependencyError`.

    Parameters
    ----------
    module
        The module to import (``"scipy.stats.qmc"``, ``"xarray"``).
    feature
        What needs it, as the user wrote it; the error message starts with it.
    extra
        The pypet_rebuild extra that installs it.

    Returns
    -------
    types.ModuleType
        The imported module.

    Raises
    ------
    MissingDependencyError
        If the module (or something it needs) cannot be imported.
    """
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise missing_dependency(feature, module, extra) from exc
