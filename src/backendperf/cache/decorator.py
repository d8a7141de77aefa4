"""``@cached``: memoization for functions, coroutine functions and methods.

Structure. :func:`cached` validates options into :class:`_Options`, then builds either

* a :class:`_Core` per function (or per instance, for methods): the in-process store, the
  single-flight table and the counters, plus a generated wrapper (see ``_codegen``) whose hit path
  is a dictionary lookup and nothing else; or
* a :class:`_BackendCore` when ``backend=`` is given: the same behaviour through the
  :class:`~backendperf.cache.backends.base.Backend` protocol.

Only misses take locks. A miss registers a *flight* for its key; concurrent misses on that key
wait for it instead of calling the function again (threads wait on a lock the leader holds;
asyncio callers await one shared task).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import inspect
import logging
import math
import random
import threading
import time
import weakref
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass
from datetime import timedelta
from types import MethodType
from typing import TYPE_CHECKING, Any, ParamSpec, Protocol, TypeVar, overload

from backendperf.cache import _codegen
from backendperf.cache.backends.base import MISSING
from backendperf.cache.backends.memory import INF, POLICIES, MemoryBackend, Policy
from backendperf.cache.keys import freeze
from backendperf.exceptions import ConfigurationError, UnhashableArgumentError

if TYPE_CHECKING:
    from typing import Concatenate

    from typing_extensions import Self

__all__ = ["CacheInfo", "CachedFunction", "cached"]

logger = logging.getLogger("backendperf")

P = ParamSpec("P")
P2 = ParamSpec("P2")
R = TypeVar("R")
S = TypeVar("S")

TTL = float | int | timedelta
TTLArg = TTL | Callable[[Any], TTL | None] | None


@dataclass(frozen=True, slots=True)
class CacheInfo:
    """Counters of one cache (for a method accessed on the class: of all its instances).

    >>> CacheInfo(hits=3, misses=1, evictions=0, currsize=1, maxsize=128).hit_ratio
    0.75
    """

    hits: int
    misses: int
    evictions: int
    currsize: int
    maxsize: int | None
    stale_hits: int = 0
    """Calls answered with an expired value while it was refreshed (``stale_ttl=``)."""
    errors: int = 0
    """Remote store failures (and undecodable values); each such call ran uncached."""
    bypasses: int = 0
    """Calls that skipped the remote store while its circuit breaker was open."""

    @property
    def hit_ratio(self) -> float:
        """Share of calls answered from the cache (stale answers count as hits)."""
        total = self.hits + self.stale_hits + self.misses
        return (self.hits + self.stale_hits) / total if total else 0.0

    def __add__(self, other: CacheInfo) -> CacheInfo:
        return CacheInfo(
            self.hits + other.hits,
            self.misses + other.misses,
            self.evictions + other.evictions,
            self.currsize + other.currsize,
            None if self.maxsize is None or other.maxsize is None else self.maxsize + other.maxsize,
            self.stale_hits + other.stale_hits,
            self.errors + other.errors,
            self.bypasses + other.bypasses,
        )


class CachedFunction(Protocol[P, R]):
    """What :func:`cached` returns: the function, plus cache controls.

    Type checkers see the decorated function's own signature, for calls and for
    :meth:`invalidate`; on a method, ``obj.method`` is bound as usual.
    """

    __wrapped__: Callable[P, R]

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R: ...

    def cache_info(self) -> CacheInfo:
        """Hits, misses, evictions, size."""
        ...

    def cache_clear(self) -> None:
        """Remove every entry and reset the counters."""
        ...

    def invalidate(self, *args: P.args, **kwargs: P.kwargs) -> bool:
        """Remove the entry that this call would use; return whether there was one."""
        ...

    def refresh(self, *args: P.args, **kwargs: P.kwargs) -> R:
        """Call the function now, bypassing the cache read, and store the result."""
        ...

    def uncached(self, *args: P.args, **kwargs: P.kwargs) -> R:
        """Call the function without reading or writing the cache."""
        ...

    @overload
    def __get__(self, instance: None, owner: type[Any] | None = None) -> Self: ...
    @overload
    def __get__(
        self: CachedFunction[Concatenate[S, P2], R],
        instance: S,
        owner: type[Any] | None = None,
    ) -> CachedFunction[P2, R]: ...


# -- options ---------------------------------------------------------------------------------


def _seconds(name: str, value: object) -> float | None:
    if value is None:
        return None
    if isinstance(value, timedelta):
        value = value.total_seconds()
    if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value):
        raise ConfigurationError(f"{name}={value!r}: use seconds (int or float) or a timedelta")
    if value < 0:
        raise ConfigurationError(f"{name}={value!r}: must not be negative")
    return float(value)


@dataclass(frozen=True, slots=True)
class _Options:
    maxsize: int | None
    policy: Policy
    ttl: float | None
    ttl_fn: Callable[[Any], Any] | None
    stale_ttl: float
    jitter: float
    negative_ttl: float | None
    unless: Callable[[Any], bool] | None
    typed: bool
    key: Callable[..., Hashable] | None
    timer: Callable[[], float]
    clock: Callable[[], float]
    backend: Any
    tags: Callable[..., Any] | None

    @property
    def entries(self) -> bool:
        return self.ttl is not None or self.ttl_fn is not None or self.negative_ttl is not None

    def lifetime(self, value: Any) -> float:
        """Seconds ``value`` stays fresh (``inf``: until evicted), jitter applied."""
        if self.ttl_fn is not None:
            seconds = _seconds("ttl() result", self.ttl_fn(value))
            if seconds is None:
                return INF
        elif self.ttl is None:
            return INF
        else:
            seconds = self.ttl
        if self.jitter:
            seconds *= 1.0 - self.jitter * random.random()
        return seconds


class _Raised:
    """A cached exception (``negative_ttl=``)."""

    __slots__ = ("exc", "tb")

    def __init__(self, exc: BaseException) -> None:
        self.exc = exc
        self.tb = exc.__traceback__

    def error(self) -> BaseException:
        return self.exc.with_traceback(self.tb)


# -- single flight ---------------------------------------------------------------------------


class _Flight:
    """One computation in progress. The leader pays for no lock: the first waiter creates the
    event (under the store lock) and the leader, finishing under that lock, sees and sets it."""

    __slots__ = ("error", "event", "owner", "value")

    def __init__(self, owner: int | None) -> None:
        self.owner = owner
        self.event: threading.Event | None = None
        self.value: Any = MISSING
        self.error: BaseException | None = None

    def wait(self) -> Any:
        assert self.event is not None
        self.event.wait()
        if self.error is not None:
            raise self.error
        return self.value


class _AsyncFlight:
    """One asyncio task shared by every caller; cancelled only when all callers have gone."""

    __slots__ = ("loop", "task", "waiters")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.task: asyncio.Task[Any] | None = None
        self.waiters = 0

    async def join(self) -> Any:
        task = self.task
        assert task is not None
        self.waiters += 1
        try:
            return await asyncio.shield(task)
        finally:
            self.waiters -= 1
            if self.waiters == 0 and not task.done():
                task.cancel()


_executor: concurrent.futures.ThreadPoolExecutor | None = None
_executor_lock = threading.Lock()


def _refresh_executor() -> concurrent.futures.ThreadPoolExecutor:
    global _executor
    with _executor_lock:
        if _executor is None:
            _executor = concurrent.futures.ThreadPoolExecutor(
                max_workers=4, thread_name_prefix="backendperf-refresh"
            )
        return _executor


def _log_refresh_failure(name: str, exc: BaseException) -> None:
    logger.warning("background refresh of %s failed; serving the stale value: %r", name, exc)


# -- the in-process core ---------------------------------------------------------------------


class _Keys:
    """Key building shared by both cores (needs ``keyfn``, ``names`` and ``name``)."""

    keyfn: Callable[..., Hashable]
    names: tuple[str, ...]
    name: str

    def frozen_key(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Hashable:
        """The key for a call, converting unhashable containers (the slow path)."""
        key = self.keyfn(*args, **kwargs)
        try:
            hash(key)
        except TypeError:
            try:
                return freeze(key)
            except TypeError:
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


class _Core(_Keys):
    """Store, flights and counters of one cache (a function, or one instance of a method)."""

    def __init__(
        self,
        opts: _Options,
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
        self.store = MemoryBackend(
            opts.maxsize, policy=opts.policy, timer=opts.timer, entries=opts.entries
        )
        self.inflight: dict[Hashable, Any] = {}
        self.capacity: float = INF if opts.maxsize is None else opts.maxsize
        if opts.entries:
            self.miss = self.miss_entries  # type: ignore[method-assign]
        self.misses = 0
        self.stale_hits = 0
        self.slow_hits = 0  # hits on the unhashable-argument path (the fast path counts its own)
        self.get_hits: Callable[[], int] = lambda: 0
        self.reset_hits: Callable[[], None] = lambda: None
        self._tasks: set[asyncio.Task[Any]] = set()

    def build(self, factory: Callable[..., Any], defaults: dict[str, Any]) -> Callable[..., Any]:
        s = self.store
        wrapper, self.get_hits, self.reset_hits = factory(
            _bp_data=s.data,
            _bp_move=s.move,
            _bp_lock=s.lock,
            _bp_timer=self.opts.timer,
            _bp_core=self,
            _bp_Raised=_Raised,
            **defaults,
        )
        return wrapper  # type: ignore[no-any-return]

    # -- reading -----------------------------------------------------------------------------

    def fresh(self, key: Hashable, now: float) -> Any:
        """The fresh cached value for ``key`` (raising a cached error), or MISSING."""
        return self._fresh_item(self.store.peek(key), now)

    def _fresh_item(self, item: Any, now: float) -> Any:
        if item is MISSING:
            return MISSING
        if not self.opts.entries:
            return item
        value, expires = item
        if now >= expires:
            return MISSING
        if value.__class__ is _Raised:
            raise value.error()
        return value

    def lookup(self, key: Hashable) -> Any:
        """A hit-path read for the slow path: the value, or MISSING (expired counts as missing)."""
        return self._fresh_item(self.store.touch(key), self.opts.timer())

    # -- writing -----------------------------------------------------------------------------

    def _item(self, value: Any, now: float) -> tuple[tuple[Any, float], float]:
        """What to store for ``value`` and its hard expiry (entries layout only)."""
        expires = now + self.opts.lifetime(value)
        return (value, expires), expires + self.opts.stale_ttl

    def save(self, key: Hashable, value: Any) -> None:
        opts = self.opts
        if opts.unless is not None and opts.unless(value):
            return
        if not opts.entries:
            self.store.put(key, value)
            return
        now = opts.timer()
        item, hard = self._item(value, now)
        self.store.put(key, item, hard, now)

    def save_error(self, key: Hashable, exc: BaseException) -> None:
        neg = self.opts.negative_ttl
        if neg is None or not isinstance(exc, Exception):
            return
        now = self.opts.timer()
        self.store.put(key, (_Raised(exc), now + neg), now + neg, now)

    # -- single flight (sync) ------------------------------------------------------------------
    #
    # ``inflight[key]`` is the leader's thread ident while nobody waits (so an uncontended miss
    # allocates nothing), and becomes a _Flight with an Event once a second thread arrives.

    def _waiter_locked(self, key: Hashable, current: Any, me: int) -> _Flight | None:
        """Under the lock: the flight to wait on, or None if this thread is the leader."""
        if current.__class__ is _Flight:
            if current.owner == me:
                return None
            if current.event is None:
                current.event = threading.Event()
            return current
        if current == me:
            return None
        flight = self.inflight[key] = _Flight(current)
        flight.event = threading.Event()
        return flight

    def _wait(self, flight: _Flight | None, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        if flight is None:  # the function recursed into itself with the same key
            return self.call(*args, **kwargs)
        return flight.wait()

    @staticmethod
    def _publish(current: Any, value: Any, error: BaseException | None) -> None:
        if current.__class__ is _Flight:
            current.value = value
            current.error = error
            if current.event is not None:
                current.event.set()

    def _fail(self, key: Hashable, exc: BaseException) -> None:
        self.save_error(key, exc)
        with self.store.lock:
            current = self.inflight.pop(key, None)
        self._publish(current, MISSING, exc)

    def _end(self, key: Hashable, flight: _Flight) -> None:
        with self.store.lock:
            if self.inflight.get(key) is flight:
                del self.inflight[key]
        self._publish(flight, flight.value, flight.error)

    # -- sync paths --------------------------------------------------------------------------

    def miss(self, key: Hashable, /, *args: Any, **kwargs: Any) -> Any:
        """The miss path without expiry: lock-free up to the call, one lock round trip after.

        Each step before the call is a single dict operation, atomic under the GIL:
        ``setdefault`` elects the leader; only waiters take the lock, to swap the leader's
        ident for a _Flight they can block on.
        """
        store = self.store
        data, inflight = store.data, self.inflight
        # stored by another thread since our lookup? (LFU bookkeeping is Python: lock it)
        value = store.peek(key) if store.locked_reads else data.get(key, MISSING)
        if value is not MISSING:
            return value
        me = threading.get_ident()
        current = inflight.setdefault(key, me)
        if current != me:
            with store.lock:
                self.misses += 1
                current = inflight.get(key)
                flight = None if current is None else self._waiter_locked(key, current, me)
            if current is None:  # the leader finished in the meantime: look again
                self.misses -= 1
                return self.miss(key, *args, **kwargs)
            return self._wait(flight, args, kwargs)
        self.misses += 1
        try:
            value = self.call(*args, **kwargs)
        except BaseException as exc:
            self._fail(key, exc)
            raise
        unless = self.opts.unless
        keep = unless is None or not unless(value)
        with store.lock:
            if keep and self.capacity:
                data[key] = value
                if len(data) > self.capacity:
                    store.evict()
                    store.evictions += 1
            current = inflight.pop(key, None)
        if current.__class__ is _Flight:
            self._publish(current, value, None)
        return value

    def miss_entries(self, key: Hashable, /, *args: Any, **kwargs: Any) -> Any:
        """The miss path with expiry (ttl, negative_ttl): entries are (value, expires_at)."""
        opts, store, inflight = self.opts, self.store, self.inflight
        now = opts.timer()
        me = threading.get_ident()
        with store.lock:
            value = self._fresh_item(store.peek_unlocked(key), now)
            if value is not MISSING:
                return value
            self.misses += 1
            current = inflight.get(key)
            if current is None:
                inflight[key] = me
            else:
                flight = self._waiter_locked(key, current, me)
        if current is not None:
            return self._wait(flight, args, kwargs)
        try:
            value = self.call(*args, **kwargs)
        except BaseException as exc:
            self._fail(key, exc)
            raise
        keep = opts.unless is None or not opts.unless(value)
        if keep:
            now = opts.timer()
            item, hard = self._item(value, now)
        with store.lock:
            if keep:
                store.put_locked(key, item, hard, now)
            current = inflight.pop(key, None)
        if current.__class__ is _Flight:
            self._publish(current, value, None)
        return value

    def slow(self, *args: Any, **kwargs: Any) -> Any:
        key = self.frozen_key(args, kwargs)
        value = self.lookup(key)
        if value is MISSING:
            return self.miss(key, *args, **kwargs)
        self.slow_hits += 1
        return value

    def expired(
        self, key: Hashable, value: Any, expires: float, now: float, /, *args: Any, **kwargs: Any
    ) -> Any:
        if (
            self.opts.stale_ttl
            and now < expires + self.opts.stale_ttl
            and (value.__class__ is not _Raised)
        ):
            self.stale_hits += 1
            self._refresh_in_background(key, args, kwargs)
            return value
        return self.miss(key, *args, **kwargs)

    def _refresh_in_background(
        self, key: Hashable, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> None:
        with self.store.lock:
            if key in self.inflight:
                return
            flight = self.inflight[key] = _Flight(None)
        try:
            _refresh_executor().submit(self._refresh, key, flight, args, kwargs)
        except RuntimeError:  # interpreter shutting down: no new threads
            self._end(key, flight)

    def _refresh(
        self, key: Hashable, flight: _Flight, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> None:
        try:
            value = self.call(*args, **kwargs)
        except Exception as exc:
            flight.error = exc
            _log_refresh_failure(self.name, exc)
        else:
            flight.value = value
            self.save(key, value)
        finally:
            self._end(key, flight)

    # -- async paths -------------------------------------------------------------------------

    async def amiss(self, key: Hashable, /, *args: Any, **kwargs: Any) -> Any:
        value = self.fresh(key, self.opts.timer())
        if value is not MISSING:
            return value
        flight = self._aflight(key, args, kwargs, count=True)
        return await flight.join()

    def _aflight(
        self, key: Hashable, args: tuple[Any, ...], kwargs: dict[str, Any], *, count: bool
    ) -> _AsyncFlight:
        loop = asyncio.get_running_loop()
        with self.store.lock:
            if count:
                self.misses += 1
            flight = self.inflight.get(key)
            if flight is not None and flight.loop is loop:
                return flight  # type: ignore[no-any-return]
            flight = self.inflight[key] = _AsyncFlight(loop)
        flight.task = loop.create_task(self._acompute(key, flight, args, kwargs, count))
        return flight

    async def _acompute(
        self,
        key: Hashable,
        flight: _AsyncFlight,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        foreground: bool,
    ) -> Any:
        try:
            value = await self.call(*args, **kwargs)
        except Exception as exc:
            if foreground:
                self.save_error(key, exc)
            raise
        else:
            self.save(key, value)
            return value
        finally:
            with self.store.lock:
                if self.inflight.get(key) is flight:
                    del self.inflight[key]

    async def aslow(self, *args: Any, **kwargs: Any) -> Any:
        key = self.frozen_key(args, kwargs)
        value = self.lookup(key)
        if value is MISSING:
            return await self.amiss(key, *args, **kwargs)
        self.slow_hits += 1
        return value

    async def aexpired(
        self, key: Hashable, value: Any, expires: float, now: float, /, *args: Any, **kwargs: Any
    ) -> Any:
        if (
            self.opts.stale_ttl
            and now < expires + self.opts.stale_ttl
            and (value.__class__ is not _Raised)
        ):
            self.stale_hits += 1
            with self.store.lock:
                running = key in self.inflight
            if not running:
                flight = self._aflight(key, args, kwargs, count=False)
                task = flight.task
                assert task is not None
                self._tasks.add(task)
                task.add_done_callback(self._refresh_done)
            return value
        return await self.amiss(key, *args, **kwargs)

    def _refresh_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and (exc := task.exception()) is not None:
            _log_refresh_failure(self.name, exc)

    # -- control -----------------------------------------------------------------------------

    def info(self) -> CacheInfo:
        if self.opts.entries:
            self.store.purge()
        return CacheInfo(
            hits=self.get_hits() + self.slow_hits,
            misses=self.misses,
            evictions=self.store.evictions,
            currsize=len(self.store),
            maxsize=self.opts.maxsize,
            stale_hits=self.stale_hits,
        )

    def clear(self) -> None:
        self.store.clear()
        with self.store.lock:
            self.misses = self.stale_hits = self.slow_hits = self.store.evictions = 0
        self.reset_hits()

    def invalidate(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> bool:
        """Drop the entry; True when it could still have been served (fresh or stale)."""
        key = self.frozen_key(args, kwargs)
        item = self.store.peek(key)
        if item is MISSING or not self.store.discard(key, item):
            return False
        if not self.opts.entries:
            return True
        value, expires = item
        grace = 0.0 if value.__class__ is _Raised else self.opts.stale_ttl
        return bool(self.opts.timer() < expires + grace)

    def refresh(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        key = self.frozen_key(args, kwargs)
        value = self.call(*args, **kwargs)
        self.save(key, value)
        return value

    async def arefresh(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        key = self.frozen_key(args, kwargs)
        value = await self.call(*args, **kwargs)
        self.save(key, value)
        return value


# -- the Backend-protocol core ---------------------------------------------------------------


class _BackendCore(_Keys):
    """``@cached(backend=...)``: reads and writes through the Backend protocol.

    A backend with ``bind(name)`` (the Redis stores) gets a view per function, which turns keys
    into stable bytes. Optional view methods add features: ``flight_lock``, ``flight_unlock``
    and ``flight_wait`` give single flight across processes, a ``tags=`` keyword on ``set``
    stores tags, ``stats`` adds error counters to :class:`CacheInfo`. With ``stale_ttl`` each
    entry is stored as ``(value, fresh_until)`` by the wall clock (shared by every process),
    and lives in the backend for ``ttl + stale_ttl``.
    """

    def __init__(
        self,
        opts: _Options,
        call: Callable[..., Any],
        name: str,
        names: tuple[str, ...],
        keyfn: Callable[..., Hashable],
        is_async: bool,
        qualified: str,
    ) -> None:
        backend = opts.backend
        if hasattr(backend, "bind"):
            backend = backend.bind(qualified)
        self.opts = opts
        self.backend = backend
        self.call = call
        self.name = name
        self.names = names
        self.keyfn = keyfn
        self.is_async = is_async
        self.native_async = is_async and hasattr(backend, "aget")
        if not is_async and not hasattr(backend, "get"):
            raise ConfigurationError(
                f"{name} is not async, but {type(backend).__qualname__} has only async methods: "
                f"use RedisBackend (not AsyncRedisBackend) for def functions"
            )
        self.locking = getattr(backend, "locking", True) and hasattr(
            backend, "aflight_lock" if self.native_async else "flight_lock"
        )
        self.stale = opts.stale_ttl
        self.clock = opts.clock
        self.tags = opts.tags
        self.lock = threading.Lock()
        self.inflight: dict[Hashable, Any] = {}
        self.hits = self.misses = self.stale_hits = 0
        self._tasks: set[asyncio.Task[Any]] = set()

    # -- stored form ---------------------------------------------------------------------

    def _stored(self, value: Any) -> tuple[Any, float | None]:
        """What to store for ``value`` and for how long (``None``: no expiry)."""
        seconds = self.opts.lifetime(value)
        if not self.stale:
            return value, None if seconds == INF else seconds
        return (value, self.clock() + seconds), seconds + self.stale

    def _read(self, stored: Any) -> tuple[Any, bool]:
        """``(value, fresh)`` from a stored form; MISSING for what is not ours."""
        if not self.stale or stored is MISSING:
            return stored, True
        if stored.__class__ is not tuple or len(stored) != 2:
            return MISSING, True
        value, fresh_until = stored
        return value, self.clock() < fresh_until

    def _tag_kwargs(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
        if self.tags is None:
            return {}
        return {"tags": list(self.tags(*args, **kwargs))}

    def _keep(self, value: Any) -> bool:
        return self.opts.unless is None or not self.opts.unless(value)

    def store(
        self,
        key: Hashable,
        value: Any,
        args: tuple[Any, ...],
        kw: dict[str, Any],
        token: str = "",
    ) -> None:
        """Store the result; with a flight lock ``token``, release the lock too (in the same
        round trip when the backend has ``flight_set``)."""
        backend = self.backend
        if not self._keep(value):
            if token:
                backend.flight_unlock(key, token)
            return
        stored, ttl = self._stored(value)
        if not token:
            backend.set(key, stored, ttl, **self._tag_kwargs(args, kw))
        elif hasattr(backend, "flight_set"):
            backend.flight_set(key, stored, ttl, token, **self._tag_kwargs(args, kw))
        else:
            try:
                backend.set(key, stored, ttl, **self._tag_kwargs(args, kw))
            finally:
                backend.flight_unlock(key, token)

    async def astore(
        self,
        key: Hashable,
        value: Any,
        args: tuple[Any, ...],
        kw: dict[str, Any],
        token: str = "",
    ) -> None:
        backend = self.backend
        if not self.native_async:
            self.store(key, value, args, kw, token)
            return
        if not self._keep(value):
            if token:
                await backend.aflight_unlock(key, token)
            return
        stored, ttl = self._stored(value)
        if not token:
            await backend.aset(key, stored, ttl, **self._tag_kwargs(args, kw))
        elif hasattr(backend, "aflight_set"):
            await backend.aflight_set(key, stored, ttl, token, **self._tag_kwargs(args, kw))
        else:
            try:
                await backend.aset(key, stored, ttl, **self._tag_kwargs(args, kw))
            finally:
                await backend.aflight_unlock(key, token)

    # -- wrappers ------------------------------------------------------------------------

    def wrapper(self) -> Callable[..., Any]:
        backend = self.backend
        frozen_key = self.frozen_key
        read = self._read

        if not self.is_async:

            def sync_wrapper(*args: Any, **kwargs: Any) -> Any:
                key = frozen_key(args, kwargs)
                value, fresh = read(backend.get(key))
                if value is MISSING:
                    return self.miss(key, args, kwargs)
                if not fresh:
                    return self.stale_hit(key, value, args, kwargs)
                self.hits += 1
                return value

            return sync_wrapper

        native = self.native_async

        async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
            key = frozen_key(args, kwargs)
            value, fresh = read(await backend.aget(key) if native else backend.get(key))
            if value is MISSING:
                return await self.amiss(key, args, kwargs)
            if not fresh:
                return self.astale_hit(key, value, args, kwargs)
            self.hits += 1
            return value

        return async_wrapper

    # -- sync miss -----------------------------------------------------------------------

    def miss(self, key: Hashable, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        me = threading.get_ident()
        with self.lock:
            self.misses += 1
            current: _Flight | None = self.inflight.get(key)
            leader = current is None
            flight = self.inflight[key] = _Flight(me) if current is None else current
            if not leader and flight.event is None and flight.owner != me:
                flight.event = threading.Event()
        if not leader:
            if flight.owner == me:  # recursion into the same key
                return self.call(*args, **kwargs)
            return flight.wait()
        try:
            value = flight.value = self._lead(key, args, kwargs)
        except BaseException as exc:
            flight.error = exc
            raise
        finally:
            with self.lock:
                if self.inflight.get(key) is flight:
                    del self.inflight[key]
                event = flight.event
            if event is not None:
                event.set()
        return value

    def _lead(self, key: Hashable, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        """This process computes (or gets from the process that holds the lock)."""
        token = ""
        if self.locking:
            backend = self.backend
            token, found = backend.flight_lock(key)
            if token is None:  # stored since our read, or another process computes it
                value, _ = self._read(found if found is not MISSING else backend.flight_wait(key))
                if value is not MISSING:
                    return value
                token = backend.flight_lock(key)[0] or ""  # it gave up or died: our turn
        try:
            value = self.call(*args, **kwargs)
        except BaseException:
            if token:
                self.backend.flight_unlock(key, token)
            raise
        self.store(key, value, args, kwargs, token)  # releases the lock
        return value

    def stale_hit(
        self, key: Hashable, value: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any:
        """Serve the stale value; one background refresh per key per process (and, with a
        locking backend, per fleet)."""
        with self.lock:
            self.stale_hits += 1
            if key in self.inflight:
                return value
            flight = self.inflight[key] = _Flight(None)
        try:
            _refresh_executor().submit(self._refresh_stale, key, flight, args, kwargs)
        except RuntimeError:  # interpreter shutting down
            self._end(key, flight)
        return value

    def _refresh_stale(
        self, key: Hashable, flight: _Flight, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> None:
        try:
            token = self.backend.flight_lock(key, read=False)[0] if self.locking else ""
            if token is None:
                return  # another process refreshes it (or just did)
            try:
                value = self.call(*args, **kwargs)
            except BaseException:
                if token:
                    self.backend.flight_unlock(key, token)
                raise
            self.store(key, value, args, kwargs, token)
        except Exception as exc:
            _log_refresh_failure(self.name, exc)
        finally:
            self._end(key, flight)

    def _end(self, key: Hashable, flight: Any) -> None:
        with self.lock:
            if self.inflight.get(key) is flight:
                del self.inflight[key]

    # -- async miss ----------------------------------------------------------------------

    async def amiss(self, key: Hashable, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        loop = asyncio.get_running_loop()
        with self.lock:
            self.misses += 1
            flight = self.inflight.get(key)
            if flight is None or flight.__class__ is not _AsyncFlight or flight.loop is not loop:
                flight = self.inflight[key] = _AsyncFlight(loop)
                flight.task = loop.create_task(self._acompute(key, flight, args, kwargs))
        return await flight.join()

    async def _acompute(
        self,
        key: Hashable,
        flight: Any,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        refresh: bool = False,
    ) -> Any:
        try:
            return await self._alead(key, args, kwargs, refresh)
        finally:
            self._end(key, flight)

    async def _alead(
        self, key: Hashable, args: tuple[Any, ...], kwargs: dict[str, Any], refresh: bool
    ) -> Any:
        token = ""
        backend = self.backend
        if self.locking:
            token, found = await backend.aflight_lock(key, read=not refresh)
            if token is None and refresh:
                return MISSING  # another process refreshes the stale entry
            if token is None:
                value, _ = self._read(
                    found if found is not MISSING else await backend.aflight_wait(key)
                )
                if value is not MISSING:
                    return value
                token = (await backend.aflight_lock(key))[0] or ""
        try:
            value = await self.call(*args, **kwargs)
        except BaseException:
            if token:
                await backend.aflight_unlock(key, token)
            raise
        await self.astore(key, value, args, kwargs, token)  # releases the lock
        return value

    def astale_hit(
        self, key: Hashable, value: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any:
        loop = asyncio.get_running_loop()
        with self.lock:
            self.stale_hits += 1
            if key in self.inflight:
                return value
            flight = self.inflight[key] = _AsyncFlight(loop)
        task = flight.task = loop.create_task(
            self._acompute(key, flight, args, kwargs, refresh=True)
        )
        self._tasks.add(task)
        task.add_done_callback(self._refresh_done)
        return value

    def _refresh_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and (exc := task.exception()) is not None:
            _log_refresh_failure(self.name, exc)

    # -- control -------------------------------------------------------------------------

    def info(self) -> CacheInfo:
        backend = self.backend
        size = len(backend) if hasattr(backend, "__len__") else 0
        stats = getattr(backend, "stats", None)
        return CacheInfo(
            self.hits,
            self.misses,
            0,
            size,
            self.opts.maxsize,
            self.stale_hits,
            errors=getattr(stats, "errors", 0),
            bypasses=getattr(stats, "bypasses", 0),
        )

    def clear(self) -> None:
        self._sync_only("cache_clear")
        self.backend.clear()
        self._reset()

    async def aclear(self) -> None:
        if self.native_async:
            await self.backend.aclear()
        else:
            self.backend.clear()
        self._reset()

    def _reset(self) -> None:
        self.hits = self.misses = self.stale_hits = 0
        stats = getattr(self.backend, "stats", None)
        if stats is not None:
            stats.errors = stats.bypasses = 0

    def _sync_only(self, what: str) -> None:
        if self.native_async:
            raise ConfigurationError(
                f"{self.name} uses an async backend: use 'await {self.name}.a{what}(...)'"
            )

    def invalidate(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> bool:
        self._sync_only("invalidate")
        return bool(self.backend.delete(self.frozen_key(args, kwargs)))

    async def ainvalidate(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> bool:
        if not self.native_async:
            return self.invalidate(args, kwargs)
        return bool(await self.backend.adelete(self.frozen_key(args, kwargs)))

    def refresh(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        key = self.frozen_key(args, kwargs)
        value = self.call(*args, **kwargs)
        self.store(key, value, args, kwargs)
        return value

    async def arefresh(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        key = self.frozen_key(args, kwargs)
        value = await self.call(*args, **kwargs)
        await self.astore(key, value, args, kwargs)
        return value


# -- building wrappers -----------------------------------------------------------------------

_AnyCore = _Core | _BackendCore


class _Builder:
    """Everything decided once per decorated function; builds one wrapper per core."""

    def __init__(self, fn: Callable[..., Any], opts: _Options, *, method: bool) -> None:
        self.fn = fn
        self.opts = opts
        self.method = method
        self.is_async = inspect.iscoroutinefunction(fn)
        self.name = fn.__qualname__
        self.qualified = f"{fn.__module__}.{fn.__qualname__}"
        p = _codegen.plan(fn, skip_first=method, typed=opts.typed, custom_key=opts.key is not None)
        self.plan = p
        self.keyfn = _codegen.make_key_function(p, opts.key)
        self.factory = None
        if opts.backend is None:
            self.factory = _codegen.make_factory(
                p,
                is_async=self.is_async,
                entries=opts.entries,
                move=opts.policy == "lru" and opts.maxsize is not None,
                locked=opts.policy == "lfu" and opts.maxsize is not None,
                negative=opts.negative_ttl is not None,
                keyfn=opts.key,
            )

    def build(
        self, call: Callable[..., Any], scope: str | None = None
    ) -> tuple[Callable[..., Any], _AnyCore]:
        """A wrapper calling ``call`` on a miss, with its core; cache controls attached.

        ``scope`` names the instance a method's wrapper is bound to (remote stores only).
        """
        core: _AnyCore
        if self.factory is None:
            qualified = self.qualified if scope is None else f"{self.qualified}[{scope}]"
            core = _BackendCore(
                self.opts, call, self.name, self.plan.names, self.keyfn, self.is_async, qualified
            )
            wrapper = core.wrapper()
        else:
            core = _Core(self.opts, call, self.name, self.plan.names, self.keyfn, self.is_async)
            wrapper = core.build(self.factory, self.plan.defaults)
        functools.update_wrapper(wrapper, self.fn)
        if self.method:
            # inspect.signature follows __wrapped__; a bound wrapper has no ``self``.
            wrapper.__signature__ = _bound_signature(self.fn)  # type: ignore[attr-defined]
        wrapper.cache_info = core.info  # type: ignore[attr-defined]
        wrapper.cache_clear = core.clear  # type: ignore[attr-defined]
        wrapper.invalidate = lambda *a, **k: core.invalidate(a, k)  # type: ignore[attr-defined]
        if self.is_async:
            wrapper.refresh = lambda *a, **k: core.arefresh(a, k)  # type: ignore[attr-defined]
            wrapper.ainvalidate = lambda *a, **k: _ainvalidate(core, a, k)  # type: ignore[attr-defined]
            wrapper.acache_clear = lambda: _aclear(core)  # type: ignore[attr-defined]
        else:
            wrapper.refresh = lambda *a, **k: core.refresh(a, k)  # type: ignore[attr-defined]
        wrapper.uncached = call  # type: ignore[attr-defined]
        wrapper.cache_parameters = self.parameters  # type: ignore[attr-defined]
        return wrapper, core

    def parameters(self) -> dict[str, Any]:
        """The options, like ``functools.lru_cache``'s ``cache_parameters()``."""
        o = self.opts
        return {
            "maxsize": o.maxsize,
            "policy": o.policy,
            "ttl": o.ttl_fn or o.ttl,
            "stale_ttl": o.stale_ttl,
            "jitter": o.jitter,
            "negative_ttl": o.negative_ttl,
            "typed": o.typed,
        }


