"""The exploration layer: builders, ParameterSpace, predicates and samplers."""

from __future__ import annotations

import math
import sys
from itertools import product
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pypet_rebuild.errors import (
    EmptyExplorationError,
    ExplorationError,
    RaggedExplorationError,
    UnknownParameterError,
)
from pypet_rebuild.exploration import (
    Axis,
    ParameterSpace,
    Range,
    SpaceDescription,
    bind_predicate,
    cartesian_product,
    latin_hypercube,
    point_hash,
    random_sample,
    sobol,
    zipped,
)


def _rows(space: ParameterSpace) -> list[tuple[object, ...]]:
    return [tuple(point.values()) for point in space]


def _floats(values: tuple[object, ...]) -> list[float]:
    assert all(type(v) is float for v in values)
    return [v for v in values if isinstance(v, float)]


def _ints(values: tuple[object, ...]) -> list[int]:
    assert all(type(v) is int for v in values)
    return [v for v in values if isinstance(v, int)]


# --- Axis -------------------------------------------------------------------------------------


def test_axis_of_tuples_the_values() -> None:
    axis = Axis.of("sim.steps", range(3))
    assert axis == Axis("sim.steps", (0, 1, 2))
    assert len(axis) == 3


def test_axis_converts_a_list_to_keep_itself_immutable() -> None:
    axis: Axis[int] = Axis("x", [1, 2])  # type: ignore[arg-type]
    assert axis.values == (1, 2)
    assert hash(axis) == hash(Axis("x", (1, 2)))


def test_axis_refuses_a_string_of_values_and_bad_names() -> None:
    with pytest.raises(ExplorationError, match=r"'x'.*\['abc'\]"):
        Axis.of("x", "abc")
    with pytest.raises(ExplorationError, match="non-empty string"):
        Axis.of("", [1])


# --- cartesian_product ------------------------------------------------------------------------


def test_cartesian_product_follows_pypet_order() -> None:
    space = cartesian_product({"a": [1, 2], "b": [3, 4]})
    assert space.columns["a"] == (1, 1, 2, 2)
    assert space.columns["b"] == (3, 4, 3, 4)
    assert space.kind == "grid"
    assert space.grid == (("a",), ("b",))
    assert space.shape == (2, 2)


def test_cartesian_product_last_name_varies_fastest() -> None:
    space = cartesian_product({"x": [1.0, 2.0, 3.0], "y": [10, 20], "z": ["p", "q"]})
    assert len(space) == 12
    assert _rows(space) == list(product([1.0, 2.0, 3.0], [10, 20], ["p", "q"]))


def test_cartesian_product_linked_groups_vary_together() -> None:
    space = cartesian_product(
        {"a": [1, 2], "b": [3, 4], "c": [5, 6], "d": [7]}, linked=[("b", "c")]
    )
    assert space.grid == (("a",), ("b", "c"), ("d",))
    assert space.shape == (2, 2, 1)
    assert space.names == ("a", "b", "c", "d")
    assert _rows(space) == [(1, 3, 5, 7), (1, 4, 6, 7), (2, 3, 5, 7), (2, 4, 6, 7)]


def test_linked_group_takes_position_of_first_member_in_spec_order() -> None:
    space = cartesian_product({"a": [1, 2], "b": [3, 4], "c": [5, 6]}, linked=[("c", "a")])
    assert space.grid == (("c", "a"), ("b",))
    assert space.names == ("a", "b", "c")
    assert _rows(space) == [(1, 3, 5), (1, 4, 5), (2, 3, 6), (2, 4, 6)]


def test_cartesian_product_accepts_axes_and_mappings_in_order() -> None:
    space = cartesian_product(Axis.of("x", [1, 2]), {"y": [3]}, [Axis.of("z", (4, 5))])
    assert space.names == ("x", "y", "z")
    assert _rows(space) == [(1, 3, 4), (1, 3, 5), (2, 3, 4), (2, 3, 5)]


