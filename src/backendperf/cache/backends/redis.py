"""Redis stores: one cache shared by every process of a fleet.

:class:`RedisBackend` (redis-py's ``Redis``, ``RedisCluster``, or a Sentinel ``master_for``
client) and :class:`AsyncRedisBackend` (``redis.asyncio``) implement the
:class:`~backendperf.cache.backends.base.Backend` protocol. ``@cached`` asks the backend to
:meth:`~RedisBackend.bind` a view per function; the view turns the decorator's in-process key
into a stable Redis key::

    {namespace}:v{version}:{module.qualname}:{blake2b digest of the msgpack-encoded arguments}

Values are encoded by :class:`~backendperf.cache.codec.Codec` (msgpack, never pickle) and expire
through Redis itself (``SET ... PX``).

The cache fails open: when Redis is down, slow or out of memory, the decorated function runs
uncached and the caller never sees a Redis exception (``on_error="raise"`` changes that). A
connection error or timeout opens a circuit breaker: for ``cooldown`` seconds no command is sent
(calls are counted as *bypasses*), then one call probes the server. One warning is logged per
``warn_interval``.

Cross-process single flight: the first process that misses takes a lock (``SET NX PX`` with a
random token, released by a compare-and-delete script); the others poll for the value with
backoff until it appears, the lock goes away, or ``lock_wait`` passes, and then compute it
themselves. A holder that dies cannot block anyone for longer than ``lock_ttl``.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, Literal

from backendperf.cache.backends.base import MISSING
from backendperf.cache.codec import Codec, DecodeError, default_codec
from backendperf.cache.keys import StableKeys
from backendperf.exceptions import ConfigurationError, MissingDependencyError

if TYPE_CHECKING:
    from collections.abc import Hashable, Iterable

    from typing_extensions import Self

__all__ = ["AsyncRedisBackend", "RedisBackend", "RedisStats"]

logger = logging.getLogger("backendperf")

OnError = Literal["ignore", "raise"]

DEFAULT_TIMEOUT: Final = 0.05
"""Socket timeout (seconds) of the clients :meth:`RedisBackend.from_url` creates: a cache that
waits longer than the query it saves is worse than no cache."""

_NAME_LIMIT: Final = 100  # characters of the function name kept in the readable key prefix

# Release a lock only if we still own it (the token is ours), atomically.
_UNLOCK = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""

# KEYS[1] = entry, KEYS[2..] = tag sets; ARGV[1] = value, ARGV[2] = ttl in ms ('0': none).
# Each tag set lives at least as long as its longest-lived entry.
_SET_TAGGED = """
local px = tonumber(ARGV[2])
if px > 0 then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', px)
else
  redis.call('SET', KEYS[1], ARGV[1])
end
for i = 2, #KEYS do
  local existed = redis.call('EXISTS', KEYS[i])
  redis.call('SADD', KEYS[i], KEYS[1])
  if px == 0 then
    redis.call('PERSIST', KEYS[i])
  elseif existed == 0 then
    redis.call('PEXPIRE', KEYS[i], px)
  else
    local left = redis.call('PTTL', KEYS[i])
    if left >= 0 and left < px then
      redis.call('PEXPIRE', KEYS[i], px)
    end
  end
end
return 1
"""

# KEYS = tag sets. Deletes every member and the sets; returns the keys that existed.
_INVALIDATE_TAGS = """
local gone = {}
for i = 1, #KEYS do
  local members = redis.call('SMEMBERS', KEYS[i])
  for _, key in ipairs(members) do
    if redis.call('DEL', key) == 1 then
      table.insert(gone, key)
    end
  end
  redis.call('DEL', KEYS[i])
end
return gone
"""


def _redis() -> Any:
    try:
        import redis
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise MissingDependencyError("redis", extra="redis", feature="the Redis cache") from exc
    return redis


def _escape_glob(text: str) -> str:
    return "".join("\\" + c if c in "*?[]\\" else c for c in text)


def _ms(seconds: float) -> int:
    return max(1, round(seconds * 1000))


@dataclass(slots=True)
class RedisStats:
    """Counters of one function's use of Redis (they appear in ``cache_info()``)."""

    errors: int = 0
    """Redis commands that failed (connection, timeout, out of memory), plus stored values that
    could not be decoded (served as misses)."""
    bypasses: int = 0
    """Reads and writes skipped because the circuit breaker was open."""


