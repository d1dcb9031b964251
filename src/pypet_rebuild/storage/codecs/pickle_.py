"""Codec ``"pickle"``: the opt-in fallback for values no codec accepts.

The registry uses it only when encoding with ``allow_pickle=True``, for the outermost value or any
nested one that has no codec. The payload is ``arrays={"values": uint8 pickle bytes}``; attrs
``type`` names the pickled type (``module.qualname``) for humans and tools. Decoding a pickle runs
code from the file: read files with pickled values only if you trust them.
"""

from __future__ import annotations

import pickle

import numpy as np

from pypet_rebuild.errors import UnsupportedTypeError
from pypet_rebuild.storage.codecs.base import Encoded
from pypet_rebuild.storage.codecs.registry import DecodeContext, EncodeContext

__all__ = ["PICKLE_CODEC", "PickleCodec"]


class PickleCodec:
    """Codec ``"pickle"`` (protocol 5); never registered for a type, only as a decoder."""

    name = "pickle"

    def can_encode(self, value: object) -> bool:
        """Accept anything; pickling itself may still fail in :meth:`encode`."""
        return True

    def encode(self, value: object, ctx: EncodeContext) -> Encoded:
        """Pickle the value.

        Raises
        ------
        UnsupportedTypeError
            If the value cannot be pickled (lambdas, open files, ...).
        """
        kind = type(value)
        try:
            payload = pickle.dumps(value, protocol=5)
        except Exception as error:
            raise UnsupportedTypeError(
                f"cannot store a value of type {kind.__qualname__!r} at {ctx.path!r}: it has no "
                f"codec and pickling it failed ({error}); register a codec with "
                f"pypet_rebuild.register_codec({kind.__qualname__}, ...)"
            ) from error
        return Encoded(
            self.name,
            {"values": np.frombuffer(payload, dtype=np.uint8)},
            {"type": f"{kind.__module__}.{kind.__qualname__}"},
        )

    def decode(self, encoded: Encoded, ctx: DecodeContext) -> object:
        """Unpickle the value."""
        return pickle.loads(encoded.arrays["values"].tobytes())  # opt-in at write time


PICKLE_CODEC = PickleCodec()
"""The shared instance the registry falls back to."""
