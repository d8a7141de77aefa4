"""The msgpack codec for remote cache stores: a whitelist of types, never pickle.

``pickle.loads`` on bytes read from a shared Redis runs whatever code those bytes name: anyone
who can write to the cache can run code in every process that reads it. This codec only ever
builds the types listed below, so corrupted or foreign bytes can at worst fail to decode (which
the backends count as a miss).

Built in: ``None``, ``bool``, ``int`` (any size), ``float``, ``str``, ``bytes``, ``list``,
``dict`` (any keys msgpack can carry), and, as msgpack extension types, ``tuple`` (kept distinct
from ``list``), ``set``, ``frozenset``, ``datetime`` (its offset and, for ``zoneinfo`` zones, the
zone itself), ``date``, ``time``, ``timedelta``, ``Decimal`` and ``UUID``. Enums, dataclasses and
model classes (pydantic-style ``model_dump``/``model_validate``) work once registered.

A type that is not supported fails when the value is *stored* (:class:`SerializationError`,
naming the type and how to register it), never later when it is read:

>>> codec = Codec()
>>> from decimal import Decimal
>>> codec.loads(codec.dumps({"price": Decimal("9.99"), "tags": ("a", "b")}))
{'price': Decimal('9.99'), 'tags': ('a', 'b')}
>>> class Point:
...     def __init__(self, x: int) -> None:
...         self.x = x
>>> codec.dumps(Point(1))
Traceback (most recent call last):
...
backendperf.exceptions.SerializationError: cannot store a value of type Point (...): ...
>>> import dataclasses
>>> @dataclasses.dataclass
... class Pixel:
...     x: int
...     y: int
>>> _ = codec.register_dataclass(Pixel)
>>> codec.loads(codec.dumps([Pixel(1, 2)]))
[Pixel(x=1, y=2)]
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import threading
import uuid
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Final, TypeVar

import msgpack

from backendperf.exceptions import SerializationError

if TYPE_CHECKING:
    import enum
    from collections.abc import Callable

__all__ = ["DEFAULT_MAX_SIZE", "Codec", "DecodeError", "default_codec"]

T = TypeVar("T")

DEFAULT_MAX_SIZE: Final = 4 * 1024 * 1024
"""Largest encoded value a backend stores by default (4 MiB); larger ones raise
:class:`SerializationError` instead of filling Redis with one entry."""

_VERSION: Final = b"\xb1"
"""First byte of every stored value: format version 1 (lets a later format coexist)."""

# msgpack extension type codes (0-127 are for applications). Never renumber: stored data uses them.
_TUPLE, _SET, _FROZENSET, _DATETIME, _DATE, _TIME, _TIMEDELTA = 1, 2, 3, 4, 5, 6, 7
_DECIMAL, _UUID, _BIGINT, _REGISTERED = 8, 9, 10, 11
_ZONED = 16  # added to _DATETIME/_TIME: a zoneinfo zone or a fold, in a nested payload


class DecodeError(ValueError):
    """Bytes that are not a value this codec wrote (the backends count them as misses)."""


@dataclasses.dataclass(frozen=True, slots=True)
class _Registered:
    name: str
    cls: type
    encode: Callable[[Any], Any]
    decode: Callable[[Any], Any]


def _zone_key(tz: dt.tzinfo | None) -> str | None:
    key = getattr(tz, "key", None)  # zoneinfo.ZoneInfo
    return key if isinstance(key, str) else None


class Codec:
    """Encode values to bytes and back; shared by one or more backends.

    Args:
        max_size: largest encoded value, in bytes (``None``: no limit).
    """

    def __init__(self, *, max_size: int | None = DEFAULT_MAX_SIZE) -> None:
        self.max_size = max_size
        self._by_type: dict[type, _Registered] = {}
        self._local = threading.local()
        self._by_name: dict[str, _Registered] = {}

    # -- registration ----------------------------------------------------------------------

    def register(
        self,
        cls: type[T],
        *,
        encode: Callable[[T], Any],
        decode: Callable[[Any], T],
        name: str | None = None,
    ) -> type[T]:
        """Allow ``cls``: ``encode`` turns an instance into supported values, ``decode`` back.

        ``name`` (default: ``module.QualName``) is what is stored; keep it stable when the class
        moves, or old entries will decode as misses.
        """
        name = name or f"{cls.__module__}.{cls.__qualname__}"
        entry = _Registered(name, cls, encode, decode)
        self._by_type[cls] = entry
        self._by_name[name] = entry
        return cls

    def register_enum(self, cls: type[enum.Enum], *, name: str | None = None) -> type[enum.Enum]:
        """Allow the members of an ``Enum`` (stored by value)."""
        return self.register(cls, encode=lambda m: m.value, decode=cls, name=name)

    def register_dataclass(self, cls: type[T], *, name: str | None = None) -> type[T]:
        """Allow a dataclass: its ``init`` fields are stored by name."""
        if not dataclasses.is_dataclass(cls):
            raise TypeError(f"{cls.__qualname__} is not a dataclass")
        names = [f.name for f in dataclasses.fields(cls) if f.init]

        def encode(obj: Any) -> dict[str, Any]:
            return {n: getattr(obj, n) for n in names}

        def decode(data: Any) -> T:
            return cls(**data)

        return self.register(cls, encode=encode, decode=decode, name=name)

    def register_model(self, cls: type[T], *, name: str | None = None) -> type[T]:
        """Allow a pydantic-style model (``model_dump()`` / ``model_validate()``)."""
        dump = getattr(cls, "model_dump", None)
        validate = getattr(cls, "model_validate", None)
        if dump is None or validate is None:
            raise TypeError(
                f"{cls.__qualname__} has no model_dump/model_validate; use register() with "
                f"encode= and decode="
            )

        def encode(model: Any) -> Any:
            return model.model_dump()

        return self.register(cls, encode=encode, decode=validate, name=name)

    # -- encoding --------------------------------------------------------------------------
    #
    # Simple types travel as text in their extension payload (one ``fromisoformat`` or
    # ``Decimal()`` to decode); only containers and zoned times nest a msgpack payload.

    def _default(self, obj: Any) -> msgpack.ExtType:
        cls = obj.__class__
        if cls is tuple:
            return msgpack.ExtType(_TUPLE, self._nested(list(obj)))
        if cls is dt.datetime or cls is dt.time:
            zone = _zone_key(obj.tzinfo)
            code = _DATETIME if cls is dt.datetime else _TIME
            if zone is None and not obj.fold:  # naive or a fixed offset: the ISO text says all
                return msgpack.ExtType(code, obj.isoformat().encode())
            # A zoneinfo zone is kept by name, with the wall time and fold: exact, even for
            # times in a DST gap.
            text = obj.replace(tzinfo=None).isoformat() if zone else obj.isoformat()
            return msgpack.ExtType(code + _ZONED, self._nested([text, zone, obj.fold]))
        if cls is Decimal:
            return msgpack.ExtType(_DECIMAL, str(obj).encode())
        if cls is dt.date:
            return msgpack.ExtType(_DATE, obj.isoformat().encode())
        if cls is set:
            return msgpack.ExtType(_SET, self._nested(list(obj)))
        if cls is frozenset:
            return msgpack.ExtType(_FROZENSET, self._nested(list(obj)))
        if cls is dt.timedelta:
            return msgpack.ExtType(
                _TIMEDELTA, self._nested([obj.days, obj.seconds, obj.microseconds])
            )
        if cls is uuid.UUID:
            return msgpack.ExtType(_UUID, obj.bytes)
        if cls is int:  # beyond 64 bits
            return msgpack.ExtType(_BIGINT, str(obj).encode())
        entry = self._by_type.get(cls)
        if entry is not None:
            return msgpack.ExtType(_REGISTERED, self._nested([entry.name, entry.encode(obj)]))
        raise SerializationError(
            f"cannot store a value of type {cls.__qualname__} ({cls.__module__}): the Redis "
            f"cache stores only msgpack types, tuples, sets, dates and times, Decimal and UUID; "
            f"register the class first, e.g. codec.register_dataclass({cls.__qualname__}), "
            f"codec.register_enum(...), or codec.register(cls, encode=..., decode=...)"
        )

    def _nested(self, obj: Any) -> bytes:
        """Pack from inside ``_default`` (the thread's Packer is busy: a fresh one)."""
        return msgpack.packb(  # type: ignore[no-any-return]
            obj, default=self._default, strict_types=True, use_bin_type=True
        )

    def _pack(self, obj: Any) -> bytes:
        local = self._local
        try:
            packer = local.packer
        except AttributeError:
            packer = local.packer = msgpack.Packer(
                default=self._default, strict_types=True, use_bin_type=True, autoreset=True
            )
        try:
            return packer.pack(obj)  # type: ignore[no-any-return]
        except BaseException:
            packer.reset()
            raise

    def dumps(self, value: Any) -> bytes:
        """Encode ``value``; raise :class:`SerializationError` for what cannot be stored."""
        try:
            data = _VERSION + self._pack(value)
        except SerializationError:
            raise
        except (TypeError, ValueError, OverflowError) as exc:
            raise SerializationError(f"cannot encode {type(value).__qualname__}: {exc}") from exc
        if self.max_size is not None and len(data) > self.max_size:
            raise SerializationError(
                f"encoded value of {type(value).__qualname__} is {len(data)} bytes, over the "
                f"limit of {self.max_size}; cache something smaller or raise max_size"
            )
        return data

    # -- decoding --------------------------------------------------------------------------

    def _ext_hook(self, code: int, data: bytes) -> Any:
        if code == _DATETIME:
            return dt.datetime.fromisoformat(data.decode())
        if code == _DECIMAL:
            return Decimal(data.decode())
        if code == _TUPLE:
            return tuple(self._unpack(data))
        if code == _DATE:
            return dt.date.fromisoformat(data.decode())
        if code == _TIME:
            return dt.time.fromisoformat(data.decode())
        if code in (_DATETIME + _ZONED, _TIME + _ZONED):
            text, zone, fold = self._unpack(data)
            parsed = (dt.datetime if code == _DATETIME + _ZONED else dt.time).fromisoformat(text)
            if zone is not None:
                return parsed.replace(tzinfo=_zone(zone), fold=fold)
            return parsed.replace(fold=fold)
        if code == _SET:
            return set(self._unpack(data))
        if code == _FROZENSET:
            return frozenset(self._unpack(data))
        if code == _TIMEDELTA:
            days, seconds, micros = self._unpack(data)
            return dt.timedelta(days=days, seconds=seconds, microseconds=micros)
        if code == _UUID:
            return uuid.UUID(bytes=data)
        if code == _BIGINT:
            return int(data.decode())
        if code == _REGISTERED:
            name, payload = self._unpack(data)
            entry = self._by_name.get(name)
            if entry is None:
                raise DecodeError(f"stored value of unregistered type {name!r}")
            return entry.decode(payload)
        raise DecodeError(f"unknown msgpack extension type {code}")

    def _unpack(self, data: bytes) -> Any:
        return msgpack.unpackb(data, ext_hook=self._ext_hook, strict_map_key=False)

    def loads(self, data: bytes) -> Any:
        """Decode bytes written by :meth:`dumps`; anything else raises :class:`DecodeError`."""
        if data[:1] != _VERSION:
            raise DecodeError("not a backendperf value (unknown format byte)")
        try:
            return msgpack.unpackb(
                memoryview(data)[1:], ext_hook=self._ext_hook, strict_map_key=False
            )
        except DecodeError:
            raise
        except Exception as exc:  # msgpack raises many kinds; registered decoders, anything
            raise DecodeError(f"corrupted value: {exc!r}") from exc


def _zone(key: str) -> dt.tzinfo:
    import zoneinfo

    return zoneinfo.ZoneInfo(key)


default_codec: Final = Codec()
"""The codec backends use unless given their own; register application types on it."""
