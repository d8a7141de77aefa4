"""Two tiers: a small in-process L1 in front of a Redis L2, kept coherent over pub/sub.

A read looks in L1 first (no network), then in Redis, and copies what Redis had into L1 for at
most ``l1_ttl`` seconds. Every write, delete, clear and tag invalidation is published on a Redis
channel; every process's listener thread drops the named entries from its L1 within
milliseconds.

Coherence rules, because a stale L1 entry is a wrong answer:

* L1 is read only while the listener is subscribed. When the subscription breaks (Redis
  restarts, the network drops), invalidations may have been missed: L1 is emptied and bypassed
  until the listener is subscribed again.
* A value read from Redis is copied into L1 only if no invalidation arrived while it was being
  read (a generation counter), so an invalidation racing with a read cannot be lost.
* ``l1_ttl`` bounds the age of any L1 entry, whatever happens to messages.

(RESP3 client-side caching would also work, but needs Redis 6+ with ``CLIENT TRACKING`` on the
connection that reads; pub/sub works with every deployment, Cluster and Sentinel included.)
"""

from __future__ import annotations

import contextlib
import logging
import secrets
import threading
import time
from typing import TYPE_CHECKING, Any, Final

import msgpack

from backendperf.cache.backends.base import MISSING
from backendperf.cache.backends.memory import MemoryBackend
from backendperf.cache.backends.redis import (
    AsyncRedisBackend,
    AsyncRedisStore,
    RedisBackend,
    RedisStore,
    _redis,
)
from backendperf.exceptions import ConfigurationError

if TYPE_CHECKING:
    from collections.abc import Callable, Hashable, Iterable

__all__ = ["TieredBackend"]

logger = logging.getLogger("backendperf")

_KEYS, _PREFIX, _ALL = "k", "p", "*"
_RKEY_MEMO: Final = 4096  # in-process key -> Redis key digests remembered per function


