"""Codec ``"pint.Quantity"``: a pint quantity keeps its units through store and load.

attrs ``units``: the units as pint writes them in full (``"millisecond"``,
``"meter / second ** 2"``); child ``magnitude``: the magnitude, encoded like any other value
(a Python or numpy scalar stays a scalar, an array an array).

Reading builds the quantity in pint's application registry
(``pint.get_application_registry()``); a study that uses a registry of its own sets it with
``pint.set_application_registry(ureg)`` before reading, since quantities of different registries
do not mix. pint parses the unit string with its own tokenizer, not Python's ``eval``, so a
crafted file cannot run code through it. Installed with the ``units`` extra.
"""

from __future__ import annotations

from typing import Any

import pint

from pypet_rebuild.storage.codecs.base import Encoded, EncodedBuilder
from pypet_rebuild.storage.codecs.registry import CodecRegistry, DecodeContext, EncodeContext

__all__ = ["PintQuantityCodec", "install_pint_codecs"]


class PintQuantityCodec:
    """Codec ``"pint.Quantity"`` (see the module docstring)."""

    name = "pint.Quantity"

    def can_encode(self, value: object) -> bool:
        """Accept pint quantities of any registry."""
        return isinstance(value, pint.Quantity)

    def encode(self, value: pint.Quantity[Any], ctx: EncodeContext) -> Encoded:
        """Encode the magnitude as a child and the units as text."""
        builder = EncodedBuilder(self.name, {"units": str(value.units)})
        builder.add_child("magnitude", ctx.encode_child(value.magnitude, "magnitude"))
        return builder.build()

    def decode(self, encoded: Encoded, ctx: DecodeContext) -> Any:
        """Rebuild the quantity in pint's application registry."""
        magnitude = ctx.decode_child("magnitude")
        registry: Any = pint.get_application_registry()  # type: ignore[no-untyped-call]
        return registry.Quantity(magnitude, str(encoded.attrs["units"]))


def install_pint_codecs(registry: CodecRegistry) -> None:
    """Register the pint codec into ``registry``."""
    registry.register(pint.Quantity, PintQuantityCodec())
