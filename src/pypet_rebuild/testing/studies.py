"""Compare two stored studies run by run: :func:`assert_studies_equal`.

For checks such as "a resumed sweep equals an uninterrupted one", "a merge holds both inputs",
"the process executor stores what the serial one stores": the definition, the status and
results of every run, the derived results, and on request run metadata and provenance. The
error lists the first differences, each saying which run, which result, expected and got.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Literal

from pypet_rebuild.storage.records import MISSING
from pypet_rebuild.testing.values import values_difference

if TYPE_CHECKING:
    from pypet_rebuild.analysis.study import StoredTrajectory

__all__ = ["VOLATILE_PROVENANCE", "assert_studies_equal"]

VOLATILE_PROVENANCE = frozenset({"started", "finished", "pid", "command_line", "working_directory"})
"""Provenance fields that differ between any two sweeps, never compared."""


class _Differences:
    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.found: list[str] = []

    def add(self, text: str) -> None:
        self.found.append(text)

    @property
    def full(self) -> bool:
        return len(self.found) >= self.limit


def _first_line(error: str) -> str:
    lines = [line for line in error.strip().splitlines() if line.strip()]
    return lines[-1].strip() if lines else ""


def _point_text(study: StoredTrajectory, index: int) -> str:
    shown = ", ".join(f"{k}={v!r}" for k, v in study.point(index).items())
    return f"run {index} ({shown})" if shown else f"run {index}"


def assert_studies_equal(
    expected: StoredTrajectory,
    actual: StoredTrajectory,
    *,
    results: bool | Iterable[str] = True,
    derived: bool = True,
    run_metadata: bool = False,
    provenance: bool = False,
    match_runs: Literal["index", "point"] = "index",
    rtol: float = 0.0,
    atol: float = 0.0,
    max_differences: int = 10,
) -> None:
    """Assert that two stored studies hold the same sweep, listing the first differences.

    Always compared: the seed, every parameter's default, the explored points and every run's
    status. Never compared: the studies' names and comments, and what differs between any two
    executions (run timings, hosts, process ids).

    Parameters
    ----------
    expected, actual
        The two studies (from :func:`~pypet_rebuild.load_trajectory` or ``Environment.study``).
    results
        Compare every run's results (``True``), none (``False``), or only those named. The
        result names must match too (when comparing all of them).
    derived
        Compare the trajectory-level (derived) results: names, values and comments.
    run_metadata
        Also compare each run's seed, the last line of its error, and its captured output.
    provenance
        Also compare the provenance of every sweep (their number, and each entry without the
        fields of :data:`VOLATILE_PROVENANCE`).
    match_runs
        ``"index"``: run ``i`` of one study against run ``i`` of the other. ``"point"``: runs
        with the same explored point (by point hash), whatever their order, e.g. for a merge;
        both studies must then hold the same points.
    rtol, atol
        Tolerances for floating-point results (``numpy.isclose`` semantics); identical by
        default (NaN equals NaN).
    max_differences
        How many differences the error lists.

    Raises
    ------
    AssertionError
        If the studies differ; the message lists the first differences, e.g. ``run 2 (x=2.0,
        y=10), result 'z': expected 20.0, got 21.0``.

    Examples
    --------
    >>> import pypet_rebuild as pr
    >>> from pypet_rebuild.testing import assert_studies_equal
    >>> def build():
    ...     traj = pr.Trajectory("t", seed=1)
    ...     _ = traj.add_parameter("x", 1.0)
    ...     traj.explore({"x": [1.0, 2.0]})
    ...     return traj
    >>> first = pr.Environment(build())
    >>> _ = first.run(lambda run: {"y": run.x * 2})
    >>> second = pr.Environment(build())
    >>> _ = second.run(lambda run: {"y": run.x * 2 + (run.index == 1)})
    >>> assert_studies_equal(first.study, second.study)
    Traceback (most recent call last):
    ...
    AssertionError: the studies differ (1 difference):
      run 1 (x=2.0), result 'y': expected 4.0, got 5.0
    """
    if match_runs not in ("index", "point"):
        raise ValueError(f"match_runs must be 'index' or 'point', got {match_runs!r}")
    found = _Differences(max(1, max_differences))
    pairs = _compare_definition(expected, actual, found, match_runs)
    if pairs is not None:
        _compare_runs(expected, actual, pairs, found, run_metadata=run_metadata)
        if results is not False and not found.full:
            names = None if results is True else list(results)
            _compare_results(expected, actual, pairs, found, names, rtol=rtol, atol=atol)
    if derived and not found.full:
        _compare_derived(expected, actual, found, rtol=rtol, atol=atol)
    if provenance and not found.full:
        _compare_provenance(expected, actual, found)
    if found.found:
        shown = found.found[: found.limit]
        if len(found.found) >= found.limit:
            heading = f"the first {len(shown)} differences"
        else:
            heading = f"{len(shown)} difference{'' if len(shown) == 1 else 's'}"
        lines = "\n".join(f"  {line}" for line in shown)
        raise AssertionError(f"the studies differ ({heading}):\n{lines}")


def _compare_definition(
    expected: StoredTrajectory,
    actual: StoredTrajectory,
    found: _Differences,
    match_runs: str,
) -> list[tuple[int, int]] | None:
    """Compare seed, defaults and points; the (expected, actual) run pairs to compare."""
    if expected.seed != actual.seed:
        found.add(f"seed: expected {expected.seed}, got {actual.seed}")
    left = {p.path: p.default for p in expected.parameters()}
    right = {p.path: p.default for p in actual.parameters()}
    if list(left) != list(right):
        only_left = sorted(set(left) - set(right))
        only_right = sorted(set(right) - set(left))
        found.add(
            f"parameters: expected {list(left)}, got {list(right)} "
            f"(only expected: {only_left}, only got: {only_right})"
        )
    for path in left.keys() & right.keys():
        difference = values_difference(left[path], right[path])
        if difference is not None:
            found.add(f"parameter {path!r} default: {difference}")
    hashes_left, hashes_right = expected.point_hashes(), actual.point_hashes()
    if match_runs == "point":
        where = {h: i for i, h in enumerate(hashes_right)}
        missing = [i for i, h in enumerate(hashes_left) if h not in where]
        extra = sorted(set(hashes_right) - set(hashes_left))
        for index in missing[:3]:
            found.add(f"{_point_text(expected, index)}: no run of that point in the actual study")
        for point in extra[:3]:
            index = where[point]
            found.add(f"{_point_text(actual, index)}: a point the expected study does not hold")
        return [(i, where[h]) for i, h in enumerate(hashes_left) if h in where]
    if len(hashes_left) != len(hashes_right):
        found.add(f"number of runs: expected {len(hashes_left)}, got {len(hashes_right)}")
    pairs = []
    for index, (one, other) in enumerate(zip(hashes_left, hashes_right, strict=False)):
        if one != other:
            found.add(
                f"run {index}: point expected {expected.point(index)}, got {actual.point(index)}"
            )
            if found.full:
                return None
        else:
            pairs.append((index, index))
    return pairs


def _compare_runs(
    expected: StoredTrajectory,
    actual: StoredTrajectory,
    pairs: list[tuple[int, int]],
    found: _Differences,
    *,
    run_metadata: bool,
) -> None:
    left, right = expected.run_table(), actual.run_table()
    for i, j in pairs:
        if found.full:
            return
        where = _point_text(expected, i)
        if left.status[i] != right.status[j]:
            cause = _first_line(str(right.error[j]) or str(left.error[i]))
            because = f" ({cause})" if cause else ""
            found.add(
                f"{where}, status: expected {left.status[i]!r}, got {right.status[j]!r}{because}"
            )
        if not run_metadata:
            continue
        if left.seed[i] != right.seed[j]:
            found.add(f"{where}, seed: expected {left.seed[i]}, got {right.seed[j]}")
        errors = _first_line(str(left.error[i])), _first_line(str(right.error[j]))
        if errors[0] != errors[1]:
            found.add(f"{where}, error: expected {errors[0]!r}, got {errors[1]!r}")
        if left.output[i] != right.output[j]:
            found.add(
                f"{where}, output: expected {str(left.output[i])!r}, got {str(right.output[j])!r}"
            )


def _compare_results(
    expected: StoredTrajectory,
    actual: StoredTrajectory,
    pairs: list[tuple[int, int]],
    found: _Differences,
    names: list[str] | None,
    *,
    rtol: float,
    atol: float,
) -> None:
    left_names = list(expected.results)
    right_names = list(actual.results)
    if names is None:
        if left_names != right_names:
            only_left = sorted(set(left_names) - set(right_names))
            only_right = sorted(set(right_names) - set(left_names))
            found.add(f"result names: only in expected: {only_left}, only in actual: {only_right}")
        names = [name for name in left_names if name in right_names]
    for name in names:
        for study, listed in ((expected, left_names), (actual, right_names)):
            if name not in listed:
                found.add(f"result {name!r}: not stored in the {_which(study, expected)} study")
        if name not in left_names or name not in right_names:
            continue
        left = expected.storage.read_results(expected.name, name, [i for i, _ in pairs])
        right = actual.storage.read_results(actual.name, name, [j for _, j in pairs])
        for (i, _), one, other in zip(pairs, left, right, strict=True):
            if found.full:
                return
            where = f"{_point_text(expected, i)}, result {name!r}"
            if one is MISSING and other is MISSING:
                continue
            if one is MISSING or other is MISSING:
                shown = ["no value" if v is MISSING else _short(v) for v in (one, other)]
                found.add(f"{where}: expected {shown[0]}, got {shown[1]}")
                continue
            difference = values_difference(one, other, rtol=rtol, atol=atol)
            if difference is not None:
                found.add(f"{where}: {difference}")


def _which(study: StoredTrajectory, expected: StoredTrajectory) -> str:
    return "expected" if study is expected else "actual"


def _short(value: object, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _compare_derived(
    expected: StoredTrajectory,
    actual: StoredTrajectory,
    found: _Differences,
    *,
    rtol: float,
    atol: float,
) -> None:
    left, right = expected.derived, actual.derived
    if sorted(left) != sorted(right):
        found.add(
            f"derived results: only in expected: {sorted(set(left) - set(right))}, "
            f"only in actual: {sorted(set(right) - set(left))}"
        )
    for name in sorted(left.keys() & right.keys()):
        difference = values_difference(left[name].value, right[name].value, rtol=rtol, atol=atol)
        if difference is not None:
            found.add(f"derived result {name!r}: {difference}")
        if left[name].comment != right[name].comment:
            found.add(
                f"derived result {name!r} comment: expected {left[name].comment!r}, "
                f"got {right[name].comment!r}"
            )


def _compare_provenance(
    expected: StoredTrajectory, actual: StoredTrajectory, found: _Differences
) -> None:
    left, right = expected.provenance, actual.provenance
    if len(left) != len(right):
        found.add(f"provenance: expected {len(left)} sweeps, got {len(right)}")
    for number, (one, other) in enumerate(zip(left, right, strict=False)):
        kept = [
            {k: v for k, v in entry.items() if k not in VOLATILE_PROVENANCE}
            for entry in (one, other)
        ]
        for key in sorted(kept[0].keys() | kept[1].keys()):
            if kept[0].get(key, MISSING) != kept[1].get(key, MISSING):
                shown = [_short(entry.get(key, "nothing")) for entry in kept]
                found.add(
                    f"provenance of sweep {number}, {key!r}: expected {shown[0]}, got {shown[1]}"
                )
