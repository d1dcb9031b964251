"""Storage: the StorageService protocol, backend-neutral codecs, and the memory backend."""

from typing import TYPE_CHECKING

from pypet_rebuild._lazy import LazyExports

if TYPE_CHECKING:
    from pypet_rebuild.storage.memory import MemoryStorageService
    from pypet_rebuild.storage.protocol import StorageService
    from pypet_rebuild.storage.records import MISSING, RunRecord, RunStatus, RunTable

__all__ = [
    "MISSING",
    "MemoryStorageService",
    "RunRecord",
    "RunStatus",
    "RunTable",
    "StorageService",
]

# Imported on first use (see pypet_rebuild._lazy): a process worker imports this package to
# run a simulate function and needs only a few of its modules.
_EXPORTS = LazyExports(
    __name__,
    {
        "MemoryStorageService": "pypet_rebuild.storage.memory",
        "StorageService": "pypet_rebuild.storage.protocol",
        "MISSING": "pypet_rebuild.storage.records",
        "RunRecord": "pypet_rebuild.storage.records",
        "RunStatus": "pypet_rebuild.storage.records",
        "RunTable": "pypet_rebuild.storage.records",
    },
)


def __getattr__(name: str) -> object:
    return _EXPORTS.load(name)


def __dir__() -> list[str]:
    return _EXPORTS.names()
