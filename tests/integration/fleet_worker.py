"""A process of a simulated fleet, run by the multi-process Redis tests (not collected).

python fleet_worker.py stampede URL NAMESPACE START_AT THREADS
    THREADS threads call one cold cached function at START_AT (a time.time() value);
    the function sleeps 200 ms and counts its runs in Redis; prints the results seen.

python fleet_worker.py follower URL NAMESPACE
    Reads a TieredBackend-cached value into L1, reports "ready", then polls the cached
    function until its value changes; prints how long that took after the change was made.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from typing import Any

import redis

from backendperf.cache import RedisBackend, TieredBackend, cached

# These tests are about single flight and L1 coherence, not about a slow server: on a loaded
# 2-core host, 168 threads can keep Redis unscheduled past the 50 ms production default, and the
# cache then rightly fails open (runs the function uncached), which is tested in test_redis_faults.
TIMEOUT = 2.0


def stampede(url: str, namespace: str, start_at: float, threads: int) -> None:
    counter = redis.Redis.from_url(url)
    backend = RedisBackend.from_url(url, namespace=namespace, socket_timeout=TIMEOUT)

    @cached(ttl=60, backend=backend)
    def report(day: str) -> dict[str, str]:
        counter.incr(f"{namespace}:runs")
        time.sleep(0.2)
        return {"day": day, "total": "42"}

    results: list[object] = []

    def call() -> None:
        time.sleep(max(0.0, start_at - time.time()))
        results.append(report("2026-11-28"))

    workers = [threading.Thread(target=call) for _ in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    print(json.dumps(results))


def shared_name(fn: Any) -> Any:
    """Give ``fn`` the name the test process uses: processes of one fleet run the same code."""
    fn.__module__, fn.__qualname__ = "fleet", "setting"
    return fn


def follower(url: str, namespace: str) -> None:
    control = redis.Redis.from_url(url)
    tiered = TieredBackend(
        RedisBackend.from_url(url, namespace=namespace, socket_timeout=TIMEOUT), l1_ttl=600
    )

    def setting_source(name: str) -> str:
        return str(control.get(f"{namespace}:source:{name}").decode())

    setting = cached(ttl=600, backend=tiered)(shared_name(setting_source))
    first = setting("colour")
    assert len(tiered.l1) == 1, "not in L1"
    control.set(f"{namespace}:ready", "1")
    deadline = time.time() + 20
    while time.time() < deadline:
        value = setting("colour")
        if value != first:
            changed_at = float(control.get(f"{namespace}:changed_at") or 0)
            print(json.dumps({"first": first, "now": value, "lag": time.time() - changed_at}))
            return
        time.sleep(0.0005)
    print(json.dumps({"first": first, "now": first, "lag": None}))


if __name__ == "__main__":
    mode, url, namespace, *rest = sys.argv[1:]
    if mode == "stampede":
        stampede(url, namespace, float(rest[0]), int(rest[1]))
    else:
        follower(url, namespace)
