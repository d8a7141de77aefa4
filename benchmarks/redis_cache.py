"""Redis-backed caching: backendperf against the tools users would pick instead, one run.

Run: python benchmarks/redis_cache.py [--quick] [--url redis://127.0.0.1:6379/0]

Every contender caches the same function, which returns a typical database row (a dict with an
int, strings, a datetime, a Decimal, a list). A *hit* calls with one cached key; a *miss* calls
with a new key each time (read, run, write). Per call we record the latency and report p50, p99
and sequential throughput. Ratios are to the floor any Redis cache pays: a bare ``GET`` plus a
decode of the same bytes with our codec (hits) or a bare ``GET`` + ``SET`` (misses), measured in
the same run; a second baseline decodes a stringified row with plain msgpack, for scale.

Contenders: backendperf ``RedisBackend`` (with and without the cross-process lock),
``TieredBackend`` (an L1 hit), ``MemoryBackend`` through ``backend=`` (the in-process reference
for the tiered target), dogpile.cache's Redis backend (pickle), and for async functions
backendperf ``AsyncRedisBackend``, cashews and aiocache. The last table compares payload codecs.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import pickle
import sys
import time
import uuid
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import msgpack
import redis
import redis.asyncio as aredis

from backendperf.cache import (
    AsyncRedisBackend,
    MemoryBackend,
    RedisBackend,
    TieredBackend,
    cached,
    default_codec,
)

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

ROW = {
    "id": 12345,
    "email": "ada@example.com",
    "name": "Ada Lovelace",
    "created_at": dt.datetime(2024, 5, 1, 12, 30, tzinfo=dt.timezone.utc),
    "balance": Decimal("1234.50"),
    "roles": ["admin", "billing"],
    "active": True,
    "score": 3.25,
}
PREFIX = f"bpbench_{uuid.uuid4().hex[:8]}"


def row(uid: int) -> dict[str, Any]:
    return {**ROW, "id": uid}


def stats(samples: list[int]) -> dict[str, float]:
    samples = sorted(samples)
    n = len(samples)
    return {
        "p50": samples[n // 2] / 1000,
        "p99": samples[min(n - 1, int(n * 0.99))] / 1000,
        "ops": n / (sum(samples) / 1e9),
    }


def time_sync(fn: Callable[[int], Any], keys: list[int], out: list[int]) -> None:
    clock = time.perf_counter_ns
    for k in keys:
        t0 = clock()
        fn(k)
        out.append(clock() - t0)


async def time_async(fn: Callable[[int], Awaitable[Any]], keys: list[int], out: list[int]) -> None:
    clock = time.perf_counter_ns
    for k in keys:
        t0 = clock()
        await fn(k)
        out.append(clock() - t0)


ROUNDS = 10
"""Contenders take turns, ROUNDS times, so that a noisy second hurts all of them alike."""


class Keys:
    """Fresh keys for miss runs (never seen before by any contender)."""

    def __init__(self) -> None:
        self.next = 10_000_000

    def fresh(self, n: int) -> list[int]:
        start = self.next
        self.next += n
        return list(range(start, start + n))


def sync_contenders(url: str) -> dict[str, Callable[[int], Any]]:
    import dogpile.cache

    client = redis.Redis.from_url(url, socket_timeout=0.05)

    def bare(loads: Callable[[bytes], Any], dumps: Callable[[Any], bytes]) -> Any:
        def call(uid: int) -> Any:
            key = f"{PREFIX}:bare:{uid}"
            data = client.get(key)
            if data is None:
                value = row(uid)
                client.set(key, dumps(value), px=600_000)
                return value
            return loads(data)

        return call

    def plain_dumps(value: Any) -> bytes:
        return msgpack.packb(value, default=str)  # type: ignore[no-any-return]

    ours = RedisBackend.from_url(url, namespace=f"{PREFIX}_ours")
    nolock = RedisBackend.from_url(url, namespace=f"{PREFIX}_nolock", lock=False)
    tiered = TieredBackend(RedisBackend.from_url(url, namespace=f"{PREFIX}_tiered"))
    region = dogpile.cache.make_region().configure(
        "dogpile.cache.redis",
        expiration_time=600,
        arguments={"url": url, "redis_expiration_time": 600, "socket_timeout": 0.05},
    )
    dogpile_fn = region.cache_on_arguments(namespace=PREFIX)(row)
    return {
        "bare GET + Codec.loads": bare(default_codec.loads, default_codec.dumps),
        "bare GET + msgpack.unpackb (str'd types)": bare(msgpack.unpackb, plain_dumps),
        "backendperf RedisBackend": cached(ttl=600, backend=ours)(row),
        "backendperf RedisBackend(lock=False)": cached(ttl=600, backend=nolock)(row),
        "backendperf TieredBackend": cached(ttl=600, backend=tiered)(row),
        "backendperf MemoryBackend": cached(ttl=600, backend=MemoryBackend(1024, entries=True))(
            row
        ),
        "dogpile.cache redis (pickle)": dogpile_fn,
    }


def async_contenders(url: str) -> dict[str, Callable[[int], Awaitable[Any]]]:
    from aiocache import RedisCache
    from aiocache import cached as aio_cached
    from aiocache.serializers import PickleSerializer
    from cashews import Cache

    client = aredis.Redis.from_url(url, socket_timeout=0.05)

    async def bare(uid: int) -> Any:
        key = f"{PREFIX}:abare:{uid}"
        data = await client.get(key)
        if data is None:
            value = row(uid)
            await client.set(key, default_codec.dumps(value), px=600_000)
            return value
        return default_codec.loads(data)

    async def arow(uid: int) -> dict[str, Any]:
        return row(uid)

    ours = AsyncRedisBackend.from_url(url, namespace=f"{PREFIX}_aours")
    cashews_cache = Cache()
    cashews_cache.setup(url, client_side=False, socket_timeout=0.05)
    host, port = url.split("//")[1].split("/", maxsplit=1)[0].split(":")

    async def arow_cashews(uid: int) -> dict[str, Any]:
        return row(uid)

    async def arow_aio(uid: int) -> dict[str, Any]:
        return row(uid)

    return {
        "bare async GET + Codec.loads": bare,
        "backendperf AsyncRedisBackend": cached(ttl=600, backend=ours)(arow),
        "cashews redis": cashews_cache(ttl=600, prefix=f"{PREFIX}_cashews")(arow_cashews),
        "aiocache RedisCache (pickle)": aio_cached(
            ttl=600,
            cache=RedisCache,
            endpoint=host,
            port=int(port),
            namespace=f"{PREFIX}_aio",
            serializer=PickleSerializer(),
        )(arow_aio),
    }


def codec_table(n: int) -> list[tuple[str, float, int]]:
    def bench(dumps: Callable[[Any], bytes], loads: Callable[[bytes], Any]) -> tuple[float, int]:
        data = dumps(ROW)
        loads(data)
        best = float("inf")
        for _ in range(5):
            t0 = time.perf_counter_ns()
            for _ in range(n):
                loads(dumps(ROW))
            best = min(best, (time.perf_counter_ns() - t0) / n)
        return best, len(data)

    def json_dumps(v: Any) -> bytes:
        return json.dumps(v, default=str).encode()

    return [
        ("backendperf Codec (msgpack, typed)", *bench(default_codec.dumps, default_codec.loads)),
        ("pickle (protocol 5)", *bench(lambda v: pickle.dumps(v, 5), pickle.loads)),
        ("json, default=str (types lost)", *bench(json_dumps, json.loads)),
        (
            "plain msgpack, default=str (types lost)",
            *bench(lambda v: msgpack.packb(v, default=str), msgpack.unpackb),
        ),
    ]


def table(title: str, results: dict[str, dict[str, dict[str, float]]], base: str) -> None:
    print(f"\n{title}")
    print(
        f"{'contender':40} {'hit p50 µs':>10} {'hit p99':>8} {'hit/s':>8} {'ratio':>6}"
        f" {'miss p50 µs':>11} {'miss p99':>8} {'ratio':>6}"
    )
    bh, bm = results[base]["hit"]["p50"], results[base]["miss"]["p50"]
    for name, r in results.items():
        h, m = r["hit"], r["miss"]
        print(
            f"{name:40} {h['p50']:10.1f} {h['p99']:8.1f} {h['ops']:8.0f} {h['p50'] / bh:5.2f}x"
            f" {m['p50']:11.1f} {m['p99']:8.1f} {m['p50'] / bm:5.2f}x"
        )


def cleanup(url: str) -> None:
    client = redis.Redis.from_url(url)
    keys = list(client.scan_iter(match=f"{PREFIX}*", count=1000))
    keys += list(client.scan_iter(match=f"*{PREFIX}*", count=1000))
    for i in range(0, len(keys), 500):
        client.delete(*keys[i : i + 500])
    client.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="few calls: a smoke run for CI")
    parser.add_argument("--url", default="redis://127.0.0.1:6379/0")
    args = parser.parse_args(argv)
    hits, misses = (200, 100) if args.quick else (5000, 2000)
    keys = Keys()
    print(f"Python {sys.version.split()[0]}, redis-py {redis.__version__}; {hits} hits and")
    print(f"{misses} misses per contender; latency per call in µs, ratio to the bare round trip")
    try:
        contenders = sync_contenders(args.url)
        hot = {name: keys.fresh(1) for name in contenders}
        samples = {name: ([], []) for name in contenders}  # (hits, misses)
        for name, fn in contenders.items():
            fn(hot[name][0])
        for _ in range(ROUNDS):
            for name, fn in contenders.items():
                time_sync(fn, keys.fresh(misses // ROUNDS), samples[name][1])
                time_sync(fn, hot[name] * (hits // ROUNDS), samples[name][0])
        results = {n: {"hit": stats(h), "miss": stats(m)} for n, (h, m) in samples.items()}
        table("Sync functions (redis-py)", results, "bare GET + Codec.loads")

        async def run_async() -> dict[str, dict[str, dict[str, float]]]:
            contenders = async_contenders(args.url)
            hot = {name: keys.fresh(1) for name in contenders}
            samples: dict[str, tuple[list[int], list[int]]] = {n: ([], []) for n in contenders}
            for name, fn in contenders.items():
                await fn(hot[name][0])
            for _ in range(ROUNDS):
                for name, fn in contenders.items():
                    await time_async(fn, keys.fresh(misses // ROUNDS), samples[name][1])
                    await time_async(fn, hot[name] * (hits // ROUNDS), samples[name][0])
            return {n: {"hit": stats(h), "miss": stats(m)} for n, (h, m) in samples.items()}

        table(
            "Async functions (redis.asyncio)",
            asyncio.run(run_async()),
            "bare async GET + Codec.loads",
        )
        print("\nPayload codecs, one typical row (encode + decode)")
        print(f"{'codec':42} {'ns':>8} {'bytes':>6}")
        for name, ns, size in codec_table(2000 if args.quick else 20000):
            print(f"{name:42} {ns:8.0f} {size:6d}")
    finally:
        cleanup(args.url)
    return 0


if __name__ == "__main__":
    sys.exit(main())
