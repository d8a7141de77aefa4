"""Single-flight and thread safety: concurrent misses run the function once; no lost updates."""

from __future__ import annotations

import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from backendperf import cached


def test_concurrent_misses_run_the_function_once() -> None:
    """16 threads missing on one key: one call, every thread gets the same object."""
    calls = []
    gate = threading.Barrier(16)

    @cached
    def slow(x: int) -> object:
        calls.append(x)
        time.sleep(0.1)
        return object()

    def worker() -> object:
        gate.wait()
        return slow(1)

    with ThreadPoolExecutor(16) as pool:
        results = list(pool.map(lambda _: worker(), range(16)))
    assert len(calls) == 1
    assert all(r is results[0] for r in results)


def test_concurrent_misses_share_the_exception() -> None:
    """When the one call raises, every waiter gets that exception, and nothing is cached."""
    calls = []
    gate = threading.Barrier(8)

    @cached
    def failing(x: int) -> int:
        calls.append(x)
        time.sleep(0.1)
        raise ConnectionError("db down")

    def worker() -> BaseException | None:
        gate.wait()
        try:
            failing(1)
        except ConnectionError as exc:
            return exc
        return None

    with ThreadPoolExecutor(8) as pool:
        errors = list(pool.map(lambda _: worker(), range(8)))
    assert len(calls) == 1
    assert all(isinstance(e, ConnectionError) for e in errors)
    assert failing.cache_info().currsize == 0


def test_different_keys_do_not_wait_for_each_other() -> None:
    """A slow miss on one key does not block a miss on another: f(2) returns while f(1) is
    still running (no timing threshold: f(1) finishes only when the test lets it)."""
    started = threading.Event()
    release = threading.Event()

    @cached
    def f(x: int) -> int:
        if x == 1:
            started.set()
            release.wait(30)
        return x

    t = threading.Thread(target=f, args=(1,))
    t.start()
    assert started.wait(30)
    assert f(2) == 2
    assert t.is_alive() and not release.is_set()  # f(1) is still in flight
    release.set()
    t.join()
    assert f(1) == 1


@pytest.mark.parametrize(
    "options",
    [
        {"maxsize": 32},
        {"maxsize": 32, "policy": "fifo"},
        {"maxsize": 32, "policy": "lfu"},
        {"maxsize": 32, "ttl": 0.001},
        {"maxsize": 32, "ttl": 0.002, "stale_ttl": 0.002},
        {"maxsize": None},
    ],
    ids=["lru", "fifo", "lfu", "ttl", "stale", "unbounded"],
)
def test_stress_get_set_evict_invalidate(options: dict[str, object]) -> None:
    """8 threads hammering a small cache: no exception, every answer correct, size bounded."""

    @cached(**options)  # type: ignore[call-overload]
    def square(x: int) -> int:
        return x * x

    errors: list[BaseException] = []

    def worker(seed: int) -> None:
        rng = random.Random(seed)
        try:
            for _ in range(4000):
                x = rng.randrange(64)
                op = rng.random()
                if op < 0.02:
                    square.invalidate(x)
                elif op < 0.025:
                    square.cache_info()
                else:
                    assert square(x) == x * x
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    info = square.cache_info()
    if options["maxsize"] is not None:
        assert info.currsize <= 32
    assert info.hits + info.misses + info.stale_hits > 0
