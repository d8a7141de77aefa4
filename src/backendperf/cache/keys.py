"""Cache keys.

In-process keys are hashable Python objects built by the generated wrappers of
:func:`backendperf.cached` (see ``_codegen``): a one-parameter function uses the argument itself,
a function of several parameters a tuple of them in signature order, so ``f(1)``, ``f(a=1)`` and
``f()`` with a default of 1 share one entry.

When an argument is unhashable, :func:`freeze` converts the containers users pass every day into
an equivalent hashable form, tagged by container type so that ``[1, 2]`` and ``(1, 2)`` stay
distinct keys, and ``{"a": 1}`` equals ``{"a": 1}`` whatever its insertion order:

>>> freeze([1, 2]) == freeze([1, 2]), freeze([1, 2]) == (1, 2)
(True, False)
>>> freeze({"b": [1], "a": 2}) == freeze({"a": 2, "b": [1]})
True
>>> freeze({1, 2}) == freeze(frozenset({1, 2}))
True
>>> freeze(3)
3
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Hashable
from typing import Any, Final, cast

__all__ = [
    "KWARGS_MARK",
    "freeze",
    "StableKeys",
    "stable_digest",
]


class _Mark:
    """A named sentinel that no user value can equal."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return f"<{self.name}>"


KWARGS_MARK: Final = _Mark("kwargs")
"""Separates fixed parameters from ``**kwargs`` items in a key tuple."""
_LIST: Final = _Mark("list")
_DICT: Final = _Mark("dict")
_SET: Final = _Mark("set")
_BYTEARRAY: Final = _Mark("bytearray")
_TUPLE: Final = _Mark("tuple")


def freeze(value: Any) -> Hashable:
    """Return a hashable key equivalent to ``value``.

    Hashable values are returned as they are. Lists, dicts, sets and bytearrays (at any depth,
    also inside tuples) become tagged tuples and frozensets. Anything else that is unhashable
    raises :class:`TypeError`.
    """
    cls = value.__class__
    if cls is list:
        return (_LIST, *map(freeze, value))
    if cls is dict:
        return (_DICT, frozenset((k, freeze(v)) for k, v in value.items()))
    if cls is set:
        return frozenset(map(freeze, value))
    if cls is bytearray:
        return (_BYTEARRAY, bytes(value))
    if cls is tuple:
        try:
            hash(value)
        except TypeError:
            return (_TUPLE, *map(freeze, value))
        return cast("Hashable", value)
    if isinstance(value, Hashable):
        try:
            hash(value)
        except TypeError:
            pass
        else:
            return value
    if isinstance(value, list | tuple):
        return (_LIST if isinstance(value, list) else _TUPLE, *map(freeze, value))
    if isinstance(value, dict):
        return (_DICT, frozenset((k, freeze(v)) for k, v in value.items()))
    if isinstance(value, set):
        return frozenset(map(freeze, value))
    raise TypeError(f"unhashable type: {cls.__qualname__!r}")


# -- stable keys, for stores shared between processes ------------------------------------------
#
# An in-process key relies on ``hash()``, which differs between processes (string hashing is
# randomised) and Python versions. A remote store needs bytes that every process computes alike:
# a canonical msgpack encoding of the key (set elements sorted by their own encoding, marks and
# types by name), hashed with BLAKE2b. Keys are never decoded, so any value whose equality is
# determined by its encoded fields may appear in one.

_K_MARK, _K_TYPE, _K_SET, _K_ENUM, _K_TEXT, _K_RECORD = 1, 2, 3, 4, 5, 6


def _type_name(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def _nested(obj: Any) -> bytes:
    """Canonical bytes from inside ``default`` (the thread's Packer is busy: use a new one)."""
    import msgpack

    return msgpack.packb(obj, default=_canonical_default, use_bin_type=True)  # type: ignore[no-any-return]


def _canonical_default(obj: Any) -> Any:
    import dataclasses
    import datetime as dt
    import enum
    import uuid
    from decimal import Decimal

    import msgpack

    cls = obj.__class__
    if cls is frozenset or cls is set:
        return msgpack.ExtType(_K_SET, _nested(sorted(_nested(item) for item in obj)))
    if cls is _Mark:
        return msgpack.ExtType(_K_MARK, obj.name.encode())
    if isinstance(obj, type):
        return msgpack.ExtType(_K_TYPE, _type_name(obj).encode())
    if isinstance(obj, enum.Enum):
        return msgpack.ExtType(_K_ENUM, _nested([_type_name(cls), obj.value]))
    if cls in (dt.datetime, dt.date, dt.time, dt.timedelta, Decimal, uuid.UUID, int):
        # str() is exact for each (and for ints beyond 64 bits); the type name keeps them apart
        return msgpack.ExtType(_K_TEXT, _nested([_type_name(cls), str(obj)]))
    if dataclasses.is_dataclass(obj):
        fields = [[f.name, getattr(obj, f.name)] for f in dataclasses.fields(obj) if f.compare]
        return msgpack.ExtType(_K_RECORD, _nested([_type_name(cls), fields]))
    from backendperf.exceptions import SerializationError

    raise SerializationError(
        f"cannot build a cache key shared between processes from a {cls.__qualname__} "
        f"argument: use arguments of built-in types, or pass key= to @cached to build the key"
    )


_local = threading.local()


def _canonical(obj: Any) -> bytes:
    """Canonical msgpack bytes of a key (one Packer per thread: a Packer is not re-entrant)."""
    try:
        packer = _local.packer
    except AttributeError:  # msgpack is imported on first use: ``import backendperf`` stays light
        import msgpack

        packer = _local.packer = msgpack.Packer(
            default=_canonical_default, use_bin_type=True, autoreset=True
        )
    try:
        return packer.pack(obj)  # type: ignore[no-any-return]
    except BaseException:
        packer.reset()  # a failed pack may leave bytes in the buffer
        raise


class StableKeys:
    """Digests of the keys of one function: :func:`stable_digest` with the name pre-hashed.

    >>> StableKeys("app.get_user").digest(42) == stable_digest("app.get_user", 42)
    True
    """

    __slots__ = ("_start",)

    def __init__(self, name: str) -> None:
        self._start = hashlib.blake2b(name.encode() + b"\x00", digest_size=16)

    def digest(self, key: Hashable) -> str:
        h = self._start.copy()  # copying a primed hasher is twice as fast as a new one
        h.update(_canonical(key))
        return h.hexdigest()


def stable_digest(name: str, key: Hashable) -> str:
    """A hex digest of ``key`` that every process and Python version computes alike.

    ``name`` (the function's qualified name) is part of the digest, so shortened names in a
    readable key prefix can never make two functions share entries. Tuples and lists encode
    alike (a list argument is frozen to a tagged tuple first); set elements are sorted by their
    encoding, so a set's iteration order (which varies between processes) does not matter.

    >>> stable_digest("app.get_user", 42)
    '96e277fd0e959511d9093d7c4851faa4'
    >>> stable_digest("app.get_user", frozenset({"b", "a"})) == stable_digest(
    ...     "app.get_user", frozenset({"a", "b"}))
    True
    """
    return StableKeys(name).digest(key)