def test_cartesian_product_accepts_numpy_arrays_as_value_lists() -> None:
    space = cartesian_product({"x": np.array([1.0, 2.0])})
    assert space.columns["x"] == (1.0, 2.0)


def test_cartesian_product_empty_values_names_the_parameter() -> None:
    with pytest.raises(EmptyExplorationError, match="'y'"):
        cartesian_product({"x": [1], "y": []})


def test_cartesian_product_without_parameters() -> None:
    with pytest.raises(EmptyExplorationError, match="at least one parameter"):
        cartesian_product()
    with pytest.raises(EmptyExplorationError):
        cartesian_product({})


def test_cartesian_product_duplicate_names() -> None:
    with pytest.raises(ExplorationError, match=r"'x'.*twice"):
        cartesian_product({"x": [1]}, Axis.of("x", [2]))


def test_linked_unknown_name_lists_the_available_ones() -> None:
    with pytest.raises(UnknownParameterError, match=r"'q'.*'a', 'b'") as info:
        cartesian_product({"a": [1], "b": [2]}, linked=[("a", "q")])
    assert isinstance(info.value, KeyError)


def test_linked_name_in_two_groups() -> None:
    with pytest.raises(ExplorationError, match="'b' is in two linked groups"):
        cartesian_product({"a": [1], "b": [2], "c": [3]}, linked=[("a", "b"), ("b", "c")])
    with pytest.raises(ExplorationError, match="'a' appears twice"):
        cartesian_product({"a": [1]}, linked=[("a", "a")])


def test_linked_ragged_names_group_and_lengths() -> None:
    with pytest.raises(RaggedExplorationError, match=r"\('a', 'b'\).*'a' has 2, 'b' has 3"):
        cartesian_product({"a": [1, 2], "b": [1, 2, 3]}, linked=[("a", "b")])


def test_linked_must_be_groups_of_names() -> None:
    with pytest.raises(ExplorationError, match="string 'ab'"):
        cartesian_product({"a": [1], "b": [2]}, linked="ab")
    with pytest.raises(ExplorationError, match=r"sequence of names.*'a'"):
        cartesian_product({"a": [1], "b": [2]}, linked=["a"])
    with pytest.raises(ExplorationError, match="empty"):
        cartesian_product({"a": [1]}, linked=[()])


def test_bad_value_lists_and_specs() -> None:
    with pytest.raises(ExplorationError, match=r"'x'.*single str"):
        cartesian_product({"x": "abc"})
    with pytest.raises(ExplorationError, match=r"'x'.*int"):
        cartesian_product({"x": 5})  # type: ignore[dict-item]
    with pytest.raises(ExplorationError, match="argument 0 is a int"):
        cartesian_product(5)  # type: ignore[arg-type]
    with pytest.raises(ExplorationError, match="non-empty string"):
        cartesian_product({"": [1]})


# --- zipped -----------------------------------------------------------------------------------


def test_zipped_keeps_order() -> None:
    space = zipped({"x": [3, 1, 2]}, Axis.of("y", ["c", "a", "b"]))
    assert _rows(space) == [(3, "c"), (1, "a"), (2, "b")]
    assert space.kind == "zipped"
    assert space.grid is None
    assert space.shape is None


def test_zipped_ragged_lists_every_length() -> None:
    with pytest.raises(RaggedExplorationError, match="'x' has 2, 'y' has 3"):
        zipped({"x": [1, 2], "y": [1, 2, 3]})


def test_zipped_empty() -> None:
    with pytest.raises(EmptyExplorationError, match="'x'"):
        zipped({"x": []})


# --- ParameterSpace construction --------------------------------------------------------------


