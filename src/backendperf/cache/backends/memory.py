"""In-process stores: LRU, FIFO and LFU eviction, optional per-entry expiry, injectable clock.

:class:`MemoryBackend` is both the store behind ``@cached`` (whose generated wrappers read its
private mapping directly, without a method call, on the hit path) and a :class:`Backend` you can
share between functions or use as the first tier of a two-tier cache.

Layout. Without expiry, the mapping holds key -> value. With expiry (``entries=True``), key ->
``(value, expires_at)``. LFU wraps either in a :class:`_Use` node that counts the reads.

Concurrency. No lock is ever held while user code runs, and the keys' ``__hash__`` and
``__eq__`` are user code: every operation on the mapping is one C call (``d[k]``, ``d[k] = v``,
``d.pop(k)``, ``move_to_end``, ``popitem``), which the GIL makes atomic towards our own code in
other threads. Eviction pops one entry per entry an insert added, so concurrent inserts never
evict more than they must. The expiry heap and the LFU heap hold tuples ``(number, sequence,
key, stored)`` whose comparisons stop at the unique sequence number, so no key is ever compared;
one lock guards their shape, and only C heap operations and identity tests run under it.
Which entries are still live is decided by identity (``stored is d.get(key)``) outside the
lock, or from a snapshot of the values taken in one C call.
"""

from __future__ import annotations

import heapq
import itertools
import math
import threading
import time
from collections import OrderedDict
from typing import TYPE_CHECKING, Any, Literal

from backendperf.cache.backends.base import MISSING
from backendperf.exceptions import ConfigurationError

if TYPE_CHECKING:
    from collections.abc import Callable, Hashable

__all__ = [
    "MemoryBackend",
    "POLICIES",
    "Policy",
]

Policy = Literal["lru", "fifo", "lfu"]
POLICIES: tuple[Policy, ...] = ("lru", "fifo", "lfu")

INF = math.inf
_len = len  # bound at import: a user who replaces builtins.len with a cached one must not loop


class _Use:
    """An LFU entry: the stored item and how often it was read."""

    __slots__ = ("item", "uses")

    def __init__(self, item: Any) -> None:
        self.item = item
        self.uses = 0


