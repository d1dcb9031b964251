"""The HDF5 backend: the only package that imports h5py."""

from pypet_rebuild.storage.hdf5.options import StorageOptions
from pypet_rebuild.storage.hdf5.service import HDF5StorageService

__all__ = ["HDF5StorageService", "StorageOptions"]