class _Breaker:
    """Stop sending commands to a Redis that just failed; probe it again after ``cooldown``."""

    def __init__(self, cooldown: float, warn_interval: float, label: str) -> None:
        self.cooldown = cooldown
        self.warn_interval = warn_interval
        self.label = label
        self.open_until = 0.0
        self._warned_at = -float("inf")
        self._lock = threading.Lock()

    def allow(self) -> bool:
        until = self.open_until
        if not until:
            return True
        now = time.monotonic()
        if now < until:
            return False
        with self._lock:  # one caller probes; the rest keep bypassing until it succeeds
            if self.open_until != until:
                return False
            self.open_until = now + self.cooldown
        return True

    def success(self) -> None:
        if self.open_until:
            self.open_until = 0.0
            logger.warning("%s is reachable again; caching resumed", self.label)

    def failure(self, exc: BaseException, *, trip: bool) -> None:
        now = time.monotonic()
        if trip:
            self.open_until = now + self.cooldown
        if now - self._warned_at >= self.warn_interval:
            self._warned_at = now
            action = (
                f"calls run uncached for {self.cooldown:g}s" if trip else "this call ran uncached"
            )
            logger.warning("%s failed (%r): %s", self.label, exc, action)


class _Common:
    """What the sync and async backends share: options, key layout, breaker, codec."""

    def __init__(
        self,
        client: Any,
        *,
        namespace: str = "backendperf",
        version: int | str = 1,
        codec: Codec | None = None,
        on_error: OnError = "ignore",
        cooldown: float = 5.0,
        warn_interval: float = 60.0,
        lock_ttl: float = 10.0,
        lock_wait: float | None = None,
        lock: bool = True,
    ) -> None:
        if not namespace or any(c in namespace for c in "{}*?[]\\ ") or len(namespace) > 64:
            raise ConfigurationError(
                f"namespace={namespace!r}: use 1-64 characters without spaces, braces or glob "
                f"characters (e.g. 'myapp')"
            )
        if on_error not in ("ignore", "raise"):
            raise ConfigurationError(f"on_error={on_error!r}: use 'ignore' or 'raise'")
        if lock_ttl <= 0:
            raise ConfigurationError(f"lock_ttl={lock_ttl!r}: must be positive")
        r = _redis()
        self.client = client
        self.namespace = namespace
        self.version = version
        self.prefix = f"{namespace}:v{version}:"
        self.codec = codec if codec is not None else default_codec
        self.on_error = on_error
        self.lock_ttl = lock_ttl
        self.lock_wait = lock_ttl if lock_wait is None else lock_wait
        self.locking = lock
        _check_timeouts(client)
        self.breaker = _Breaker(cooldown, warn_interval, f"Redis cache {namespace!r}")
        self.cluster = "Cluster" in type(client).__name__
        self._errors: tuple[type[BaseException], ...] = (r.RedisError,)
        self._trips: tuple[type[BaseException], ...] = (r.ConnectionError, r.TimeoutError)
        # register_script works alike on sync and async clients (scripts load on first use)
        self._unlock = client.register_script(_UNLOCK)
        self._set_tagged = client.register_script(_SET_TAGGED)
        self._invalidate = client.register_script(_INVALIDATE_TAGS)

    @classmethod
    def _client_class(cls, *, cluster: bool) -> Any:
        r = _redis()
        return r.RedisCluster if cluster else r.Redis

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        cluster: bool = False,
        socket_timeout: float = DEFAULT_TIMEOUT,
        socket_connect_timeout: float = DEFAULT_TIMEOUT,
        client_options: dict[str, Any] | None = None,
        **options: Any,
    ) -> Self:
        """A backend for ``redis://``, ``rediss://`` (TLS) or ``unix://`` URLs, with short
        timeouts; ``cluster=True`` connects a ``RedisCluster`` through one of its nodes.
        ``options`` are the backend's own (``namespace=``, ``version=``, ...)."""
        client = cls._client_class(cluster=cluster).from_url(
            url,
            socket_timeout=socket_timeout,
            socket_connect_timeout=socket_connect_timeout,
            **(client_options or {}),
        )
        return cls(client, **options)

    def tag_key(self, tag: str) -> str:
        return f"{self.prefix}tag:{tag}"

    def _failed(self, exc: BaseException, stats: RedisStats | None) -> None:
        """Count and log a failed command; re-raise it when ``on_error="raise"``."""
        if stats is not None:
            stats.errors += 1
        self.breaker.failure(exc, trip=isinstance(exc, self._trips))
        if self.on_error == "raise":
            raise exc


