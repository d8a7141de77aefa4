"""@cached on the real Redis: keys, expiry, staleness, clearing, tags, locks, methods, async."""

from __future__ import annotations

import asyncio
import datetime as dt
import threading
import time
from typing import TYPE_CHECKING, Any

import pytest
import redis
import redis.asyncio as aredis

from backendperf.cache import MISSING, AsyncRedisBackend, RedisBackend, cached
from backendperf.exceptions import ConfigurationError, SerializationError

if TYPE_CHECKING:
    from collections.abc import Iterator

pytestmark = pytest.mark.redis


@pytest.fixture
def client(redis_url: str) -> Iterator[redis.Redis]:
    c = redis.Redis.from_url(redis_url)
    yield c
    c.close()


@pytest.fixture
def namespace(redis_prefix: str) -> str:
    return redis_prefix.rstrip(":")


@pytest.fixture
def backend(redis_url: str, namespace: str) -> Iterator[RedisBackend]:
    b = RedisBackend.from_url(redis_url, namespace=namespace)
    yield b
    b.close()


def keys_of(client: redis.Redis, namespace: str) -> list[str]:
    return sorted(k.decode() for k in client.scan_iter(match=namespace + ":*"))


def test_values_round_trip_and_expire_through_redis(
    backend: RedisBackend, client: redis.Redis, namespace: str
) -> None:
    """A result is stored once with PX expiry and read back equal, types intact."""
    calls: list[int] = []

    @cached(ttl=30, backend=backend)
    def load(user_id: int) -> dict[str, Any]:
        calls.append(user_id)
        return {"id": user_id, "seen": dt.datetime(2024, 5, 1, tzinfo=dt.timezone.utc), "t": (1,)}

    first = load(7)
    assert load(7) == first == load(user_id=7)
    assert calls == [7]
    assert load.cache_info().hits == 2
    (key,) = keys_of(client, namespace)
    assert key.startswith(f"{namespace}:v1:{__name__}.")
    assert 29_000 < client.pttl(key) <= 30_000


def test_per_entry_ttl_and_no_ttl(backend: RedisBackend, client: redis.Redis) -> None:
    """ttl= as a function of the result sets each entry's expiry; ttl=None sets none."""

    @cached(ttl=lambda row: row["ttl"], backend=backend)
    def row(ttl: float | None) -> dict[str, Any]:
        return {"ttl": ttl}

    row(5)
    row(50)
    row(None)
    store = backend.bind(f"{__name__}.{row.__qualname__}")
    assert 4_000 < client.pttl(store.rkey(5)) <= 5_000
    assert 49_000 < client.pttl(store.rkey(50)) <= 50_000
    assert client.pttl(store.rkey(None)) == -1


