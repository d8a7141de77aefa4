"""In-process stores: LRU, FIFO and LFU eviction, optional per-entry expiry, injectable clock.

:class:`MemoryBackend` is both the store behind ``@cached`` (whose generated wrappers read its
``data`` mapping directly, without a method call, on the hit path) and a :class:`Backend` you can
share between functions or use as the first tier of a two-tier cache.

Layout. Without expiry, ``data`` maps key -> value. With expiry (``entries=True``), key ->
``(value, expires_at)``; a heap of hard-expiry times lets every insert drop what has expired in
O(log n), so expired entries never push out live ones. Reads never take the lock for LRU and FIFO
(each ``OrderedDict`` operation is atomic under the GIL); LFU reads go through cachetools'
``LFUCache``, whose bookkeeping is Python code, so they take the lock.
"""

from __future__ import annotations

import functools
import heapq
import itertools
import math
import threading
import time
from collections import OrderedDict
from typing import TYPE_CHECKING, Any, Literal

import cachetools

from backendperf.cache.backends.base import MISSING
from backendperf.exceptions import ConfigurationError

if TYPE_CHECKING:
    from collections.abc import Callable, Hashable, MutableMapping

__all__ = [
    "MemoryBackend",
    "POLICIES",
    "Policy",
]

Policy = Literal["lru", "fifo", "lfu"]
POLICIES: tuple[Policy, ...] = ("lru", "fifo", "lfu")

INF = math.inf