def _check_timeouts(client: Any) -> None:
    """Warn about a client that would let a hung Redis hang every cached call."""
    pool = getattr(client, "connection_pool", None)
    kwargs = getattr(pool, "connection_kwargs", None)
    if isinstance(kwargs, dict) and kwargs.get("socket_timeout") is None:
        logger.warning(
            "the Redis client has no socket_timeout: a hung server would block every cached "
            "call; create it with socket_timeout=0.05 or use RedisBackend.from_url()"
        )


class _ViewBase:
    """The keys and counters of one function in a Redis backend."""

    def __init__(self, common: _Common, name: str) -> None:
        self.common = common
        self.name = name
        self.base = f"{common.prefix}{name[-_NAME_LIMIT:]}:"
        self.keys = StableKeys(common.prefix + name)
        self.stats = RedisStats()
        self.codec = common.codec
        self.breaker = common.breaker
        self.client = common.client
        self._errors = common._errors
        self.locking = common.locking
        """Whether the decorator uses the cross-process lock (``lock=`` of the backend)."""

    def rkey(self, key: Hashable) -> str:
        """The Redis key for an in-process key."""
        return self.base + self.keys.digest(key)

    @staticmethod
    def lock_key(rkey: str) -> str:
        return "{" + rkey + "}:lock"  # a hash tag: the same cluster slot as the entry

    def decode(self, data: bytes | None, *, count: bool = True) -> Any:
        """The value, or MISSING (``count``: an undecodable value counts as an error)."""
        if data is None:
            return MISSING
        try:
            return self.codec.loads(data)
        except DecodeError as exc:
            self.stats.errors += count
            logger.debug("undecodable cache value for %s: %s", self.name, exc)
            return MISSING

    def bypass(self) -> bool:
        """True (and counted) when the breaker is open and Redis must not be called."""
        if self.breaker.allow():
            return False
        self.stats.bypasses += 1
        return True

    def fail(self, exc: BaseException) -> None:
        self.common._failed(exc, self.stats)

    def pattern(self) -> str:
        return _escape_glob(self.base) + "*"

    def tag_keys(self, tags: Iterable[str] | None) -> list[str]:
        return [self.common.tag_key(t) for t in tags or ()]


# -- sync ------------------------------------------------------------------------------------