def test_jitter_spreads_expiry(backend: RedisBackend, client: redis.Redis) -> None:
    """jitter= shortens each entry's PX by a random share, so they do not expire together."""

    @cached(ttl=100, jitter=0.5, backend=backend)
    def f(x: int) -> int:
        return x

    for i in range(30):
        f(i)
    store = backend.bind(f"{__name__}.{f.__qualname__}")
    ttls = [client.pttl(store.rkey(i)) for i in range(30)]
    assert all(49_000 < t <= 100_000 for t in ttls)
    assert len({t // 1000 for t in ttls}) > 5


def test_stale_values_are_served_while_one_refresh_runs(backend: RedisBackend) -> None:
    """After ttl, within stale_ttl, callers get the old value and one refresh replaces it."""
    now = [1_000_000.0]
    version = [1]
    refreshed = threading.Event()

    @cached(ttl=10, stale_ttl=60, backend=backend, timer=lambda: now[0])
    def config() -> int:
        value = version[0]
        if value > 1:
            refreshed.set()
        return value

    assert config() == 1
    version[0] = 2
    now[0] += 11  # expired, still inside the stale window
    assert config() == 1
    assert refreshed.wait(5)
    deadline = time.monotonic() + 5
    while config() != 2:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    assert config.cache_info().stale_hits >= 1
    now[0] += 1_000  # past the stale window: a plain miss, computed in the foreground
    version[0] = 3
    assert config() in (2, 3)  # Redis itself still holds the entry (real-time PX of 70 s)


def test_cache_clear_removes_only_this_functions_keys(
    backend: RedisBackend, client: redis.Redis, namespace: str, redis_url: str
) -> None:
    """cache_clear() SCANs its own prefix: other functions and namespaces keep their entries."""
    other = RedisBackend.from_url(redis_url, namespace=namespace + "_other")

    @cached(ttl=60, backend=backend)
    def f(x: int) -> int:
        return x

    @cached(ttl=60, backend=backend)
    def g(x: int) -> int:
        return x

    @cached(ttl=60, backend=other)
    def h(x: int) -> int:
        return x

    for i in range(5):
        f(i), g(i), h(i)
    try:
        f.cache_clear()
        remaining = keys_of(client, namespace)
        assert len(remaining) == 5 and all(".g:" in k or "g:" in k for k in remaining)
        assert len(keys_of(client, namespace + "_other")) == 5
        assert f.cache_info().misses == 0
    finally:
        other.clear()
        other.close()


def test_version_bump_invalidates_everything(redis_url: str, namespace: str) -> None:
    """A new version= reads none of the old entries (they expire on their own)."""
    results = []
    for version in (1, 1, 2):
        b = RedisBackend.from_url(redis_url, namespace=namespace, version=version)

        @cached(ttl=60, backend=b)
        def f() -> int:
            results.append(version)
            return version

        f()
        b.close()
    assert results == [1, 2]


def test_tags_invalidate_across_functions_atomically(
    backend: RedisBackend, client: redis.Redis
) -> None:
    """invalidate_tags removes every entry with the tag, in every function, and nothing else."""

    @cached(ttl=60, backend=backend, tags=lambda uid: [f"user:{uid}"])
    def profile(uid: int) -> str:
        return f"profile {uid}"

    @cached(ttl=120, backend=backend, tags=lambda uid, page: [f"user:{uid}", "feeds"])
    def feed(uid: int, page: int) -> str:
        return f"feed {uid} {page}"

    profile(1), profile(2), feed(1, 1), feed(1, 2), feed(2, 1)
    tag_set = backend.tag_key("user:1")
    assert client.scard(tag_set) == 3
    assert 119_000 < client.pttl(tag_set) <= 120_000  # lives as long as its longest entry
    gone = backend.invalidate_tags("user:1")
    assert len(gone) == 3
    assert not client.exists(tag_set)
    before = profile.cache_info().misses, feed.cache_info().misses
    profile(1), profile(2), feed(1, 1), feed(2, 1)
    assert (profile.cache_info().misses, feed.cache_info().misses) == (before[0] + 1, before[1] + 1)
    assert backend.invalidate_tags("nobody") == []


def test_tag_sets_expire_with_their_entries(backend: RedisBackend, client: redis.Redis) -> None:
    """A tag set is not left behind when all its entries have expired."""

    @cached(ttl=0.3, backend=backend, tags=lambda x: ["short"])
    def f(x: int) -> int:
        return x

    f(1)
    assert client.exists(backend.tag_key("short"))
    time.sleep(0.5)
    assert not client.exists(backend.tag_key("short"))


def test_corrupted_values_are_misses_not_errors(backend: RedisBackend, client: redis.Redis) -> None:
    """Foreign bytes under our key are a counted miss; the function's value replaces them."""

    @cached(ttl=60, backend=backend)
    def f(x: int) -> list[int]:
        return [x]

    rkey = backend.bind(f"{__name__}.{f.__qualname__}").rkey(3)
    for garbage in (b"\x80\x04pickle?", b"\xb1\xdd\xff", b"plain text"):
        client.set(rkey, garbage)
        assert f(3) == [3]
    assert f.cache_info().errors == 3
    assert f(3) == [3]
    assert f.cache_info().hits == 1


def test_unencodable_results_fail_at_store_time(backend: RedisBackend, client: redis.Redis) -> None:
    """A result the codec cannot store raises SerializationError now, naming the type."""

    class Opaque:
        pass

    @cached(ttl=60, backend=backend)
    def f() -> Opaque:
        return Opaque()

    with pytest.raises(SerializationError, match="Opaque"):
        f()


def test_methods_need_a_stable_instance_identity(backend: RedisBackend) -> None:
    """Instances are told apart by __cache_key__(); without it the error says what to add."""

    class Repo:
        def __init__(self, tenant: str) -> None:
            self.tenant = tenant

        def __cache_key__(self) -> str:
            return self.tenant

        @cached(ttl=60, backend=backend)
        def count(self, kind: str) -> str:
            return f"{self.tenant}:{kind}"

        @classmethod
        @cached(ttl=60, backend=backend)
        def label(cls, x: int) -> str:
            return f"{cls.__name__}{x}"

    class Bare:
        @cached(ttl=60, backend=backend)
        def f(self) -> int:
            return 1

    assert Repo("a").count("x") == "a:x"
    assert Repo("b").count("x") == "b:x"
    assert Repo("a").count("x") == "a:x"
    assert Repo.label(1) == "Repo1"
    with pytest.raises(ConfigurationError, match="__cache_key__"):
        Bare().f()


def test_a_dead_lock_holder_delays_others_at_most_lock_wait(
    redis_url: str, namespace: str, client: redis.Redis
) -> None:
    """A lock left by a crashed process is waited on for lock_wait, then the caller computes."""
    b = RedisBackend.from_url(redis_url, namespace=namespace, lock_wait=0.3)

    @cached(ttl=60, backend=b)
    def f(x: int) -> int:
        return x * 2

    store = b.bind(f"{__name__}.{f.__qualname__}")
    client.set(store.lock_key(store.rkey(5)), "dead-holder", px=60_000)
    start = time.monotonic()
    assert f(5) == 10
    assert 0.25 < time.monotonic() - start < 5
    b.close()


def test_waiters_get_the_lock_holders_value(redis_url: str, namespace: str) -> None:
    """Two backends (as two processes would) missing together run the function once."""
    runs: list[int] = []
    gate = threading.Barrier(2)

    def make() -> Any:
        # a 50 ms timeout under host load would fail open and run the function twice
        b = RedisBackend.from_url(redis_url, namespace=namespace, socket_timeout=2.0)

        @cached(ttl=60, backend=b)
        def slow(x: int) -> int:
            runs.append(x)
            time.sleep(0.2)
            return x + 1

        return slow

    fns = [make(), make()]
    results: list[int] = []

    def call(fn: Any) -> None:
        gate.wait()
        results.append(fn(1))

    threads = [threading.Thread(target=call, args=(fn,)) for fn in fns]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [2, 2]
    assert runs == [1]


def test_async_backend(redis_url: str, namespace: str, client: redis.Redis) -> None:
    """AsyncRedisBackend caches async functions, with tags, invalidation, clear and one flight."""

    async def main() -> None:
        b = AsyncRedisBackend(
            aredis.Redis.from_url(redis_url, socket_timeout=2.0), namespace=namespace
        )
        runs: list[int] = []

        @cached(ttl=60, backend=b, tags=lambda uid: [f"u{uid}"])
        async def load(uid: int) -> tuple[int, str]:
            runs.append(uid)
            await asyncio.sleep(0.05)
            return (uid, "x")

        assert await asyncio.gather(*(load(1) for _ in range(10))) == [(1, "x")] * 10
        assert runs == [1]
        assert await load(1) == (1, "x")
        assert await load.ainvalidate(1) is True
        assert await load.ainvalidate(1) is False
        await load(1)
        assert len(await b.ainvalidate_tags("u1")) == 1
        await load(1)
        assert runs == [1, 1, 1]
        with pytest.raises(ConfigurationError, match="ainvalidate"):
            load.invalidate(1)
        await load.acache_clear()
        assert keys_of(client, namespace) == [f"{namespace}:v1:tag:u1"] or not keys_of(
            client, namespace
        )
        await b.aclose()

    asyncio.run(main())


def test_async_backend_refuses_sync_functions(redis_url: str, namespace: str) -> None:
    """An async-only backend on a def function is a ConfigurationError that names the fix."""
    b = AsyncRedisBackend(aredis.Redis.from_url(redis_url), namespace=namespace)

    def f() -> int:
        return 1

    with pytest.raises(ConfigurationError, match="RedisBackend"):
        cached(backend=b)(f)


def test_clients_without_timeouts_are_warned_about(
    redis_url: str, namespace: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A client without socket_timeout gets a warning: a hung Redis would hang every call."""
    with caplog.at_level("WARNING", logger="backendperf"):
        RedisBackend(redis.Redis.from_url(redis_url), namespace=namespace)
    assert "socket_timeout" in caplog.text
    caplog.clear()
    with caplog.at_level("WARNING", logger="backendperf"):
        RedisBackend.from_url(redis_url, namespace=namespace)
    assert "socket_timeout" not in caplog.text


def test_lock_false_skips_the_fleet_lock(
    redis_url: str, namespace: str, client: redis.Redis
) -> None:
    """lock=False: a miss takes no Redis lock (fewer round trips), values are still cached."""
    b = RedisBackend.from_url(redis_url, namespace=namespace, lock=False, lock_wait=30)

    @cached(ttl=60, backend=b)
    def f(x: int) -> int:
        return x

    store = b.bind(f"{__name__}.{f.__qualname__}")
    client.set(store.lock_key(store.rkey(1)), "someone-else", px=60_000)
    start = time.monotonic()
    assert f(1) == 1  # with the lock on, this would wait lock_wait=30 s for "someone-else"
    assert time.monotonic() - start < 10
    assert f(1) == 1
    assert f.cache_info().hits == 1
    b.close()


def test_the_flight_lock_is_released_on_every_outcome(
    backend: RedisBackend, client: redis.Redis
) -> None:
    """Stored, not stored (unless=), or raised: no lock is left for others to wait on."""

    @cached(ttl=60, backend=backend, unless=lambda v: v is None)
    def f(x: int) -> int | None:
        if x < 0:
            raise ValueError(x)
        return None if x == 0 else x

    store = backend.bind(f"{__name__}.{f.__qualname__}")
    assert f(1) == 1
    assert f(0) is None
    with pytest.raises(ValueError, match="-1"):
        f(-1)
    for x in (1, 0, -1):
        assert not client.exists(store.lock_key(store.rkey(x)))
    assert client.exists(store.rkey(1))
    assert not client.exists(store.rkey(0))


def test_a_flushed_script_cache_does_not_leave_locks(
    own_redis: Any,
) -> None:
    """After SCRIPT FLUSH the lock release reloads its script instead of leaving the lock."""
    b = RedisBackend.from_url(own_redis.url, namespace="flush")

    @cached(ttl=60, backend=b)
    def f(x: int) -> int:
        return x

    admin = redis.Redis.from_url(own_redis.url)
    f(1)
    admin.script_flush()
    f(2)
    store = b.bind(f"{__name__}.{f.__qualname__}")
    assert not admin.exists(store.lock_key(store.rkey(2)))
    assert admin.exists(store.rkey(2))
    admin.close()
    b.close()


def test_async_stale_values_are_refreshed_in_the_background(redis_url: str, namespace: str) -> None:
    """Async + Redis: after ttl a stale value is served and a task stores the new one."""
    now = [1_000_000.0]
    version = [1]

    async def main() -> None:
        b = AsyncRedisBackend.from_url(redis_url, namespace=namespace)

        @cached(ttl=10, stale_ttl=60, backend=b, timer=lambda: now[0])
        async def config() -> int:
            return version[0]

        assert await config() == 1
        version[0] = 2
        now[0] += 11
        assert await config() == 1  # stale, refresh scheduled
        deadline = time.monotonic() + 5
        while await config() != 2:
            assert time.monotonic() < deadline
            await asyncio.sleep(0.01)
        assert config.cache_info().stale_hits >= 1
        await b.aclose()

    asyncio.run(main())


def test_a_value_stored_between_read_and_lock_is_used(
    backend: RedisBackend, client: redis.Redis
) -> None:
    """The lock is taken with a re-read: a value another process stored after our miss is
    returned (and the lock given back) instead of being computed a second time."""
    store = backend.bind("app.late")
    client.set(store.rkey(1), backend.codec.dumps({"v": 5}))
    assert store.flight_lock(1) == (None, {"v": 5})
    assert not client.exists(store.lock_key(store.rkey(1)))
    token, found = store.flight_lock(2)
    assert token
    assert found is MISSING
    store.flight_unlock(2, token)
    assert not client.exists(store.lock_key(store.rkey(2)))