def test_space_constructor_defaults_and_validation() -> None:
    space = ParameterSpace({"x": [1, 2], "y": ("a", "b")})
    assert space.kind == "zipped"
    assert space.names == ("x", "y")
    with pytest.raises(EmptyExplorationError, match="at least one explored parameter"):
        ParameterSpace({})
    with pytest.raises(EmptyExplorationError, match=r"no points.*'x'"):
        ParameterSpace({"x": []})
    with pytest.raises(RaggedExplorationError, match="'x' has 1, 'y' has 2"):
        ParameterSpace({"x": [1], "y": [1, 2]})
    with pytest.raises(ExplorationError, match=r"non-empty string.*3"):
        ParameterSpace({3: [1]})  # type: ignore[dict-item]
    with pytest.raises(ExplorationError, match="unknown parameter space kind 'weird'"):
        ParameterSpace({"x": [1]}, kind="weird")
    with pytest.raises(ExplorationError, match="mapping"):
        ParameterSpace([("x", [1])])  # type: ignore[arg-type]


def test_space_constructor_checks_the_grid() -> None:
    grid_space = cartesian_product({"a": [1, 2], "b": [3, 4, 5]})
    rebuilt = ParameterSpace(grid_space.columns, grid=grid_space.grid, shape=grid_space.shape)
    assert rebuilt == grid_space
    assert rebuilt.kind == "grid"
    one_dim = ParameterSpace({"a": [1, 2]}, grid=(("a",),))
    assert one_dim.shape == (2,)
    with pytest.raises(ExplorationError, match="needs grid="):
        ParameterSpace({"a": [1]}, kind="grid")
    with pytest.raises(ExplorationError, match="cannot have a grid"):
        ParameterSpace({"a": [1]}, grid=(("a",),), kind="zipped")
    with pytest.raises(ExplorationError, match="exactly once"):
        ParameterSpace({"a": [1], "b": [2]}, grid=(("a",),))
    with pytest.raises(ExplorationError, match="needs shape="):
        ParameterSpace(grid_space.columns, grid=grid_space.grid)
    with pytest.raises(ExplorationError, match=r"shape \(3, 3\)"):
        ParameterSpace(grid_space.columns, grid=grid_space.grid, shape=(3, 3))
    swapped = {"a": grid_space.columns["b"], "b": grid_space.columns["a"]}
    with pytest.raises(ExplorationError, match="'a' do not follow grid"):
        ParameterSpace(swapped, grid=(("a",), ("b",)), shape=(2, 3))


def test_point_and_iteration() -> None:
    space = zipped({"x": [1, 2, 3], "y": [4, 5, 6]})
    assert space.point(0) == {"x": 1, "y": 4}
    assert space.point(-1) == {"x": 3, "y": 6}
    assert list(space) == [space.point(i) for i in range(3)]
    with pytest.raises(IndexError, match="index 3 is out of range for a space of 3"):
        space.point(3)
    with pytest.raises(IndexError, match="-4"):
        space.point(-4)


def test_columns_are_read_only() -> None:
    space = zipped({"x": [1]})
    with pytest.raises(TypeError):
        space.columns["x"] = (2,)  # type: ignore[index]


# --- combining spaces -------------------------------------------------------------------------


def test_add_and_concat() -> None:
    first = zipped({"x": [1, 2], "y": [3, 4]})
    second = zipped({"y": [5], "x": [6]})
    joined = first + second
    assert joined.kind == "concatenated"
    assert joined.names == ("x", "y")
    assert _rows(joined) == [(1, 3), (2, 4), (6, 5)]
    assert len(first.concat(second, first)) == 5
    assert first.concat() is first


def test_concat_lists_the_differences() -> None:
    first = zipped({"x": [1], "y": [2]})
    with pytest.raises(ExplorationError, match=r"space 1 lacks 'y' and has extra 'z'"):
        first.concat(zipped({"x": [1], "z": [2]}))
    with pytest.raises(TypeError):
        _ = first + 1  # type: ignore[operator]


def test_union_drops_repeated_points_keeping_the_first() -> None:
    first = zipped({"x": [1, 2, 1]})
    second = zipped({"x": [3, 2, np.int64(3)]})
    union = first.union(second)
    assert union.kind == "union"
    assert union.columns["x"] == (1, 2, 3)
    assert len(set(union.hashes())) == len(union)