class RedisBackend(_Common):
    """A cache store in Redis, for ``def`` functions.

    Args:
        client: a ``redis.Redis``, ``redis.RedisCluster`` or Sentinel ``master_for(...)``
            client. Give it a short ``socket_timeout`` (:meth:`from_url` does).
        namespace: first part of every key; keep it unique per application.
        version: bump it to invalidate every entry at once (old entries expire on their own).
        codec: the :class:`~backendperf.cache.codec.Codec` (default: the shared one).
        on_error: ``"ignore"`` (fail open: run the function uncached) or ``"raise"``.
        cooldown: seconds to stop calling Redis after a connection error or timeout.
        warn_interval: at most one warning per this many seconds.
        lock_ttl: lifetime of the cross-process single-flight lock (longer than the function).
        lock_wait: how long other processes wait for the lock holder (default ``lock_ttl``).
        lock: take that lock on a miss (one extra round trip per miss); ``False`` leaves
            single flight to each process.

    >>> backend = RedisBackend.from_url("redis://127.0.0.1:6379/0", namespace="doc")
    >>> @cached(ttl=60, backend=backend)   # doctest: +SKIP
    ... def get_user(user_id: int) -> dict: ...
    """

    def bind(self, name: str) -> RedisStore:
        """The store of one function (``@cached`` calls this once per function)."""
        return RedisStore(self, name)

    def invalidate_tags(self, *tags: str) -> list[str]:
        """Delete every entry stored with any of ``tags``; return the Redis keys deleted."""
        sets = [self.tag_key(t) for t in tags]
        if not sets or not self.breaker.allow():
            return []
        try:
            if self.cluster:
                return self._invalidate_each(sets)
            gone = self._invalidate(keys=sets)
        except self._errors as exc:
            self._failed(exc, None)
            return []
        self.breaker.success()
        return [k.decode() if isinstance(k, bytes) else k for k in gone]

    def _invalidate_each(self, sets: list[str]) -> list[str]:
        # Cluster: entries and tag sets live in different slots, so no single script can touch
        # them all. Deleting the members before the set keeps a crash from orphaning entries.
        gone: list[str] = []
        for tag_set in sets:
            for raw in self.client.smembers(tag_set):
                key = raw.decode() if isinstance(raw, bytes) else raw
                if self.client.delete(key):
                    gone.append(key)
            self.client.delete(tag_set)
        return gone

    def clear(self) -> int:
        """Delete every key of this namespace and version (SCAN, never KEYS/FLUSHDB)."""
        return _scan_delete(self.client, _escape_glob(self.prefix) + "*")

    def close(self) -> None:
        self.client.close()


def _scan_delete(client: Any, pattern: str) -> int:
    deleted = 0
    batch: list[Any] = []
    for key in client.scan_iter(match=pattern, count=1000):
        batch.append(key)
        if len(batch) >= 500:
            deleted += client.unlink(*batch)
            batch.clear()
    if batch:
        deleted += client.unlink(*batch)
    return deleted


