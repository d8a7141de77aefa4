"""The ``backend=`` core of ``@cached``: reads and writes through the Backend protocol.

The backend's optional capabilities (``backends.base``: :class:`Bindable`,
:class:`FlightLocking`, :class:`FlightSetting`, :class:`Tagging`, :class:`HasStats`, ...) are
resolved once, when the core is built. The same rules as the in-process core hold: no lock of
ours is held while user code (the function, ``ttl=``, ``unless=``, the codec, the keys) runs,
every flight is released in a ``finally``, and a wait that would close a cycle computes directly.
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
from backendperf.cache._local import Keys
from backendperf.cache._options import CacheInfo
from backendperf.cache.backends.base import (
    MISSING,
    AsyncBackend,
    AsyncFlightLocking,
    AsyncFlightSetting,
    Backend,
    Bindable,
    FlightLocking,
    FlightSetting,
    HasStats,
    Sized,
)
from backendperf.cache.backends.memory import INF
from backendperf.exceptions import ConfigurationError

if TYPE_CHECKING:
    from collections.abc import Callable, Hashable

    from backendperf.cache._options import Options

__all__ = ["BackendCore"]

_get_ident = threading.get_ident


class BackendCore(Keys):
    """``@cached(backend=...)``: reads and writes through the Backend protocol.

    A :class:`Bindable` backend (the Redis stores) gets a view per function, which turns keys
    into stable bytes. :class:`FlightLocking` views give single flight across processes,
    :class:`FlightSetting` stores and unlocks in one round trip, a :class:`Tagging` backend takes
    ``tags=`` on ``set``, :class:`HasStats` adds error counters to :class:`CacheInfo`. With
    ``stale_ttl`` each entry is stored as ``(value, fresh_until)`` by the wall clock (shared by
    every process), and lives in the backend for ``ttl + stale_ttl``.
    """

    def __init__(
        self,
        opts: Options,
        call: Callable[..., Any],
        name: str,
        names: tuple[str, ...],
        keyfn: Callable[..., Hashable],
        is_async: bool,
        qualified: str,
    ) -> None:
        super().__init__(opts, call, name, names, keyfn, is_async)
        backend = opts.backend
        if isinstance(backend, Bindable):
            backend = backend.bind(qualified)
        self.backend = backend
        self.native_async = is_async and isinstance(backend, AsyncBackend)
        if not is_async and not isinstance(backend, Backend):
            raise ConfigurationError(
                f"{name} is not async, but {type(backend).__qualname__} has only async methods: "
                f"use RedisBackend (not AsyncRedisBackend) for def functions"
            )
        wants_lock = bool(getattr(backend, "locking", True))
        self.locking = wants_lock and isinstance(
            backend, AsyncFlightLocking if self.native_async else FlightLocking
        )
        self.flight_set = isinstance(backend, FlightSetting)
        self.aflight_set = isinstance(backend, AsyncFlightSetting)
        self.sized = isinstance(backend, Sized)
        self.stats = backend.stats if isinstance(backend, HasStats) else None
        self.stale = opts.stale_ttl
        self.clock = opts.clock
        self.tags = opts.tags
        self.hits = 0

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

    def _prepare(
        self, value: Any, args: tuple[Any, ...], kw: dict[str, Any]
    ) -> tuple[Any, float | None, dict[str, Any]] | None:
        """``(stored form, ttl, tag keywords)`` for ``value``; None when ``unless=`` keeps it out.
        Runs user code (``unless=``, ``ttl=``, ``tags=``): the caller releases its lock on error."""
        if self.opts.unless is not None and self.opts.unless(value):
            return None
        stored, ttl = self._stored(value)
        return stored, ttl, self._tag_kwargs(args, kw)

    def store(
        self,
        key: Hashable,
        value: Any,
        args: tuple[Any, ...],
        kw: dict[str, Any],
        token: str = "",
    ) -> None:
        """Store the result; with a flight lock ``token``, release the lock too (in the same
        round trip when the backend can)."""
        backend = self.backend
        try:
            prepared = self._prepare(value, args, kw)
        except BaseException:
            if token:
                backend.flight_unlock(key, token)
            raise
        if prepared is None:
            if token:
                backend.flight_unlock(key, token)
            return
        stored, ttl, tags = prepared
        if not token:
            backend.set(key, stored, ttl, **tags)
        elif self.flight_set:
            backend.flight_set(key, stored, ttl, token, **tags)
        else:
            try:
                backend.set(key, stored, ttl, **tags)
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
        try:
            prepared = self._prepare(value, args, kw)
        except BaseException:
            if token:
                await backend.aflight_unlock(key, token)
            raise
        if prepared is None:
            if token:
                await backend.aflight_unlock(key, token)
            return
        stored, ttl, tags = prepared
        if not token:
            await backend.aset(key, stored, ttl, **tags)
        elif self.aflight_set:
            await backend.aflight_set(key, stored, ttl, token, **tags)
        else:
            try:
                await backend.aset(key, stored, ttl, **tags)
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
        me = _get_ident()
        hk = hkey(key)
        flight = Flight(hk, me)
        current = self.inflight.setdefault(hk, flight)
        self.misses += 1
        if current is not flight:
            if current.__class__ is Flight and not current.done:
                if current.join(me):
                    return current.result()
                return self.call(*args, **kwargs)  # recursion, or a wait-for cycle
            self.inflight[hk] = flight
        try:
            value = flight.value = self._lead(key, flight, args, kwargs)
        except BaseException as exc:
            flight.error = exc
            raise
        finally:
            self._release(flight)
        return value

    def _lead(
        self, key: Hashable, flight: Flight, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any:
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
        if flight.dropped:  # invalidated meanwhile: do not store the older value
            if token:
                self.backend.flight_unlock(key, token)
            return value
        self.store(key, value, args, kwargs, token)  # releases the lock
        return value

    def stale_hit(
        self, key: Hashable, value: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any:
        """Serve the stale value; one background refresh per key per process (and, with a
        locking backend, per fleet)."""
        self.stale_hits += 1
        hk = hkey(key)
        flight = Flight(hk, None)
        if self.inflight.setdefault(hk, flight) is not flight:
            return value
        try:
            refresh_executor().submit(self._refresh_stale, key, flight, args, kwargs)
        except RuntimeError:  # interpreter shutting down
            self._release(flight)
        return value

    def _refresh_stale(
        self, key: Hashable, flight: Flight, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> None:
        flight.owner = _get_ident()
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
            if flight.dropped:
                if token:
                    self.backend.flight_unlock(key, token)
                return
            self.store(key, value, args, kwargs, token)
        except Exception as exc:
            log_refresh_failure(self.name, exc)
        finally:
            self._release(flight)

    # -- async miss ----------------------------------------------------------------------

    async def amiss(self, key: Hashable, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        loop = asyncio.get_running_loop()
        self.misses += 1
        hk = hkey(key)
        flight = self.inflight.get(hk)
        if (
            flight.__class__ is not AsyncFlight
            or flight.loop is not loop
            or flight.task is None
            or flight.task.done()
        ):
            flight = self.inflight[hk] = AsyncFlight(hk, loop)
            flight.task = loop.create_task(self._acompute(key, flight, args, kwargs))
        elif flight.would_deadlock(asyncio.current_task()):
            return await self.call(*args, **kwargs)
        return await flight.join(self._forget)

    async def _acompute(
        self,
        key: Hashable,
        flight: AsyncFlight,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        refresh: bool = False,
    ) -> Any:
        try:
            return await self._alead(key, flight, args, kwargs, refresh)
        finally:
            self._forget(flight)

    async def _alead(
        self,
        key: Hashable,
        flight: AsyncFlight,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        refresh: bool,
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
        if flight.dropped:
            if token:
                await backend.aflight_unlock(key, token)
            return value
        await self.astore(key, value, args, kwargs, token)  # releases the lock
        return value

    def astale_hit(
        self, key: Hashable, value: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any:
        loop = asyncio.get_running_loop()
        self.stale_hits += 1
        hk = hkey(key)
        if self.inflight.get(hk) is not None:
            return value
        flight = self.inflight[hk] = AsyncFlight(hk, loop)
        flight.task = loop.create_task(self._acompute(key, flight, args, kwargs, refresh=True))
        self.track_refresh(flight.task)
        return value

    # -- control -------------------------------------------------------------------------

    def info(self) -> CacheInfo:
        stats = self.stats
        return CacheInfo(
            self.hits,
            self.misses,
            0,
            len(self.backend) if self.sized else 0,
            self.opts.maxsize,
            self.stale_hits,
            errors=getattr(stats, "errors", 0),
            bypasses=getattr(stats, "bypasses", 0),
        )

    def clear(self) -> None:
        self._sync_only("cache_clear")
        self._drop_flights()
        self.backend.clear()
        self._reset()

    async def aclear(self) -> None:
        self._drop_flights()
        if self.native_async:
            await self.backend.aclear()
        else:
            self.backend.clear()
        self._reset()

    def _reset(self) -> None:
        self.hits = self.misses = self.stale_hits = 0
        if self.stats is not None:
            self.stats.errors = self.stats.bypasses = 0

    def _sync_only(self, what: str) -> None:
        if self.native_async:
            raise ConfigurationError(
                f"{self.name} uses an async backend: use 'await {self.name}.a{what}(...)'"
            )

    def invalidate(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> bool:
        self._sync_only("invalidate")
        key = self.frozen_key(args, kwargs)
        self._drop_flight(key)
        return bool(self.backend.delete(key))

    async def ainvalidate(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> bool:
        if not self.native_async:
            return self.invalidate(args, kwargs)
        key = self.frozen_key(args, kwargs)
        self._drop_flight(key)
        return bool(await self.backend.adelete(key))

    def refresh(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        key = self.frozen_key(args, kwargs)
        self._drop_flight(key)
        value = self.call(*args, **kwargs)
        self.store(key, value, args, kwargs)
        return value

    async def arefresh(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        key = self.frozen_key(args, kwargs)
        self._drop_flight(key)
        value = await self.call(*args, **kwargs)
        await self.astore(key, value, args, kwargs)
        return value