def test_filter_binds_names_and_keeps_order() -> None:
    space = cartesian_product({"sim.steps": [1, 2, 3], "x": [0.5, 1.5]})
    assert _rows(space.filter(lambda steps, x: steps > 1 and x > 1)) == [(2, 1.5), (3, 1.5)]
    assert len(space.filter(lambda sim__steps: sim__steps == 1)) == 2
    filtered = space.filter(lambda **kw: kw["sim.steps"] == 3)
    assert filtered.kind == "filtered"
    assert filtered.grid is None
    assert len(filtered) == 2


def test_filter_errors_name_the_problem() -> None:
    space = zipped({"x": [1, 2]})
    with pytest.raises(UnknownParameterError, match=r"'y'.*available: 'x'"):
        space.filter(lambda y: True)

    def nothing(x: int) -> bool:
        return x > 5

    with pytest.raises(EmptyExplorationError, match="nothing"):
        space.filter(nothing)


def test_map_columns_converts_values_and_keeps_structure() -> None:
    space = cartesian_product({"x": [1, 2], "y": [3, 4]})
    seen: list[tuple[str, int, object]] = []

    def to_float(name: str, position: int, value: object) -> object:
        seen.append((name, position, value))
        return float(value) if name == "x" and isinstance(value, int) else value

    converted = space.map_columns(to_float)
    assert converted.columns["x"] == (1.0, 1.0, 2.0, 2.0)
    assert all(isinstance(v, float) for v in converted.columns["x"])
    assert (converted.grid, converted.shape, converted.kind) == (space.grid, space.shape, "grid")
    assert ("y", 3, 4) in seen
    assert converted != space


def test_hashes_are_cached_and_match_point_hash() -> None:
    space = zipped({"x": [1, 2]})
    assert space.hashes() is space.hashes()
    assert space.hashes() == (point_hash({"x": 1}), point_hash({"x": 2}))


def test_equality_and_hash() -> None:
    a = cartesian_product({"x": [1, 2]})
    b = cartesian_product({"x": [np.int64(1), np.int64(2)]})
    assert a == b
    assert hash(a) == hash(b)
    assert a != zipped({"x": [1, 2]})  # grid differs
    assert a != cartesian_product({"x": [1, 3]})
    assert zipped({"x": [1], "y": [2]}) != zipped({"y": [2], "x": [1]})  # name order
    assert a != "a space"


# --- describe ---------------------------------------------------------------------------------


def test_describe_counts_duplicates_and_values() -> None:
    space = zipped({"x": [1, 2, 1, 3, 2, 1], "y": ["a", "b", "a", "c", "b", "z"]})
    description = space.describe()
    assert isinstance(description, SpaceDescription)
    assert description.n_points == 6
    assert description.n_unique == 4
    assert description.duplicates == ((0, 2), (1, 4))
    assert dict(description.distinct_values) == {"x": 3, "y": 4}
    assert dict(description.value_ranges) == {"x": (1, 3)}
    assert description.n_duplicates == 2


def test_repr_is_a_readable_summary() -> None:
    space = cartesian_product(
        {"x": [1.0, 2.0, np.nan], "y": [10, 20], "z": ["p", "q"]}, linked=[("y", "z")]
    )
    text = repr(space)
    assert (
        text.splitlines()[0] == "ParameterSpace(kind='grid', 6 points, shape 3 x 2, 0 duplicates)"
    )
    assert "  x: 3 distinct values in [1.0, 2.0]" in text
    assert "  y: 2 distinct values in [10, 20] (linked with z)" in text
    assert "  z: 2 distinct values (linked with y)" in text


# --- bind_predicate ---------------------------------------------------------------------------


NAMES = ("sim.steps", "sim.dt", "x", "net.x")


def test_bind_by_full_path_dunder_and_leaf() -> None:
    point = {"sim.steps": 10, "sim.dt": 0.1, "x": 1, "net.x": 2}
    assert bind_predicate(lambda steps, dt: steps == 10 and dt == 0.1, NAMES)(point)
    assert bind_predicate(lambda sim__steps: sim__steps == 10, NAMES)(point)
    # "x" is an explored path itself, so it wins over the leaf of "net.x".
    assert bind_predicate(lambda x, net__x: (x, net__x) == (1, 2), NAMES)(point)