class RedisStore(_ViewBase):
    """One function's entries in a :class:`RedisBackend` (what ``bind`` returns)."""

    common: RedisBackend

    def get(self, key: Hashable) -> Any:
        return self.get_raw(self.rkey(key))

    def get_raw(self, rkey: str) -> Any:
        """:meth:`get` by Redis key."""
        if self.breaker.open_until and self.bypass():
            return MISSING
        try:
            data = self.client.get(rkey)
        except self._errors as exc:
            self.fail(exc)
            return MISSING
        self.breaker.success()
        return self.decode(data)

    def set(
        self, key: Hashable, value: Any, ttl: float | None, *, tags: Iterable[str] | None = None
    ) -> None:
        self.set_raw(self.rkey(key), value, ttl, tags)

    def set_raw(
        self, rkey: str, value: Any, ttl: float | None, tags: Iterable[str] | None = None
    ) -> bool:
        """:meth:`set` by Redis key; False when the value was not stored."""
        data = self.codec.dumps(value)  # SerializationError reaches the caller: a bug to fix
        if self.bypass():
            return False
        tag_sets = self.tag_keys(tags)
        try:
            if not tag_sets:
                self.client.set(rkey, data, px=None if ttl is None else _ms(ttl))
            elif self.common.cluster:
                self._set_tagged_each(rkey, data, ttl, tag_sets)
            else:
                self.common._set_tagged(
                    keys=[rkey, *tag_sets], args=[data, 0 if ttl is None else _ms(ttl)]
                )
        except self._errors as exc:
            self.fail(exc)
            return False
        self.breaker.success()
        return True

    def flight_set(
        self,
        key: Hashable,
        value: Any,
        ttl: float | None,
        token: str,
        *,
        tags: Iterable[str] | None = None,
    ) -> bool:
        """Store the value and release the flight lock in one round trip (a pipeline: the
        lock shares the entry's slot); False when nothing was stored (the lock is released)."""
        return self.flight_set_raw(self.rkey(key), value, ttl, token, tags)

    def flight_set_raw(
        self, rkey: str, value: Any, ttl: float | None, token: str, tags: Iterable[str] | None
    ) -> bool:
        if tags or self.common.cluster or not token:
            stored = self.set_raw(rkey, value, ttl, tags)
            self._unlock_raw(rkey, token)
            return stored
        try:
            data = self.codec.dumps(value)
        except BaseException:
            self._unlock_raw(rkey, token)
            raise
        if self.bypass():
            return False
        try:
            with self.client.pipeline(transaction=False) as pipe:
                pipe.set(rkey, data, px=None if ttl is None else _ms(ttl))
                # EVALSHA by hand: a Script in a pipeline costs a SCRIPT EXISTS round trip
                pipe.evalsha(self.common._unlock.sha, 1, self.lock_key(rkey), token)
                _, released = pipe.execute(raise_on_error=False)
        except self._errors as exc:
            self.fail(exc)
            return False
        if isinstance(released, Exception):  # NOSCRIPT after a SCRIPT FLUSH: load and retry
            self._unlock_raw(rkey, token)
        self.breaker.success()
        return True

    def _set_tagged_each(
        self, rkey: str, data: bytes, ttl: float | None, tag_sets: list[str]
    ) -> None:
        # The same rules as the _SET_TAGGED script, one command at a time.
        client = self.client
        client.set(rkey, data, px=None if ttl is None else _ms(ttl))
        for tag_set in tag_sets:
            existed = client.exists(tag_set)
            client.sadd(tag_set, rkey)
            if ttl is None:
                client.persist(tag_set)
            elif not existed:
                client.pexpire(tag_set, _ms(ttl))
            else:
                client.pexpire(tag_set, _ms(ttl), gt=True)  # a persistent set stays persistent

    def delete(self, key: Hashable) -> bool:
        if self.bypass():
            return False
        try:
            deleted = bool(self.client.delete(self.rkey(key)))
        except self._errors as exc:
            self.fail(exc)
            return False
        self.breaker.success()
        return deleted

    def clear(self) -> None:
        """Delete this function's entries (SCAN by its prefix)."""
        if self.bypass():
            return
        try:
            _scan_delete(self.client, self.pattern())
        except self._errors as exc:
            self.fail(exc)

    # -- cross-process single flight -------------------------------------------------------

    def flight_lock(self, key: Hashable, *, read: bool = True) -> tuple[str | None, Any]:
        """Take the computation lock and (``read=True``) read the entry, in one round trip.

        Returns ``(token, MISSING)`` when this process should compute, ``(None, MISSING)``
        when another process holds the lock, ``("", MISSING)`` when Redis cannot be asked
        (compute without a lock), and ``(None, value)`` when the value arrived since the
        caller's read missed (a lock taken meanwhile is released). A refresh of a stale
        entry passes ``read=False``: the entry is there, and the lock is what it wants.
        """
        if self.bypass():
            return "", MISSING
        rkey = self.rkey(key)
        token = secrets.token_hex(8)
        try:
            with self.client.pipeline(transaction=False) as pipe:
                pipe.set(self.lock_key(rkey), token, nx=True, px=_ms(self.common.lock_ttl))
                if read:
                    pipe.get(rkey)
                ok, *data = pipe.execute()
        except self._errors as exc:
            self.fail(exc)
            return "", MISSING
        value = self.decode(data[0], count=False) if data else MISSING  # counted by get
        if value is MISSING:
            return (token if ok else None), MISSING
        if ok:
            self._unlock_raw(rkey, token)
        return None, value

    def flight_unlock(self, key: Hashable, token: str) -> None:
        self._unlock_raw(self.rkey(key), token)

    def _unlock_raw(self, rkey: str, token: str) -> None:
        if not token or self.bypass():
            return
        try:
            self.common._unlock(keys=[self.lock_key(rkey)], args=[token])
        except self._errors as exc:
            self.fail(exc)

    def flight_wait(self, key: Hashable) -> Any:
        """Poll for the value another process is computing: the value, or MISSING once its lock
        is gone (released without a value, or expired) or ``lock_wait`` has passed."""
        rkey = self.rkey(key)
        lock_key = self.lock_key(rkey)
        deadline = time.monotonic() + self.common.lock_wait
        delay = 0.002
        while True:
            if self.bypass():
                return MISSING
            try:
                with self.client.pipeline(transaction=False) as pipe:
                    data, locked = pipe.get(rkey).exists(lock_key).execute()
            except self._errors as exc:
                self.fail(exc)
                return MISSING
            if data is not None or not locked:
                return self.decode(data)
            if time.monotonic() + delay > deadline:
                return MISSING
            time.sleep(delay)
            delay = min(delay * 2, 0.05)


