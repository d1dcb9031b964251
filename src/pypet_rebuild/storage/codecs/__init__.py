"""Backend-neutral codecs: any supported value <-> named native arrays plus small JSON attrs.

A storage backend never sees user values, only :class:`Encoded` ones::

    Encoded(codec="numpy.ndarray", arrays={"values": a}, attrs={"dtype": "<f8", "shape": [3]})

**The law.** For every supported ``x``: ``decode_value(encode_value(x))`` equals ``x`` and has the
same type (and dtype, where there is one). Encoding is pure (it never writes) and raises
:class:`~pypet_rebuild.errors.UnsupportedTypeError` naming the type and the path (for nested
values e.g. ``"results.z.items/2"`` or ``"results.cfg['key']"``) of the first value it cannot store.
Values without a codec are pickled (codec ``"pickle"``) only with ``allow_pickle=True``, and
pickles are decoded only when the *reader* passes ``allow_pickle=True`` to :func:`decode_value`
(the trust boundary: data from a file never runs code unless the reader opted in).

**The array contract.** Every array in :attr:`Encoded.arrays` has a dtype accepted by
:func:`is_native_dtype`: bool, int8..int64, uint8..uint64, float16/32/64, complex64/128 in native
byte order, or structured dtypes of those. Everything else is re-expressed losslessly (see
:mod:`.dtypes`, :mod:`.ragged`): fixed-width ``S``/``U`` as ``uint8``/``uint32`` with a trailing
character axis, datetimes as ``int64`` with the unit in attrs, variable-length strings as flat
UTF-8 ``data`` plus per-element ``lengths``, categoricals as codes plus categories. Extended
precision floats (float128) are refused. Arrays may share memory with the value: read-only.

**Attrs** are JSON (``json.dumps`` works, no NaN) and small: anything that grows with the data
(index labels, categories, column data) is in arrays. They grow only with structure (one entry per
nested child: per DataFrame column, per item of a list that is not packed).

**Nesting.** A parent puts a child's arrays under a prefix (``"items/0/values"``) and records
``{"codec": ..., "attrs": ...}`` under ``attrs["children"][prefix]``.

**Stacking and the row axis.** A scalar (Python or numpy) is a 0-d ``values`` array and a numpy
array ``a`` with a native dtype is exactly ``arrays={"values": a}``, so a backend can stack a
fixed-shape result across runs into one ``(n_runs, *shape)`` dataset. ``attrs["row_arrays"]``
(also :attr:`Encoded.row_arrays`) lists, with full names, the arrays whose axis 0 is the value's
row axis: the index and every column of a DataFrame/Series, an Index's labels, a 1-d+ array's
``values``. A backend may concatenate them across runs and read a row range of each. A flat
``data`` array is cut into rows by a row array of per-row ``lengths`` (-1 = missing); the pairs are
in ``attrs["ragged"]`` (:attr:`Encoded.ragged`). Arrays not listed (categories, MultiIndex
levels, column labels) describe the rows and must be read whole.

**Extending.** Register a codec for your type, once, before encoding::

    from dataclasses import dataclass

    import numpy as np
    from pypet_rebuild.storage.codecs import Encoded, register_codec


    @dataclass
    class Lorenz:
        sigma: float
        state: np.ndarray


    class LorenzCodec:
        name = "myproject.Lorenz"  # stable id written to files

        def can_encode(self, value: object) -> bool:
            return True

        def encode(self, value: Lorenz, ctx) -> Encoded:
            return Encoded(self.name, {"state": value.state}, {"sigma": value.sigma})

        def decode(self, encoded: Encoded, ctx) -> Lorenz:
            return Lorenz(float(encoded.attrs["sigma"]), encoded.arrays["state"])


    register_codec(Lorenz, LorenzCodec())

Use ``ctx.encode_child(value, "name")`` with :class:`EncodedBuilder` to nest values of other
types, and ``ctx.decode_child("name")`` to read them back.
"""

from __future__ import annotations

from typing import TypeVar

from pypet_rebuild._optional import import_optional
from pypet_rebuild.storage.codecs.base import (
    CHILDREN,
    RAGGED,
    ROW_ARRAYS,
    Codec,
    Encoded,
    EncodedBuilder,
    JSONValue,
    is_native_dtype,
)
from pypet_rebuild.storage.codecs.builtin import install_builtin_codecs
from pypet_rebuild.storage.codecs.numpy_ import install_numpy_codecs
from pypet_rebuild.storage.codecs.pickle_ import PICKLE_CODEC, PickledValueCodec, decode_or_stand_in
from pypet_rebuild.storage.codecs.registry import CodecRegistry, DecodeContext, EncodeContext
from pypet_rebuild.tree.snapshot import PickledValue

__all__ = [
    "CHILDREN",
    "RAGGED",
    "ROW_ARRAYS",
    "Codec",
    "CodecRegistry",
    "DecodeContext",
    "EncodeContext",
    "Encoded",
    "EncodedBuilder",
    "JSONValue",
    "decode_or_placeholder",
    "decode_value",
    "default_registry",
    "encode_value",
    "is_native_dtype",
    "new_registry",
    "register_codec",
]