class TieredBackend:
    """An in-process L1 (bounded, short TTL) in front of a Redis L2.

    Args:
        l2: a :class:`~backendperf.cache.RedisBackend` (for ``def`` functions) or an
            :class:`~backendperf.cache.AsyncRedisBackend` (for ``async def`` ones).
        l1_maxsize: most entries in L1 (shared by every function using this backend).
        l1_ttl: longest time an entry stays in L1 (bounds staleness if messages are lost).
        channel: the pub/sub channel (default: ``{namespace}:v{version}:invalidate``).
        subscriber: a sync ``redis.Redis`` for the listener thread (default: one built from the
            L2 client's connection settings).
        timer: the L1 clock.

    Call :meth:`close` to stop the listener thread (it is a daemon thread either way).
    """

    def __init__(
        self,
        l2: RedisBackend | AsyncRedisBackend,
        *,
        l1_maxsize: int = 1024,
        l1_ttl: float = 5.0,
        channel: str | None = None,
        subscriber: Any = None,
        timer: Callable[[], float] = time.monotonic,
    ) -> None:
        if l1_ttl <= 0:
            raise ConfigurationError(f"l1_ttl={l1_ttl!r}: must be positive")
        self.l2 = l2
        self.is_async = isinstance(l2, AsyncRedisBackend)
        self.l1 = MemoryBackend(l1_maxsize, timer=timer, entries=True)
        self.l1_ttl = l1_ttl
        self.channel = channel or f"{l2.prefix}invalidate"
        self.sender = secrets.token_bytes(8)
        self.generation = 0
        self.live = False
        """True while subscribed: only then may L1 be read."""
        self._subscriber = subscriber
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()
        self._subscribed = threading.Event()

    # -- the listener ------------------------------------------------------------------------

    def start(self, timeout: float = 1.0) -> bool:
        """Start the listener (``bind`` does); return whether it subscribed within ``timeout``."""
        with self._start_lock:
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._listen, name="backendperf-l1-invalidation", daemon=True
                )
                self._thread.start()
        return self._subscribed.wait(timeout)

    def _client(self) -> Any:
        if self._subscriber is not None:
            return self._subscriber
        r = _redis()
        from redis.backoff import NoBackoff
        from redis.retry import Retry

        # No retries inside redis-py: the listener reconnects itself, and has to notice a
        # lost link at once (redis-py 8 retries 3 times with backoff by default: seconds of
        # serving L1 while invalidations cannot arrive).
        no_retry = Retry(NoBackoff(), 0)
        pool = getattr(self.l2.client, "connection_pool", None)
        if pool is None:  # a cluster client: subscribe through one of its nodes
            node = self.l2.client.get_default_node()
            return r.Redis(
                host=node.host, port=node.port, socket_connect_timeout=1.0, retry=no_retry
            )
        kwargs = {
            k: v
            for k, v in pool.connection_kwargs.items()
            if k in ("host", "port", "db", "username", "password", "path", "ssl")
        }
        if "path" in kwargs:
            kwargs["unix_socket_path"] = kwargs.pop("path")
        return r.Redis(socket_connect_timeout=1.0, retry=no_retry, **kwargs)

    def _listen(self) -> None:
        delay = 0.05
        while not self._stop.is_set():
            client = pubsub = None
            try:
                client = self._client()
                pubsub = client.pubsub(ignore_subscribe_messages=False)
                pubsub.subscribe(self.channel)
                while not self._stop.is_set():
                    message = pubsub.get_message(timeout=0.2)
                    if message is None:
                        continue
                    if message["type"] == "subscribe":
                        self._drop_all()  # anything cached before may have missed messages
                        self.live = True
                        self._subscribed.set()
                        delay = 0.05
                    elif message["type"] == "message":
                        self._apply(message["data"])
            except Exception as exc:  # connection lost (or a bug): L1 can no longer be trusted
                if self.live:
                    logger.warning("L1 invalidation channel lost (%r); L1 bypassed", exc)
                self.live = False
                self._subscribed.clear()
                self._drop_all()
                self._stop.wait(delay)
                delay = min(delay * 2, 2.0)
            finally:
                self.live = self.live and not self._stop.is_set()
                for closeable in (pubsub, client if self._subscriber is None else None):
                    if closeable is not None:
                        with contextlib.suppress(Exception):  # closing a broken connection
                            closeable.close()

    def _apply(self, data: bytes) -> None:
        try:
            sender, op, payload = msgpack.unpackb(data, raw=False)
        except Exception:
            return  # not ours
        self.generation += 1
        if sender == self.sender:
            return
        self._drop(op, payload)

    def _drop(self, op: str, payload: Any) -> None:
        if op == _KEYS:
            for key in payload:
                self.l1.delete(key)
        elif op == _PREFIX:
            for key in [k for k in self.l1.keys() if str(k).startswith(payload)]:  # noqa: SIM118
                self.l1.delete(key)
        else:
            self._drop_all()

    def _drop_all(self) -> None:
        self.generation += 1
        self.l1.clear()

    def message(self, op: str, payload: Any) -> bytes:
        return msgpack.packb([self.sender, op, payload])  # type: ignore[no-any-return]

    def close(self) -> None:
        """Stop the listener thread and empty L1."""
        self._stop.set()
        self.live = False
        if self._thread is not None:
            self._thread.join(timeout=2.0)
        self._drop_all()

    # -- the Backend side ----------------------------------------------------------------------

    def bind(self, name: str) -> TieredStore:
        """The store of one function (``@cached`` calls this)."""
        self.start()
        return TieredStore(self, self.l2.bind(name))

    def publish(self, op: str, payload: Any) -> None:
        assert isinstance(self.l2, RedisBackend)
        if not self.l2.breaker.allow():
            return
        try:
            self.l2.client.publish(self.channel, self.message(op, payload))
        except self.l2._errors as exc:
            self.l2._failed(exc, None)

    async def apublish(self, op: str, payload: Any) -> None:
        if not self.l2.breaker.allow():
            return
        try:
            await self.l2.client.publish(self.channel, self.message(op, payload))
        except self.l2._errors as exc:
            self.l2._failed(exc, None)

    def invalidate_tags(self, *tags: str) -> list[str]:
        """Delete every entry with any of ``tags``, here and in every process's L1."""
        assert isinstance(self.l2, RedisBackend), "use ainvalidate_tags with an async L2"
        gone = self.l2.invalidate_tags(*tags)
        self._drop(_KEYS, gone)
        if gone:
            self.publish(_KEYS, gone)
        return gone

    async def ainvalidate_tags(self, *tags: str) -> list[str]:
        assert isinstance(self.l2, AsyncRedisBackend), "use invalidate_tags with a sync L2"
        gone = await self.l2.ainvalidate_tags(*tags)
        self._drop(_KEYS, gone)
        if gone:
            await self.apublish(_KEYS, gone)
        return gone


