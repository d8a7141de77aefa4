"""Several processes sharing one Redis: single flight across the fleet, L1 coherence."""

from __future__ import annotations

import json
import pathlib
import subprocess
import sys
import time
from typing import Any

import pytest
import redis

from backendperf.cache import RedisBackend, TieredBackend, cached

pytestmark = [pytest.mark.redis, pytest.mark.slow]

WORKER = str(pathlib.Path(__file__).with_name("fleet_worker.py"))
TIMEOUT = 2.0  # see fleet_worker.TIMEOUT: these tests are not about a slow server


def shared_name(fn: Any) -> Any:
    """The name fleet_worker.py gives its function (processes of a fleet run the same code)."""
    fn.__module__, fn.__qualname__ = "fleet", "setting"
    return fn


def test_a_cold_key_is_computed_once_by_a_fleet(redis_url: str, redis_prefix: str) -> None:
    """8 processes x 20 threads miss one key together; the 200 ms function runs once."""
    namespace = redis_prefix.rstrip(":")
    start_at = time.time() + 3.0  # every process imported and waiting by then
    procs = [
        subprocess.Popen(
            [sys.executable, WORKER, "stampede", redis_url, namespace, str(start_at), "20"],
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(8)
    ]
    outputs = [p.communicate(timeout=60)[0] for p in procs]
    assert all(p.returncode == 0 for p in procs)
    results = [r for out in outputs for r in json.loads(out)]
    assert len(results) == 160
    assert all(r == {"day": "2026-11-28", "total": "42"} for r in results)
    runs = int(redis.Redis.from_url(redis_url).get(f"{namespace}:runs") or 0)
    print(f"\nfleet stampede: 160 callers in 8 processes, function ran {runs} time(s)")
    assert runs == 1


def test_an_invalidation_reaches_another_process_l1(redis_url: str, redis_prefix: str) -> None:
    """Another process drops its L1 copy when this one writes, long before l1_ttl (600 s)."""
    namespace = redis_prefix.rstrip(":")
    control = redis.Redis.from_url(redis_url)
    control.set(f"{namespace}:source:colour", "red")
    follower = subprocess.Popen(
        [sys.executable, WORKER, "follower", redis_url, namespace],
        stdout=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 30
    while not control.get(f"{namespace}:ready"):
        assert time.monotonic() < deadline and follower.poll() is None
        time.sleep(0.01)
    tiered = TieredBackend(
        RedisBackend.from_url(redis_url, namespace=namespace, socket_timeout=TIMEOUT), l1_ttl=600
    )

    def setting_source(name: str) -> str:
        return str(control.get(f"{namespace}:source:{name}").decode())

    setting = cached(ttl=600, backend=tiered)(shared_name(setting_source))
    control.set(f"{namespace}:source:colour", "blue")
    control.set(f"{namespace}:changed_at", repr(time.time()))
    assert setting.refresh("colour") == "blue"
    out = json.loads(follower.communicate(timeout=30)[0])
    tiered.close()
    print(f"\nL1 invalidation reached the other process after {out['lag'] * 1000:.1f} ms")
    assert out["first"] == "red" and out["now"] == "blue"


def test_two_tiered_backends_stay_coherent(redis_url: str, redis_prefix: str) -> None:
    """Writes, deletes, clears and tag invalidations in one L1 reach the other's L1."""
    namespace = redis_prefix.rstrip(":")
    source = {"a": 1, "b": 2}

    def make() -> tuple[Any, TieredBackend]:
        tiered = TieredBackend(
            RedisBackend.from_url(redis_url, namespace=namespace, socket_timeout=TIMEOUT),
            l1_ttl=600,
        )

        @cached(ttl=600, backend=tiered, tags=lambda k: [f"key:{k}"])
        def read(k: str) -> int:
            return source[k]

        return read, tiered

    (read1, t1), (read2, t2) = make(), make()

    def settle(fn: Any, k: str, want: int) -> None:
        deadline = time.monotonic() + 5
        while fn(k) != want:
            assert time.monotonic() < deadline, f"{k} never became {want}"
            time.sleep(0.002)

    assert read1("a") == 1 and read2("a") == 1
    source["a"] = 10
    read1.refresh("a")  # a write in process 1
    settle(read2, "a", 10)
    source["a"] = 20
    read1.invalidate("a")  # a delete
    settle(read2, "a", 20)
    source["a"] = 30
    read1.cache_clear()  # a clear
    settle(read2, "a", 30)
    source["a"] = 40
    t1.invalidate_tags("key:a")  # a tag invalidation
    settle(read2, "a", 40)
    assert read2("b") == 2
    t1.close()
    t2.close()
