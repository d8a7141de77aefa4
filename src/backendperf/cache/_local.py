"""The in-process core of ``@cached``: store, flights and counters of one cache.

The generated wrapper (``_codegen``) does the hit path itself and, on a miss, calls
:meth:`Core.enter`, the function, then :meth:`Core.finished` (or :meth:`Core.failed`), so a
cold recursive function costs two frames a level, as with ``functools.lru_cache``. Everything
else (unhashable arguments, expired entries, asyncio) goes through the methods here.

What runs where (see ``_flight`` for the flights):

* lock-free: every read and write of the store and of the ``inflight`` table is one C call
  (atomic under the GIL towards our code in other threads); the keys' ``__hash__``/``__eq__``,
  the function, ``ttl=``, ``unless=`` run with no lock of ours held;
* counters are ``+=`` on ints, which no thread switch splits on CPython 3.11+ (a switch happens
  only at calls and backward jumps), so hits + misses + stale hits equals calls exactly;
* the only locks: ``_flight._state`` (flight fields, wait-for table) and the store's heap lock
  (tuples compared on numbers only). Neither is held around user code.
"""

from __future__ import annotations

import asyncio
import threading
from typing import TYPE_CHECKING, Any

from backendperf.cache._flight import (
    AsyncFlight,
    Flight,
    hkey,
    log_refresh_failure,
    refresh_executor,
)
from backendperf.cache._options import CacheInfo, Raised
from backendperf.cache.backends.base import MISSING
from backendperf.cache.backends.memory import INF, MemoryBackend
from backendperf.cache.keys import freeze
from backendperf.exceptions import UnhashableArgumentError

if TYPE_CHECKING:
    from collections.abc import Callable, Hashable

    from backendperf.cache._options import Options

__all__ = ["Core", "Keys"]

_get_ident = threading.get_ident


def _dropped(flight: Flight | AsyncFlight) -> bool:
    """``flight.dropped`` read again: another thread may have set it since the last read."""
    return flight.dropped


