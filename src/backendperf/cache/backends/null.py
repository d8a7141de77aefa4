"""A backend that stores nothing: every call is a miss. Handy to switch caching off in tests."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from backendperf.cache.backends.base import MISSING

if TYPE_CHECKING:
    from collections.abc import Hashable

__all__ = ["NullBackend"]


class NullBackend:
    """Stores nothing; implements both :class:`Backend` and :class:`AsyncBackend`.

    >>> from backendperf import cached
    >>> calls = []
    >>> @cached(backend=NullBackend())
    ... def f(x):
    ...     calls.append(x)
    ...     return x
    >>> f(1), f(1), len(calls)
    (1, 1, 2)
    """

    def get(self, key: Hashable) -> Any:
        return MISSING

    def set(self, key: Hashable, value: Any, ttl: float | None) -> None:
        return None

    def delete(self, key: Hashable) -> bool:
        return False

    def clear(self) -> None:
        return None

    async def aget(self, key: Hashable) -> Any:
        return MISSING

    async def aset(self, key: Hashable, value: Any, ttl: float | None) -> None:
        return None

    async def adelete(self, key: Hashable) -> bool:
        return False

    async def aclear(self) -> None:
        return None
