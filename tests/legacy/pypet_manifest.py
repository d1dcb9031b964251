"""Compare a stored study with a pypet fixture manifest (tests/data/pypet/*.json).

``encode`` is the manifest generator's tagging (tests/data/pypet/generate.py, ``enc``), so a
value read by pypet_rebuild is encoded exactly as pypet's own reading was. ``normalize`` applies
the equivalences the fixture README allows (numpy.str_ vs str, numpy vs Python scalars in
annotations, pandas str vs object dtypes, ObjectTable as a DataFrame).
"""

from __future__ import annotations

import datetime as dt
import decimal
import fractions
import hashlib
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

import pypet_rebuild as pr
from pypet_rebuild.legacy.tagging import untag

DATA = Path(__file__).parent.parent / "data" / "pypet"


def _plain_float(x: Any) -> Any:
    x = float(x)
    if math.isnan(x):
        return "nan"
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    return x


def _plain(v: Any) -> Any:
    if v is None:
        return None
    if isinstance(v, bool | np.bool_):
        return bool(v)
    if isinstance(v, int | np.integer):
        return int(v)
    if isinstance(v, float | np.floating):
        return _plain_float(v)
    if isinstance(v, complex | np.complexfloating):
        return [_plain_float(v.real), _plain_float(v.imag)]
    if isinstance(v, bytes | np.bytes_):
        return bytes(v).hex()
    if isinstance(v, str):
        return str(v)
    if isinstance(v, pd.Timestamp | dt.datetime | dt.date | np.datetime64):
        return pd.Timestamp(v).isoformat()
    if isinstance(v, np.ndarray):
        return [_plain(x) for x in v.tolist()] if v.ndim else _plain(v[()])
    if isinstance(v, list | tuple):
        return [_plain(x) for x in v]
    return repr(v)


def _checksum(a: np.ndarray[Any, Any]) -> dict[str, Any]:
    kind = a.dtype.kind
    if kind in "biu":
        return {"sum": int(sum(int(x) for x in a.ravel().tolist()))}
    if kind == "f":
        return {"sum": _plain_float(np.sum(a, dtype=np.float64))}
    if kind == "c":
        s = np.sum(a, dtype=np.complex128)
        return {"sum": [_plain_float(s.real), _plain_float(s.imag)]}
    if kind == "U":
        joined = "\x00".join(str(x) for x in a.ravel().tolist()).encode("utf-8")
        return {"sha256": hashlib.sha256(joined).hexdigest()}
    if kind == "S":
        return {"sha256": hashlib.sha256(b"\x00".join(a.ravel().tolist())).hexdigest()}
    return {}


def _nested(a: np.ndarray[Any, Any]) -> Any:
    if a.ndim == 0:
        return _plain(a[()])
    return [_nested(x) if isinstance(x, np.ndarray) else _plain(x) for x in a]


def _index(idx: pd.Index[Any]) -> dict[str, Any]:
    return {
        "type": type(idx).__name__,
        "dtype": str(idx.dtype),
        "name": encode(idx.name),
        "values": [_plain(x) for x in idx.tolist()],
    }


