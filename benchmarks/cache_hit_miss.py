"""Cache hit and miss cost of @cached against the decorators users would pick instead.

Run: python benchmarks/cache_hit_miss.py [--quick]

Every contender caches the same one-argument function with maxsize=1024. A *hit* calls with one
key already cached; a *miss* cycles through 4096 keys, so every call of an LRU/TTL cache misses
and evicts. Each figure is ns per call: the minimum and the median of many timed batches. The
last column is the ratio to ``functools.lru_cache``'s hit (min), measured in the same run: the
machine is shared and noisy, ratios are what to compare.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import statistics
import sys
import threading
import time
from typing import TYPE_CHECKING, Any

import cachetools

from backendperf import cached

if TYPE_CHECKING:
    from collections.abc import Callable, Coroutine

MAXSIZE = 1024
MISS_KEYS = list(range(4 * MAXSIZE))
HOUR = 3600


def identity(a: int) -> int:
    return a


def measure_sync(fn: Callable[[int], Any], keys: list[int], repeat: int) -> list[float]:
    """ns per call of fn over keys, one figure per batch."""
    out = []
    for _ in range(repeat):
        t0 = time.perf_counter_ns()
        for k in keys:
            fn(k)
        out.append((time.perf_counter_ns() - t0) / len(keys))
    return out


async def measure_async(
    fn: Callable[[int], Coroutine[Any, Any, Any]], keys: list[int], repeat: int
) -> list[float]:
    out = []
    for _ in range(repeat):
        t0 = time.perf_counter_ns()
        for k in keys:
            await fn(k)
        out.append((time.perf_counter_ns() - t0) / len(keys))
    return out


def sync_contenders() -> dict[str, Callable[[], Callable[[int], Any]]]:
    """name -> factory of a fresh cached identity()."""
    import cachebox

    return {
        "functools.lru_cache": lambda: functools.lru_cache(maxsize=MAXSIZE)(identity),
        "backendperf LRU": lambda: cached(maxsize=MAXSIZE)(identity),
        "backendperf TTL+LRU": lambda: cached(maxsize=MAXSIZE, ttl=HOUR)(identity),
        "backendperf unbounded": lambda: cached(maxsize=None)(identity),
        "backendperf LFU": lambda: cached(maxsize=MAXSIZE, policy="lfu")(identity),
        "cachetools LRUCache": lambda: cachetools.cached(cachetools.LRUCache(MAXSIZE))(identity),
        "cachetools LRUCache+lock": lambda: cachetools.cached(
            cachetools.LRUCache(MAXSIZE), lock=threading.Lock()
        )(identity),
        "cachetools TTLCache": lambda: cachetools.cached(cachetools.TTLCache(MAXSIZE, HOUR))(
            identity
        ),
        "cachetools TTLCache+lock": lambda: cachetools.cached(
            cachetools.TTLCache(MAXSIZE, HOUR), lock=threading.Lock()
        )(identity),
        "cachebox LRUCache": lambda: cachebox.cached(cachebox.LRUCache(MAXSIZE))(identity),
        "cachebox TTLCache": lambda: cachebox.cached(cachebox.TTLCache(MAXSIZE, HOUR))(identity),
    }


def run_sync(quick: bool) -> list[tuple[str, str, list[float]]]:
    rows = []
    hit_keys = [1] * (2_000 if quick else 20_000)
    repeat = 15 if quick else 60
    for name, factory in sync_contenders().items():
        fn = factory()
        fn(1)
        rows.append((name, "hit", measure_sync(fn, hit_keys, repeat)))
    for name, factory in sync_contenders().items():
        if "unbounded" in name:  # never evicts: every "miss" key would be a hit
            continue
        fn = factory()
        for k in MISS_KEYS:  # warm: the cache is full before timing
            fn(k)
        rows.append((name, "miss", measure_sync(fn, MISS_KEYS, max(5, repeat // 4))))
    return rows


def generic_rows(quick: bool) -> list[tuple[str, str, list[float]]]:
    """Three arguments and *args: the paths that build a key tuple."""

    def three(a: int, b: int, c: int) -> int:
        return a

    def star(*args: int) -> int:
        return args[0]

    repeat = 15 if quick else 60
    n = 2_000 if quick else 20_000
    rows = []
    for label, fn in [
        ("lru_cache f(a, b, c)", functools.lru_cache(maxsize=MAXSIZE)(three)),
        ("backendperf f(a, b, c)", cached(maxsize=MAXSIZE)(three)),
        ("lru_cache f(*args)", functools.lru_cache(maxsize=MAXSIZE)(star)),
        ("backendperf f(*args)", cached(maxsize=MAXSIZE)(star)),
    ]:
        fn(1, 2, 3)
        call = functools.partial(_call3, fn)
        rows.append((label, "hit", measure_sync(call, [1] * n, repeat)))
    return rows


def _call3(fn: Callable[..., Any], k: int) -> Any:
    return fn(k, 2, 3)


async def run_async(quick: bool) -> list[tuple[str, str, list[float]]]:
    from async_lru import alru_cache
    from cashews import cache as cashews_cache

    cashews_cache.setup("mem://?size=1024")
    table = {1: 1}

    async def bare(a: int) -> int:
        return table[a]

    async def aidentity(a: int) -> int:
        return a

    contenders: dict[str, Callable[[int], Coroutine[Any, Any, Any]]] = {
        "bare async dict wrapper": bare,
        "backendperf async LRU": cached(maxsize=MAXSIZE)(aidentity),
        "backendperf async TTL": cached(maxsize=MAXSIZE, ttl=HOUR)(aidentity),
        "async-lru alru_cache": alru_cache(maxsize=MAXSIZE)(aidentity),
        "cashews mem:// (ttl=1h)": cashews_cache(ttl="1h")(aidentity),
    }
    rows = []
    repeat = 15 if quick else 40
    for name, fn in contenders.items():
        await fn(1)
        n = 200 if "cashews" in name else (2_000 if quick else 20_000)
        rows.append((name, "hit", await measure_async(fn, [1] * n, repeat)))
    for name, fn in contenders.items():
        if name.startswith("bare"):
            continue
        keys = MISS_KEYS[:512] if "cashews" in name else MISS_KEYS
        for k in keys:
            await fn(k)
        rows.append((name, "miss", await measure_async(fn, keys, max(3, repeat // 5))))
    return rows


def report(rows: list[tuple[str, str, list[float]]], baseline_name: str) -> None:
    base = min(next(v for n, kind, v in rows if n == baseline_name and kind == "hit"))
    print(f"{'contender':28} {'path':5} {'min ns':>9} {'median ns':>10} {'x ' + baseline_name:>14}")
    for name, kind, values in rows:
        lo, med = min(values), statistics.median(values)
        print(f"{name:28} {kind:5} {lo:9.1f} {med:10.1f} {lo / base:13.2f}x")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer iterations (smoke run)")
    args = parser.parse_args(argv)
    print(f"Python {sys.version.split()[0]}, cachetools {cachetools.__version__}")
    print("\n## sync, 1 argument (ratio to lru_cache hit)")
    report(run_sync(args.quick), "functools.lru_cache")
    print("\n## sync, several arguments (ratio to lru_cache f(a, b, c) hit)")
    report(generic_rows(args.quick), "lru_cache f(a, b, c)")
    print("\n## async, 1 argument (ratio to a bare `await` of an async def dict lookup)")
    report(asyncio.run(run_async(args.quick)), "bare async dict wrapper")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