class TieredStore:
    """One function's view of a :class:`TieredBackend`."""

    def __init__(self, tiered: TieredBackend, l2: RedisStore | AsyncRedisStore) -> None:
        self.tiered = tiered
        self.l2 = l2
        self.l1 = tiered.l1
        self.stats = l2.stats
        self.locking = l2.locking
        self._rkeys: dict[Hashable, str] = {}
        if tiered.is_async:  # the decorator looks for these to use the async path
            self.aget = self._aget
            self.aset = self._aset
            self.adelete = self._adelete
            self.aclear = self._aclear
            self.aflight_lock = l2.aflight_lock  # type: ignore[union-attr]
            self.aflight_unlock = l2.aflight_unlock  # type: ignore[union-attr]
            self.aflight_wait = l2.aflight_wait  # type: ignore[union-attr]
            self.aflight_set = self._aflight_set
        else:
            self.flight_lock = l2.flight_lock  # type: ignore[union-attr]
            self.flight_unlock = l2.flight_unlock  # type: ignore[union-attr]
            self.flight_wait = l2.flight_wait  # type: ignore[union-attr]

    def rkey(self, key: Hashable) -> str:
        rkeys = self._rkeys
        try:
            return rkeys[key]
        except KeyError:
            pass
        except TypeError:  # pragma: no cover - keys reaching a backend are hashable
            return self.l2.rkey(key)
        if len(rkeys) >= _RKEY_MEMO:
            rkeys.clear()
        rkey = rkeys[key] = self.l2.rkey(key)
        return rkey

    def _l1_ttl(self, ttl: float | None) -> float:
        return self.tiered.l1_ttl if ttl is None else min(ttl, self.tiered.l1_ttl)

    # -- sync ----------------------------------------------------------------------------------

    def get(self, key: Hashable) -> Any:
        rkey = self.rkey(key)
        tiered = self.tiered
        if tiered.live:
            value = self.l1.get(rkey)
            if value is not MISSING:
                return value
        generation = tiered.generation
        value = self.l2.get_raw(rkey)  # type: ignore[union-attr]
        if value is not MISSING and tiered.live and tiered.generation == generation:
            self.l1.set(rkey, value, self.tiered.l1_ttl)
        return value

    def set(
        self, key: Hashable, value: Any, ttl: float | None, *, tags: Iterable[str] | None = None
    ) -> None:
        rkey = self.rkey(key)
        stored = self.l2.set_raw(rkey, value, ttl, tags)  # type: ignore[union-attr]
        self._after_set(rkey, value, ttl, stored)
        self.tiered.publish(_KEYS, [rkey])

    def flight_set(
        self,
        key: Hashable,
        value: Any,
        ttl: float | None,
        token: str,
        *,
        tags: Iterable[str] | None = None,
    ) -> None:
        rkey = self.rkey(key)
        stored = self.l2.flight_set_raw(rkey, value, ttl, token, tags)  # type: ignore[union-attr]
        self._after_set(rkey, value, ttl, stored)
        self.tiered.publish(_KEYS, [rkey])

    def _after_set(self, rkey: str, value: Any, ttl: float | None, stored: bool) -> None:
        if stored and self.tiered.live:
            self.l1.set(rkey, value, self._l1_ttl(ttl))
        else:
            self.l1.delete(rkey)

    def delete(self, key: Hashable) -> bool:
        rkey = self.rkey(key)
        self.l1.delete(rkey)
        deleted = bool(self.l2.delete(key))  # type: ignore[union-attr]
        self.tiered.publish(_KEYS, [rkey])
        return deleted

    def clear(self) -> None:
        self.l2.clear()  # type: ignore[union-attr]
        self.tiered._drop(_PREFIX, self.l2.base)
        self.tiered.publish(_PREFIX, self.l2.base)

    # -- async ---------------------------------------------------------------------------------

    async def _aget(self, key: Hashable) -> Any:
        rkey = self.rkey(key)
        tiered = self.tiered
        if tiered.live:
            value = self.l1.get(rkey)
            if value is not MISSING:
                return value
        generation = tiered.generation
        value = await self.l2.aget_raw(rkey)  # type: ignore[union-attr]
        if value is not MISSING and tiered.live and tiered.generation == generation:
            self.l1.set(rkey, value, self.tiered.l1_ttl)
        return value

    async def _aset(
        self, key: Hashable, value: Any, ttl: float | None, *, tags: Iterable[str] | None = None
    ) -> None:
        rkey = self.rkey(key)
        stored = await self.l2.aset_raw(rkey, value, ttl, tags)  # type: ignore[union-attr]
        self._after_set(rkey, value, ttl, stored)
        await self.tiered.apublish(_KEYS, [rkey])

    async def _aflight_set(
        self,
        key: Hashable,
        value: Any,
        ttl: float | None,
        token: str,
        *,
        tags: Iterable[str] | None = None,
    ) -> None:
        rkey = self.rkey(key)
        stored = await self.l2.aflight_set_raw(rkey, value, ttl, token, tags)  # type: ignore[union-attr]
        self._after_set(rkey, value, ttl, stored)
        await self.tiered.apublish(_KEYS, [rkey])

    async def _adelete(self, key: Hashable) -> bool:
        rkey = self.rkey(key)
        self.l1.delete(rkey)
        deleted = bool(await self.l2.adelete(key))  # type: ignore[union-attr]
        await self.tiered.apublish(_KEYS, [rkey])
        return deleted

    async def _aclear(self) -> None:
        await self.l2.aclear()  # type: ignore[union-attr]
        self.tiered._drop(_PREFIX, self.l2.base)
        await self.tiered.apublish(_PREFIX, self.l2.base)