# -- async -----------------------------------------------------------------------------------


class AsyncRedisBackend(_Common):
    """A cache store in Redis for ``async def`` functions, on ``redis.asyncio`` clients.

    Takes the same options as :class:`RedisBackend`.
    """

    @classmethod
    def _client_class(cls, *, cluster: bool) -> Any:
        _redis()
        import redis.asyncio as aredis

        return aredis.RedisCluster if cluster else aredis.Redis

    def bind(self, name: str) -> AsyncRedisStore:
        return AsyncRedisStore(self, name)

    async def ainvalidate_tags(self, *tags: str) -> list[str]:
        """Delete every entry stored with any of ``tags``; return the Redis keys deleted."""
        sets = [self.tag_key(t) for t in tags]
        if not sets or not self.breaker.allow():
            return []
        try:
            if self.cluster:
                gone: list[Any] = []
                for tag_set in sets:
                    for key in await self.client.smembers(tag_set):
                        if await self.client.delete(key):
                            gone.append(key)
                    await self.client.delete(tag_set)
            else:
                gone = await self._invalidate(keys=sets)
        except self._errors as exc:
            self._failed(exc, None)
            return []
        self.breaker.success()
        return [k.decode() if isinstance(k, bytes) else k for k in gone]

    async def aclear(self) -> int:
        """Delete every key of this namespace and version."""
        return await _ascan_delete(self.client, _escape_glob(self.prefix) + "*")

    async def aclose(self) -> None:
        await self.client.aclose()


async def _ascan_delete(client: Any, pattern: str) -> int:
    keys = [key async for key in client.scan_iter(match=pattern, count=1000)]
    deleted = 0
    for i in range(0, len(keys), 500):
        deleted += await client.unlink(*keys[i : i + 500])
    return deleted


