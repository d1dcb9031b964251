"""A Lotka-Volterra model swept with pypet_rebuild."""

from predator_prey.model import Populations, build_sweep, simulate

__all__ = ["Populations", "build_sweep", "simulate"]
