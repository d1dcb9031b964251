"""The tree: a trajectory's typed parameters, groups and results. No I/O happens here."""

from typing import TYPE_CHECKING

from pypet_rebuild._lazy import LazyExports

if TYPE_CHECKING:
    from pypet_rebuild.tree.nodes import Group, Node, Parameter, Result
    from pypet_rebuild.tree.snapshot import ParameterSpec, TrajectorySnapshot
    from pypet_rebuild.tree.trajectory import Trajectory
    from pypet_rebuild.tree.values import ValueType

__all__ = [
    "Group",
    "Node",
    "Parameter",
    "ParameterSpec",
    "Result",
    "Trajectory",
    "TrajectorySnapshot",
    "ValueType",
]

# Imported on first use (see pypet_rebuild._lazy): a process worker imports this package to
# run a simulate function and needs only a few of its modules.
_EXPORTS = LazyExports(
    __name__,
    {
        "Group": "pypet_rebuild.tree.nodes",
        "Node": "pypet_rebuild.tree.nodes",
        "Parameter": "pypet_rebuild.tree.nodes",
        "Result": "pypet_rebuild.tree.nodes",
        "ParameterSpec": "pypet_rebuild.tree.snapshot",
        "TrajectorySnapshot": "pypet_rebuild.tree.snapshot",
        "Trajectory": "pypet_rebuild.tree.trajectory",
        "ValueType": "pypet_rebuild.tree.values",
    },
)


def __getattr__(name: str) -> object:
    return _EXPORTS.load(name)


def __dir__() -> list[str]:
    return _EXPORTS.names()
