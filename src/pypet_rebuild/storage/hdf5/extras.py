"""The parts of a stored trajectory besides runs: expansions, derived results, provenance.

In the main file they sit under the trajectory's group; in a segment file (``compaction="auto"``
or ``"manual"``) a segment may carry any of them, and readers combine main file and segments:
expansions append points, derived results replace those of the same name, provenance records
append.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import h5py
import numpy as np
import numpy.typing as npt

from pypet_rebuild.exploration import PointHashes
from pypet_rebuild.storage.codecs import decode_or_placeholder, encode_value
from pypet_rebuild.storage.hdf5.encoded import read_encoded, write_encoded
from pypet_rebuild.storage.hdf5.explored import write_explored_column
from pypet_rebuild.storage.hdf5.layout import (
    LAYOUT_ATTR,
    LAYOUT_VERSION,
    create_growable,
    digests_to_rows,
    grow,
)
from pypet_rebuild.storage.hdf5.options import StorageOptions
from pypet_rebuild.storage.hdf5.skeleton import read_explored
from pypet_rebuild.tree.nodes import Result

__all__ = [
    "append_provenance",
    "derived_nodes",
    "read_definition",
    "read_derived",
    "read_provenance",
    "write_definition",
    "write_derived",
    "write_derived_result",
    "write_provenance",
]


def write_definition(
    group: h5py.Group,
    n_runs: int,
    columns: Mapping[str, Sequence[object]],
    hashes: Sequence[str],
) -> None:
    """Record an expansion: the new number of runs, and the appended points and their hashes."""
    group.attrs[LAYOUT_ATTR] = LAYOUT_VERSION
    definition = group.create_group("definition")
    definition.attrs["n_runs"] = n_runs
    definition.attrs["explored_order"] = json.dumps(list(columns))
    explored = definition.create_group("explored")
    for path, values in columns.items():
        write_explored_column(explored, path, values)
    definition.create_dataset(
        "point_hash", data=digests_to_rows(PointHashes.from_hex(hashes).digests)
    )


def read_definition(
    group: h5py.Group, *, allow_pickle: bool = False
) -> tuple[int, dict[str, tuple[object, ...]], PointHashes]:
    """The number of runs after an expansion, the appended points and their hashes."""
    definition = group["definition"]
    hashes = PointHashes(definition["point_hash"][...])
    explored = read_explored(definition, allow_pickle=allow_pickle)
    return int(definition.attrs["n_runs"]), explored, hashes


def write_derived(
    group: h5py.Group,
    results: Sequence[Result[Any]],
    *,
    allow_pickle: bool = False,
    kept: Mapping[str, h5py.Group] | None = None,
) -> None:
    """Write trajectory-level results as the ``derived`` group.

    ``kept`` are stored derived results (by name) to carry over as they are: their nodes are
    copied byte for byte, never decoded, so folding a file runs nothing it holds and needs no
    codec. A result in ``results`` replaces a kept one of the same name.
    """
    derived = group.create_group("derived")
    replaced = {result.path for result in results}
    for path, node in (kept or {}).items():
        if path not in replaced:
            node.file.copy(node, derived, name=path)
    for result in results:
        write_derived_result(derived, result, allow_pickle=allow_pickle)


def write_derived_result(
    derived: h5py.Group, result: Result[Any], *, allow_pickle: bool = False
) -> None:
    """Write one trajectory-level result into the ``derived`` group (replacing one of its name)."""
    if result.path in derived:
        del derived[result.path]
    node = write_encoded(
        derived,
        result.path,
        encode_value(result.value, f"derived.{result.path}", allow_pickle=allow_pickle),
    )
    node.attrs["comment"] = result.comment
    node.attrs["annotations"] = json.dumps(dict(result.annotations), default=repr)


def read_derived(group: h5py.Group, *, allow_pickle: bool = False) -> dict[str, Result[Any]]:
    """The ``derived`` group's results by name (empty if there is none).

    A value stored as a pickle is unpickled only with ``allow_pickle``; otherwise it is a
    :class:`~pypet_rebuild.tree.snapshot.PickledValue` that raises when used.
    """
    if "derived" not in group:
        return {}
    return {
        path: Result(
            path,
            decode_or_placeholder(
                read_encoded(node), allow_pickle=allow_pickle, where=f"derived.{path}"
            ),
            str(node.attrs.get("comment", "")),
            json.loads(node.attrs.get("annotations", "{}")),
        )
        for path, node in group["derived"].items()
    }


def derived_nodes(groups: Sequence[h5py.Group]) -> dict[str, h5py.Group]:
    """The stored nodes of the derived results of ``groups`` (newer groups replace older ones)."""
    found: dict[str, h5py.Group] = {}
    for group in groups:
        if "derived" in group:
            found.update(group["derived"].items())
    return found


def write_provenance(
    group: h5py.Group,
    records: Sequence[Mapping[str, object]],
    options: StorageOptions | None = None,
) -> None:
    """Write provenance records (one JSON string each) as the ``provenance`` dataset.

    With ``options`` (a main file) the dataset can grow: :func:`append_provenance` adds records.
    """
    texts = _provenance_texts(records)
    if options is None:
        dataset = group.create_dataset("provenance", data=texts, dtype=h5py.string_dtype())
    else:
        dataset = create_growable(
            group, "provenance", texts.shape, h5py.string_dtype(), options, data=texts
        )
    if options is not None:
        # Its own dimension (a netCDF coordinate variable): netCDF readers then name its axis
        # instead of making up a phony dimension for the trajectory group.
        dataset.make_scale("provenance")
    dataset.attrs["long_name"] = "provenance of each sweep, one JSON record each"


def append_provenance(group: h5py.Group, records: Sequence[Mapping[str, object]]) -> None:
    """Append provenance records to the growable ``provenance`` dataset of a main file."""
    if not records:
        return
    texts = _provenance_texts(records)
    dataset = group["provenance"]
    start = dataset.shape[0]
    grow(dataset, start + len(texts))
    dataset[start:] = texts


def _provenance_texts(records: Sequence[Mapping[str, object]]) -> npt.NDArray[np.object_]:
    return np.array([json.dumps(dict(record), default=repr) for record in records], dtype=object)


def read_provenance(group: h5py.Group) -> list[dict[str, object]]:
    """The provenance records of ``group`` (empty if there are none)."""
    if "provenance" not in group:
        return []
    return [json.loads(text) for text in group["provenance"].asstr()[...].tolist()]
