"""The error tree: one base class, each error also the builtin a Python programmer expects."""

from __future__ import annotations

import inspect
import re

import pytest

from pypet_rebuild import errors
from pypet_rebuild.errors import (
    AmbiguousNameError,
    NodeNotFoundError,
    PypetRebuildError,
    RunFailedError,
    SweepFailedError,
    TrajectoryNotFoundError,
    UnknownParameterError,
)


def _error_classes() -> list[type[BaseException]]:
    classes = [getattr(errors, name) for name in errors.__all__]
    assert all(inspect.isclass(c) and issubclass(c, BaseException) for c in classes)
    return classes


def test_all_lists_every_error_class_in_the_module() -> None:
    defined = {
        name
        for name, obj in vars(errors).items()
        if inspect.isclass(obj)
        and issubclass(obj, BaseException)
        and obj.__module__ == errors.__name__
    }
    assert defined == set(errors.__all__)


@pytest.mark.parametrize("cls", _error_classes(), ids=lambda c: c.__name__)
def test_every_error_derives_from_the_base_and_has_a_docstring(cls: type[BaseException]) -> None:
    assert issubclass(cls, PypetRebuildError)
    assert cls.__doc__
    assert cls.__doc__.strip()


def _docstring_tree() -> dict[str, tuple[str | None, tuple[str, ...]]]:
    """Parse the tree in the module docstring: name -> (parent, builtin bases)."""
    assert errors.__doc__ is not None
    entries: dict[str, tuple[str | None, tuple[str, ...]]] = {}
    stack: list[tuple[int, str]] = []
    pattern = re.compile(r"^(?P<indent>[\s│├└─]*?)(?P<name>[A-Z]\w+Error)(?: \((?P<bases>.*)\))?$")
    for line in errors.__doc__.splitlines():
        match = pattern.match(line.rstrip())
        if match is None:
            continue
        depth = len(match["indent"])
        while stack and stack[-1][0] >= depth:
            stack.pop()
        parent = stack[-1][1] if stack else None
        bases = tuple(b.strip() for b in (match["bases"] or "").split(",") if b.strip())
        entries[match["name"]] = (parent, bases)
        stack.append((depth, match["name"]))
    return entries


def test_the_docstring_tree_names_every_error() -> None:
    assert set(_docstring_tree()) == set(errors.__all__)


@pytest.mark.parametrize("name", sorted(_docstring_tree()), ids=str)
def test_the_docstring_tree_holds(name: str) -> None:
    parent, bases = _docstring_tree()[name]
    cls = getattr(errors, name)
    if parent is not None:
        assert issubclass(cls, getattr(errors, parent)), f"{name} should derive from {parent}"
    for base in bases:
        builtin = (
            ExceptionGroup
            if base.startswith("ExceptionGroup")
            else getattr(__import__("builtins"), base)
        )
        assert issubclass(cls, builtin), f"{name} should also be a {base}"


@pytest.mark.parametrize(
    ("cls", "builtin"),
    [
        (errors.NodeNotFoundError, KeyError),
        (errors.NodeNotFoundError, AttributeError),
        (errors.AmbiguousNameError, LookupError),
        (errors.AmbiguousNameError, AttributeError),
        (errors.InvalidNameError, ValueError),
        (errors.InvalidStorageError, TypeError),
        (errors.ResultNotFoundError, KeyError),
        (errors.DuplicateNodeError, ValueError),
        (errors.ParameterLockedError, RuntimeError),
        (errors.ParameterTypeError, TypeError),
        (errors.ExplorationError, ValueError),
        (errors.UnknownParameterError, KeyError),
        (errors.RaggedExplorationError, ValueError),
        (errors.EmptyExplorationError, ValueError),
        (errors.InvalidSimulateFunctionError, TypeError),
        (errors.InvalidResultError, ValueError),
        (errors.DuplicateResultError, ValueError),
        (errors.RunFailedError, RuntimeError),
        (errors.SweepFailedError, ExceptionGroup),
        (errors.ResumeMismatchError, ValueError),
        (errors.StorageError, OSError),
        (errors.FileFormatError, OSError),
        (errors.TrajectoryNotFoundError, KeyError),
        (errors.TrajectoryNotFoundError, OSError),
        (errors.FileLockedError, OSError),
        (errors.UnsupportedTypeError, TypeError),
    ],
)
def test_builtin_bases(cls: type[BaseException], builtin: type[BaseException]) -> None:
    assert issubclass(cls, builtin)


@pytest.mark.parametrize("cls", [NodeNotFoundError, UnknownParameterError, TrajectoryNotFoundError])
def test_str_of_a_key_error_is_not_quoted(cls: type[PypetRebuildError]) -> None:
    error = cls("the trajectory 't' has no parameter 'x'")
    assert str(error) == "the trajectory 't' has no parameter 'x'"
    # Plain KeyError would have quoted the message.
    assert str(KeyError("message")) == "'message'"


def test_key_error_is_caught_as_key_error_with_a_readable_message() -> None:
    with pytest.raises(KeyError) as info:
        raise NodeNotFoundError("no node 'x'")
    assert str(info.value) == "no node 'x'"


def test_str_without_arguments_is_empty() -> None:
    assert str(PypetRebuildError()) == ""


def test_ambiguous_name_error_sorts_candidates_and_names_them() -> None:
    error = AmbiguousNameError("v", ["b.v", "a.v"])
    assert error.name == "v"
    assert error.candidates == ("a.v", "b.v")
    assert str(error) == (
        "the name 'v' is ambiguous: it matches 'a.v', 'b.v'; use the full path instead"
    )


def test_run_failed_error_carries_index_point_and_traceback() -> None:
    error = RunFailedError(3, {"x": 1.5, "n": 2}, "ValueError: bad", "Traceback ...")
    assert error.index == 3
    assert error.point == {"x": 1.5, "n": 2}
    assert error.traceback_text == "Traceback ..."
    assert str(error) == "run 3 (x=1.5, n=2) failed: ValueError: bad"


def test_sweep_failed_error_is_an_exception_group_of_run_failures() -> None:
    failures = [RunFailedError(1, {}, "a"), RunFailedError(4, {}, "b")]
    group = SweepFailedError("2 of 5 runs failed", failures)
    assert isinstance(group, ExceptionGroup)
    assert isinstance(group, PypetRebuildError)
    assert group.exceptions == tuple(failures)
    assert str(group) == "2 of 5 runs failed (2 sub-exceptions)"
    matched, rest = group.split(lambda e: isinstance(e, RunFailedError) and e.index == 4)
    assert matched is not None
    assert rest is not None
    assert [e.index for e in matched.exceptions if isinstance(e, RunFailedError)] == [4]