def test_bind_ambiguous_leaf_lists_candidates() -> None:
    with pytest.raises(ExplorationError, match=r"'dt' is ambiguous.*'a\.dt', 'b\.dt'"):
        bind_predicate(lambda dt: True, ["a.dt", "b.dt"])


def test_bind_unknown_parameter_lists_available_names() -> None:
    with pytest.raises(UnknownParameterError, match=r"'speed'.*'sim\.steps', 'sim\.dt'"):
        bind_predicate(lambda speed: True, NAMES)


def test_bind_defaults_varargs_and_kwargs() -> None:
    def predicate(steps: int, /, unrelated: int = 7, *args: object, **rest: object) -> bool:
        return steps == 10 and unrelated == 7 and set(rest) == {"sim.dt", "x", "net.x"}

    bound = bind_predicate(predicate, NAMES)
    assert bound({"sim.steps": 10, "sim.dt": 0.1, "x": 1, "net.x": 2})
    assert bound.required_names == ("sim.steps", "sim.dt", "x", "net.x")


def test_bind_keeps_positional_only_slots() -> None:
    def predicate(a: int = 0, b: int = 0, /) -> bool:
        return (a, b) == (0, 5)

    assert bind_predicate(predicate, ["b"])({"b": 5})


def test_bound_predicate_returns_bool_and_reports_its_reads() -> None:
    bound = bind_predicate(lambda x: np.bool_(x > 0), ["x", "y"])
    result = bound({"x": 1, "y": 0})
    assert result is True
    assert bound.required_names == ("x",)
    assert dict(bound.bindings) == {"x": "x"}
    assert "reads=['x']" in repr(bound)
    assert bind_predicate(bound, ["x", "y"]) is bound
    with pytest.raises(UnknownParameterError, match="'x'"):
        bind_predicate(bound, ["y"])


class _NoSignature:
    __signature__ = "not a signature"

    def __call__(self, *args: object) -> bool:
        return True


def test_bind_without_signature() -> None:
    with pytest.raises(ExplorationError, match="cannot read the parameters"):
        bind_predicate(_NoSignature(), ["x"])


# --- samplers ---------------------------------------------------------------------------------


def test_range_validation_names_the_problem() -> None:
    with pytest.raises(ExplorationError, match=r"low=2\.0 must be below high=1\.0"):
        Range(2.0, 1.0)
    with pytest.raises(ExplorationError, match=r"low=1\.0 must be below high=1\.0"):
        Range(1.0, 1.0)
    assert Range(3, 3, integer=True).low == 3
    with pytest.raises(ExplorationError, match="must not exceed"):
        Range(4, 3, integer=True)
    with pytest.raises(ExplorationError, match="log Range needs low > 0, got low=0"):
        Range(0, 1, log=True)
    with pytest.raises(ExplorationError, match=r"whole-number bounds.*1\.5"):
        Range(1.5, 3, integer=True)
    with pytest.raises(ExplorationError, match="high=inf"):
        Range(0, math.inf)
    with pytest.raises(ExplorationError, match="low=True"):
        Range(True, 2)


def test_tuple_shorthand_ints_are_inclusive_integers() -> None:
    space = random_sample({"k": (1, 3), "x": (0.0, 1.0)}, 300, seed=0)
    assert set(_ints(space.columns["k"])) == {1, 2, 3}
    assert all(0.0 <= x < 1.0 for x in _floats(space.columns["x"]))
    assert space.kind == "sampled"


