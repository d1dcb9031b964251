"""The installed version of pypet_rebuild, from the package metadata (``pyproject.toml``)."""

from importlib import metadata

__all__ = ["__version__"]

try:
    __version__ = metadata.version("pypet_rebuild")
except metadata.PackageNotFoundError:  # pragma: no cover - a source tree that was never installed
    __version__ = "0+unknown"
