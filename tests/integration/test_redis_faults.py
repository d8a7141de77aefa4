"""Redis faults: down, slow, out of memory. The cache fails open and never returns a wrong value.

Each test runs its own redis-server on a free port (the ``own_redis`` fixture) and stops it by
its pid; the shared server is never touched.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import pytest
import redis

from backendperf.cache import RedisBackend, TieredBackend, cached

pytestmark = pytest.mark.redis


def expected(x: int) -> dict[str, int]:
    return {"x": x, "square": x * x}


def make(backend: Any) -> Any:
    @cached(ttl=60, backend=backend)
    def f(x: int) -> dict[str, int]:
        return expected(x)

    return f


def test_server_down_then_back(own_redis: Any, caplog: pytest.LogCaptureFixture) -> None:
    """While Redis is down: right values, no exception, bypasses counted, one warning;
    after it returns, caching resumes."""
    backend = RedisBackend.from_url(own_redis.url, namespace="faults", cooldown=0.2)
    f = make(backend)
    assert f(1) == expected(1) and f(1) == expected(1)
    assert f.cache_info().hits == 1

    own_redis.stop()
    with caplog.at_level(logging.WARNING, logger="backendperf"):
        for i in range(200):
            assert f(i % 7) == expected(i % 7)
    info = f.cache_info()
    assert info.errors >= 1 and info.bypasses >= 100
    warnings = [r for r in caplog.records if "failed" in r.getMessage()]
    assert len(warnings) == 1  # one warning per warn_interval, not one per call

    own_redis.start()  # same port, empty
    deadline = time.monotonic() + 10
    while f.cache_info().hits < 3:  # after the cooldown a probe succeeds and caching resumes
        assert f(100) == expected(100)
        assert time.monotonic() < deadline, "caching never resumed"
        time.sleep(0.05)
    backend.close()


def test_the_breaker_keeps_a_dead_redis_off_the_call_path(own_redis: Any) -> None:
    """With the breaker open, calls send nothing to Redis: a call costs no timeout."""
    backend = RedisBackend.from_url(own_redis.url, namespace="faults", cooldown=60)
    f = make(backend)
    own_redis.stop()
    f(1)  # trips the breaker
    errors = f.cache_info().errors
    for i in range(50):
        f(i)
    info = f.cache_info()
    assert info.errors == errors  # no further attempts
    assert info.bypasses >= 100  # a get and a set skipped per call
    backend.close()


def test_on_error_raise_surfaces_redis_errors(own_redis: Any) -> None:
    """on_error='raise' hands the Redis exception to the caller."""
    backend = RedisBackend.from_url(own_redis.url, namespace="faults", on_error="raise")
    f = make(backend)
    own_redis.stop()
    with pytest.raises(redis.ConnectionError):
        f(1)
    backend.close()


def test_a_slow_server_costs_a_bounded_timeout(own_redis: Any) -> None:
    """CLIENT PAUSE makes Redis hang; calls time out quickly and run uncached."""
    backend = RedisBackend.from_url(own_redis.url, namespace="faults", cooldown=0.1)
    f = make(backend)
    admin = redis.Redis.from_url(own_redis.url)
    admin.execute_command("CLIENT", "PAUSE", 1500, "ALL")
    start = time.monotonic()
    assert f(3) == expected(3)
    elapsed = time.monotonic() - start
    assert f.cache_info().errors >= 1
    assert elapsed < 1.0  # 50 ms socket timeouts, not the 1.5 s pause
    time.sleep(1.6)
    assert f(3) == expected(3)
    admin.close()
    backend.close()


def test_out_of_memory_runs_uncached_and_keeps_reads(own_redis: Any) -> None:
    """maxmemory + noeviction: writes fail with OOM (counted), reads of old entries still hit."""
    backend = RedisBackend.from_url(own_redis.url, namespace="faults")
    f = make(backend)
    assert f(1) == expected(1)
    admin = redis.Redis.from_url(own_redis.url)
    used = int(admin.info("memory")["used_memory"])
    admin.config_set("maxmemory-policy", "noeviction")
    admin.config_set("maxmemory", used + 1024)
    filler = 0
    try:
        while True:
            admin.set(f"filler:{filler}", b"x" * 4096)
            filler += 1
    except redis.exceptions.OutOfMemoryError:
        pass
    assert f(2) == expected(2)  # the SET fails: counted, value still returned
    assert f.cache_info().errors >= 1
    assert f(1) == expected(1)  # the breaker did not open: reads still work
    assert f.cache_info().hits >= 1
    admin.config_set("maxmemory", 0)
    admin.close()
    backend.close()


def test_no_wrong_value_while_the_server_flaps(own_redis: Any) -> None:
    """Threads call through repeated restarts; every answer is the function's own."""
    backend = RedisBackend.from_url(own_redis.url, namespace="faults", cooldown=0.05)
    f = make(backend)
    stop = threading.Event()
    wrong: list[Any] = []
    exceptions: list[BaseException] = []

    def caller(offset: int) -> None:
        i = offset
        while not stop.is_set():
            try:
                got = f(i % 11)
            except BaseException as exc:
                exceptions.append(exc)
                return
            if got != expected(i % 11):
                wrong.append(got)
            i += 1

    threads = [threading.Thread(target=caller, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for _ in range(3):
        time.sleep(0.15)
        own_redis.stop()
        time.sleep(0.15)
        own_redis.start()
    time.sleep(0.2)
    stop.set()
    for t in threads:
        t.join()
    assert not exceptions and not wrong
    backend.close()


def test_tiered_l1_is_bypassed_while_invalidations_cannot_arrive(own_redis: Any) -> None:
    """When the pub/sub link drops, L1 is emptied and not read until it is back."""
    tiered = TieredBackend(
        RedisBackend.from_url(own_redis.url, namespace="faults", cooldown=0.05), l1_ttl=60
    )
    f = make(tiered)
    f(1)
    assert tiered.live and len(tiered.l1) == 1
    own_redis.stop()
    deadline = time.monotonic() + 5
    while tiered.live:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    assert len(tiered.l1) == 0
    assert f(1) == expected(1)  # computed: neither tier may answer
    own_redis.start()
    assert tiered.start(timeout=10)
    deadline = time.monotonic() + 10
    while not len(tiered.l1):
        f(1)
        assert time.monotonic() < deadline
        time.sleep(0.05)
    tiered.close()