async def _ainvalidate(core: _AnyCore, args: tuple[Any, ...], kwargs: dict[str, Any]) -> bool:
    if isinstance(core, _BackendCore):
        return await core.ainvalidate(args, kwargs)
    return core.invalidate(args, kwargs)


async def _aclear(core: _AnyCore) -> None:
    if isinstance(core, _BackendCore):
        await core.aclear()
    else:
        core.clear()


def _bound_signature(fn: Callable[..., Any]) -> inspect.Signature:
    sig = inspect.signature(fn)
    return sig.replace(parameters=list(sig.parameters.values())[1:])


class _CachedMethod:
    """Descriptor for a cached method: one cache per instance, held weakly.

    ``obj.method`` returns that instance's wrapper (built on first access). The cache lives in a
    table keyed by ``id(obj)`` whose entry a weakref callback removes when ``obj`` dies, so the
    cache never keeps an instance alive and nothing is added to the instance's ``__dict__``
    (which ``copy.copy`` would share). Called without binding (``staticmethod`` on top, or
    ``Class.method(obj, ...)``) it behaves as a cached plain function.
    """

    def __init__(self, fn: Callable[..., Any], opts: _Options) -> None:
        self.fn = fn
        self.opts = opts
        self._builder = _Builder(fn, opts, method=True)
        self._pin_factory = _codegen.make_pin(self._builder.plan, is_async=self._builder.is_async)
        self._plain: Callable[..., Any] | None = None
        self._plain_core: _AnyCore | None = None
        self._bound: dict[int, tuple[weakref.ref[Any], Callable[..., Any], _AnyCore]] = {}
        self._lock = threading.Lock()
        self.attrname: str | None = None
        functools.update_wrapper(self, fn)

    def __set_name__(self, owner: type, name: str) -> None:
        self.attrname = name

    def __get__(self, instance: Any, owner: type | None = None) -> Any:
        if instance is None:
            return self
        try:
            ref, bound, _ = self._bound[id(instance)]
        except KeyError:
            return MethodType(self._bind(instance), instance)
        if ref() is instance:
            return MethodType(bound, instance)
        return MethodType(self._bind(instance), instance)

    def _bind(self, instance: Any) -> Callable[..., Any]:
        ident = id(instance)
        bound_table = self._bound

        def forget(_: object, ident: int = ident) -> None:
            entry = bound_table.get(ident)
            if entry is not None and entry[0]() is None:
                del bound_table[ident]

        try:
            ref = weakref.ref(instance, forget)
        except TypeError:
            raise TypeError(
                f"@cached method {self.fn.__qualname__} keeps one cache per instance and needs "
                f"instances that support weak references: add '__weakref__' to the __slots__ of "
                f"{type(instance).__qualname__}"
            ) from None
        fn = self.fn

        if self._builder.is_async:

            async def call_async(*args: Any, **kwargs: Any) -> Any:
                return await fn(_alive(ref, fn), *args, **kwargs)

            call: Callable[..., Any] = call_async
        else:

            def call(*args: Any, **kwargs: Any) -> Any:
                return fn(_alive(ref, fn), *args, **kwargs)

        with self._lock:
            entry = bound_table.get(ident)
            if entry is not None and entry[0]() is instance:
                return entry[1]
            scope = _scope(instance, fn) if hasattr(self.opts.backend, "bind") else None
            wrapper, core = self._builder.build(call, scope)
            pin = self._pin_factory(wrapper, **self._builder.plan.defaults)
            functools.update_wrapper(pin, wrapper)
            pin.__signature__ = inspect.signature(fn)  # binding drops ``self`` from it
            bound_table[ident] = (ref, pin, core)
        return pin  # type: ignore[no-any-return]

    def _plain_wrapper(self) -> Callable[..., Any]:
        if self._plain is None:
            with self._lock:
                if self._plain is None:
                    self._plain, self._plain_core = _Builder(
                        self.fn, self.opts, method=False
                    ).build(self.fn)
        return self._plain

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self._plain_wrapper()(*args, **kwargs)

    def _cores(self) -> list[_AnyCore]:
        cores = [core for ref, _, core in list(self._bound.values()) if ref() is not None]
        if self._plain_core is not None:
            cores.append(self._plain_core)
        return cores

    def cache_info(self) -> CacheInfo:
        """Counters summed over every live instance (and unbound calls)."""
        infos = [core.info() for core in self._cores()]
        if not infos:
            return CacheInfo(0, 0, 0, 0, self.opts.maxsize)
        total = infos[0]
        for info in infos[1:]:
            total = total + info
        return total

    def cache_clear(self) -> None:
        """Clear the caches of every instance."""
        for core in self._cores():
            core.clear()

    def invalidate(self, instance: Any, *args: Any, **kwargs: Any) -> bool:
        """``Class.method.invalidate(obj, ...)`` is ``obj.method.invalidate(...)``."""
        return bool(self.__get__(instance).invalidate(*args, **kwargs))

    def refresh(self, instance: Any, *args: Any, **kwargs: Any) -> Any:
        return self.__get__(instance).refresh(*args, **kwargs)

    def uncached(self, *args: Any, **kwargs: Any) -> Any:
        return self.fn(*args, **kwargs)

    def __repr__(self) -> str:
        return f"<cached method {self.fn.__qualname__}>"


