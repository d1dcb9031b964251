"""assert_values_equal: storage's notion of equal (type, dtype, shape, order, bytes)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from pypet_rebuild.testing import assert_values_equal, values_difference


@dataclass(eq=False)
class Probe:
    label: str
    level: np.ndarray[Any, Any]


@pytest.mark.parametrize(
    "value",
    [
        1.0,
        math.nan,
        complex(math.nan, 1),
        np.array([math.nan, -0.0]),
        np.array(["2020-01-01", "NaT"], dtype="M8[D]"),
        np.asfortranarray(np.arange(6).reshape(2, 3)),
        np.zeros(2, dtype=[("a", "i4"), ("b", "U2")]),
        np.array(["a", None, 1], dtype=object),
        [1, (2, {"k": [np.float32(1)]})],
        {"b": 1, "a": 2},
        pd.DataFrame({"a": [1.0, math.nan]}, index=pd.Index([3, 4], name="i")),
        pd.Series([1, 2], name="s"),
        pd.array([1, None], dtype="Int64"),
        sp.csr_matrix(np.eye(3)),
        Probe("p", np.array(2.5)),
    ],
    ids=lambda value: type(value).__name__,
)
def test_a_value_equals_a_copy_of_itself(value: object) -> None:
    import copy

    assert_values_equal(value, copy.deepcopy(value))


@pytest.mark.parametrize(
    ("expected", "actual", "message"),
    [
        (np.float32(1), 1.0, "type: expected float32, got float"),
        ([1], (1,), "type: expected list, got tuple"),
        (np.arange(3), np.arange(3.0), "dtype: expected int64, got float64"),
        (np.array(1.5), np.array([1.5]), r"shape: expected \(\), got \(1,\)"),
        (np.asfortranarray(np.eye(2)), np.eye(2), "Fortran order"),
        (-0.0, 0.0, "expected -0.0, got 0.0"),
        (np.array([-0.0]), np.array([0.0]), "bytes differ"),
        ({"a": [1, {"k": 2}]}, {"a": [1, {"k": 3}]}, r"\['a'\]\[1\]\['k'\]: expected 2, got 3"),
        ({"a": 1, "b": 2}, {"b": 2, "a": 1}, "keys"),
        (np.arange(4).reshape(2, 2), np.array([[0, 1], [2, 5]]), r"at \[1, 1\]: expected 3"),
        (pd.DataFrame({"a": [1]}), pd.DataFrame({"a": [1.0]}), "dtype"),
        (sp.csr_matrix(np.eye(2)), sp.csc_matrix(np.eye(2)), "expected csr_matrix"),
        (
            pd.Timestamp("2020-01-01 01:00", tz="Europe/Berlin"),
            pd.Timestamp("2020-01-01 00:00", tz="UTC"),
            "time zone: expected Europe/Berlin, got UTC",
        ),
        (sp.csr_matrix(np.eye(2)), sp.csr_matrix(2 * np.eye(2)), r"toarray\(\): at \[0, 0\]"),
        (Probe("p", np.array(1.0)), Probe("p", np.array([1.0])), r"\.__dict__\['level'\]"),
    ],
)
def test_differences_say_where_and_how(expected: object, actual: object, message: str) -> None:
    with pytest.raises(AssertionError, match=message):
        assert_values_equal(expected, actual)


def test_tolerances_apply_to_floats_only() -> None:
    assert_values_equal(1.0, 1.0 + 1e-12, rtol=1e-9)
    assert_values_equal(np.array([1.0, math.nan]), np.array([1.0 + 1e-12, math.nan]), rtol=1e-9)
    assert_values_equal({"z": [2.0]}, {"z": [2.0 + 1e-10]}, atol=1e-8)
    assert_values_equal(pd.DataFrame({"a": [1.0]}), pd.DataFrame({"a": [1.0 + 1e-12]}), rtol=1e-9)
    with pytest.raises(AssertionError, match=r"expected 1\.0"):
        assert_values_equal(1.0, 1.1, rtol=1e-9)
    with pytest.raises(AssertionError):
        assert_values_equal(np.array([1, 2]), np.array([1, 3]), atol=5)
    assert values_difference(np.float64(1), np.float64(1 + 1e-12), rtol=1e-9) is None
