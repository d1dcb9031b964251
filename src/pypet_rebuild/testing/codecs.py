"""Check a codec: the law ``decode(encode(x)) == x``, in memory and through every backend.

A codec can pass the law in memory and still lose something in a file (a 0-d array that a
backend stores as a 1-element one, a dtype a backend widens, Fortran order). :func:`check_codec`
checks the encoded form against the array contract, the law, and then every value stored as a
run result (alone and stacked across runs) and as a derived result, read back through a fresh
handle of every installed backend.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from pypet_rebuild.storage.codecs import (
    Codec,
    Encoded,
    decode_value,
    default_registry,
    encode_value,
    is_native_dtype,
)
from pypet_rebuild.storage.protocol import StorageService
from pypet_rebuild.testing.sweeps import StorageFactory, storage_factories
from pypet_rebuild.testing.values import values_difference

__all__ = ["check_codec", "check_encoded"]


def check_encoded(encoded: Encoded) -> None:
    """Assert that ``encoded`` keeps the array contract every backend relies on.

    Every array has a native dtype (:func:`~pypet_rebuild.storage.codecs.is_native_dtype`),
    the attrs are JSON without NaN, no array name is a folder of another (``"a"`` and
    ``"a/b"``), the row arrays exist and agree on their length, and each ragged ``data`` array
    has exactly the bytes its ``lengths`` announce.

    Raises
    ------
    AssertionError
        Naming the codec and what breaks the contract.
    """
    codec = encoded.codec
    try:
        json.dumps(encoded.attrs, allow_nan=False)
    except (TypeError, ValueError) as error:
        raise AssertionError(f"codec {codec!r}: attrs are not JSON: {error}") from error
    names = set(encoded.arrays)
    for name, array in encoded.arrays.items():
        if not is_native_dtype(array.dtype):
            raise AssertionError(f"codec {codec!r}: array {name!r} has dtype {array.dtype}")
        parts = name.split("/")
        for cut in range(1, len(parts)):
            if "/".join(parts[:cut]) in names:
                raise AssertionError(
                    f"codec {codec!r}: array {name!r} lies inside array {'/'.join(parts[:cut])!r}"
                )
    rows = encoded.row_arrays
    if not set(rows) <= names:
        raise AssertionError(f"codec {codec!r}: row arrays {sorted(set(rows) - names)} missing")
    lengths = {encoded.arrays[name].shape[0] for name in rows}
    if len(lengths) > 1:
        raise AssertionError(f"codec {codec!r}: row arrays of different lengths {lengths}")
    for data, counts in encoded.ragged.items():
        size = int((encoded.arrays[counts].clip(min=0)).sum())
        if encoded.arrays[data].shape != (size,):
            raise AssertionError(
                f"codec {codec!r}: ragged {data!r} holds {encoded.arrays[data].shape} "
                f"elements, its lengths {counts!r} say {size}"
            )


def _check_resolves(codec_or_type: type[Any] | Codec[Any], values: Sequence[object]) -> None:
    if isinstance(codec_or_type, type):
        for i, value in enumerate(values):
            if not isinstance(value, codec_or_type):
                raise TypeError(
                    f"values[{i}] is a {type(value).__name__}, not a {codec_or_type.__name__}"
                )
        return
    name = getattr(codec_or_type, "name", None)
    for i, value in enumerate(values):
        chosen = default_registry.codec_for(value, f"values[{i}]")
        if chosen is not codec_or_type and getattr(chosen, "name", None) != name:
            raise AssertionError(
                f"values[{i}] ({type(value).__name__}) is stored by codec "
                f"{getattr(chosen, 'name', chosen)!r}, not by {name!r}: register it with "
                "pypet_rebuild.register_codec(YourType, codec)"
            )


def _fail(where: str, difference: str | None) -> None:
    if difference is not None:
        raise AssertionError(f"{where}: {difference}")


def _store(storage: StorageService, values: Sequence[object]) -> None:
    from pypet_rebuild.execution.environment import Environment
    from pypet_rebuild.tree.nodes import Result
    from pypet_rebuild.tree.trajectory import Trajectory

    n_runs = max(2, len(values))
    traj = Trajectory("check_codec", seed=0)
    traj.add_parameter("i", 0)
    traj.explore({"i": list(range(n_runs))})

    def simulate(run: Any) -> dict[str, object]:
        index = int(run.i)
        # Each value alone in runs 0 and 1 (a backend may stack a fixed shape across runs),
        # and all values in one result across runs (a backend must keep each run's type).
        found: dict[str, object] = {"mixed": values[index % len(values)]}
        if index < 2:
            found.update({f"value_{k}": value for k, value in enumerate(values)})
        return found

    environment = Environment(traj, storage=storage)
    environment.run(simulate, progress=False)
    with storage.open_writer("check_codec") as session:
        session.store_derived([Result(f"value_{k}", v) for k, v in enumerate(values)])


def _check_backend(
    factory: StorageFactory,
    folder: Path,
    values: Sequence[object],
    compare: Callable[[object, object], str | None],
    allow_pickle: bool,
) -> None:
    writer = factory.create(folder, allow_pickle)
    try:
        _store(writer, values)
    finally:
        writer.close()
    reader = factory.reopen(writer, allow_pickle)
    try:
        n_runs = max(2, len(values))
        where = f"backend {factory.name!r}"
        for k, value in enumerate(values):
            stored = reader.read_results("check_codec", f"value_{k}", [0, 1])
            for run, got in enumerate(stored):
                _fail(f"{where}, values[{k}] as a result of run {run}", compare(value, got))
            derived = reader.load_derived("check_codec")[f"value_{k}"].value
            _fail(f"{where}, values[{k}] as a derived result", compare(value, derived))
        mixed = reader.read_results("check_codec", "mixed", list(range(n_runs)))
        for run, got in enumerate(mixed):
            k = run % len(values)
            _fail(f"{where}, values[{k}] among other values (run {run})", compare(values[k], got))
    finally:
        reader.close()


def check_codec(
    codec_or_type: type[Any] | Codec[Any],
    values: Iterable[object],
    *,
    factories: Iterable[StorageFactory] | None = None,
    allow_pickle: bool = False,
    compare: Callable[[object, object], str | None] | None = None,
) -> None:
    """Assert the codec law for ``values`` in memory and through every storage backend.

    For every value: the codec chosen for it is the one given (or the value is of the type
    given); its encoded form keeps the array contract (:func:`check_encoded`);
    ``decode(encode(x))`` equals ``x``; and ``x`` stored as a run result (alone, stacked over
    two runs, and among the other values in one result) and as a derived result reads back
    equal through a fresh handle on each backend. Equal means
    :func:`~pypet_rebuild.testing.assert_values_equal`: same type, dtype, shape, memory order
    and value.

    Parameters
    ----------
    codec_or_type
        A registered codec (values must resolve to it) or the type it stores.
    values
        Example values; include edge cases (empty, 0-d, NaN, non-ASCII text, large).
    factories
        The backends to check; default :func:`~pypet_rebuild.testing.storage_factories`
        (memory and every installed backend that can create a store).
    allow_pickle
        Let values without a codec be pickled (off: such a value fails the check).
    compare
        ``compare(expected, actual) -> difference or None``, to replace the strict comparison
        (e.g. for a type whose equality is approximate by design).

    Raises
    ------
    AssertionError
        Naming the backend, the value's position and how it came back different.
    UnsupportedTypeError
        If a value cannot be encoded.

    Examples
    --------
    >>> import numpy as np
    >>> from pypet_rebuild.testing import check_codec
    >>> check_codec(np.ndarray, [np.arange(3.0), np.array(1.5), np.zeros((2, 0))])
    """
    listed = list(values)
    if not listed:
        raise ValueError("check_codec needs at least one example value")
    _check_resolves(codec_or_type, listed)
    comparison = compare or values_difference
    for k, value in enumerate(listed):
        encoded = encode_value(value, f"values[{k}]", allow_pickle=allow_pickle)
        check_encoded(encoded)
        decoded = decode_value(encoded, allow_pickle=allow_pickle)
        _fail(f"values[{k}] after decode(encode(x))", comparison(value, decoded))
    chosen = storage_factories() if factories is None else tuple(factories)
    with tempfile.TemporaryDirectory(prefix="pypet-check-codec-") as root:
        for factory in chosen:
            folder = Path(root) / factory.name
            folder.mkdir()
            _check_backend(factory, folder, listed, comparison, allow_pickle)