def encode(v: Any) -> dict[str, Any]:
    """The generator's ``enc``: ``v`` as type-tagged JSON."""
    if v is None:
        return {"type": "None"}
    t = type(v)
    if t in (bool, int):
        return {"type": t.__name__, "value": v}
    if t is float:
        return {"type": "float", "value": _plain_float(v)}
    if t is complex:
        return {"type": "complex", "value": [_plain_float(v.real), _plain_float(v.imag)]}
    if t is str:
        return {"type": "str", "value": v}
    if t is bytes:
        return {"type": "bytes", "hex": v.hex()}
    if isinstance(v, np.generic):
        name = "numpy." + np.dtype(t).name
        if isinstance(v, np.bytes_):
            return {"type": name, "hex": bytes(v).hex()}
        if isinstance(v, np.str_):
            return {"type": "numpy.str_", "value": str(v)}
        return {"type": name, "value": _plain(v)}
    if t in (list, tuple):
        return {"type": t.__name__, "items": [encode(x) for x in v]}
    if t in (set, frozenset):
        items = sorted((encode(x) for x in v), key=lambda e: json.dumps(e, sort_keys=True))
        return {"type": t.__name__, "items": items}
    if t is dict:
        if all(type(k) is str for k in v):
            return {"type": "dict", "items": {k: encode(x) for k, x in v.items()}}
        return {"type": "dict", "pairs": [[encode(k), encode(x)] for k, x in v.items()]}
    if isinstance(v, np.ndarray):
        a = np.asarray(v)
        out: dict[str, Any] = {
            "type": "numpy.matrix" if isinstance(v, np.matrix) else "numpy.ndarray",
            "dtype": a.dtype.str,
            "shape": list(a.shape),
            "checksum": _checksum(a),
        }
        if a.size <= 64:
            out["values"] = _nested(a)
        return out
    if isinstance(v, pd.DataFrame):
        columns = {
            str(c): {"dtype": str(v[c].dtype), "values": [_plain(x) for x in v[c].tolist()]}
            for c in v.columns
        }
        return {
            "type": "pandas.DataFrame",
            "shape": list(v.shape),
            "column_order": [str(c) for c in v.columns],
            "columns": columns,
            "index": _index(v.index),
        }
    if isinstance(v, pd.Series):
        return {
            "type": "pandas.Series",
            "name": encode(v.name),
            "dtype": str(v.dtype),
            "index": _index(v.index),
            "values": [_plain(x) for x in v.tolist()],
        }
    if sp.issparse(v):
        dense = v.toarray()
        out = {
            "type": f"scipy.sparse.{type(v).__name__}",
            "format": v.format,
            "dtype": v.dtype.str,
            "shape": list(v.shape),
            "nnz": int(v.nnz),
            "sum": _checksum(dense).get("sum"),
        }
        if dense.size <= 64:
            out["dense"] = _nested(dense)
        return out
    if t is dt.datetime or t is dt.date:
        return {"type": f"datetime.{t.__name__}", "value": v.isoformat()}
    if t is decimal.Decimal:
        return {"type": "decimal.Decimal", "value": str(v)}
    if t is fractions.Fraction:
        return {"type": "fractions.Fraction", "value": [v.numerator, v.denominator]}
    return {"type": f"{t.__module__}.{t.__qualname__}", "repr": repr(v)}


def normalize(e: Any, *, loose_scalars: bool = False) -> Any:
    """Apply the equivalences the fixture README allows."""
    if isinstance(e, list):
        return [normalize(x, loose_scalars=loose_scalars) for x in e]
    if not isinstance(e, dict):
        return e
    out = {k: normalize(v, loose_scalars=loose_scalars) for k, v in e.items()}
    kind = out.get("type")
    if kind == "numpy.str_":
        out["type"] = "str"
    if loose_scalars and isinstance(kind, str) and "value" in out and "items" not in out:
        out["type"] = "scalar"  # numpy vs Python scalars in annotations
    if kind in ("pandas.DataFrame", "pypet.ObjectTable"):
        out["type"] = "frame"
        for column in out.get("columns", {}).values():
            if kind == "pypet.ObjectTable" or column.get("dtype") in ("str", "object"):
                column.pop("dtype", None)
    if kind == "pandas.Series" and out.get("dtype") in ("str", "object"):
        out.pop("dtype")
    if out.get("type") == "Index" and out.get("dtype") in ("str", "object"):
        out.pop("dtype")
    return out


def assert_value(expected: Any, actual: object, where: str, *, loose: bool = False) -> None:
    """``actual`` encodes as ``expected`` up to the allowed equivalences.

    ``loose``: numpy and Python scalars are equivalent, and so are ``np.matrix`` and a 2-d
    ndarray (annotations; and what conversion documents it changes).
    """
    encoded = encode(actual)
    if loose:
        expected = json.loads(json.dumps(expected).replace('"numpy.matrix"', '"numpy.ndarray"'))
    if expected.get("type") == "pypet.ObjectTable" and encoded["type"] == "pandas.DataFrame":
        encoded["type"] = "pypet.ObjectTable"  # an ObjectTable is read as a DataFrame
    got = normalize(encoded, loose_scalars=loose)
    want = normalize(expected, loose_scalars=loose)
    assert got == want, f"{where}: expected {want}, read {got}"


def pypet_record(study: pr.StoredTrajectory) -> dict[str, Any]:
    """The provenance record holding pypet's metadata."""
    for record in study.provenance:
        if record.get("kind") == "pypet":
            return record
    raise AssertionError(f"{study.name}: no pypet provenance record")


def _annotations(expected: dict[str, Any], tagged: dict[str, Any], where: str) -> None:
    assert set(tagged) == set(expected), f"{where}: annotations {sorted(tagged)}"
    for key, value in expected.items():
        assert_value(value, untag(tagged[key]), f"{where} annotation {key!r}", loose=True)


