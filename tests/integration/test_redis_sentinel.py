"""The Redis backend behind Sentinel: a master, a replica and a sentinel this test starts;
the master is stopped mid-run and the cache follows the failover."""

from __future__ import annotations

import shutil
import subprocess
import time
from typing import TYPE_CHECKING, Any

import pytest
import redis
from redis.sentinel import Sentinel

from backendperf.cache import RedisBackend, cached
from tests.conftest import OwnRedis, _free_port, _reachable, unavailable

if TYPE_CHECKING:
    import pathlib
    from collections.abc import Iterator

pytestmark = [pytest.mark.redis, pytest.mark.slow]


@pytest.fixture
def sentinel_setup(tmp_path: pathlib.Path) -> Iterator[tuple[OwnRedis, OwnRedis, int]]:
    exe = shutil.which("redis-server")
    if exe is None:
        unavailable("redis-server (the binary)", "not on PATH")
    assert exe is not None
    (tmp_path / "m").mkdir()
    (tmp_path / "r").mkdir()
    master = OwnRedis(str(tmp_path / "m"))
    master.start()
    replica = OwnRedis(str(tmp_path / "r"), "--replicaof", "127.0.0.1", str(master.port))
    replica.start()
    port = _free_port(bus=False)
    conf = tmp_path / "sentinel.conf"
    conf.write_text(
        f"port {port}\nbind 127.0.0.1\ndir {tmp_path}\n"
        f"sentinel monitor cache 127.0.0.1 {master.port} 1\n"
        "sentinel down-after-milliseconds cache 500\n"
        "sentinel failover-timeout cache 5000\n"
    )
    proc = subprocess.Popen(
        [exe, str(conf), "--sentinel"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + 10
        while _reachable("127.0.0.1", port) is not None:
            assert time.monotonic() < deadline, "sentinel did not start"
            time.sleep(0.05)
        yield master, replica, port
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        replica.stop()
        master.stop()


def test_cache_follows_a_sentinel_failover(sentinel_setup: Any) -> None:
    """Through master_for(): cached before, uncached (no exception) while the master is down,
    cached again on the promoted replica."""
    master, replica, port = sentinel_setup
    sentinel = Sentinel([("127.0.0.1", port)], socket_timeout=0.1)
    client = sentinel.master_for("cache", socket_timeout=0.1, socket_connect_timeout=0.1)
    backend = RedisBackend(client, namespace="sentinel", cooldown=0.2)
    calls: list[int] = []

    @cached(ttl=60, backend=backend)
    def f(x: int) -> int:
        calls.append(x)
        return x * 10

    assert f(1) == 10
    assert f(1) == 10
    assert calls == [1]
    master.stop()
    deadline = time.monotonic() + 30
    while True:  # until Sentinel has promoted the replica and the cache works on it
        assert f(2) == 20  # never an exception, never a wrong value
        if f.cache_info().hits >= 2 and sentinel.discover_master("cache")[1] == replica.port:
            break
        assert time.monotonic() < deadline, "no failover"
        time.sleep(0.1)
    new_master = redis.Redis(port=replica.port)
    assert new_master.role()[0] == b"master"
    new_master.close()
