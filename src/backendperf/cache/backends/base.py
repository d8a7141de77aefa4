"""The :class:`Backend` protocol: what ``@cached(backend=...)`` needs from a store.

Any object with these methods works: the decorator never checks for a concrete class. Keys are
whatever the decorator builds (hashable Python objects for in-process stores); values are the
function's results. ``get`` returns :data:`MISSING` for an absent or expired key.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final, Protocol, runtime_checkable

if TYPE_CHECKING:
    from collections.abc import Hashable

__all__ = [
    "AsyncBackend",
    "AsyncFlightLocking",
    "AsyncFlightSetting",
    "AsyncTagging",
    "Backend",
    "Bindable",
    "FlightLocking",
    "FlightSetting",
    "HasStats",
    "MISSING",
    "Sized",
    "Tagging",
]


class _Missing:
    __slots__ = ()

    def __repr__(self) -> str:
        return "MISSING"

    def __bool__(self) -> bool:
        return False


MISSING: Final[Any] = _Missing()
"""Returned by :meth:`Backend.get` for a miss (``None`` is a legitimate cached value)."""


@runtime_checkable
class Backend(Protocol):
    """A synchronous cache store."""

    def get(self, key: Hashable) -> Any:
        """The value stored under ``key``, or :data:`MISSING`."""

    def set(self, key: Hashable, value: Any, ttl: float | None) -> None:
        """Store ``value``; it expires after ``ttl`` seconds (``None``: never)."""

    def delete(self, key: Hashable) -> bool:
        """Remove ``key``; return whether it was there."""

    def clear(self) -> None:
        """Remove every entry this backend holds for its owner."""


@runtime_checkable
class AsyncBackend(Protocol):
    """An asynchronous cache store, for ``async def`` functions (e.g. ``redis.asyncio``)."""

    async def aget(self, key: Hashable) -> Any:
        """The value stored under ``key``, or :data:`MISSING`."""

    async def aset(self, key: Hashable, value: Any, ttl: float | None) -> None:
        """Store ``value``; it expires after ``ttl`` seconds (``None``: never)."""

    async def adelete(self, key: Hashable) -> bool:
        """Remove ``key``; return whether it was there."""

    async def aclear(self) -> None:
        """Remove every entry this backend holds for its owner."""


# -- optional capabilities -------------------------------------------------------------------
#
# ``@cached(backend=...)`` resolves each of these once, when it builds a function's core, with
# ``isinstance`` (they are runtime-checkable, so an object with the methods has the capability,
# whatever its class). A store implements the ones it can.


@runtime_checkable
class Bindable(Protocol):
    """Returns a per-function view (``name``: the function's qualified name), e.g. to build
    stable keys for a store shared between processes."""

    def bind(self, name: str) -> Any:
        """The view that the function named ``name`` reads and writes."""


@runtime_checkable
class FlightLocking(Protocol):
    """Single flight across processes: one process computes a missing key, the others wait."""

    def flight_lock(self, key: Hashable, *, read: bool = True) -> tuple[str | None, Any]:
        """``(token, MISSING)`` when this process got the lock; ``(None, value)`` when the value
        is there (``read=True``); ``(None, MISSING)`` when another process holds the lock."""

    def flight_unlock(self, key: Hashable, token: str) -> None:
        """Release the lock taken with ``token``."""

    def flight_wait(self, key: Hashable) -> Any:
        """Wait for the lock's holder; the value it stored, or MISSING."""


@runtime_checkable
class AsyncFlightLocking(Protocol):
    """:class:`FlightLocking` for coroutines."""

    async def aflight_lock(self, key: Hashable, *, read: bool = True) -> tuple[str | None, Any]:
        """See :meth:`FlightLocking.flight_lock`."""

    async def aflight_unlock(self, key: Hashable, token: str) -> None:
        """See :meth:`FlightLocking.flight_unlock`."""

    async def aflight_wait(self, key: Hashable) -> Any:
        """See :meth:`FlightLocking.flight_wait`."""


@runtime_checkable
class FlightSetting(Protocol):
    """Stores a value and releases the flight lock in one round trip."""

    def flight_set(
        self, key: Hashable, value: Any, ttl: float | None, token: str, **kwargs: Any
    ) -> None:
        """``set`` then ``flight_unlock``, at once."""


@runtime_checkable
class AsyncFlightSetting(Protocol):
    """:class:`FlightSetting` for coroutines."""

    async def aflight_set(
        self, key: Hashable, value: Any, ttl: float | None, token: str, **kwargs: Any
    ) -> None:
        """``aset`` then ``aflight_unlock``, at once."""


@runtime_checkable
class Tagging(Protocol):
    """Stores tags with entries (``set(..., tags=[...])``) and drops entries by tag."""

    def invalidate_tags(self, *tags: str) -> list[str]:
        """Remove every entry stored with one of ``tags``."""


@runtime_checkable
class AsyncTagging(Protocol):
    """:class:`Tagging` for coroutines."""

    async def ainvalidate_tags(self, *tags: str) -> list[str]:
        """Remove every entry stored with one of ``tags``."""


@runtime_checkable
class HasStats(Protocol):
    """Counts its own failures: ``stats.errors`` and ``stats.bypasses`` reach ``cache_info()``."""

    stats: Any


@runtime_checkable
class Sized(Protocol):
    """Knows how many entries it holds (``cache_info().currsize``)."""

    def __len__(self) -> int: ...