class Keys:
    """What both cores share: key building (needs ``keyfn``, ``names`` and ``name``) and the
    asyncio background refreshes they keep referenced until done (``_tasks``)."""

    def __init__(
        self,
        opts: Options,
        call: Callable[..., Any],
        name: str,
        names: tuple[str, ...],
        keyfn: Callable[..., Hashable],
        is_async: bool,
    ) -> None:
        self.opts = opts
        self.call = call
        self.name = name
        self.names = names
        self.keyfn = keyfn
        self.is_async = is_async
        self.inflight: dict[Hashable, Any] = {}
        self.misses = 0
        self.stale_hits = 0
        self._tasks: set[asyncio.Task[Any]] = set()

    # -- the in-flight table (both cores keep one) ---------------------------------------------

    def _release(self, flight: Flight) -> None:
        """Remove ``flight`` from the table (unless replaced since), then settle it: the last
        step of every miss, on every path."""
        try:
            inflight, hk = self.inflight, flight.key
            if inflight.get(hk) is flight:
                inflight.pop(hk, None)
        finally:
            flight.settle()

    def _forget(self, flight: AsyncFlight) -> None:
        """Remove an asyncio flight from the table, unless another one replaced it."""
        if self.inflight.get(flight.key) is flight:
            self.inflight.pop(flight.key, None)

    def _drop_flight(self, key: Hashable) -> None:
        """Invalidation wins: the key's computation in flight is forgotten and not stored."""
        flight = self.inflight.pop(hkey(key), None)
        if flight is not None:
            flight.dropped = True

    def _drop_flights(self) -> None:
        """:meth:`_drop_flight` for every key (``cache_clear``)."""
        flights = list(self.inflight.values())
        self.inflight.clear()
        for flight in flights:
            flight.dropped = True

    def track_refresh(self, task: asyncio.Task[Any]) -> None:
        """Keep a background refresh alive until it ends, and log its failure."""
        self._tasks.add(task)
        task.add_done_callback(self._refresh_done)

    def _refresh_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and (exc := task.exception()) is not None:
            log_refresh_failure(self.name, exc)

    def frozen_key(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Hashable:
        """The key for a call, converting unhashable containers (the slow path)."""
        key = self.keyfn(*args, **kwargs)
        try:
            hash(key)
        except TypeError:
            try:
                return freeze(key)
            except TypeError:
                pass
            raise self._unhashable(args, kwargs) from None
        return key

    def _unhashable(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> TypeError:
        named = dict(zip(self.names, args, strict=False))
        named.update(kwargs)
        extra = args[len(self.names) :]
        for name, value in [*named.items(), *((f"*args[{i}]", v) for i, v in enumerate(extra))]:
            try:
                freeze(value)
            except TypeError:
                return UnhashableArgumentError(self.name, name, value)
        return TypeError(f"{self.name}(): the key built for this call is unhashable")


class Core(Keys):
    """Store, flights and counters of one cache (a function, or one instance of a method)."""

    def __init__(
        self,
        opts: Options,
        call: Callable[..., Any],
        name: str,
        names: tuple[str, ...],
        keyfn: Callable[..., Hashable],
        is_async: bool,
    ) -> None:
        super().__init__(opts, call, name, names, keyfn, is_async)
        self.entries = opts.entries
        self.store = MemoryBackend(
            opts.maxsize, policy=opts.policy, timer=opts.timer, entries=opts.entries
        )
        self.slow_hits = 0  # hits counted outside the generated wrapper (which counts its own)
        self.get_hits: Callable[[], int] = lambda: 0
        self.reset_hits: Callable[[], None] = lambda: None

    def build(self, factory: Callable[..., Any], defaults: dict[str, Any]) -> Callable[..., Any]:
        s = self.store
        wrapper, self.get_hits, self.reset_hits = factory(
            _bp_data=s._data,
            _bp_move=s._move,
            _bp_timer=self.opts.timer,
            _bp_core=self,
            _bp_Raised=Raised,
            _bp_call=self.call,
            **defaults,
        )
        return wrapper  # type: ignore[no-any-return]

    # -- reading -----------------------------------------------------------------------------

    def _fresh(self, item: Any) -> Flight | None:
        """A settled flight with the answer ``item`` gives now, or None if it gives none."""
        if item is MISSING:
            return None
        if not self.entries:
            return Flight.finished(item)
        value, expires = item
        if self.opts.timer() >= expires:
            return None
        if value.__class__ is Raised:
            return Flight.finished(error=value.error())
        return Flight.finished(value)

    # -- the miss path (sync) ------------------------------------------------------------------

    def enter(self, key: Hashable) -> Flight:
        """Begin a miss on ``key``: a flight this thread leads (compute, then call
        :meth:`finished` or :meth:`failed`), or a ``done`` one that holds the answer.

        Register first, look again second: a leader stores its value *before* it removes its
        flight, so a caller that registers after that removal finds the value on its second
        look, and one that registers before it joins the flight. Either way the function runs
        once per miss.
        """
        me = _get_ident()
        hk = hkey(key)
        flight = Flight(hk, me)
        inflight = self.inflight
        current: Flight | AsyncFlight = inflight.setdefault(hk, flight)
        if current is not flight:
            if isinstance(current, Flight) and not current.done:
                self.misses += 1
                if current.join(me):
                    return current
                return Flight.direct_call()  # recursion, or a wait-for cycle: compute it here
            inflight[hk] = flight  # a finished flight not yet removed, or an asyncio refresh
        item = self.store._peek(key)
        if item is not MISSING:
            done = self._fresh(item)
            if done is not None:  # stored since the wrapper's lookup: a hit after all
                self.slow_hits += 1
                flight.value, flight.error = done.value, done.error
                self._release(flight)
                return flight
        self.misses += 1
        return flight

    def finished(self, key: Hashable, flight: Flight, value: Any) -> Any:
        """The leader computed ``value``: store it, settle the flight, return it."""
        if flight.direct:
            return value
        try:
            self._keep(key, flight, value)
        except BaseException as exc:  # ttl= or unless= raised: callers get that error
            flight.error = exc
            raise
        else:
            flight.value = value
        finally:
            self._release(flight)
        return value

    def failed(self, key: Hashable, flight: Flight, exc: BaseException) -> None:
        """The leader's call raised ``exc``: maybe cache it, settle the flight (caller raises)."""
        if flight.direct:
            return
        flight.error = exc
        try:
            self._keep_error(key, flight, exc)
        finally:
            self._release(flight)

    def _keep(self, key: Hashable, flight: Flight | AsyncFlight | None, value: Any) -> None:
        """Store ``value`` unless ``unless=`` says no or ``flight`` was dropped (before or
        while storing: invalidation wins). ``None``: a refresh, which no flight computes."""
        opts = self.opts
        if (flight is not None and flight.dropped) or (
            opts.unless is not None and opts.unless(value)
        ):
            return
        if not self.entries:
            stored = self.store._put(key, value)
        else:
            now = opts.timer()
            expires = now + opts.lifetime(value)
            hard = expires + opts.stale_ttl
            stored = self.store._put(key, (value, expires), hard, now)
        if flight is not None and _dropped(flight):  # invalidated while we stored
            self.store._remove_if(key, stored)

    def _keep_error(self, key: Hashable, flight: Flight | AsyncFlight, exc: BaseException) -> None:
        neg = self.opts.negative_ttl
        if neg is None or not isinstance(exc, Exception) or flight.dropped:
            return
        now = self.opts.timer()
        stored = self.store._put(key, (Raised(exc), now + neg), now + neg, now)
        if _dropped(flight):
            self.store._remove_if(key, stored)

    def compute(self, key: Hashable, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        """The miss path for callers other than the generated wrapper."""
        flight = None
        try:
            flight = self.enter(key)
            if flight.done:
                return flight.result()
            return self.finished(key, flight, self.call(*args, **kwargs))
        except BaseException as exc:
            if flight is not None and not flight.done:
                self.failed(key, flight, exc)
            raise

    # -- other sync paths --------------------------------------------------------------------

    def _slow_read(self, key: Hashable) -> tuple[Any, float, float]:
        """The slow path's lookup: ``(value, expires, now)``; ``value`` is MISSING on a miss,
        and ``now >= expires`` for an expired entry. A hit is counted (a cached error raised)."""
        item = self.store._touch(key)
        if item is MISSING:
            return MISSING, INF, 0.0
        if not self.entries:
            self.slow_hits += 1
            return item, INF, 0.0
        value, expires = item
        now = self.opts.timer()
        if now < expires:
            self.slow_hits += 1
            if value.__class__ is Raised:
                raise value.error()
        return value, expires, now

    def slow(self, *args: Any, **kwargs: Any) -> Any:
        """A call whose key needed converting (unhashable arguments): the whole hit path."""
        key = self.frozen_key(args, kwargs)
        value, expires, now = self._slow_read(key)
        if value is MISSING:
            return self.compute(key, args, kwargs)
        if now >= expires:
            return self.expired(key, value, expires, now, *args, **kwargs)
        return value

    def expired(
        self, key: Hashable, value: Any, expires: float, now: float, /, *args: Any, **kwargs: Any
    ) -> Any:
        if self._serve_stale(value, expires, now):
            self._refresh_in_background(key, args, kwargs)
            return value
        return self.compute(key, args, kwargs)

    def _serve_stale(self, value: Any, expires: float, now: float) -> bool:
        stale = self.opts.stale_ttl
        if stale and now < expires + stale and value.__class__ is not Raised:
            self.stale_hits += 1
            return True
        return False

    def _refresh_in_background(
        self, key: Hashable, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> None:
        hk = hkey(key)
        flight = Flight(hk, None)
        current = self.inflight.setdefault(hk, flight)
        if current is not flight:
            return  # a refresh or a miss is computing it already
        try:
            refresh_executor().submit(self._refresh, key, flight, args, kwargs)
        except RuntimeError:  # interpreter shutting down: no new threads
            self._release(flight)

    def _refresh(
        self, key: Hashable, flight: Flight, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> None:
        flight.owner = _get_ident()
        try:
            value = self.call(*args, **kwargs)
            self._keep(key, flight, value)
        except Exception as exc:
            flight.error = exc
            log_refresh_failure(self.name, exc)
        else:
            flight.value = value
        finally:
            self._release(flight)

    # -- async paths -------------------------------------------------------------------------

    async def amiss(self, key: Hashable, /, *args: Any, **kwargs: Any) -> Any:
        done = self._fresh(self.store._peek(key))
        if done is not None:
            self.slow_hits += 1
            return done.result()
        self.misses += 1
        flight = self._aflight(key, args, kwargs, foreground=True)
        if flight.would_deadlock(asyncio.current_task()):
            return await self.call(*args, **kwargs)  # recursion, or a cycle of tasks
        return await flight.join(self._forget)

    def _aflight(
        self, key: Hashable, args: tuple[Any, ...], kwargs: dict[str, Any], *, foreground: bool
    ) -> AsyncFlight:
        """The key's flight on this loop, started if there is none."""
        loop = asyncio.get_running_loop()
        hk = hkey(key)
        current = self.inflight.get(hk)
        if (
            current.__class__ is AsyncFlight
            and current.loop is loop
            and current.task is not None
            and not current.task.done()
        ):
            return current
        flight = AsyncFlight(hk, loop)
        self.inflight[hk] = flight
        flight.task = loop.create_task(self._acompute(key, flight, args, kwargs, foreground))
        return flight

    async def _acompute(
        self,
        key: Hashable,
        flight: AsyncFlight,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        foreground: bool,
    ) -> Any:
        try:
            try:
                value = await self.call(*args, **kwargs)
            except Exception as exc:
                if foreground:
                    self._keep_error(key, flight, exc)
                raise
            self._keep(key, flight, value)
            return value
        finally:
            self._forget(flight)

    async def aslow(self, *args: Any, **kwargs: Any) -> Any:
        key = self.frozen_key(args, kwargs)
        value, expires, now = self._slow_read(key)
        if value is MISSING:
            return await self.amiss(key, *args, **kwargs)
        if now >= expires:
            return await self.aexpired(key, value, expires, now, *args, **kwargs)
        return value

    async def aexpired(
        self, key: Hashable, value: Any, expires: float, now: float, /, *args: Any, **kwargs: Any
    ) -> Any:
        if not self._serve_stale(value, expires, now):
            return await self.amiss(key, *args, **kwargs)
        if self.inflight.get(hkey(key)) is None:
            flight = self._aflight(key, args, kwargs, foreground=False)
            assert flight.task is not None
            self.track_refresh(flight.task)
        return value

    # -- control -----------------------------------------------------------------------------

    def info(self) -> CacheInfo:
        store = self.store
        if self.entries:
            store.purge()
        return CacheInfo(
            hits=self.get_hits() + self.slow_hits,
            misses=self.misses,
            evictions=store.evictions,
            currsize=len(store),
            maxsize=self.opts.maxsize,
            stale_hits=self.stale_hits,
        )

    def clear(self) -> None:
        """Drop every entry and every computation in flight (they will not be stored)."""
        self._drop_flights()
        self.store.clear()
        self.misses = self.stale_hits = self.slow_hits = self.store.evictions = 0
        self.reset_hits()

    def invalidate(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> bool:
        """Drop the entry and any computation of it in flight; True when the entry could still
        have been served (fresh or stale)."""
        key = self.frozen_key(args, kwargs)
        self._drop_flight(key)
        item = self.store._pop(key)
        if item is MISSING:
            return False
        if not self.entries:
            return True
        value, expires = item
        grace = 0.0 if value.__class__ is Raised else self.opts.stale_ttl
        return bool(self.opts.timer() < expires + grace)

    def refresh(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        key = self.frozen_key(args, kwargs)
        self._drop_flight(key)  # an older computation must not win
        value = self.call(*args, **kwargs)
        self._keep(key, None, value)
        return value

    async def arefresh(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        key = self.frozen_key(args, kwargs)
        self._drop_flight(key)
        value = await self.call(*args, **kwargs)
        self._keep(key, None, value)
        return value
