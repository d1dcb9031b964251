"""Reading the files of the original pypet: a read-only storage backend, and conversion."""

from pypet_rebuild.legacy.convert import convert_pypet
from pypet_rebuild.legacy.service import (
    IncompletePypetFileWarning,
    PypetStorageService,
    is_pypet_file,
)

__all__ = [
    "IncompletePypetFileWarning",
    "PypetStorageService",
    "convert_pypet",
    "is_pypet_file",
]
