"""The Redis backend on a real three-node Redis Cluster started by this module."""

from __future__ import annotations

import shutil
import subprocess
import time
from typing import TYPE_CHECKING, Any

import pytest
import redis

from backendperf.cache import RedisBackend, TieredBackend, cached
from tests.conftest import OwnRedis, unavailable

if TYPE_CHECKING:
    from collections.abc import Iterator

    from redis.cluster import RedisCluster

pytestmark = [pytest.mark.redis, pytest.mark.slow]


@pytest.fixture(scope="module")
def cluster_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Three cluster-enabled redis-servers on free ports, joined with redis-cli --cluster."""
    if shutil.which("redis-cli") is None:
        unavailable("redis-cli (to create a cluster)", "not on PATH")
    nodes = []
    for i in range(3):
        tmp = tmp_path_factory.mktemp(f"cluster{i}")
        nodes.append(
            OwnRedis(
                str(tmp),
                "--cluster-enabled",
                "yes",
                "--cluster-config-file",
                str(tmp / "nodes.conf"),
                "--cluster-node-timeout",
                "2000",
            )
        )
    try:
        for node in nodes:
            node.start()
        subprocess.run(
            [
                "redis-cli",
                "--cluster",
                "create",
                *(f"127.0.0.1:{n.port}" for n in nodes),
                "--cluster-replicas",
                "0",
                "--cluster-yes",
            ],
            check=True,
            capture_output=True,
            timeout=60,
        )
        probe = redis.Redis(port=nodes[0].port)
        deadline = time.monotonic() + 30
        while probe.cluster("info")["cluster_state"] != "ok":
            assert time.monotonic() < deadline, "cluster never became ok"
            time.sleep(0.1)
        probe.close()
        yield f"redis://127.0.0.1:{nodes[0].port}/0"
    finally:
        for node in nodes:
            node.stop()


def test_cluster_caches_clears_tags_and_locks(cluster_url: str) -> None:
    """Get/set, cache_clear over every node, tags across slots and the flight lock all work."""
    backend = RedisBackend.from_url(cluster_url, cluster=True, namespace="clustered")
    assert backend.cluster
    runs: list[int] = []

    @cached(ttl=60, backend=backend, tags=lambda uid: [f"user:{uid % 3}"])
    def load(uid: int) -> dict[str, int]:
        runs.append(uid)
        return {"uid": uid}

    for uid in range(30):
        assert load(uid) == {"uid": uid}
    for uid in range(30):
        assert load(uid) == {"uid": uid}
    assert len(runs) == 30
    client: RedisCluster = backend.client
    slots = {
        client.keyslot(backend.bind(f"{__name__}.{load.__qualname__}").rkey(u)) for u in range(30)
    }
    assert len(slots) > 10  # entries spread over the cluster
    assert len(backend.invalidate_tags("user:0")) == 10
    load(0), load(1)
    assert len(runs) == 31
    store = backend.bind(f"{__name__}.{load.__qualname__}")
    token, _ = store.flight_lock(5, read=False)
    assert token
    assert store.flight_lock(5) == (None, {"uid": 5})  # held, and the value is there
    store.flight_unlock(5, token)
    assert store.flight_lock(5, read=False)[0]
    load.cache_clear()
    remaining = [k for k in client.scan_iter(match="clustered:v1:*") if b":tag:" not in k]
    assert remaining == [] or all(b"lock" in k for k in remaining)
    backend.clear()
    backend.close()


def test_tiered_on_a_cluster(cluster_url: str) -> None:
    """TieredBackend subscribes through a cluster node and invalidates another L1."""
    source = {"k": 1}

    def make() -> tuple[Any, TieredBackend]:
        tiered = TieredBackend(
            RedisBackend.from_url(cluster_url, cluster=True, namespace="tiercluster"), l1_ttl=600
        )

        @cached(ttl=600, backend=tiered)
        def read(k: str) -> int:
            return source[k]

        return read, tiered

    (r1, t1), (r2, t2) = make(), make()
    assert r1("k") == r2("k") == 1
    source["k"] = 2
    r1.refresh("k")
    deadline = time.monotonic() + 5
    while r2("k") != 2:
        assert time.monotonic() < deadline
        time.sleep(0.005)
    t1.l2.clear()
    t1.close()
    t2.close()
