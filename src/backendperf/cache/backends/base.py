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
    "Backend",
    "MISSING",
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
