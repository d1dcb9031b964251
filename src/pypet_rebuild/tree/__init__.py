"""The tree: a trajectory's typed parameters, groups and results. No I/O happens here."""

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