class MemoryBackend:
    """A bounded in-process cache store.

    Args:
        maxsize: most entries kept (``None``: unbounded; ``0``: keep nothing).
        policy: which entry to evict when full: ``"lru"`` (least recently used), ``"fifo"``
            (oldest insertion) or ``"lfu"`` (least frequently used; ties: the entry that has
            waited longest at that count).
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
        if maxsize is not None and (
            isinstance(maxsize, bool) or not isinstance(maxsize, int) or maxsize < 0
        ):
            raise ConfigurationError(f"maxsize={maxsize!r}: use a non-negative int or None")
        self.maxsize = maxsize
        self.policy: Policy = policy
        self.timer = timer
        self.entries = entries
        self.evictions = 0
        self._lfu = policy == "lfu" and maxsize is not None
        self._data: dict[Hashable, Any] = (
            OrderedDict() if maxsize is not None and not self._lfu else {}
        )
        data = self._data
        self._move: Callable[[Hashable], None] | None = (
            data.move_to_end if policy == "lru" and isinstance(data, OrderedDict) else None
        )
        self._reorder = data.move_to_end if isinstance(data, OrderedDict) else None
        self._lock = threading.Lock()  # the two heaps' shape; never held around user code
        self._expiry: list[tuple[float, int, Hashable, Any]] = []
        self._uses: list[tuple[int, int, Hashable, _Use]] = []
        self._seq = itertools.count()

    # -- the decorator's interface (package-private) -------------------------------------------

    def _touch(self, key: Hashable) -> Any:
        """The stored item or :data:`MISSING`, counting as a use (recency, frequency)."""
        data = self._data
        stored = data.get(key, MISSING)
        if stored is MISSING:
            return MISSING
        if self._lfu:
            stored.uses += 1
            return stored.item
        if self._move is not None:
            try:
                self._move(key)
            except KeyError:  # removed by another thread meanwhile
                return MISSING
        return stored

    def _peek(self, key: Hashable) -> Any:
        """The stored item or :data:`MISSING`, without counting as a use."""
        stored = self._data.get(key, MISSING)
        if self._lfu and stored is not MISSING:
            return stored.item
        return stored

    def _put(self, key: Hashable, item: Any, hard_expiry: float = INF, now: float = 0.0) -> Any:
        """Store ``item`` (a value, or a ``(value, expires_at)`` pair), evicting as needed;
        return what was stored (for :meth:`_remove_if`). ``hard_expiry``: when the entry must be
        gone (after any stale window)."""
        maxsize = self.maxsize
        if maxsize == 0:
            return MISSING
        expiry = self._expiry
        if expiry and expiry[0][0] <= now:
            self._purge(now)
        data = self._data
        stored = _Use(item) if self._lfu else item
        size = _len(data)
        data[key] = stored
        grew = _len(data) > size
        if not grew and self._reorder is not None:
            self._reorder(key)  # a replaced entry counts as new (LRU) / newly inserted (FIFO)
        if hard_expiry != INF or self._lfu:
            with self._lock:
                if hard_expiry != INF:
                    heapq.heappush(self._expiry, (hard_expiry, next(self._seq), key, stored))
                if self._lfu:
                    heapq.heappush(self._uses, (0, next(self._seq), key, stored))
            if _len(expiry) + _len(self._uses) > 4 * _len(data) + 128:
                self._compact()
        if grew and maxsize is not None and _len(data) > maxsize:
            self._evict_one()
        return stored

    def _evict_one(self) -> None:
        """Evict one entry (the caller's insert added one over ``maxsize``)."""
        data = self._data
        if not self._lfu:
            try:
                gone = data.popitem(last=False)  # type: ignore[call-arg]
            except KeyError:
                return
            self.evictions += 1
            del gone  # its value may have a __del__: no lock is held here
            return
        uses_heap = self._uses
        while _len(data) > (self.maxsize or 0):
            with self._lock:
                if not uses_heap:
                    return
                uses, _, key, node = heapq.heappop(uses_heap)
                if node.uses != uses:  # read since it was queued: queue it at its count
                    heapq.heappush(uses_heap, (node.uses, next(self._seq), key, node))
                    continue
            if self._remove_if(key, node):
                self.evictions += 1
                return

    def _remove_if(self, key: Hashable, stored: Any) -> bool:
        """Remove ``key`` if it still holds ``stored`` (what :meth:`_put` returned)."""
        data = self._data
        if data.get(key, MISSING) is not stored:
            return False
        return data.pop(key, MISSING) is not MISSING

    def _drop(self, key: Hashable, item: Any) -> None:
        """Remove ``key`` if it still holds ``item`` (as returned by :meth:`_touch`)."""
        stored = self._data.get(key, MISSING)
        if stored is item or (self._lfu and stored is not MISSING and stored.item is item):
            self._remove_if(key, stored)

    def _pop(self, key: Hashable) -> Any:
        """Remove ``key``; return its item or :data:`MISSING`."""
        stored = self._data.pop(key, MISSING)
        if self._lfu and stored is not MISSING:
            return stored.item
        return stored

    def _purge(self, now: float) -> int:
        """Drop every entry whose hard expiry has passed; return how many."""
        expiry, removed = self._expiry, 0  # compacted in place: the list stays this one
        while True:
            with self._lock:
                if not expiry or expiry[0][0] > now:
                    return removed
                _, _, key, stored = heapq.heappop(expiry)
            removed += self._remove_if(key, stored)

    def _compact(self) -> None:
        """Drop heap entries of replaced or removed items (identities from one C snapshot)."""
        live = set(map(id, list(self._data.values())))
        with self._lock:
            self._expiry[:] = [e for e in self._expiry if id(e[3]) in live]
            heapq.heapify(self._expiry)
            self._uses[:] = [e for e in self._uses if id(e[3]) in live]
            heapq.heapify(self._uses)

    # -- the Backend protocol -----------------------------------------------------------------

    def purge(self, now: float | None = None) -> int:
        """Drop every entry whose hard expiry has passed; return how many."""
        return self._purge(self.timer() if now is None else now)

    def get(self, key: Hashable) -> Any:
        """The value under ``key``, or :data:`MISSING` when absent or expired."""
        item = self._touch(key)
        if item is MISSING or not self.entries:
            return item
        value, expires = item
        if self.timer() >= expires:
            self._drop(key, item)
            return MISSING
        return value

    def set(self, key: Hashable, value: Any, ttl: float | None) -> None:
        """Store ``value`` for ``ttl`` seconds (``None``: until evicted)."""
        if not self.entries:
            self._put(key, value)
            return
        now = self.timer()
        expires = INF if ttl is None else now + ttl
        self._put(key, (value, expires), expires, now)

    def delete(self, key: Hashable) -> bool:
        """Remove ``key``; return whether it was there."""
        return self._pop(key) is not MISSING

    def clear(self) -> None:
        """Remove every entry."""
        self._data.clear()
        with self._lock:
            self._expiry.clear()
            self._uses.clear()

    def keys(self) -> list[Hashable]:
        """A snapshot of the keys."""
        return list(self._data)

    def __len__(self) -> int:
        return _len(self._data)
