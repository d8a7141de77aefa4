"""Single flight: one computation per missing key, shared by every concurrent caller.

Threads. A miss registers a :class:`Flight` in the cache's ``inflight`` table with
``setdefault`` (one C call: exactly one thread becomes the leader). The leader computes with no
lock held and, in one ``try/finally`` that cannot be skipped, stores the result, removes the
flight from the table and *settles* it: ``done`` is set and the waiters' event fired. A waiter
creates the event under :data:`_state`, the module's one lock, which guards nothing but flight
fields and the wait-for table; no user code (no key's ``__hash__``/``__eq__``, no function)
ever runs while it is held.

Deadlock freedom. A thread that would wait for a flight led by itself (recursion into the same
key), or for a flight whose leader waits, through a chain of flights, for this thread (``f(1)``
calling ``g(2)`` in one thread while ``g(2)`` calls ``f(1)`` in another), computes the value
itself instead, uncached: waiting could never end. The check walks the wait-for table under
:data:`_state` before every wait, so two threads closing a cycle at once cannot both miss it.

asyncio. The computation runs in one task that every caller awaits through ``asyncio.shield``;
a cancelled caller leaves, and when the last one leaves the task is cancelled *and* removed
from the table, so a caller arriving while it unwinds starts afresh. A task that would await a
flight computed by itself, or by a task that awaits it, computes directly (same rule).

Invalidation wins. ``invalidate()``/``cache_clear()`` remove the key's flight from the table and
mark it ``dropped``: callers already waiting still get its result, new callers start a new
computation, and the dropped leader does not store what it computed (it checks ``dropped``
after storing too, and removes its own entry if the invalidation came in between).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
from typing import TYPE_CHECKING, Any

from backendperf.cache.backends.base import MISSING

if TYPE_CHECKING:
    from collections.abc import Callable, Hashable

__all__ = ["PLAIN_KEYS", "AsyncFlight", "Flight", "HKey", "hkey", "refresh_executor"]

logger = logging.getLogger("backendperf")

_state = threading.Lock()
"""Guards flight fields and the wait-for table; never held while user code runs."""
_waiting: dict[int, Flight] = {}
"""Thread ident -> the flight it waits for (the wait-for graph of threads)."""
_awaiting: dict[asyncio.Task[Any], AsyncFlight] = {}
"""Task -> the flight it awaits (the wait-for graph of tasks)."""


PLAIN_KEYS = frozenset({int, str, bytes, float, bool, type(None)})
"""Key types whose hashing runs no user code and costs next to nothing: used as they are."""


def hkey(key: Hashable) -> Hashable:
    """The ``inflight`` key for ``key``: itself for :data:`PLAIN_KEYS`, else an :class:`HKey`."""
    return key if key.__class__ in PLAIN_KEYS else HKey(key)


class HKey:
    """A key with its hash computed once: the ``inflight`` tables use it, so a miss runs the
    key's ``__hash__`` once for them however many times they are consulted."""

    __slots__ = ("hash", "key")

    def __init__(self, key: Hashable) -> None:
        self.key = key
        self.hash = hash(key)

    def __hash__(self) -> int:
        return self.hash

    def __eq__(self, other: object) -> bool:
        return self is other or (
            isinstance(other, HKey) and self.hash == other.hash and bool(self.key == other.key)
        )


class Flight:
    """One computation in progress, led by the thread ``owner`` (``None``: not started yet).

    A flight that ``enter`` returns not ``done`` is the caller's to compute; ``direct`` marks
    a computation that must not be stored or registered (recursion, a cycle); a flight that is
    ``done`` only hands out its result.
    """

    __slots__ = ("direct", "done", "dropped", "error", "event", "key", "owner", "value")

    def __init__(self, key: Hashable, owner: int | None) -> None:
        self.key = key
        self.owner = owner
        self.direct = False
        self.done = False
        self.dropped = False
        self.event: threading.Event | None = None
        self.value: Any = MISSING
        self.error: BaseException | None = None

    @classmethod
    def finished(cls, value: Any = MISSING, error: BaseException | None = None) -> Flight:
        """A settled flight holding a result (a hit found on the miss path)."""
        flight = cls(None, None)
        flight.done = True
        flight.value = value
        flight.error = error
        return flight

    @classmethod
    def direct_call(cls) -> Flight:
        """Compute without caching: waiting would deadlock."""
        flight = cls(None, threading.get_ident())
        flight.direct = True
        return flight

    def result(self) -> Any:
        if self.error is not None:
            raise self.error
        return self.value

    def settle(self) -> None:
        """Mark done and wake the waiters (the leader's last step, on every path).

        Lock-free: a waiter publishes its event (under :data:`_state`) *before* it reads
        ``done``, and this sets ``done`` *before* it reads the event, so one of the two always
        sees the other (the GIL orders the four steps).
        """
        self.done = True
        event = self.event
        if event is not None:
            event.set()

    def join(self, me: int) -> bool:
        """Wait until done; ``False`` at once when waiting would deadlock (a wait-for cycle)."""
        with _state:
            flight: Flight | None = self
            hops = 0
            while flight is not None and hops <= len(_waiting):
                if flight.owner == me:
                    return False
                flight = _waiting.get(flight.owner) if flight.owner is not None else None
                hops += 1
            event = self.event
            if event is None:
                event = self.event = threading.Event()
            _waiting[me] = self
        try:
            if not self.done:  # read after the event is published: see settle()
                event.wait()
        finally:
            with _state:
                if _waiting.get(me) is self:
                    del _waiting[me]
        return True


class AsyncFlight:
    """One asyncio task shared by every caller; cancelled (and forgotten) when all have left."""

    __slots__ = ("dropped", "key", "loop", "task", "waiters")

    def __init__(self, key: Hashable, loop: asyncio.AbstractEventLoop) -> None:
        self.key = key
        self.loop = loop
        self.task: asyncio.Task[Any] | None = None
        self.waiters = 0
        self.dropped = False

    def would_deadlock(self, me: asyncio.Task[Any] | None) -> bool:
        """Whether ``me`` awaiting this flight closes a cycle (the task computing it is ``me``,
        or awaits, through other flights, a flight ``me`` computes)."""
        task = self.task
        hops = 0
        while task is not None and hops <= len(_awaiting):
            if task is me:
                return True
            flight = _awaiting.get(task)
            task = flight.task if flight is not None else None
            hops += 1
        return False

    async def join(self, forget: Callable[[AsyncFlight], None]) -> Any:
        """Await the shared task; the last caller to leave cancels it and ``forget``s it."""
        task = self.task
        assert task is not None
        me = asyncio.current_task()
        self.waiters += 1
        if me is not None:
            _awaiting[me] = self
        try:
            return await asyncio.shield(task)
        finally:
            if me is not None and _awaiting.get(me) is self:
                del _awaiting[me]
            self.waiters -= 1
            if self.waiters == 0 and not task.done():
                task.cancel()
                forget(self)


_executor: concurrent.futures.ThreadPoolExecutor | None = None
_executor_lock = threading.Lock()


def refresh_executor() -> concurrent.futures.ThreadPoolExecutor:
    """The worker threads of background refreshes (``stale_ttl``), started on first use."""
    global _executor
    with _executor_lock:
        if _executor is None:
            _executor = concurrent.futures.ThreadPoolExecutor(
                max_workers=4, thread_name_prefix="backendperf-refresh"
            )
        return _executor


def log_refresh_failure(name: str, exc: BaseException) -> None:
    logger.warning("background refresh of %s failed; serving the stale value: %r", name, exc)
