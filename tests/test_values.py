"""Typed parameter values: declared types, lossless conversion of defaults and explored values."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import pypet_rebuild as pr
from pypet_rebuild.errors import ParameterTypeError
from pypet_rebuild.tree.values import ValueType, normalize_default

MAX_EXACT = 2**53


def _explored(traj: pr.Trajectory, name: str) -> tuple[object, ...]:
    space = traj.space
    assert space is not None
    return space.columns[name]


# -- declared types ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("default", "expected"),
    [
        (1.0, float),
        (1, int),
        (True, bool),
        ("a", str),
        (b"a", bytes),
        (1j, complex),
        (np.float64(1.0), float),
        (np.float32(1.0), float),
        (np.int64(3), int),
        (np.int8(3), int),
        (np.bool_(True), bool),
        (np.str_("s"), str),
    ],
)
def test_type_comes_from_the_default_with_numpy_scalars_normalised(
    default: object, expected: type
) -> None:
    parameter = pr.Trajectory("t").add_parameter("p", default)
    assert parameter.value_type.python_type is expected
    assert type(parameter.default) is expected
    assert parameter.default == default


def test_explicit_type_overrides_the_default_and_converts_it() -> None:
    parameter = pr.Trajectory("t").add_parameter("x", 1, type=float)
    assert parameter.value_type.python_type is float
    assert type(parameter.default) is float
    assert parameter.default == 1.0


def test_explicit_type_refuses_a_default_that_does_not_convert() -> None:
    traj = pr.Trajectory("t")
    with pytest.raises(ParameterTypeError, match=r"'n'.*1\.5"):
        traj.add_parameter("n", 1.5, type=int)
    assert "n" not in traj


def test_refused_default_leaves_no_empty_groups_behind() -> None:
    traj = pr.Trajectory("t")
    with pytest.raises(ParameterTypeError):
        traj.add_parameter("new.grp.n", "a", type=int)
    assert list(traj.nodes()) == []
    traj.add_parameter("new.grp.n", 1, type=int)
    assert [node.path for node in traj.nodes()] == ["new", "new.grp", "new.grp.n"]


def test_array_default_declares_dtype_and_dimensions() -> None:
    parameter = pr.Trajectory("t").add_parameter("a", np.zeros((2, 3), dtype=np.int32))
    value_type = parameter.value_type
    assert value_type.python_type is np.ndarray
    assert value_type.dtype == np.dtype(np.int32)
    assert value_type.ndim == 2
    assert value_type.name == "ndarray[int32, 2-d]"


def test_user_class_default_accepts_instances_and_subclasses_only() -> None:
    class Base:
        pass

    class Child(Base):
        pass

    traj = pr.Trajectory("t")
    traj.add_parameter("obj", Base())
    traj.explore({"obj": [Base(), Child()]})
    assert len(traj) == 2
    with pytest.raises(ParameterTypeError, match="obj"):
        traj.explore({"obj": [1]})


def test_normalize_default() -> None:
    assert type(normalize_default(np.float64(2.5))) is float
    assert type(normalize_default(np.int32(2))) is int
    assert type(normalize_default(np.bool_(False))) is bool
    array = np.arange(3)
    assert normalize_default(array) is array
    assert normalize_default("x") == "x"


# -- accepted conversions ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("default", "value", "expected"),
    [
        (1.0, np.float64(2.5), 2.5),
        (1.0, np.float32(0.5), 0.5),
        (1.0, 3, 3.0),
        (1.0, np.int64(-4), -4.0),
        (1.0, float("inf"), float("inf")),
        (1, np.int64(7), 7),
        (1, np.uint8(200), 200),
        (1, 2.0, 2),
        (1, np.float64(-3.0), -3),
        (True, np.bool_(False), False),
        (1j, 2, 2 + 0j),
        (1j, np.complex64(1 + 1j), 1 + 1j),
        ("s", np.str_("t"), "t"),
    ],
)
def test_lossless_conversions_give_the_declared_python_type(
    default: object, value: object, expected: object
) -> None:
    traj = pr.Trajectory("t")
    traj.add_parameter("p", default)
    traj.explore({"p": [value]})
    (converted,) = _explored(traj, "p")
    assert converted == expected
    assert type(converted) is type(normalize_default(default))


def test_nan_converts_into_a_float_parameter() -> None:
    traj = pr.Trajectory("t")
    traj.add_parameter("x", 1.0)
    traj.explore({"x": [np.float64("nan")]})
    (converted,) = _explored(traj, "x")
    assert isinstance(converted, float)
    assert np.isnan(converted)


@pytest.mark.parametrize(
    ("default", "value", "expected_dtype"),
    [
        (np.zeros(3), [1.0, 2.0, 3.0], np.float64),
        (np.zeros(3), [1, 2], np.float64),
        (np.zeros(3), np.arange(4, dtype=np.int32), np.float64),
        (np.zeros(3, dtype=np.int64), [1, 2, 3], np.int64),
        (np.zeros((2, 2)), [[1, 2], [3, 4]], np.float64),
    ],
)
def test_sequences_convert_into_array_parameters_of_matching_dtype(
    default: np.ndarray[Any, Any], value: object, expected_dtype: type
) -> None:
    traj = pr.Trajectory("t")
    traj.add_parameter("a", default)
    traj.explore({"a": [value]})
    (converted,) = _explored(traj, "a")
    assert isinstance(converted, np.ndarray)
    assert converted.dtype == np.dtype(expected_dtype)
    np.testing.assert_array_equal(converted, np.asarray(value))


def test_arrays_of_different_lengths_are_fine_in_a_1d_parameter() -> None:
    traj = pr.Trajectory("t")
    traj.add_parameter("a", np.zeros(3))
    traj.explore({"a": [[1.0], [1.0, 2.0, 3.0, 4.0]]})
    assert [len(np.asarray(v)) for v in _explored(traj, "a")] == [1, 4]


# -- refused conversions -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("default", "value"),
    [
        (1, "a"),
        (1, 1.5),
        (1, np.float64(0.25)),
        (1, True),
        (1, np.bool_(True)),
        (1, float("nan")),
        (1, float("inf")),
        (1, None),
        (1.0, "1.0"),
        (1.0, True),
        (1.0, 2**53 + 1),
        (1.0, 1j),
        (1.0, None),
        (True, 1),
        ("s", 1),
        ("s", b"s"),
        (b"s", "s"),
        (1j, "1j"),
        (np.zeros(3, dtype=np.int64), [1.5, 2.0]),
        (np.zeros(3), [[1.0, 2.0]]),
        (np.zeros(3), 1.0),
        (np.zeros(3), "abc"),
        (np.zeros(3), [1j]),
        (np.zeros(3), [object(), 1]),
        (np.zeros((2, 2)), [1.0, 2.0]),
    ],
)
def test_lossy_or_wrong_values_are_refused(default: object, value: object) -> None:
    traj = pr.Trajectory("t")
    traj.add_parameter("p", default)
    with pytest.raises(ParameterTypeError):
        traj.explore({"p": [value]})
    assert traj.space is None


def test_type_error_names_the_parameter_the_value_and_the_run_position() -> None:
    traj = pr.Trajectory("t")
    traj.add_parameter("sim.steps", 10)
    with pytest.raises(ParameterTypeError) as info:
        traj.explore({"sim.steps": [1, 2, "a", 4]})
    message = str(info.value)
    assert "'sim.steps'" in message
    assert "'a'" in message
    assert "run position 2" in message
    assert "int" in message


def test_type_error_is_a_type_error() -> None:
    traj = pr.Trajectory("t")
    traj.add_parameter("n", 1)
    with pytest.raises(TypeError):
        traj.explore({"n": [1.5]})


def test_position_in_a_cartesian_product_is_the_run_index() -> None:
    traj = pr.Trajectory("t")
    traj.add_parameter("x", 1.0)
    traj.add_parameter("n", 1)
    # n varies fastest: runs are (1,1) (1,2) (1,2.5) (2,1) ... so 2.5 first appears at run 2.
    with pytest.raises(ParameterTypeError, match="run position 2"):
        traj.explore(pr.cartesian_product({"x": [1.0, 2.0], "n": [1, 2, 2.5]}))


def test_position_in_an_expansion_counts_from_the_existing_runs() -> None:
    traj = pr.Trajectory("t")
    traj.add_parameter("n", 1)
    traj.explore({"n": [1, 2, 3]})
    with pytest.raises(ParameterTypeError, match="run position 4"):
        traj.expand({"n": [4, "five"]})
    assert len(traj) == 3


def test_changing_a_default_is_type_checked() -> None:
    parameter = pr.Trajectory("t").add_parameter("n", 1)
    parameter.default = np.int64(5)  # type: ignore[assignment]  # fine at run time
    assert parameter.default == 5
    assert type(parameter.default) is int
    with pytest.raises(ParameterTypeError, match="'n'"):
        parameter.default = 1.5  # type: ignore[assignment]
    assert parameter.default == 5


def test_value_type_convert_without_position_omits_it() -> None:
    with pytest.raises(ParameterTypeError) as info:
        ValueType(int).convert("a", path="n")
    assert "run position" not in str(info.value)
    assert "'n'" in str(info.value)


# -- properties ----------------------------------------------------------------------------------


@given(
    st.integers(min_value=-MAX_EXACT, max_value=MAX_EXACT).flatmap(
        lambda n: st.sampled_from(
            [n]
            + [
                dtype(n)
                for dtype in (np.int64, np.int32, np.int16, np.int8, np.uint64, np.uint32)
                if np.iinfo(dtype).min <= n <= np.iinfo(dtype).max
            ]
        )
    )
)
def test_any_integer_within_2_pow_53_converts_exactly_into_a_float(value: int) -> None:
    converted = ValueType(float).convert(value, path="x")
    assert type(converted) is float
    assert int(converted) == int(value)


@given(st.integers(min_value=0, max_value=2**70), st.sampled_from([1, -1]))
def test_integers_a_float_cannot_hold_exactly_are_refused(k: int, sign: int) -> None:
    value = sign * (MAX_EXACT + 2 * k + 1)  # odd beyond 2**53: float() would round it
    assert float(value) != value
    with pytest.raises(ParameterTypeError):
        ValueType(float).convert(value, path="x")


@given(st.floats(allow_nan=False, allow_infinity=False))
def test_a_float_converts_into_an_int_exactly_when_it_is_integral(value: float) -> None:
    value_type = ValueType(int)
    if value.is_integer():
        assert value_type.convert(value, path="n") == value
    else:
        with pytest.raises(ParameterTypeError):
            value_type.convert(value, path="n")
