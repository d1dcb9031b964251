"""The codec registry and the contexts that give codecs access to it for nested values."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from pypet_rebuild._units import unit_library
from pypet_rebuild.errors import UnsupportedTypeError
from pypet_rebuild.storage.codecs.base import (
    CHILDREN,
    Array,
    Codec,
    Encoded,
    is_native_dtype,
)
from pypet_rebuild.tree.snapshot import register_type

__all__ = ["CodecRegistry", "DecodeContext", "EncodeContext"]

T = TypeVar("T")
_NESTED = ", nested at "


@dataclass(frozen=True)
class EncodeContext:
    """What a codec needs while encoding: the registry, the value's path and the pickle opt-in.

    Parameters
    ----------
    registry
        The registry that encodes nested values.
    path
        Where the value is, for error messages (e.g. ``"results.z.items/2"``).
    allow_pickle
        Whether values without a codec may be pickled.
    """

    registry: CodecRegistry
    path: str
    allow_pickle: bool = False

    def child_path(self, name: str, display: str | None = None) -> str:
        """Path of a nested value: ``path.name``, or ``path + display`` (e.g. ``"['key']"``)."""
        return self.path + display if display is not None else f"{self.path}.{name}"

    def encode_child(self, value: object, name: str, *, display: str | None = None) -> Encoded:
        """Encode a nested value that the parent stores under the prefix ``name``.

        Parameters
        ----------
        value
            The nested value.
        name
            The child's prefix in the parent (``"items/0"``); also names it in error paths.
        display
            Replaces ``"." + name`` in error paths, e.g. ``"['key']"`` for a dict entry.

        Returns
        -------
        Encoded
            The child; add it to the parent with :meth:`EncodedBuilder.add_child`.
        """
        return self.registry._encode(value, self.child_path(name, display), self.allow_pickle)

    def unsupported(self, what: str, fix: str) -> UnsupportedTypeError:
        """Build the error for a value this codec cannot store, naming ``what`` and the path."""
        return UnsupportedTypeError(f"cannot store {what} at {self.path!r}: {fix}")


class DecodeContext:
    """What a codec needs while decoding: the nested values of one :class:`Encoded`, the trust.

    Parameters
    ----------
    registry
        The registry that decodes nested values.
    encoded
        The value being decoded.
    allow_pickle
        Whether the reader trusts the data enough to unpickle it (running code it names).
    where
        The stored node being decoded, for error messages (``"results.z of run 3"``).
    """

    def __init__(
        self,
        registry: CodecRegistry,
        encoded: Encoded,
        *,
        allow_pickle: bool = False,
        where: str = "<value>",
    ) -> None:
        self.registry = registry
        self.encoded = encoded
        self.allow_pickle = allow_pickle
        self.where = where
        self._children: dict[str, dict[str, Array]] | None = None

    def child(self, name: str) -> Encoded:
        """Return the nested :class:`Encoded` stored under the prefix ``name``."""
        meta = self.encoded.attrs.get(CHILDREN, {})
        assert isinstance(meta, dict)
        entry = meta[name]
        assert isinstance(entry, dict)
        attrs = entry["attrs"]
        assert isinstance(attrs, dict)
        if self._children is None:
            self._children = _partition(self.encoded.arrays, meta.keys())
        return Encoded(str(entry["codec"]), self._children.get(name, {}), attrs)

    def decode_child(self, name: str) -> object:
        """Decode the nested value stored under the prefix ``name`` (with the same trust)."""
        base, _, inside = self.where.partition(_NESTED)
        where = f"{base}{_NESTED}{inside}/{name}" if inside else f"{base}{_NESTED}{name}"
        return self.registry.decode(self.child(name), allow_pickle=self.allow_pickle, where=where)


def _partition(arrays: Mapping[str, Array], children: Any) -> dict[str, dict[str, Array]]:
    # One pass over the arrays, so decoding a list of n children costs O(n), not O(n**2).
    names = set(children)
    parts: dict[str, dict[str, Array]] = {}
    for key, array in arrays.items():
        segments = key.split("/")
        for cut in range(1, len(segments)):
            prefix = "/".join(segments[:cut])
            if prefix in names:
                parts.setdefault(prefix, {})["/".join(segments[cut:])] = array
                break
    return parts


@dataclass
class _LazyCodecs:
    package: str
    codec_prefixes: tuple[str, ...]
    install: Callable[[CodecRegistry], None]


class CodecRegistry:
    """Maps types to codecs (looked up along the value's MRO) and codec ids to codecs."""

    def __init__(self) -> None:
        self._by_type: dict[type, Codec[Any]] = {}
        self._by_name: dict[str, Codec[Any]] = {}
        self._lazy: list[_LazyCodecs] = []
        self._lock = threading.Lock()

    def register(self, type_: type[T], codec: Codec[T], *, replace: bool = False) -> None:
        """Use ``codec`` for values whose type is ``type_`` or a subclass without its own codec.

        Parameters
        ----------
        type_
            The type to handle.
        codec
            The codec; its ``name`` must not belong to a different codec already.
        replace
            Allow replacing an existing registration for ``type_`` or ``codec.name``.

        Raises
        ------
        ValueError
            If ``type_`` or the codec id is taken and ``replace`` is false.
        """
        if not replace and type_ in self._by_type:
            raise ValueError(
                f"a codec for {type_.__qualname__!r} is already registered "
                f"({self._by_type[type_].name!r}); pass replace=True to override it"
            )
        self.register_decoder(codec, replace=replace)
        self._by_type[type_] = codec
        register_type(type_)  # a stored parameter declared with this type resolves to it

    def register_decoder(self, codec: Codec[Any], *, replace: bool = False) -> None:
        """Make ``codec`` read values stored under its id, without using it for any type."""
        known = self._by_name.get(codec.name)
        if known is not None and known is not codec and not replace:
            raise ValueError(
                f"another codec already has the id {codec.name!r}; choose a different id "
                "or pass replace=True"
            )
        self._by_name[codec.name] = codec

    def register_lazy(
        self,
        package: str,
        install: Callable[[CodecRegistry], None],
        *,
        codec_prefixes: tuple[str, ...],
    ) -> None:
        """Defer registering codecs for types of ``package`` until they are first needed.

        ``install(registry)`` runs when a value from ``package`` is encoded (so the package is
        already imported) or a codec id starting with one of ``codec_prefixes`` is decoded.
        """
        self._lazy.append(_LazyCodecs(package, codec_prefixes, install))

    def codec_for(self, value: object, path: str) -> Codec[Any]:
        """Return the codec for ``value``: the first along its MRO that accepts it.

        Raises
        ------
        UnsupportedTypeError
            If no codec accepts the value; the message names its type and ``path``.
        """
        codec = self._find(value)
        if codec is None:
            name = type(value).__qualname__
            library = unit_library(value)
            if library is not None:
                raise UnsupportedTypeError(
                    f"cannot store the {library} {name} at {path!r}: it carries physical units, "
                    "and storing it as a plain number or array would drop them. Register a "
                    f"codec for it with pypet_rebuild.register_codec({name}, ...) (the cookbook's "
                    "Brian2 page shows one; pint quantities have one with the 'units' extra), "
                    "or store the magnitude in a unit you name (e.g. float(tau / ms))"
                )
            raise UnsupportedTypeError(
                f"cannot store a value of type {name!r} at {path!r}: register a codec with "
                f"pypet_rebuild.register_codec({name}, ...) or pass allow_pickle=True"
            )
        return codec

    def encode(
        self, value: object, path: str = "<value>", *, allow_pickle: bool = False
    ) -> Encoded:
        """Encode ``value`` (pure: writes nothing) and check the result against the contract.

        Parameters
        ----------
        value
            The value to encode.
        path
            Where the value goes, for error messages.
        allow_pickle
            Pickle values (anywhere in the structure) that no codec accepts.

        Raises
        ------
        UnsupportedTypeError
            If the value or a nested value cannot be stored, naming its type and path.
        """
        encoded = self._encode(value, path, allow_pickle)
        for name, array in encoded.arrays.items():
            if not is_native_dtype(array.dtype):
                raise UnsupportedTypeError(
                    f"codec {encoded.codec!r} produced array {name!r} of dtype {array.dtype} at "
                    f"{path!r}; codecs may only emit dtypes accepted by is_native_dtype"
                )
        try:
            json.dumps(encoded.attrs, allow_nan=False)
        except (TypeError, ValueError) as error:
            raise UnsupportedTypeError(
                f"codec {encoded.codec!r} produced attrs that are not JSON at {path!r}: {error}"
            ) from error
        return encoded

    def decode(
        self, encoded: Encoded, *, allow_pickle: bool = False, where: str = "<value>"
    ) -> object:
        """Rebuild the value that :meth:`encode` turned into ``encoded``.

        Parameters
        ----------
        encoded
            The value to decode (from a file: untrusted).
        allow_pickle
            Unpickle values stored with the ``"pickle"`` codec. Unpickling runs code named in the
            data, so only pass ``True`` for data you trust.
        where
            The stored node, named in error messages.

        Raises
        ------
        PickleRefusedError
            If the value (or a nested one) is a pickle and ``allow_pickle`` is false.
        UnsupportedTypeError
            If no codec with the id ``encoded.codec`` is registered.
        """
        codec = self._by_name.get(encoded.codec)
        if codec is None and self._install_lazy(
            lambda lazy: encoded.codec.startswith(lazy.codec_prefixes)
        ):
            codec = self._by_name.get(encoded.codec)
        if codec is None:
            raise UnsupportedTypeError(
                f"cannot read {where}, stored with codec {encoded.codec!r}: import the code that "
                "registers it (pypet_rebuild.register_codec(YourType, codec) with a codec whose "
                "name is that id) before reading"
            )
        context = DecodeContext(self, encoded, allow_pickle=allow_pickle, where=where)
        return codec.decode(encoded, context)

    def copy(self) -> CodecRegistry:
        """Return an independent registry with the same registrations."""
        new = CodecRegistry()
        new._by_type = dict(self._by_type)
        new._by_name = dict(self._by_name)
        new._lazy = list(self._lazy)
        return new

    def _encode(self, value: object, path: str, allow_pickle: bool) -> Encoded:
        ctx = EncodeContext(self, path, allow_pickle)
        if allow_pickle and self._find(value) is None:
            from pypet_rebuild.storage.codecs.pickle_ import PICKLE_CODEC

            return PICKLE_CODEC.encode(value, ctx)
        return self.codec_for(value, path).encode(value, ctx)

    def _find(self, value: object) -> Codec[Any] | None:
        codec = self._lookup(value)
        if codec is None:
            packages = frozenset(cls.__module__.partition(".")[0] for cls in type(value).__mro__)
            if self._install_lazy(lambda lazy: lazy.package in packages):
                codec = self._lookup(value)
        return codec

    def _lookup(self, value: object) -> Codec[Any] | None:
        for cls in type(value).__mro__:
            codec = self._by_type.get(cls)
            if codec is not None and codec.can_encode(value):
                return codec
        return None

    def _install_lazy(self, wanted: Callable[[_LazyCodecs], bool]) -> bool:
        with self._lock:
            due = [lazy for lazy in self._lazy if wanted(lazy)]
            if not due:
                return False
            self._lazy = [lazy for lazy in self._lazy if lazy not in due]
            for lazy in due:
                lazy.install(self)
            return True
