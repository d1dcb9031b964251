"""Codecs for Python's built-in scalars and containers.

Each codec accepts its exact type only (``type(x) is int``), so a subclass such as an ``IntEnum``
or a named tuple is never stored as its base class and silently read back as another type.

=====================  ====================================================================
codec id               arrays / attrs
=====================  ====================================================================
``builtins.NoneType``  nothing
``builtins.bool``      ``values``: 0-d ``bool``
``builtins.int``       ``values``: 0-d ``int64``; beyond int64 ``decimal``: ASCII digits as
                       ``uint8`` (attrs ``decimal=True``), so a run of huge ints is ragged
``builtins.float``     ``values``: 0-d ``float64``
``builtins.complex``   ``values``: 0-d ``complex128``
``builtins.str``       ``values``: UTF-8 as 1-d ``uint8`` (lone surrogates survive)
``builtins.bytes``     ``values``: 1-d ``uint8``
``builtins.list``      see below; also ``builtins.tuple``, ``builtins.set``,
                       ``builtins.frozenset``
``builtins.dict``      child ``keys`` (a list, any hashable supported keys) + the values as
                       for a list
=====================  ====================================================================

Items of a list (and the values of a dict) are stored in one of two forms, given by the attrs
``packed``:

- all items of exactly one type among bool, int (within int64), float, complex: ``packed`` is
  that type's name and ``values`` a 1-d array (a row array);
- all items exactly ``str`` or all exactly ``bytes``: ``packed`` is ``"str"``/``"bytes"``, stored as
  ragged ``data`` + ``lengths``;
- otherwise ``packed`` is ``None`` and item ``i`` is the child ``items/<i>`` (error paths read
  ``results.z.items/2``; for dict values ``results.z['key']``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Generic, TypeVar

import numpy as np

from pypet_rebuild.storage.codecs.base import Encoded, EncodedBuilder
from pypet_rebuild.storage.codecs.ragged import (
    all_of,
    pack_bytes,
    pack_texts,
    unpack_bytes,
    unpack_texts,
)
from pypet_rebuild.storage.codecs.registry import CodecRegistry, DecodeContext, EncodeContext

__all__ = [
    "BytesCodec",
    "DictCodec",
    "IntCodec",
    "NoneCodec",
    "ScalarCodec",
    "SequenceCodec",
    "StrCodec",
    "install_builtin_codecs",
]

S = TypeVar("S", bool, float, complex)
C = TypeVar("C", list[Any], tuple[Any, ...], set[Any], frozenset[Any])

_INT64 = np.iinfo(np.int64)
_PACKABLE: dict[type, np.dtype[Any]] = {
    bool: np.dtype(np.bool_),
    int: np.dtype(np.int64),
    float: np.dtype(np.float64),
    complex: np.dtype(np.complex128),
}


class NoneCodec:
    """Codec ``"builtins.NoneType"``: ``None`` needs no arrays."""

    name = "builtins.NoneType"

    def can_encode(self, value: object) -> bool:
        """Accept ``None``."""
        return value is None

    def encode(self, value: None, ctx: EncodeContext) -> Encoded:
        """Encode ``None`` as an empty value."""
        return Encoded(self.name)

    def decode(self, encoded: Encoded, ctx: DecodeContext) -> None:
        """Return ``None``."""


class ScalarCodec(Generic[S]):
    """Codec for ``bool``, ``float`` or ``complex``: a 0-d array named ``values``.

    Parameters
    ----------
    kind
        The Python type handled.
    """

    def __init__(self, kind: type[S]) -> None:
        self.kind: type[S] = kind
        self.name = f"builtins.{kind.__name__}"
        self._dtype = _PACKABLE[kind]

    def can_encode(self, value: object) -> bool:
        """Accept the exact type only."""
        return type(value) is self.kind

    def encode(self, value: S, ctx: EncodeContext) -> Encoded:
        """Encode as a 0-d array."""
        return Encoded(self.name, {"values": np.array(value, dtype=self._dtype)})

    def decode(self, encoded: Encoded, ctx: DecodeContext) -> S:
        """Return the Python scalar."""
        value: S = self.kind(encoded.arrays["values"].item())
        return value


class IntCodec:
    """Codec ``"builtins.int"``: a 0-d ``int64``, or decimal digits beyond the int64 range."""

    name = "builtins.int"

    def can_encode(self, value: object) -> bool:
        """Accept exact ``int`` (not ``bool``, not ``IntEnum``)."""
        return type(value) is int

    def encode(self, value: int, ctx: EncodeContext) -> Encoded:
        """Encode as a 0-d int64 array, or as ASCII digits when it does not fit."""
        if _INT64.min <= value <= _INT64.max:
            return Encoded(self.name, {"values": np.array(value, dtype=np.int64)})
        digits = np.frombuffer(str(value).encode("ascii"), dtype=np.uint8)
        return Encoded(self.name, {"decimal": digits}, {"decimal": True})

    def decode(self, encoded: Encoded, ctx: DecodeContext) -> int:
        """Return the int."""
        if encoded.attrs.get("decimal"):
            return int(encoded.arrays["decimal"].tobytes().decode("ascii"))
        return int(encoded.arrays["values"].item())


class StrCodec:
    """Codec ``"builtins.str"``: UTF-8 bytes as a 1-d ``uint8`` array ``values``."""

    name = "builtins.str"

    def can_encode(self, value: object) -> bool:
        """Accept exact ``str`` (``np.str_`` has its own codec)."""
        return type(value) is str

    def encode(self, value: str, ctx: EncodeContext) -> Encoded:
        """Encode as UTF-8 (``surrogatepass``)."""
        raw = value.encode("utf-8", "surrogatepass")
        return Encoded(self.name, {"values": np.frombuffer(raw, dtype=np.uint8)})

    def decode(self, encoded: Encoded, ctx: DecodeContext) -> str:
        """Return the string."""
        text: str = encoded.arrays["values"].tobytes().decode("utf-8", "surrogatepass")
        return text


class BytesCodec:
    """Codec ``"builtins.bytes"``: the bytes as a 1-d ``uint8`` array ``values``."""

    name = "builtins.bytes"

    def can_encode(self, value: object) -> bool:
        """Accept exact ``bytes``."""
        return type(value) is bytes

    def encode(self, value: bytes, ctx: EncodeContext) -> Encoded:
        """Encode the bytes."""
        return Encoded(self.name, {"values": np.frombuffer(value, dtype=np.uint8)})

    def decode(self, encoded: Encoded, ctx: DecodeContext) -> bytes:
        """Return the bytes."""
        return encoded.arrays["values"].tobytes()


def _encode_items(
    builder: EncodedBuilder,
    items: Sequence[object],
    ctx: EncodeContext,
    display: Callable[[int], str | None],
) -> None:
    builder.attrs["length"] = len(items)
    kinds = {type(item) for item in items}
    kind: type | None = kinds.pop() if len(kinds) == 1 else None
    if kind in _PACKABLE:
        assert kind is not None
        try:
            values = np.array(items, dtype=_PACKABLE[kind])
        except OverflowError:  # ints beyond int64 are stored one by one
            pass
        else:
            builder.attrs["packed"] = kind.__name__
            builder.add_array("values", values, rows=True)
            return
    if kind is str or kind is bytes:
        texts = all_of(items, str, allow_none=False)
        data, lengths = pack_texts(items) if texts else pack_bytes(items)  # type: ignore[arg-type]
        builder.attrs["packed"] = "str" if texts else "bytes"
        builder.add_ragged("", data, lengths)
        return
    builder.attrs["packed"] = None
    for i, item in enumerate(items):
        name = f"items/{i}"
        builder.add_child(name, ctx.encode_child(item, name, display=display(i)))


def _decode_items(encoded: Encoded, ctx: DecodeContext) -> list[Any]:
    packed = encoded.attrs.get("packed")
    if packed == "str":
        return unpack_texts(encoded.arrays["data"], encoded.arrays["lengths"])
    if packed == "bytes":
        return unpack_bytes(encoded.arrays["data"], encoded.arrays["lengths"])
    if packed is not None:
        values: list[Any] = encoded.arrays["values"].tolist()
        return values
    length = encoded.attrs["length"]
    assert isinstance(length, int)
    return [ctx.decode_child(f"items/{i}") for i in range(length)]


class SequenceCodec(Generic[C]):
    """Codec for ``list``, ``tuple``, ``set`` and ``frozenset`` (items as described above).

    Parameters
    ----------
    kind
        The container type handled.
    """

    def __init__(self, kind: type[C]) -> None:
        self.kind: type[C] = kind
        self.name = f"builtins.{kind.__name__}"

    def can_encode(self, value: object) -> bool:
        """Accept the exact type only (a named tuple is not a tuple here)."""
        return type(value) is self.kind

    def encode(self, value: C, ctx: EncodeContext) -> Encoded:
        """Encode the items, packed when they are homogeneous scalars or strings."""
        builder = EncodedBuilder(self.name)
        _encode_items(builder, list(value), ctx, lambda i: None)
        return builder.build()

    def decode(self, encoded: Encoded, ctx: DecodeContext) -> C:
        """Rebuild the container."""
        items = _decode_items(encoded, ctx)
        return self.kind(items)


class DictCodec:
    """Codec ``"builtins.dict"``: child ``keys`` (a list) plus the values stored as list items."""

    name = "builtins.dict"

    def can_encode(self, value: object) -> bool:
        """Accept exact ``dict`` (an ``OrderedDict`` or ``defaultdict`` is refused)."""
        return type(value) is dict

    def encode(self, value: dict[Any, Any], ctx: EncodeContext) -> Encoded:
        """Encode keys and values, preserving order."""
        keys = list(value)
        builder = EncodedBuilder(self.name)
        builder.add_child("keys", ctx.encode_child(keys, "keys"))
        _encode_items(builder, list(value.values()), ctx, lambda i: f"[{keys[i]!r}]")
        return builder.build()

    def decode(self, encoded: Encoded, ctx: DecodeContext) -> dict[Any, Any]:
        """Rebuild the dict."""
        keys = ctx.decode_child("keys")
        assert isinstance(keys, list)
        return dict(zip(keys, _decode_items(encoded, ctx), strict=True))


def install_builtin_codecs(registry: CodecRegistry) -> None:
    """Register the codecs of this module into ``registry``."""
    registry.register(type(None), NoneCodec())
    registry.register(bool, ScalarCodec(bool))
    registry.register(int, IntCodec())
    registry.register(float, ScalarCodec(float))
    registry.register(complex, ScalarCodec(complex))
    registry.register(str, StrCodec())
    registry.register(bytes, BytesCodec())
    registry.register(list, SequenceCodec(list))
    registry.register(tuple, SequenceCodec(tuple))
    registry.register(set, SequenceCodec(set))
    registry.register(frozenset, SequenceCodec(frozenset))
    registry.register(dict, DictCodec())