def test_sampler_input_errors() -> None:
    with pytest.raises(EmptyExplorationError, match="at least 1, got 0"):
        random_sample({"x": (0.0, 1.0)}, 0, seed=0)
    with pytest.raises(EmptyExplorationError, match="at least one parameter range"):
        random_sample({}, 3, seed=0)
    with pytest.raises(ExplorationError, match=r"'x'.*\(low, high\) pair"):
        random_sample({"x": (0.0, 1.0, 2.0)}, 3, seed=0)  # type: ignore[dict-item]
    with pytest.raises(ExplorationError, match=r"range for 'x' is invalid.*low=1.0"):
        random_sample({"x": (1.0, 0.0)}, 3, seed=0)
    with pytest.raises(ExplorationError, match="must be an int"):
        random_sample({"x": (0.0, 1.0)}, 2.5, seed=0)  # type: ignore[arg-type]


def test_log_ranges_stay_in_bounds() -> None:
    space = random_sample(
        {"lr": Range(1e-4, 1e-1, log=True), "n": Range(1, 1000, log=True, integer=True)},
        200,
        seed=3,
    )
    assert all(1e-4 <= v < 1e-1 for v in _floats(space.columns["lr"]))
    assert all(1 <= v <= 1000 for v in _ints(space.columns["n"]))
    small = sum(1 for v in _floats(space.columns["lr"]) if v < 1e-2)
    assert small > 100  # two of three decades lie below 1e-2


def test_latin_hypercube_puts_one_point_in_each_stratum() -> None:
    n = 16
    space = latin_hypercube({"a": (0.0, 1.0), "b": (10.0, 20.0)}, n, seed=4)
    strata_a = sorted(int(v * n) for v in _floats(space.columns["a"]))
    strata_b = sorted(int((v - 10.0) / 10.0 * n) for v in _floats(space.columns["b"]))
    assert strata_a == list(range(n))
    assert strata_b == list(range(n))
    assert space == latin_hypercube({"a": (0.0, 1.0), "b": (10.0, 20.0)}, n, seed=4)


def test_sobol_needs_a_power_of_two() -> None:
    with pytest.raises(ExplorationError, match="n=100, use n=64 or n=128"):
        sobol({"x": (0.0, 1.0)}, 100, seed=0)
    space = sobol({"x": (0.0, 1.0), "k": (0, 7)}, 8, seed=0)
    assert len(space) == 8
    assert sorted(_ints(space.columns["k"])) == list(range(8))
    assert space == sobol({"x": (0.0, 1.0), "k": (0, 7)}, 8, seed=0)
    plain = sobol({"x": (2.0, 3.0)}, 4, seed=None, scramble=False)
    assert plain.point(0) == {"x": 2.0}


def test_missing_scipy_gives_an_install_hint(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "scipy.stats", None)
    with pytest.raises(ImportError, match=r'pip install "scipy>=1.13".*"scipy" extra'):
        latin_hypercube({"x": (0.0, 1.0)}, 4, seed=0)
    with pytest.raises(ImportError, match="sobol"):
        sobol({"x": (0.0, 1.0)}, 4, seed=0)


# --- properties -------------------------------------------------------------------------------

_NAME_POOL = ["a", "b", "c", "sim.d"]


@st.composite
def _axes(draw: st.DrawFn, *, unique: bool = True) -> dict[str, list[int]]:
    names = draw(st.lists(st.sampled_from(_NAME_POOL), min_size=1, max_size=4, unique=True))
    values = st.lists(st.integers(-5, 5), min_size=1, max_size=4, unique=unique)
    return {name: draw(values) for name in names}


@settings(max_examples=40)
@given(axes=_axes())
def test_product_size_uniqueness_and_order(axes: dict[str, list[int]]) -> None:
    space = cartesian_product(axes)
    assert len(space) == math.prod(len(v) for v in axes.values())
    assert space.shape == tuple(len(v) for v in axes.values())
    rows = _rows(space)
    assert rows == list(product(*axes.values()))  # last axis varies fastest
    assert len(set(space.hashes())) == len(space)  # every point exactly once