class AsyncRedisStore(_ViewBase):
    """One function's entries in an :class:`AsyncRedisBackend`."""

    common: AsyncRedisBackend

    async def aget(self, key: Hashable) -> Any:
        return await self.aget_raw(self.rkey(key))

    async def aget_raw(self, rkey: str) -> Any:
        if self.breaker.open_until and self.bypass():
            return MISSING
        try:
            data = await self.client.get(rkey)
        except self._errors as exc:
            self.fail(exc)
            return MISSING
        self.breaker.success()
        return self.decode(data)

    async def aset(
        self, key: Hashable, value: Any, ttl: float | None, *, tags: Iterable[str] | None = None
    ) -> None:
        await self.aset_raw(self.rkey(key), value, ttl, tags)

    async def aset_raw(
        self, rkey: str, value: Any, ttl: float | None, tags: Iterable[str] | None = None
    ) -> bool:
        data = self.codec.dumps(value)
        if self.bypass():
            return False
        tag_sets = self.tag_keys(tags)
        px = None if ttl is None else _ms(ttl)
        try:
            if not tag_sets:
                await self.client.set(rkey, data, px=px)
            elif self.common.cluster:
                await self.client.set(rkey, data, px=px)
                for tag_set in tag_sets:
                    existed = await self.client.exists(tag_set)
                    await self.client.sadd(tag_set, rkey)
                    if px is None:
                        await self.client.persist(tag_set)
                    elif not existed:
                        await self.client.pexpire(tag_set, px)
                    else:
                        await self.client.pexpire(tag_set, px, gt=True)
            else:
                await self.common._set_tagged(keys=[rkey, *tag_sets], args=[data, px or 0])
        except self._errors as exc:
            self.fail(exc)
            return False
        self.breaker.success()
        return True

    async def adelete(self, key: Hashable) -> bool:
        if self.bypass():
            return False
        try:
            deleted = bool(await self.client.delete(self.rkey(key)))
        except self._errors as exc:
            self.fail(exc)
            return False
        self.breaker.success()
        return deleted

    async def aclear(self) -> None:
        if self.bypass():
            return
        try:
            await _ascan_delete(self.client, self.pattern())
        except self._errors as exc:
            self.fail(exc)

    async def aflight_lock(self, key: Hashable, *, read: bool = True) -> tuple[str | None, Any]:
        """Async :meth:`RedisStore.flight_lock`."""
        if self.bypass():
            return "", MISSING
        rkey = self.rkey(key)
        token = secrets.token_hex(8)
        try:
            async with self.client.pipeline(transaction=False) as pipe:
                pipe.set(self.lock_key(rkey), token, nx=True, px=_ms(self.common.lock_ttl))
                if read:
                    pipe.get(rkey)
                ok, *data = await pipe.execute()
        except self._errors as exc:
            self.fail(exc)
            return "", MISSING
        value = self.decode(data[0], count=False) if data else MISSING  # counted by get
        if value is MISSING:
            return (token if ok else None), MISSING
        if ok:
            await self._aunlock_raw(rkey, token)
        return None, value

    async def aflight_unlock(self, key: Hashable, token: str) -> None:
        await self._aunlock_raw(self.rkey(key), token)

    async def _aunlock_raw(self, rkey: str, token: str) -> None:
        if not token or self.bypass():
            return
        try:
            await self.common._unlock(keys=[self.lock_key(rkey)], args=[token])
        except self._errors as exc:
            self.fail(exc)

    async def aflight_set(
        self,
        key: Hashable,
        value: Any,
        ttl: float | None,
        token: str,
        *,
        tags: Iterable[str] | None = None,
    ) -> bool:
        """Async :meth:`RedisStore.flight_set`."""
        return await self.aflight_set_raw(self.rkey(key), value, ttl, token, tags)

    async def aflight_set_raw(
        self, rkey: str, value: Any, ttl: float | None, token: str, tags: Iterable[str] | None
    ) -> bool:
        if tags or self.common.cluster or not token:
            stored = await self.aset_raw(rkey, value, ttl, tags)
            await self._aunlock_raw(rkey, token)
            return stored
        try:
            data = self.codec.dumps(value)
        except BaseException:
            await self._aunlock_raw(rkey, token)
            raise
        if self.bypass():
            return False
        try:
            async with self.client.pipeline(transaction=False) as pipe:
                pipe.set(rkey, data, px=None if ttl is None else _ms(ttl))
                pipe.evalsha(self.common._unlock.sha, 1, self.lock_key(rkey), token)
                _, released = await pipe.execute(raise_on_error=False)
        except self._errors as exc:
            self.fail(exc)
            return False
        if isinstance(released, Exception):
            await self._aunlock_raw(rkey, token)
        self.breaker.success()
        return True

    async def aflight_wait(self, key: Hashable) -> Any:
        """Async :meth:`RedisStore.flight_wait`."""
        rkey = self.rkey(key)
        lock_key = self.lock_key(rkey)
        deadline = time.monotonic() + self.common.lock_wait
        delay = 0.002
        while True:
            if self.bypass():
                return MISSING
            try:
                async with self.client.pipeline(transaction=False) as pipe:
                    data, locked = await pipe.get(rkey).exists(lock_key).execute()
            except self._errors as exc:
                self.fail(exc)
                return MISSING
            if data is not None or not locked:
                return self.decode(data)
            if time.monotonic() + delay > deadline:
                return MISSING
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.05)
