"""Stress: threads and asyncio tasks hammer one cache with every option; nothing may hang,
raise what the function did not raise, return a wrong value, or miscount.

Each test forces interleavings (``sys.setswitchinterval(1e-6)``) and has a hard timeout that
dumps every thread's stack (pytest-timeout's thread method), so a hang fails in seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import threading
from typing import Any

import pytest

from backendperf import cached
from tests.concurrency import run_threads

pytestmark = [pytest.mark.timeout(90, method="thread"), pytest.mark.usefixtures("fast_switching")]

KEYS = 24
THREADS = 12
CALLS = 1200


class Clock:
    """A clock the test advances: expiry and staleness happen without sleeping."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def expected(key: Any) -> int:
    if key % 7 == 0:
        raise ValueError(key)
    return int(key) * 2


OPTIONS = [
    {"maxsize": 8},
    {"maxsize": 8, "policy": "lfu"},
    {"maxsize": 8, "policy": "fifo"},
    {"maxsize": None},
    {"maxsize": 0},
    {"maxsize": 8, "ttl": 1.0},
    {"maxsize": 8, "ttl": 1.0, "stale_ttl": 5.0},
    {"maxsize": 8, "ttl": 1.0, "negative_ttl": 0.5},
    {"maxsize": 8, "ttl": lambda v: 0.5 + v % 3, "jitter": 0.5},
    {"maxsize": 8, "unless": lambda v: v % 5 == 0},
    {"maxsize": 8, "typed": True},
]
IDS = [
    "lru",
    "lfu",
    "fifo",
    "unbounded",
    "size0",
    "ttl",
    "stale",
    "negative",
    "ttl-fn",
    "unless",
    "typed",
]


@pytest.mark.parametrize("options", OPTIONS, ids=IDS)
def test_threads_with_every_option(options: dict[str, Any]) -> None:
    """12 threads of calls (hashable and unhashable arguments), invalidations and refreshes
    against a ticking clock: right answers only, and hits + misses + stale hits == calls."""
    clock = Clock()
    f = cached(timer=clock, **options)(_compute)
    calls = [0] * THREADS
    stop = threading.Event()

    def worker(n: int) -> None:
        rng = random.Random(n)
        for _ in range(CALLS):
            key = rng.randrange(KEYS)
            roll = rng.random()
            if roll < 0.03:
                f.invalidate(key)
                continue
            if roll < 0.04:
                with contextlib.suppress(ValueError):
                    assert f.refresh(key) == expected(key)
                continue
            calls[n] += 1
            arg: Any = [key] if roll < 0.15 else key  # lists take the slow path
            try:
                got = f(arg)
            except ValueError:
                got = "raised"
            assert got == ("raised" if key % 7 == 0 else expected(key)), (key, got)

    def ticker() -> None:
        while not stop.is_set():
            clock.now += 0.05
            stop.wait(0.001)

    tick = threading.Thread(target=ticker, daemon=True)
    tick.start()
    try:
        errors = run_threads(worker, [(n,) for n in range(THREADS)], timeout=60)
    finally:
        stop.set()
        tick.join(5)
    assert errors == []
    info = f.cache_info()
    assert info.hits + info.misses + info.stale_hits == sum(calls)
    if options.get("maxsize"):
        assert info.currsize <= options["maxsize"]


def _compute(key: Any) -> int:
    if isinstance(key, list):
        key = key[0]
    return expected(key)


@pytest.mark.parametrize("options", OPTIONS, ids=IDS)
def test_asyncio_tasks_with_cancellation(options: dict[str, Any]) -> None:
    """200 tasks per round call, get cancelled at random and invalidate, on one loop: every
    task that is not cancelled gets the right answer; nothing hangs."""
    clock = Clock()

    @cached(timer=clock, **options)
    async def f(key: Any) -> int:
        await asyncio.sleep(random.random() * 0.002)
        return _compute(key)

    async def one(rng: random.Random) -> None:
        key = rng.randrange(KEYS)
        if rng.random() < 0.05:
            f.invalidate(key)
            return
        try:
            got = await f([key] if rng.random() < 0.1 else key)
        except ValueError:
            assert key % 7 == 0
        else:
            assert got == expected(key)

    async def main() -> None:
        rng = random.Random(7)
        for _ in range(10):
            tasks = [asyncio.ensure_future(one(rng)) for _ in range(200)]
            await asyncio.sleep(0.001)
            for task in rng.sample(tasks, 40):
                task.cancel()
            clock.now += 0.3
            results = await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), 30)
            for result in results:
                if isinstance(result, BaseException) and not isinstance(
                    result, asyncio.CancelledError
                ):
                    raise result

    asyncio.run(main())


def test_one_async_function_from_many_event_loops() -> None:
    """Four threads, each with its own event loop, share one cached coroutine function."""

    @cached(maxsize=16, ttl=60)
    async def f(key: int) -> int:
        await asyncio.sleep(0.001)
        return key * 2

    def run_loop(n: int) -> None:
        async def main() -> None:
            rng = random.Random(n)
            for _ in range(20):
                keys = [rng.randrange(KEYS) for _ in range(20)]
                got = await asyncio.gather(*(f(k) for k in keys))
                assert got == [k * 2 for k in keys]

        asyncio.run(main())

    assert run_threads(run_loop, [(n,) for n in range(4)], timeout=60) == []


def test_single_flight_holds_under_forced_switching() -> None:
    """Even with a thread switch every microsecond, concurrent misses of a key run it once."""
    runs: dict[int, int] = {}
    lock = threading.Lock()
    gate = threading.Barrier(THREADS)

    @cached(maxsize=None)
    def f(key: int) -> int:
        with lock:
            runs[key] = runs.get(key, 0) + 1
        return key

    def worker() -> None:
        gate.wait(30)
        for key in range(200):
            assert f(key) == key

    assert run_threads(worker, [()] * THREADS, timeout=60) == []
    assert set(runs.values()) == {1}