def _scope(instance: Any, fn: Callable[..., Any]) -> str:
    """What tells instances apart in a store shared between processes (where ``id()`` means
    nothing): the class for a classmethod, else the instance's ``__cache_key__()``."""
    if isinstance(instance, type):
        return f"{instance.__module__}.{instance.__qualname__}"
    cache_key = getattr(instance, "__cache_key__", None)
    if cache_key is None:
        raise ConfigurationError(
            f"@cached method {fn.__qualname__} stores entries shared between processes, so "
            f"each instance needs a stable identity: define {type(instance).__qualname__}."
            f"__cache_key__(self) returning a str (e.g. the primary key)"
        )
    return str(cache_key())


def _alive(ref: weakref.ref[Any], fn: Callable[..., Any]) -> Any:
    instance = ref()
    if instance is None:  # pragma: no cover - a bound wrapper outliving its instance
        raise ReferenceError(f"the instance of cached method {fn.__qualname__} no longer exists")
    return instance


def _defined_in_class(fn: Callable[..., Any]) -> bool:
    """True for a function written in a class body (``Class.name``, not ``f.<locals>.g``)."""
    parts = getattr(fn, "__qualname__", "").split(".")
    if len(parts) < 2 or parts[-2] == "<locals>":
        return False
    params = list(inspect.signature(fn).parameters.values())
    return bool(params) and params[0].kind in (
        inspect.Parameter.POSITIONAL_ONLY,
        inspect.Parameter.POSITIONAL_OR_KEYWORD,
    )


