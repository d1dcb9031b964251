"""Tools for testing simulations built on pypet_rebuild, and storage backends and codecs.

- :func:`run_study` runs a sweep quietly and returns the stored study;
  :func:`storage_factories` lists the backends to run it against.
- :func:`assert_studies_equal` compares two stored studies run by run (resume equals
  uninterrupted, a merge holds its inputs, process mode stores what serial mode stores);
  :func:`assert_values_equal` compares two values as storage must give them back.
- :func:`check_codec` checks a custom codec's law through every installed backend.
- :mod:`pypet_rebuild.testing.conformance`: the storage conformance suite, as test classes a
  backend's tests subclass (needs pytest).
- :mod:`pypet_rebuild.testing.strategies`: hypothesis strategies for storable values, parameter
  spaces and trajectories (needs hypothesis: the ``testing`` extra).

Installing pypet_rebuild also installs a pytest plugin (named ``pypet_rebuild``; disable it with
``-p no:pypet_rebuild``) with the fixtures ``pr_sweep``, ``pr_storage`` and
``pr_storage_factory``; see "Testing your simulations" in the documentation.
"""

from pypet_rebuild.testing.codecs import check_codec, check_encoded
from pypet_rebuild.testing.studies import VOLATILE_PROVENANCE, assert_studies_equal
from pypet_rebuild.testing.sweeps import StorageFactory, run_study, storage_factories
from pypet_rebuild.testing.values import assert_values_equal, values_difference

__all__ = [
    "VOLATILE_PROVENANCE",
    "StorageFactory",
    "assert_studies_equal",
    "assert_values_equal",
    "check_codec",
    "check_encoded",
    "run_study",
    "storage_factories",
    "values_difference",
]