def _leaf_meta(record: dict[str, Any], full: str, leaf: dict[str, Any]) -> dict[str, Any]:
    meta: dict[str, Any] = record["leaves"][full]
    assert meta["class"] == leaf["class"], full
    assert meta["hdf5_path"] == leaf["hdf5_path"], full
    assert meta["comment"] == leaf["comment"], full
    _annotations(leaf["annotations"], meta["annotations"], full)
    if "protocol" in leaf:
        assert meta["protocol"] == leaf["protocol"], full
    return meta


def _check_parameter(
    study: pr.StoredTrajectory, full: str, leaf: dict[str, Any], *, converted: bool
) -> None:
    parameter = study.get_parameter(full)
    if leaf.get("empty"):
        assert parameter.default is None, full
    else:
        # A parameter default of a numpy scalar type reads as the Python scalar (the model
        # normalizes defaults), so defaults compare loosely.
        assert_value(leaf["value"], parameter.default, f"{full} default", loose=True)
    assert parameter.comment == leaf["comment"], full
    if leaf.get("explored"):
        space = study.space
        assert space is not None
        values = [space.point(i)[full] for i in range(len(study))]
        assert len(values) == len(leaf["range"]), full
        for i, (want, got) in enumerate(zip(leaf["range"], values, strict=True)):
            assert_value(want, got, f"{full} range[{i}]", loose=converted)


def _check_result_leaf(
    study: pr.StoredTrajectory,
    meta: dict[str, Any],
    leaf: dict[str, Any],
    full: str,
    run: int | None,
    *,
    converted: bool,
) -> None:
    derived = study.derived if run is None else None
    if "items" not in meta:  # a per-run derived parameter: one value
        value = study.collect_runs(meta["result"])[run] if run is not None else None
        assert_value(leaf["value"], value, full, loose=converted)
        return
    assert sorted(meta["items"]) == sorted(leaf["items"]), full
    for item, want in leaf["items"].items():
        name = meta["items"][item]
        if derived is not None:
            assert name in derived, f"{full}: derived result {name!r} missing"
            got = derived[name].value
            assert derived[name].comment == leaf["comment"], full
        else:
            assert run is not None
            got = study.collect_runs(name)[run]
        assert_value(want, got, f"{full} item {item!r}", loose=converted)


def check_study(
    study: pr.StoredTrajectory, manifest: dict[str, Any], *, converted: bool = False
) -> None:
    """``study`` reproduces the trajectory ``manifest`` (one entry of ``trajectories``).

    ``converted``: the study is a converted file, where numpy scalar types of parameters and
    ``np.matrix`` are not kept (the native format's documented limits).
    """
    record = pypet_record(study)
    assert study.name == manifest["name"]
    assert study.comment == manifest["comment"]
    _annotations(manifest["annotations"], record["annotations"], "trajectory")
    for key in ("pypet_version", "python_version", "time", "timestamp"):
        assert record[key] == manifest[key], key
    assert len(study) == manifest["n_runs"]
    missing = set(manifest.get("missing_explored_parameters", []))
    assert sorted(study.explored_names) == sorted(set(manifest["explored_parameters"]) - missing)
    for section in ("config", "parameters", "derived_parameters", "results", "other_leaves"):
        for full, leaf in manifest[section].items():
            meta = _leaf_meta(record, full, leaf)
            if "value" in leaf or leaf.get("empty"):
                _check_parameter(study, full, leaf, converted=converted)
            else:
                _check_result_leaf(study, meta, leaf, full, None, converted=converted)
    for full, group in manifest["groups"].items():
        got = record["groups"][full]
        for key in ("class", "hdf5_path", "comment"):
            assert got[key] == group[key], f"group {full} {key}"
        _annotations(group["annotations"], got["annotations"], f"group {full}")
    assert record["links"] == manifest["links"]
    table = study.run_table()
    assert len(record["runs"]) == len(manifest["runs"])
    for i, (row, run) in enumerate(zip(record["runs"], manifest["runs"], strict=True)):
        for key in (
            "name",
            "idx",
            "completed",
            "time",
            "timestamp",
            "finish_timestamp",
            "runtime",
            "parameter_summary",
            "short_environment_hexsha",
        ):
            assert row[key] == run[key], f"run {i} {key}"
        assert (table.status[i] == "done") == bool(run["completed"]), f"run {i} status"
        point = study.point(i)
        for full, want in run["parameters"].items():
            assert_value(want, point[full], f"run {i} {full}", loose=converted)
        for section in ("derived_parameters", "results"):
            for full, leaf in run[section].items():
                meta = _leaf_meta(record, full, leaf)
                _check_result_leaf(study, meta, leaf, full, i, converted=converted)


def manifests() -> list[Path]:
    """The fixture manifests."""
    return sorted(DATA.glob("*.json"))