def _decorate(fn: Any, opts: _Options) -> Any:
    if isinstance(fn, staticmethod):
        return staticmethod(_decorate_function(fn.__func__, opts, method=False))
    if isinstance(fn, classmethod):
        return classmethod(_decorate_function(fn.__func__, opts, method=True))
    if not callable(fn):
        raise TypeError(f"@cached needs a function, got {type(fn).__qualname__}")
    return _decorate_function(fn, opts, method=_defined_in_class(fn))


def _decorate_function(fn: Callable[..., Any], opts: _Options, *, method: bool) -> Any:
    if inspect.isgeneratorfunction(fn) or inspect.isasyncgenfunction(fn):
        raise ConfigurationError(
            f"{fn.__qualname__} is a generator function: caching would hand every caller the "
            f"same, soon exhausted, generator; cache a function that returns a list instead"
        )
    if method:
        return _CachedMethod(fn, opts)
    wrapper, _ = _Builder(fn, opts, method=False).build(fn)
    return wrapper


# -- the decorator ---------------------------------------------------------------------------


@overload
def cached(fn: Callable[P, R], /) -> CachedFunction[P, R]: ...
@overload
def cached(
    *,
    maxsize: int | None = 128,
    ttl: TTLArg = None,
    policy: Policy = "lru",
    stale_ttl: TTL | None = None,
    jitter: float = 0.0,
    negative_ttl: TTL | None = None,
    unless: Callable[[Any], bool] | None = None,
    typed: bool = False,
    key: Callable[..., Hashable] | None = None,
    backend: Any = None,
    tags: Callable[..., Iterable[str]] | None = None,
    timer: Callable[[], float] | None = None,
) -> Callable[[Callable[P, R]], CachedFunction[P, R]]: ...