@settings(max_examples=40)
@given(length=st.integers(1, 4), other=st.lists(st.integers(), min_size=1, max_size=3))
def test_linked_and_zipped_keep_order(length: int, other: list[int]) -> None:
    first = list(range(length))
    second = [f"v{i}" for i in reversed(range(length))]
    assert _rows(zipped({"p": first, "q": second})) == list(zip(first, second, strict=True))
    space = cartesian_product({"o": other, "p": first, "q": second}, linked=[("p", "q")])
    expected = [(o, p, q) for o in other for p, q in zip(first, second, strict=True)]
    assert _rows(space) == expected


@settings(max_examples=40)
@given(parts=st.lists(st.lists(st.integers(0, 3), min_size=1, max_size=5), min_size=1, max_size=4))
def test_concat_length_and_union_uniqueness(parts: list[list[int]]) -> None:
    spaces = [zipped({"x": part, "y": [v % 2 for v in part]}) for part in parts]
    joined = spaces[0].concat(*spaces[1:])
    assert len(joined) == sum(len(p) for p in parts)
    union = spaces[0].union(*spaces[1:])
    assert len(set(union.hashes())) == len(union)
    assert set(union.hashes()) == set(joined.hashes())
    first_seen = list(dict.fromkeys(joined.hashes()))
    assert list(union.hashes()) == first_seen


@settings(max_examples=40)
@given(axes=_axes(unique=False), threshold=st.integers(-6, 6))
def test_filter_keeps_exactly_the_accepted_points(
    axes: dict[str, list[int]], threshold: int
) -> None:
    space = cartesian_product(axes)

    def accept(**point: Any) -> bool:
        return bool(sum(point.values()) > threshold)

    expected = [p for p in space if accept(**p)]
    if not expected:
        with pytest.raises(EmptyExplorationError):
            space.filter(accept)
        return
    assert list(space.filter(accept)) == expected


@settings(max_examples=40)
@given(values=st.lists(st.integers(0, 3), min_size=1, max_size=12))
def test_describe_counts_duplicates(values: list[int]) -> None:
    description = zipped({"x": values}).describe()
    groups: dict[int, list[int]] = {}
    for index, value in enumerate(values):
        groups.setdefault(value, []).append(index)
    assert description.n_unique == len(groups)
    assert description.duplicates == tuple(tuple(g) for g in groups.values() if len(g) > 1)
    assert description.distinct_values["x"] == len(groups)


_bounds = st.tuples(
    st.floats(-1e6, 1e6, allow_nan=False), st.floats(1e-3, 1e6, allow_nan=False)
).map(lambda t: (t[0], t[0] + t[1]))


@settings(max_examples=25, deadline=None)
@given(
    low_width=_bounds,
    int_bounds=st.tuples(st.integers(-100, 100), st.integers(0, 50)),
    n=st.integers(1, 20),
    seed=st.integers(0, 2**32 - 1),
    sampler=st.sampled_from(["random", "lhs"]),
)
def test_samplers_bounds_types_and_reproducibility(
    low_width: tuple[float, float],
    int_bounds: tuple[int, int],
    n: int,
    seed: int,
    sampler: str,
) -> None:
    low, high = low_width
    int_low, int_width = int_bounds
    ranges = {"x": (low, high), "k": (int_low, int_low + int_width)}
    draw = random_sample if sampler == "random" else latin_hypercube
    space = draw(ranges, n, seed=seed)
    assert len(space) == n
    assert all(low <= x < high for x in _floats(space.columns["x"]))
    assert all(int_low <= k <= int_low + int_width for k in _ints(space.columns["k"]))
    assert draw(ranges, n, seed=seed) == space


@settings(max_examples=15, deadline=None)
@given(m=st.integers(0, 5), seed=st.integers(0, 2**32 - 1))
def test_sobol_bounds_and_reproducibility(m: int, seed: int) -> None:
    ranges = {"x": Range(-1.0, 1.0), "k": Range(0, 3, integer=True)}
    space = sobol(ranges, 2**m, seed=seed)
    assert all(-1.0 <= x < 1.0 for x in _floats(space.columns["x"]))
    assert all(0 <= k <= 3 for k in _ints(space.columns["k"]))
    assert sobol(ranges, 2**m, seed=seed) == space
