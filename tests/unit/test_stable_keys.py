"""Redis keys: the same call gives the same key bytes in every process and Python version."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import pytest
import redis
from hypothesis import given
from hypothesis import strategies as st

from backendperf.cache import MISSING, RedisBackend, cached
from backendperf.cache.keys import StableKeys, stable_digest
from backendperf.exceptions import ConfigurationError, SerializationError

if TYPE_CHECKING:
    from collections.abc import Hashable


class KeyRecorder:
    """A Backend that records the (function name, key) pairs the decorator hands it."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, Hashable]] = []

    def bind(self, name: str) -> Any:
        recorder = self

        class View:
            def get(self, key: Hashable) -> Any:
                recorder.seen.append((name, key))
                return MISSING

            def set(self, key: Hashable, value: Any, ttl: float | None) -> None:
                pass

            def delete(self, key: Hashable) -> bool:
                return False

            def clear(self) -> None:
                pass

        return View()


def redis_keys(calls: list[tuple[str, Hashable]]) -> list[str]:
    backend = RedisBackend(redis.Redis(), namespace="app", version=3)  # never connects here
    return [backend.bind(name).rkey(key) for name, key in calls]


recorder = KeyRecorder()


def _get_user(user_id: int) -> None: ...


def _search(term: str, *, limit: int = 10, tags: frozenset[str] = frozenset()) -> None: ...


# Pin the module and name: key bytes must not depend on how pytest imported this file.
for _fn, _name in ((_get_user, "get_user"), (_search, "search")):
    _fn.__module__, _fn.__qualname__ = "app.users", _name
get_user = cached(backend=recorder)(_get_user)
search = cached(backend=recorder)(_search)


def test_golden_keys() -> None:
    """Key bytes for sample calls are pinned: changing them silently empties users' caches."""
    recorder.seen.clear()
    get_user(42)
    get_user(user_id=42)
    search("boots", limit=5, tags=frozenset({"b", "a"}))
    search("boots", tags=frozenset({"a", "b"}), limit=5)
    keys = redis_keys(recorder.seen)
    assert keys == [
        "app:v3:app.users.get_user:3dcbaaf6eb14aca1ca2dc9dfd02a35c2",
        "app:v3:app.users.get_user:3dcbaaf6eb14aca1ca2dc9dfd02a35c2",
        "app:v3:app.users.search:c7bbbef8ad6c2ea50a0bfdebf7a97110",
        "app:v3:app.users.search:c7bbbef8ad6c2ea50a0bfdebf7a97110",
    ]


def test_keys_ignore_hash_randomisation() -> None:
    """Another interpreter, with another PYTHONHASHSEED, computes the same digests."""
    code = (
        "from backendperf.cache.keys import stable_digest;"
        "print(stable_digest('f', (frozenset({'x', 'y', 'z', 'w'}), 'a', 1.5, None, b'b')))"
    )
    outputs = {
        subprocess.run(
            [sys.executable, "-c", code],
            env={**os.environ, "PYTHONHASHSEED": str(seed)},
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        for seed in (0, 1, 2, 3)
    }
    assert outputs == {stable_digest("f", (frozenset({"x", "y", "z", "w"}), "a", 1.5, None, b"b"))}


@given(st.lists(st.text(max_size=5) | st.integers(), unique=True, max_size=6), st.randoms())
def test_set_order_does_not_change_the_key(items: list[Any], rnd: Any) -> None:
    """Frozensets built in any insertion order give one digest."""
    shuffled = items[:]
    rnd.shuffle(shuffled)
    assert stable_digest("f", frozenset(items)) == stable_digest("f", frozenset(shuffled))


def test_distinct_values_get_distinct_keys() -> None:
    """Values that differ in type or content never share a digest (1 vs '1' vs b'1', ...)."""
    values: list[Hashable] = [
        1,
        "1",
        b"1",
        1.5,
        None,
        True,
        (1,),
        frozenset({1}),
        (1, 2),
        ((1, 2),),
        Decimal("1.5"),
        dt.date(2024, 1, 1),
        dt.datetime(2024, 1, 1),
        2**80,
        -(2**80),
        int,
        dt.timedelta(seconds=1),
    ]
    digests = [stable_digest("f", v) for v in values]
    assert len(set(digests)) == len(values)
    keys = StableKeys("f")
    assert [keys.digest(v) for v in values] == digests
    assert stable_digest("f", 1) != stable_digest("g", 1)


def test_unsupported_argument_types_say_what_to_do() -> None:
    """An argument that has no stable encoding is a SerializationError suggesting key=."""

    class Handle:
        pass

    with pytest.raises(SerializationError, match="key="):
        stable_digest("f", (Handle(),))


def test_namespace_is_validated() -> None:
    """A namespace with glob characters or braces is rejected (it would break SCAN and slots)."""
    for bad in ("", "a*b", "{x}", "a b", "x" * 65):
        with pytest.raises(ConfigurationError, match="namespace"):
            RedisBackend(redis.Redis(), namespace=bad)


def test_long_names_are_shortened_in_the_readable_part_only() -> None:
    """Keys stay bounded; the full name still goes into the digest."""
    backend = RedisBackend(redis.Redis(), namespace="app")
    long_a, long_b = "a" * 300 + ".f", "b" + "a" * 299 + ".f"
    ka, kb = backend.bind(long_a).rkey(1), backend.bind(long_b).rkey(1)
    assert len(ka) < 160 and len(kb) < 160
    assert ka != kb