def cached(
    fn: Any = None,
    /,
    *,
    maxsize: int | None = 128,
    ttl: TTLArg = None,
    policy: Policy = "lru",
    stale_ttl: TTL | None = None,
    jitter: float = 0.0,
    negative_ttl: TTL | None = None,
    unless: Callable[[Any], bool] | None = None,
    typed: bool = False,
    key: Callable[..., Hashable] | None = None,
    backend: Any = None,
    tags: Callable[..., Iterable[str]] | None = None,
    timer: Callable[[], float] | None = None,
) -> Any:
    """Cache a function's results, in process (or in any :class:`Backend`).

    Works on plain functions, ``async def`` functions, methods (one cache per instance, which
    never keeps the instance alive), ``classmethod`` and ``staticmethod`` (stacked in either
    order). Concurrent calls that miss on the same key run the function once (threads and asyncio
    tasks alike); the others get its result or its exception.

    Args:
        maxsize: most entries kept (``None``: unbounded; ``0``: nothing is kept).
        ttl: seconds (or a ``timedelta``) each result stays fresh, or a function of the result
            that returns them (``None`` from it: no expiry). Default: no expiry.
        policy: which entry to evict when full: ``"lru"``, ``"fifo"`` or ``"lfu"``.
        stale_ttl: after ``ttl``, keep serving the old value for this long while one background
            refresh (a thread, or an asyncio task) computes the new one.
        jitter: shorten each entry's ``ttl`` by a random share up to this fraction (``0.1``:
            up to 10%), so entries written together do not all expire together.
        negative_ttl: also cache exceptions (subclasses of ``Exception``) for this long;
            by default exceptions are never cached.
        unless: a predicate on the result; when it returns true the result is not cached
            (e.g. ``unless=lambda r: r is None``).
        typed: cache arguments of different types separately (``1`` and ``1.0``).
        key: build the key yourself from the call's arguments (after ``self`` for methods).
        backend: store entries in this :class:`Backend` instead of in process (e.g. a
            :class:`~backendperf.cache.RedisBackend` or ``TieredBackend``).
        tags: with a tagging backend (Redis), a function of the call's arguments (after
            ``self``) returning tags for the entry; ``backend.invalidate_tags(tag)`` then
            removes every entry with that tag.
        timer: the clock for ``ttl`` (default: ``time.monotonic`` in process; the wall clock
            ``time.time`` for ``stale_ttl`` in a shared backend); inject a fake one in tests.

    Example:

    >>> @cached(maxsize=2)
    ... def square(x: int) -> int:
    ...     return x * x
    >>> square(3), square(3), square(x=3)
    (9, 9, 9)
    >>> square.cache_info()  # doctest: +NORMALIZE_WHITESPACE
    CacheInfo(hits=2, misses=1, evictions=0, currsize=1, maxsize=2, stale_hits=0,
              errors=0, bypasses=0)
    >>> square.invalidate(3)
    True

    The wrapper exposes ``cache_info()``, ``cache_clear()``, ``invalidate(*args, **kwargs)``,
    ``refresh(*args, **kwargs)`` (bypass the read, store the new value), ``uncached(...)``
    (bypass the cache entirely) and ``__wrapped__``.
    """
    if policy not in POLICIES:
        raise ConfigurationError(f"policy={policy!r}: choose one of {', '.join(POLICIES)}")
    if maxsize is not None and (
        isinstance(maxsize, bool) or not isinstance(maxsize, int) or maxsize < 0
    ):
        raise ConfigurationError(f"maxsize={maxsize!r}: use a non-negative int, or None")
    ttl_fn = ttl if callable(ttl) and not isinstance(ttl, timedelta) else None
    ttl_s = None if ttl_fn is not None else _seconds("ttl", ttl)
    stale = _seconds("stale_ttl", stale_ttl)
    if stale and ttl_s is None and ttl_fn is None:
        raise ConfigurationError(
            f"stale_ttl={stale_ttl!r} needs ttl= as well: values are served stale after they "
            f"expire, and without ttl they never do"
        )
    if isinstance(jitter, bool) or not isinstance(jitter, int | float) or not 0 <= jitter < 1:
        raise ConfigurationError(f"jitter={jitter!r}: use a fraction of the ttl in [0, 1)")
    if backend is not None and negative_ttl is not None:
        raise ConfigurationError(
            "negative_ttl= works with the in-process store only: exceptions are not stored in "
            "a backend= (they cannot be encoded safely)"
        )
    if tags is not None and not (
        hasattr(backend, "invalidate_tags") or hasattr(backend, "ainvalidate_tags")
    ):
        raise ConfigurationError(
            "tags= needs a backend that stores tags (RedisBackend, AsyncRedisBackend or "
            "TieredBackend)"
        )
    opts = _Options(
        maxsize=maxsize,
        policy=policy,
        ttl=ttl_s,
        ttl_fn=ttl_fn,
        stale_ttl=stale or 0.0,
        jitter=float(jitter),
        negative_ttl=_seconds("negative_ttl", negative_ttl),
        unless=unless,
        typed=typed,
        key=key,
        timer=timer or time.monotonic,
        clock=timer or time.time,
        backend=backend,
        tags=tags,
    )
    if fn is not None:
        return _decorate(fn, opts)
    return functools.partial(_decorate, opts=opts)
