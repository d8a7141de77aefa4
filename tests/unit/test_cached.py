"""@cached on plain functions: keys, policies, TTL, stale-while-revalidate, errors, controls."""

from __future__ import annotations

import functools
import inspect
import threading
import time
from datetime import timedelta
from typing import Any

import pytest

from backendperf import (
    CacheInfo,
    ConfigurationError,
    MemoryBackend,
    NullBackend,
    UnhashableArgumentError,
    cached,
)


class Clock:
    """A fake clock tests move by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def tick(self, seconds: float) -> None:
        self.now += seconds


def counting(fn: Any) -> Any:
    """Wrap fn to record each real call in fn.calls."""
    calls: list[Any] = []

    @functools.wraps(fn)  # keep fn's signature: @cached builds keys from it
    def inner(*args: Any, **kwargs: Any) -> Any:
        calls.append((args, kwargs))
        return fn(*args, **kwargs)

    inner.calls = calls  # type: ignore[attr-defined]
    return inner


def test_bare_decorator_caches() -> None:
    """@cached without parentheses caches with the defaults."""
    seen = []

    @cached
    def f(x: int) -> int:
        seen.append(x)
        return x + 1

    assert [f(1), f(1), f(2)] == [2, 2, 3]
    assert seen == [1, 2]
    assert f.cache_info().maxsize == 128


def test_positional_keyword_and_default_share_one_entry() -> None:
    """f(1), f(a=1) and f() with default a=1 are one cache entry, unlike functools.lru_cache."""
    seen = []

    @cached(maxsize=10)
    def f(a: int = 1, b: str = "x") -> tuple[int, str]:
        seen.append((a, b))
        return a, b

    assert f(1) == f(a=1) == f() == f(1, "x") == f(b="x") == (1, "x")
    assert seen == [(1, "x")]
    assert f.cache_info().currsize == 1


def test_signature_docstring_and_wrapped_are_preserved() -> None:
    """The wrapper looks like the function to inspect and help()."""

    @cached
    def f(a: int, /, b: int = 2, *rest: int, c: int, **kw: int) -> int:
        """Add things."""
        return a

    assert f.__doc__ == "Add things."
    assert f.__name__ == "f"
    assert str(inspect.signature(f)) == str(inspect.signature(f.__wrapped__))
    assert f(1, c=3) == 1
    with pytest.raises(TypeError):
        f(a=1, c=3)  # positional-only stays positional-only


def test_varargs_and_kwargs_keys() -> None:
    """*args and **kwargs take part in the key; keyword order does not matter."""
    fn = counting(lambda *a, **k: (a, sorted(k.items())))
    f = cached(maxsize=None)(fn)
    assert f(1, 2, x=1, y=2) == f(1, 2, y=2, x=1)
    assert f(1, 2) != f(1, 2, x=1)
    assert f(1, 2) == ((1, 2), [])
    assert len(fn.calls) == 3


def test_typed_separates_types() -> None:
    """typed=True caches 1 and 1.0 separately; by default they share an entry."""
    f = cached(counting(lambda x: type(x).__name__))
    assert f(1) == f(1.0) == "int"
    g = cached(typed=True)(counting(lambda x: type(x).__name__))
    assert (g(1), g(1.0)) == ("int", "float")
    h = cached(typed=True)(counting(lambda x, y: type(y).__name__))
    assert (h(1, 1), h(1, 1.0)) == ("int", "float")


def test_unhashable_containers_get_correct_keys() -> None:
    """Lists, dicts and sets are cached by value; [1, 2] and (1, 2) stay distinct."""
    fn = counting(lambda x: repr(x))
    f = cached(fn)
    assert f([1, 2]) == f([1, 2]) == "[1, 2]"
    assert f((1, 2)) == "(1, 2)"
    assert f({"a": [1], "b": 2}) == f({"b": 2, "a": [1]})
    assert f({3, 4}) == "{3, 4}"
    assert len(fn.calls) == 4
    assert f.cache_info().hits == 2


def test_unhashable_object_error_names_the_argument() -> None:
    """An argument that cannot be a key raises a TypeError naming it, never a silent miss."""

    class Opaque:
        __hash__ = None  # type: ignore[assignment]

    @cached
    def f(ok: int, bad: object) -> int:
        return ok

    with pytest.raises(
        UnhashableArgumentError, match=r"argument 'bad' of type \S*Opaque is unhashable"
    ) as info:
        f(1, Opaque())
    assert isinstance(info.value, TypeError)
    assert info.value.argument == "bad"


def test_custom_key_function() -> None:
    """key= decides which calls share an entry."""
    f = cached(key=lambda user, request_id: user)(counting(lambda user, request_id: user.upper()))
    assert f("ann", 1) == f("ann", 2) == "ANN"
    assert f.invalidate("ann", 99) is True
    assert f.invalidate("ann", 99) is False


@pytest.mark.parametrize(
    ("policy", "expected_left"),
    [("lru", {1, 3}), ("fifo", {2, 3}), ("lfu", {1, 3})],
)
def test_eviction_policies(policy: str, expected_left: set[int]) -> None:
    """maxsize=2: LRU keeps the recently used, FIFO the recently inserted, LFU the often used."""
    fn = counting(lambda x: x)
    f = cached(maxsize=2, policy=policy)(fn)  # type: ignore[arg-type]
    f(1)
    f(2)
    f(1)  # use 1 again (recency for LRU, frequency for LFU; nothing for FIFO)
    f(1)
    f(3)  # evicts one
    fn.calls.clear()
    for x in sorted(expected_left):  # hits do not evict, so checking these changes nothing
        f(x)
    assert fn.calls == []
    (evicted,) = {1, 2, 3} - expected_left
    f(evicted)
    assert [a for a, _ in fn.calls] == [(evicted,)]
    assert f.cache_info().evictions == 2


def test_maxsize_zero_and_none() -> None:
    """maxsize=0 stores nothing; maxsize=None never evicts."""
    fn = counting(lambda x: x)
    f = cached(maxsize=0)(fn)
    f(1)
    f(1)
    assert len(fn.calls) == 2
    g = cached(maxsize=None)(counting(lambda x: x))
    for i in range(5000):
        g(i)
    assert g.cache_info().currsize == 5000
    assert g.cache_info().evictions == 0


def test_ttl_expires_with_injected_clock() -> None:
    """An entry is fresh for ttl seconds of the injected clock, then recomputed."""
    clock = Clock()
    fn = counting(lambda x: clock.now)
    f = cached(ttl=10, timer=clock)(fn)
    first = f(1)
    clock.tick(9.99)
    assert f(1) == first
    clock.tick(0.01)
    assert f(1) == clock.now
    assert len(fn.calls) == 2


def test_ttl_timedelta_and_callable() -> None:
    """ttl accepts a timedelta, or a function of the result (None: never expires)."""
    clock = Clock()
    f = cached(ttl=timedelta(minutes=1), timer=clock)(counting(lambda x: x))
    f(1)
    clock.tick(59)
    f(1)
    assert len(f.__wrapped__.calls) == 1
    clock.tick(1)
    f(1)
    assert len(f.__wrapped__.calls) == 2

    g = cached(ttl=lambda r: None if r == "forever" else 5, timer=clock)(counting(lambda x: x))
    g("forever")
    g("brief")
    clock.tick(1_000)
    g("forever")
    g("brief")
    assert [a[0] for a, _ in g.__wrapped__.calls] == ["forever", "brief", "brief"]


def test_expired_entries_do_not_evict_live_ones() -> None:
    """When full, expired entries are dropped before any live entry is evicted."""
    clock = Clock()
    f = cached(maxsize=2, ttl=lambda r: 1 if r == "short" else 100, timer=clock)(
        counting(lambda x: x)
    )
    f("long")
    f("short")
    clock.tick(2)
    f("new")  # "short" has expired: it goes, "long" stays
    f.__wrapped__.calls.clear()
    f("long")
    assert f.__wrapped__.calls == []
    assert f.cache_info().evictions == 0


def test_jitter_shortens_ttl_within_bounds() -> None:
    """jitter=0.5 makes each entry expire between 50% and 100% of ttl."""
    clock = Clock()
    f = cached(ttl=100, jitter=0.5, maxsize=None, timer=clock)(lambda x: x)
    for i in range(200):
        f(i)
    clock.tick(49.9)
    assert f.cache_info().currsize == 200
    clock.tick(50.2)
    assert f.cache_info().currsize == 0
    clock.now = 1000.0
    for i in range(200, 400):
        f(i)
    clock.tick(75)
    assert 0 < f.cache_info().currsize < 200  # spread, not all at once


def test_stale_while_revalidate_serves_old_value_and_refreshes_once() -> None:
    """After ttl, within stale_ttl: the old value is served and one background refresh runs."""
    clock = Clock()
    release = threading.Event()
    calls = []

    def slow(x: int) -> int:
        calls.append(x)
        if len(calls) > 1:
            release.wait(5)
        return len(calls)

    f = cached(ttl=10, stale_ttl=30, timer=clock)(slow)
    assert f(1) == 1
    clock.tick(15)
    assert [f(1) for _ in range(5)] == [1] * 5  # stale, while one refresh is blocked
    release.set()
    deadline = time.monotonic() + 5
    while f.cache_info().currsize and f(1) == 1 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert f(1) == 2
    assert len(calls) == 2
    assert f.cache_info().stale_hits >= 5
    clock.tick(100)  # past ttl + stale_ttl: a plain miss
    assert f(1) == 3


def test_failed_refresh_keeps_stale_value(caplog: pytest.LogCaptureFixture) -> None:
    """A background refresh that raises keeps serving the stale value and logs a warning."""
    clock = Clock()
    state = {"fail": False}
    done = threading.Event()

    def fn(x: int) -> str:
        if state["fail"]:
            done.set()
            raise RuntimeError("db down")
        return "ok"

    f = cached(ttl=1, stale_ttl=60, timer=clock)(fn)
    assert f(1) == "ok"
    state["fail"] = True
    clock.tick(2)
    with caplog.at_level("WARNING", logger="backendperf"):
        assert f(1) == "ok"
        assert done.wait(5)
        deadline = time.monotonic() + 5
        while "db down" not in caplog.text and time.monotonic() < deadline:
            time.sleep(0.01)
    assert "db down" in caplog.text
    assert f(1) == "ok"


def test_exceptions_are_not_cached_by_default() -> None:
    """A raising call is retried on the next call."""
    attempts = []

    @cached
    def f(x: int) -> int:
        attempts.append(x)
        if len(attempts) == 1:
            raise ValueError("first time fails")
        return x

    with pytest.raises(ValueError, match="first time"):
        f(1)
    assert f(1) == 1
    assert len(attempts) == 2


def test_negative_ttl_caches_exceptions_for_a_while() -> None:
    """negative_ttl= re-raises the cached exception until it expires."""
    clock = Clock()
    attempts = []

    @cached(negative_ttl=5, timer=clock)
    def f(x: int) -> int:
        attempts.append(x)
        raise LookupError(f"no {x}")

    for _ in range(3):
        with pytest.raises(LookupError, match="no 1"):
            f(1)
    assert len(attempts) == 1
    clock.tick(5)
    with pytest.raises(LookupError):
        f(1)
    assert len(attempts) == 2


def test_unless_skips_caching_some_results() -> None:
    """unless=lambda r: r is None keeps None out of the cache."""
    results = iter([None, "found", "other"])
    f = cached(unless=lambda r: r is None)(lambda k: next(results))
    assert f("k") is None
    assert f("k") == "found"
    assert f("k") == "found"


def test_cache_info_clear_invalidate_refresh_uncached() -> None:
    """The control surface: counters, clearing, one-key invalidation and the bypasses."""
    fn = counting(lambda x, y=0: x + y)
    f = cached(maxsize=10)(fn)
    f(1)
    f(1)
    f(2, y=1)
    info = f.cache_info()
    assert info == CacheInfo(hits=1, misses=2, evictions=0, currsize=2, maxsize=10)
    assert info.hit_ratio == pytest.approx(1 / 3)
    assert f.invalidate(2, 1) is True  # same key rules as the call
    assert f.invalidate(2, y=1) is False
    assert f.cache_info().currsize == 1
    assert f.uncached(1) == 1
    assert len(fn.calls) == 3
    assert f.refresh(1) == 1
    assert len(fn.calls) == 4
    f(1)
    assert len(fn.calls) == 4
    f.cache_clear()
    assert f.cache_info() == CacheInfo(0, 0, 0, 0, 10)
    assert f.cache_parameters()["maxsize"] == 10


def test_recursive_function_same_key_does_not_deadlock() -> None:
    """A function that calls itself with the same key recurses instead of waiting on itself."""
    depth = []

    @cached
    def f(x: int) -> int:
        depth.append(x)
        return f(x) if len(depth) < 3 else 42

    assert f(1) == 42


def test_recursive_function_memoizes() -> None:
    """Recursive memoization works (fib)."""

    @cached(maxsize=None)
    def fib(n: int) -> int:
        return n if n < 2 else fib(n - 1) + fib(n - 2)

    assert fib(80) == 23416728348467685
    assert fib.cache_info().misses == 81


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"maxsize": -1}, "maxsize"),
        ({"maxsize": 1.5}, "maxsize"),
        ({"ttl": -1}, "ttl"),
        ({"ttl": "10"}, "ttl"),
        ({"policy": "mru"}, "policy"),
        ({"stale_ttl": 5}, "needs ttl"),
        ({"jitter": 1.5}, "jitter"),
        ({"ttl": 1, "negative_ttl": 1, "backend": NullBackend()}, "in-process"),
        ({"tags": lambda x: [x], "backend": NullBackend()}, "tags= needs"),
    ],
)
def test_bad_options_raise_configuration_error(kwargs: dict[str, Any], message: str) -> None:
    """Bad options fail at decoration time with a ConfigurationError (a ValueError)."""
    with pytest.raises(ConfigurationError, match=message):
        cached(**kwargs)
    with pytest.raises(ValueError, match=message):
        cached(**kwargs)


def test_generators_are_refused() -> None:
    """Caching a generator function would share one exhausted generator: refused."""

    def gen() -> Any:
        yield 1

    with pytest.raises(ConfigurationError, match="generator"):
        cached(gen)


def test_backend_protocol_path() -> None:
    """backend= stores through the Backend protocol, with TTL and single-flight."""
    clock = Clock()
    backend = MemoryBackend(10, timer=clock)
    fn = counting(lambda x: x * 2)
    f = cached(ttl=5, backend=backend)(fn)
    assert f(2) == f(2) == 4
    assert len(fn.calls) == 1
    assert len(backend) == 1
    clock.tick(5)
    assert f(2) == 4
    assert len(fn.calls) == 2
    assert f.invalidate(2) is True
    info = f.cache_info()
    assert (info.hits, info.misses) == (1, 2)
    f.cache_clear()
    assert len(backend) == 0


def test_null_backend_never_caches() -> None:
    """NullBackend switches caching off without changing the code."""
    fn = counting(lambda x: x)
    f = cached(backend=NullBackend())(fn)
    f(1)
    f(1)
    assert len(fn.calls) == 2
