"""Codec ``"pickle"``: the opt-in fallback for values no codec accepts.

The registry uses it only when encoding with ``allow_pickle=True``, for the outermost value or any
nested one that has no codec. The payload is ``arrays={"values": uint8 pickle bytes}``; attrs
``type`` names the pickled type (``module.qualname``) for humans and tools.

Unpickling runs code that the data names, so decoding is the reader's decision, not the writer's:
:meth:`PickleCodec.decode` raises :class:`~pypet_rebuild.errors.PickleRefusedError` unless the
decode was asked with ``allow_pickle=True`` (``load_trajectory(path, allow_pickle=True)``,
``HDF5StorageService(path, allow_pickle=True)``, ``pypet-rebuild --allow-pickle``).
"""

from __future__ import annotations

import pickle

import numpy as np

from pypet_rebuild.errors import PickleRefusedError, UnsupportedTypeError
from pypet_rebuild.storage.codecs.base import Encoded
from pypet_rebuild.storage.codecs.registry import CodecRegistry, DecodeContext, EncodeContext
from pypet_rebuild.tree.snapshot import PickledValue

__all__ = ["PICKLE_CODEC", "PickleCodec", "PickledValueCodec", "decode_or_stand_in", "refusal"]


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
        """Unpickle the value, if the reader allowed it.

        Raises
        ------
        PickleRefusedError
            If the reader did not pass ``allow_pickle=True``; nothing of the pickle is run.
        """
        if not ctx.allow_pickle:
            raise refusal(ctx.where, encoded)
        return pickle.loads(encoded.arrays["values"].tobytes())  # the reader opted in


def refusal(where: str, encoded: Encoded) -> PickleRefusedError:
    """The error for a pickle at ``where`` that the reader did not allow to be unpickled."""
    stated = str(encoded.attrs.get("type", "?"))
    if len(stated) > 80:  # the name comes from the file: keep the message readable
        stated = stated[:77] + "..."
    return PickleRefusedError(
        f"{where} is a pickled value (of type {stated!r}, as the file says); unpickling runs "
        "code from the file, so it is refused. If you trust the file, read it with "
        "pr.load_trajectory(path, allow_pickle=True) or "
        "pr.HDF5StorageService(path, allow_pickle=True) (command line: --allow-pickle)"
    )


PICKLE_CODEC = PickleCodec()
"""The shared instance the registry falls back to."""


class PickledValueCodec:
    """Writes a :class:`PickledValue` stand-in back as the exact stored value it stands for.

    So a writer that did not unpickle a value (folding segments, merging) keeps it, byte for
    byte, without running it and without creating a new pickle. Never written as an id itself.
    """

    name = "pypet_rebuild.PickledValue"

    def can_encode(self, value: object) -> bool:
        """Accept stand-ins that carry their stored value."""
        return isinstance(value, PickledValue) and isinstance(value.payload, Encoded)

    def encode(self, value: PickledValue, ctx: EncodeContext) -> Encoded:
        """Return the stored value the stand-in was read from."""
        assert isinstance(value.payload, Encoded)
        return value.payload

    def decode(self, encoded: Encoded, ctx: DecodeContext) -> PickledValue:
        """Never called: files hold the original codec id, not this one."""
        raise UnsupportedTypeError(f"{ctx.where} has the reserved codec id {self.name!r}")


def decode_or_stand_in(
    registry: CodecRegistry, encoded: Encoded, *, allow_pickle: bool, where: str
) -> object:
    """Decode ``encoded``, or return a :class:`PickledValue` if it holds a refused pickle.

    For single stored values (parameter defaults, derived results) whose refusal should not stop
    the rest of the file from opening: using the stand-in raises the refusal.
    """
    try:
        return registry.decode(encoded, allow_pickle=allow_pickle, where=where)
    except PickleRefusedError as refused:
        return PickledValue(str(refused), encoded)