T = TypeVar("T")


def _install_pandas(registry: CodecRegistry) -> None:
    from pypet_rebuild.storage.codecs.pandas_ import install_pandas_codecs

    install_pandas_codecs(registry)


def _install_sparse(registry: CodecRegistry) -> None:
    from pypet_rebuild.storage.codecs.sparse import install_sparse_codecs

    install_sparse_codecs(registry)


def _install_pint(registry: CodecRegistry) -> None:
    # A stored pint quantity read where pint is missing: say which extra brings it.
    import_optional("pint", feature="reading a stored pint quantity", extra="units")
    from pypet_rebuild.storage.codecs.pint_ import install_pint_codecs

    install_pint_codecs(registry)


def new_registry() -> CodecRegistry:
    """Return a registry with every built-in codec; pandas, scipy and pint ones load on first use.

    Returns
    -------
    CodecRegistry
        A fresh registry, independent of :data:`default_registry`.
    """
    registry = CodecRegistry()
    install_builtin_codecs(registry)
    install_numpy_codecs(registry)
    registry.register_decoder(PICKLE_CODEC)
    registry.register(PickledValue, PickledValueCodec())
    # pandas and scipy are imported only when a value (or a stored codec id) needs them.
    registry.register_lazy("pandas", _install_pandas, codec_prefixes=("pandas.",))
    registry.register_lazy("scipy", _install_sparse, codec_prefixes=("scipy.",))
    registry.register_lazy("pint", _install_pint, codec_prefixes=("pint.",))
    return registry


default_registry: CodecRegistry = new_registry()
"""The registry used when none is given; :func:`register_codec` adds to it."""


def decode_or_placeholder(
    encoded: Encoded,
    *,
    allow_pickle: bool = False,
    where: str = "<value>",
    registry: CodecRegistry | None = None,
) -> object:
    """Like :func:`decode_value`, but a refused pickle gives a :class:`PickledValue` stand-in.

    Using the stand-in raises the :class:`~pypet_rebuild.errors.PickleRefusedError`; encoding
    it gives back ``encoded`` unchanged. For single stored values (parameter defaults, derived
    results), so one pickle does not stop the rest of a file from opening.
    """
    return decode_or_stand_in(
        registry or default_registry, encoded, allow_pickle=allow_pickle, where=where
    )


def register_codec(type_: type[T], codec: Codec[T], *, replace: bool = False) -> None:
    """Register ``codec`` for ``type_`` in :data:`default_registry` (the extension point).

    Parameters
    ----------
    type_
        The type to store; subclasses without their own codec use it too.
    codec
        An object following the :class:`Codec` protocol, with a stable ``name``.
    replace
        Allow replacing an existing codec for ``type_`` or with the same id.

    Raises
    ------
    ValueError
        If ``type_`` or the codec id is already registered and ``replace`` is false.
    """
    default_registry.register(type_, codec, replace=replace)


def encode_value(
    value: object,
    path: str = "<value>",
    *,
    allow_pickle: bool = False,
    registry: CodecRegistry | None = None,
) -> Encoded:
    """Encode ``value`` into named native arrays and JSON attrs (pure: writes nothing).

    Parameters
    ----------
    value
        Any supported value, nested as deep as you like.
    path
        Where the value will be stored, used in error messages.
    allow_pickle
        Pickle values (anywhere in the structure) that have no codec.
    registry
        The registry to use; :data:`default_registry` by default.

    Returns
    -------
    Encoded
        The encoded value.

    Raises
    ------
    UnsupportedTypeError
        If the value, or a value nested in it, cannot be stored; the message names its type and
        its path.
    """
    return (registry or default_registry).encode(value, path, allow_pickle=allow_pickle)


def decode_value(
    encoded: Encoded,
    *,
    allow_pickle: bool = False,
    where: str = "<value>",
    registry: CodecRegistry | None = None,
) -> object:
    """Rebuild the value that :func:`encode_value` encoded.

    Parameters
    ----------
    encoded
        The output of :func:`encode_value` (or an equal one read back by a backend).
    allow_pickle
        Unpickle values stored with the ``"pickle"`` codec. Unpickling runs code named in the
        data: pass ``True`` only for data you trust. Off by default, whatever the writer did.
    where
        The stored node, named in error messages (e.g. ``"results.z of run 3"``).
    registry
        The registry to use; :data:`default_registry` by default.

    Returns
    -------
    object
        A value equal to the original, of the same type and dtype.

    Raises
    ------
    PickleRefusedError
        If the value, or a value nested in it, is a pickle and ``allow_pickle`` is false.
    UnsupportedTypeError
        If no codec is registered under ``encoded.codec``.
    """
    return (registry or default_registry).decode(encoded, allow_pickle=allow_pickle, where=where)
