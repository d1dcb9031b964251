"""Storage: the StorageService protocol, backend-neutral codecs, and the memory backend."""

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