class MemoryBackend:
    """A bounded in-process cache store.

    Args:
        maxsize: most entries kept (``None``: unbounded; ``0``: keep nothing).
        policy: which entry to evict when full: ``"lru"`` (least recently used), ``"fifo"``
            (oldest insertion) or ``"lfu"`` (least frequently used).
        timer: the clock for expiry, in seconds; inject a fake one in tests.
        entries: store ``(value, expires_at)`` pairs (always true for a backend you create;
            ``@cached`` turns it off when it needs no expiry).

    >>> clock = [0.0]
    >>> b = MemoryBackend(2, timer=lambda: clock[0])
    >>> b.set("a", 1, ttl=10); b.set("b", 2, ttl=None)
    >>> b.get("a"), len(b)
    (1, 2)
    >>> clock[0] = 10.0
    >>> b.get("a"), b.get("b")
    (MISSING, 2)
    """

    def __init__(
        self,
        maxsize: int | None = 128,
        *,
        policy: Policy = "lru",
        timer: Callable[[], float] = time.monotonic,
        entries: bool = True,
    ) -> None:
        if policy not in POLICIES:
            raise ConfigurationError(f"policy={policy!r}: choose one of {', '.join(POLICIES)}")
        if maxsize is not None and (not isinstance(maxsize, int) or maxsize < 0):
            raise ConfigurationError(f"maxsize={maxsize!r}: use a non-negative int or None")
        self.maxsize = maxsize
        self.policy: Policy = policy
        self.timer = timer
        self.entries = entries
        self.lock = threading.Lock()
        self.data: MutableMapping[Hashable, Any]
        self.move: Callable[[Hashable], None] | None = None
        self.locked_reads = False
        if policy == "lfu" and maxsize is not None:
            self.data = cachetools.LFUCache(INF)
            self.locked_reads = True
        elif maxsize is None:
            self.data = {}
        else:
            self.data = OrderedDict()
        if policy == "lru" and isinstance(self.data, OrderedDict):
            self.move = self.data.move_to_end
        self._reorder = self.data.move_to_end if isinstance(self.data, OrderedDict) else None
        self.evict: Callable[[], object] = (
            functools.partial(self.data.popitem, last=False)
            if isinstance(self.data, OrderedDict)
            else self.data.popitem
        )
        self._heap: list[tuple[float, int, Hashable, float]] = []
        self._seq = itertools.count()
        self.evictions = 0

    # -- the decorator's interface ------------------------------------------------------------

    def put(self, key: Hashable, item: Any, hard_expiry: float = INF, now: float = 0.0) -> None:
        """Store ``item`` (a value, or a ``(value, expires_at)`` pair) and evict as needed.

        ``hard_expiry`` is when the entry must be gone (after any stale window).
        """
        with self.lock:
            self.put_locked(key, item, hard_expiry, now)

    def put_locked(self, key: Hashable, item: Any, hard_expiry: float, now: float) -> None:
        """:meth:`put` for a caller that holds :attr:`lock` (the decorator's miss path)."""
        maxsize = self.maxsize
        if maxsize == 0:
            return
        heap = self._heap
        if heap and heap[0][0] <= now:
            self._purge_locked(now)
        data = self.data
        data[key] = item
        if self._reorder is not None:
            self._reorder(key)
        if hard_expiry != INF:
            heapq.heappush(heap, (hard_expiry, next(self._seq), key, item[1]))
            if len(heap) > 2 * len(data) + 64:
                self._rebuild_heap_locked()
        if maxsize is not None and len(data) > maxsize:
            evict = self.evict
            while len(data) > maxsize:
                evict()
                self.evictions += 1

    def purge(self, now: float | None = None) -> int:
        """Drop every entry whose hard expiry has passed; return how many."""
        with self.lock:
            return self._purge_locked(self.timer() if now is None else now)

    def discard(self, key: Hashable, item: Any = MISSING) -> bool:
        """Remove ``key`` (only if it still holds ``item``, when given)."""
        with self.lock:
            current = self.data.get(key, MISSING)
            if current is MISSING or (item is not MISSING and current is not item):
                return False
            del self.data[key]
            return True

    def peek(self, key: Hashable) -> Any:
        """The raw stored item or :data:`MISSING`, without touching recency."""
        with self.lock:
            return self.peek_unlocked(key)

    def peek_unlocked(self, key: Hashable) -> Any:
        """:meth:`peek` for a caller that holds :attr:`lock`."""
        if self.locked_reads:
            # LFUCache.get would count as a use; read the underlying Cache mapping instead.
            return self._raw(key)
        return self.data.get(key, MISSING)

    def _purge_locked(self, now: float) -> int:
        heap, data, removed = self._heap, self.data, 0
        while heap and heap[0][0] <= now:
            _, _, key, expires = heapq.heappop(heap)
            item = self.peek_unlocked(key)
            if item is not MISSING and item[1] == expires:
                del data[key]
                removed += 1
        return removed

    def _raw(self, key: Hashable) -> Any:
        return cachetools.Cache.get(self.data, key, MISSING)

    def _rebuild_heap_locked(self) -> None:
        live = {(key, item[1]) for key, item in self.data.items()}
        self._heap = [h for h in self._heap if (h[2], h[3]) in live]
        heapq.heapify(self._heap)

    def clear(self) -> None:
        """Remove every entry."""
        with self.lock:
            self.data.clear()
            self._heap.clear()

    def __len__(self) -> int:
        return len(self.data)

    # -- the Backend protocol -----------------------------------------------------------------

    def touch(self, key: Hashable) -> Any:
        """The raw stored item or :data:`MISSING`, counting as a use (recency, frequency)."""
        if self.locked_reads:
            with self.lock:
                return self.data.get(key, MISSING)
        item = self.data.get(key, MISSING)
        if item is not MISSING and self.move is not None:
            try:
                self.move(key)
            except KeyError:  # evicted by another thread meanwhile
                return MISSING
        return item

    def get(self, key: Hashable) -> Any:
        """The value under ``key``, or :data:`MISSING` when absent or expired."""
        item = self.touch(key)
        if item is MISSING or not self.entries:
            return item
        value, expires = item
        if self.timer() >= expires:
            self.discard(key, item)
            return MISSING
        return value

    def set(self, key: Hashable, value: Any, ttl: float | None) -> None:
        """Store ``value`` for ``ttl`` seconds (``None``: until evicted)."""
        if not self.entries:
            self.put(key, value)
            return
        now = self.timer()
        expires = INF if ttl is None else now + ttl
        self.put(key, (value, expires), expires, now)

    def delete(self, key: Hashable) -> bool:
        """Remove ``key``; return whether it was there."""
        return self.discard(key)
