"""Package attributes imported on first use (the pattern of scientific Python's SPEC 1).

A package's ``__init__`` names what it exports and from which module; the module is imported
when the name is first looked up (PEP 562), not when the package is. Importing any module of the
library imports every package above it, so eager ``__init__`` files made a process worker's
start import the whole library (HDF5, codecs, analysis) although it needs only the few modules
that run a simulate function: that import is most of the first sweep's pool start.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from collections.abc import Mapping

__all__ = ["LazyExports"]


class LazyExports:
    """The names a package exports, each imported from its module on first lookup.

    Parameters
    ----------
    package
        The package's ``__name__``.
    exports
        Each exported name, mapped to the absolute name of the module that defines it.

    Examples
    --------
    In a package's ``__init__.py``, beside the same imports under ``TYPE_CHECKING`` (for type
    checkers and documentation)::

        _EXPORTS = LazyExports(__name__, {"Trajectory": "pypet_rebuild.tree.trajectory"})


        def __getattr__(name: str) -> object:
            return _EXPORTS.load(name)
    """

    def __init__(self, package: str, exports: Mapping[str, str]) -> None:
        self.package = package
        self.exports = dict(exports)

    def load(self, name: str) -> object:
        """Import and return the exported ``name``; it is then a plain attribute of the package.

        A name the package does not export may be one of its subpackages or modules: that is
        imported and returned, as when the package imported everything eagerly
        (``pypet_rebuild.storage.hdf5`` after ``import pypet_rebuild``).

        Raises
        ------
        AttributeError
            If the package exports no such name and has no such module.
        """
        module = self.exports.get(name)
        if module is not None:
            value = getattr(importlib.import_module(module), name)
        elif (
            name.isidentifier()  # one module of this package, never a dotted path below it
            and not name.startswith("_")
            and importlib.util.find_spec(f"{self.package}.{name}")
        ):
            value = importlib.import_module(f"{self.package}.{name}")
        else:
            raise AttributeError(f"module {self.package!r} has no attribute {name!r}")
        # Later lookups find it directly, without calling the package's __getattr__ again.
        setattr(sys.modules[self.package], name, value)
        return value

    def names(self) -> list[str]:
        """The package's attributes, the exported names not imported yet included."""
        return sorted({*vars(sys.modules[self.package]), *self.exports})
