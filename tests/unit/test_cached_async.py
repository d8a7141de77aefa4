"""@cached on coroutine functions: hits, single-flight across tasks, cancellation, stale refresh."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from backendperf import MemoryBackend, NullBackend, cached


def run(coro: Any) -> Any:
    return asyncio.run(coro)


def test_async_hit_and_miss() -> None:
    """An async cached function awaits the real call once and then hits."""
    calls = []

    @cached(maxsize=8)
    async def fetch(url: str) -> bytes:
        calls.append(url)
        await asyncio.sleep(0)
        return str(url).encode()

    async def main() -> None:
        assert await fetch("a") == b"a"
        assert await fetch(url="a") == b"a"
        assert await fetch(["unhashable", "list"]) == b"['unhashable', 'list']"  # type: ignore[arg-type]
        assert await fetch(["unhashable", "list"]) == b"['unhashable', 'list']"  # type: ignore[arg-type]

    run(main())
    assert len(calls) == 2
    assert fetch.cache_info().hits == 2


def test_async_single_flight() -> None:
    """50 tasks missing on one key share one call and one result."""
    calls = []

    @cached
    async def slow(x: int) -> object:
        calls.append(x)
        await asyncio.sleep(0.05)
        return object()

    async def main() -> list[object]:
        return await asyncio.gather(*(slow(1) for _ in range(50)))

    results = run(main())
    assert len(calls) == 1
    assert all(r is results[0] for r in results)


def test_async_single_flight_shares_exceptions() -> None:
    """Every task gets the one call's exception; the next call retries."""
    calls = []

    @cached
    async def failing(x: int) -> int:
        calls.append(x)
        await asyncio.sleep(0.01)
        if len(calls) == 1:
            raise TimeoutError("slow db")
        return x

    async def main() -> None:
        results = await asyncio.gather(*(failing(1) for _ in range(5)), return_exceptions=True)
        assert all(isinstance(r, TimeoutError) for r in results)
        assert await failing(1) == 1

    run(main())
    assert len(calls) == 2


def test_cancelled_waiter_does_not_cancel_shared_call() -> None:
    """Cancelling one waiter leaves the computation running for the others."""
    calls = []

    @cached
    async def slow(x: int) -> str:
        calls.append(x)
        await asyncio.sleep(0.05)
        return "done"

    async def main() -> None:
        first = asyncio.create_task(slow(1))
        second = asyncio.create_task(slow(1))
        await asyncio.sleep(0.01)
        first.cancel()  # the leader
        assert await second == "done"
        with pytest.raises(asyncio.CancelledError):
            await first
        assert await slow(1) == "done"

    run(main())
    assert calls == [1]


def test_cancelling_every_caller_cancels_the_call() -> None:
    """When every caller is cancelled, the computation is cancelled too and nothing is cached."""
    state = {"finished": False}

    @cached
    async def slow(x: int) -> str:
        await asyncio.sleep(0.05)
        state["finished"] = True
        return "done"

    async def main() -> None:
        task = asyncio.create_task(slow(1))
        await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await asyncio.sleep(0.08)

    run(main())
    assert state["finished"] is False
    assert slow.cache_info().currsize == 0


def test_async_stale_while_revalidate() -> None:
    """After ttl, the stale value is returned at once and a task refreshes it."""
    clock = [0.0]
    calls = []

    @cached(ttl=10, stale_ttl=10, timer=lambda: clock[0])
    async def value(x: int) -> int:
        calls.append(x)
        await asyncio.sleep(0.01)
        return len(calls)

    async def main() -> None:
        assert await value(1) == 1
        clock[0] = 15
        assert await value(1) == 1  # stale, refresh scheduled
        assert await value(1) == 1
        await asyncio.sleep(0.05)
        assert await value(1) == 2

    run(main())
    assert len(calls) == 2


def test_async_negative_ttl_and_unless() -> None:
    """negative_ttl caches errors; unless keeps results out, for coroutines too."""
    calls = []

    @cached(negative_ttl=60, unless=lambda r: r is None)
    async def f(x: int) -> int | None:
        calls.append(x)
        if x < 0:
            raise ValueError(x)
        return None if x == 0 else x

    async def main() -> None:
        for _ in range(2):
            with pytest.raises(ValueError, match="-1"):
                await f(-1)
            assert await f(0) is None
            assert await f(1) == 1

    run(main())
    assert calls == [-1, 0, 1, 0]


def test_async_methods_and_refresh() -> None:
    """Async methods cache per instance; refresh() bypasses the read."""

    class Service:
        def __init__(self) -> None:
            self.n = 0

        @cached
        async def get(self, key: str) -> int:
            self.n += 1
            return self.n

    async def main() -> None:
        s = Service()
        assert await s.get("k") == 1
        assert await s.get("k") == 1
        assert await s.get.refresh("k") == 2
        assert await s.get("k") == 2

    run(main())


def test_async_with_sync_and_async_backends() -> None:
    """An async function can use a sync Backend (memory) or an AsyncBackend (null)."""
    calls = []

    @cached(backend=MemoryBackend(10))
    async def a(x: int) -> int:
        calls.append(("a", x))
        return x

    @cached(backend=NullBackend())
    async def b(x: int) -> int:
        calls.append(("b", x))
        return x

    async def main() -> None:
        await asyncio.gather(a(1), a(1), b(1))
        await a(1)
        await b(1)

    run(main())
    assert calls.count(("a", 1)) == 1
    assert calls.count(("b", 1)) == 2
