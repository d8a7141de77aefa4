"""@cached under adversarial use: hangs, lost invalidations, keys and callables users have.

Every test here failed (or hung) on the decorator before the concurrency rework. A hang fails
fast: each test has a hard timeout that dumps every thread's stack (pytest-timeout, thread
method), and calls that could hang run in a daemon thread joined with a deadline.
"""

from __future__ import annotations

import asyncio
import builtins
import copy
import functools
import operator
import pickle
import threading
from typing import TYPE_CHECKING, Any, NamedTuple
from unittest import mock

import pytest

from backendperf import cached
from backendperf.exceptions import ConfigurationError
from tests.concurrency import run_threads

if TYPE_CHECKING:
    from collections.abc import Callable

pytestmark = pytest.mark.timeout(60, method="thread")

DEADLINE = 10.0  # seconds a call that must not hang may take before the test calls it a hang


def in_thread(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Run ``fn`` in another thread; return its result or raise its error; fail on a hang."""
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = fn(*args, **kwargs)
        except BaseException as exc:
            box["error"] = exc

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(DEADLINE)
    if thread.is_alive():
        pytest.fail(f"{fn!r}{args} hung (still blocked after {DEADLINE} s)")
    if "error" in box:
        raise box["error"]
    return box["value"]


# -- 1. expiry bookkeeping vs lock-free hits -----------------------------------------------


@pytest.mark.usefixtures("fast_switching")
def test_ttl_cache_survives_hot_hits_during_expiry_bookkeeping() -> None:
    """Hits reorder the store while misses insert, evict and compact expiry records: no error,
    and no key is left unanswerable afterwards."""
    f = cached(maxsize=256, ttl=600)(_identity)
    stop = threading.Event()
    errors: list[BaseException] = []

    def hot() -> None:
        try:
            while not stop.is_set():
                for k in range(32):
                    assert f(k) == k
        except BaseException as exc:
            errors.append(exc)

    def cold() -> None:
        try:
            for i in range(6000):
                assert f(1000 + i) == 1000 + i
        except BaseException as exc:
            errors.append(exc)

    hot_threads = [threading.Thread(target=hot, daemon=True) for _ in range(2)]
    cold_thread = threading.Thread(target=cold, daemon=True)
    for t in [*hot_threads, cold_thread]:
        t.start()
    cold_thread.join(40)
    stop.set()
    for t in hot_threads:
        t.join(DEADLINE)
    assert not cold_thread.is_alive(), "a miss hung"
    assert errors == []
    for k in range(32):  # every hot key can still be invalidated and recomputed
        f.invalidate(k)
        assert in_thread(f, k) == k


def _identity(x: int) -> int:
    return x


# -- 2. option callables that raise ----------------------------------------------------------


def _boom(_: object) -> Any:
    raise RuntimeError("option callable failed")


@pytest.mark.parametrize(
    ("options", "error"),
    [
        ({"ttl": _boom}, RuntimeError),
        ({"ttl": lambda _: -1}, ConfigurationError),
        ({"unless": _boom}, RuntimeError),
        ({"ttl": 5, "unless": _boom}, RuntimeError),
    ],
    ids=["ttl-raises", "ttl-negative", "unless-raises", "ttl-and-unless-raises"],
)
def test_a_failing_option_callable_releases_the_key(
    options: dict[str, Any], error: type[Exception]
) -> None:
    """The caller gets the option's error, and the next caller (another thread) is not blocked."""
    f = cached(**options)(_identity)
    with pytest.raises(error):
        f(1)
    with pytest.raises(error):
        in_thread(f, 1)
    assert f.cache_info().currsize == 0


@pytest.mark.parametrize("error", [KeyboardInterrupt, SystemExit, GeneratorExit])
def test_a_base_exception_releases_the_key(error: type[BaseException]) -> None:
    """Not only Exception: an interrupt in the function also releases the key for others."""
    raised = [False]

    @cached
    def f(x: int) -> int:
        if not raised[0]:
            raised[0] = True
            raise error
        return x

    with pytest.raises(error):
        f(1)
    assert in_thread(f, 1) == 1


# -- 3. user code never runs under a lock of ours --------------------------------------------


def test_a_cached_builtin_used_by_the_cache_itself_does_not_hang() -> None:
    """``builtins.len = cached(len)``: the store's own size checks must not re-enter it.

    Called in this thread (starting a thread with ``len`` replaced breaks ``threading`` itself);
    the module's timeout catches a hang.
    """
    cached_len = cached(maxsize=4)(len)
    original = builtins.len
    builtins.len = cached_len
    try:
        results = [len("abc"), len("abc"), len([1, 2]), len({1: 2}), len("xy" * 9)]
    finally:
        builtins.len = original
    assert results == [3, 3, 2, 1, 18]
    assert cached_len.cache_info().hits == 1


class _Reentrant:
    """A key whose ``__eq__`` calls the cached function (all instances collide on hash)."""

    target: Callable[[Any], Any] | None = None
    compared = 0

    def __init__(self, n: int) -> None:
        self.n = n

    def __hash__(self) -> int:
        return 7

    def __eq__(self, other: object) -> bool:
        if _Reentrant.target is not None:
            _Reentrant.compared += 1
            # a new key for the first comparisons (each a miss and a store), then a hit: an
            # eviction compares keys too, so new keys forever would recurse without end
            _Reentrant.target(-min(_Reentrant.compared, 3))
        return isinstance(other, _Reentrant) and other.n == self.n


@pytest.mark.parametrize("options", [{}, {"policy": "lfu"}, {"policy": "fifo"}, {"ttl": 60}])
def test_a_key_whose_eq_calls_the_cached_function(options: dict[str, Any]) -> None:
    """Comparing keys runs user code: it may call back into the same cache (hits and misses)."""

    @cached(maxsize=8, **options)
    def f(x: Any) -> Any:
        return x if isinstance(x, int) else x.n

    _Reentrant.target = f
    _Reentrant.compared = 0
    try:
        assert in_thread(lambda: [f(_Reentrant(i)) for i in (1, 2, 1, 2, 3)]) == [1, 2, 1, 2, 3]
    finally:
        _Reentrant.target = None


# -- 4, 5. asyncio: cancellation, recursion ----------------------------------------------------


def test_async_caller_after_the_last_cancelled_one_gets_a_fresh_computation() -> None:
    """The only caller is cancelled; a new caller arriving while the shared task unwinds does
    not inherit a CancelledError it never received: it computes afresh (async-lru semantics)."""
    calls = 0

    @cached
    async def f(x: int) -> int:
        nonlocal calls
        calls += 1
        n = calls
        if n == 1:
            try:
                await asyncio.sleep(30)
            finally:
                await asyncio.sleep(0.05)  # unwinding takes a while
        return n

    async def main() -> int:
        first = asyncio.ensure_future(f(1))
        await asyncio.sleep(0.01)
        first.cancel()
        await asyncio.sleep(0)  # the shared task is now being cancelled, not yet done
        return await asyncio.wait_for(f(1), DEADLINE)

    assert asyncio.run(main()) == 2
    assert f.cache_info().currsize == 1


def test_async_recursion_into_the_same_key_recurses() -> None:
    """A coroutine that awaits itself with the same key computes, as the sync path does."""
    depth = 0

    @cached
    async def f(x: int) -> int:
        nonlocal depth
        depth += 1
        if depth == 1:
            return await f(x) + 1
        return 10

    assert asyncio.run(asyncio.wait_for(f(1), DEADLINE)) == 11


def test_async_wait_cycle_between_two_functions_does_not_hang() -> None:
    """Task A computes f(1), which awaits g(1); task B computes g(1), which awaits f(1)."""
    runs = {"f": 0, "g": 0}

    @cached
    async def f(x: int) -> str:
        runs["f"] += 1
        if runs["f"] == 1:
            await asyncio.sleep(0.01)
            return "f" + await g(x)
        return "f0"

    @cached
    async def g(x: int) -> str:
        runs["g"] += 1
        if runs["g"] == 1:
            await asyncio.sleep(0.01)
            return "g" + await f(x)
        return "g0"

    async def main() -> list[str]:
        return list(await asyncio.wait_for(asyncio.gather(f(1), g(1)), DEADLINE))

    assert set(asyncio.run(main())) in ({"fgf0", "gf0"}, {"fg0", "gfg0"})


def test_thread_wait_cycle_between_two_functions_does_not_hang() -> None:
    """Thread A computes f(1), which calls g(1); thread B computes g(1), which calls f(1): the
    second to wait sees the cycle and computes the other's key itself, as uncached code would."""
    barrier = threading.Barrier(2)
    runs = {"f": 0, "g": 0}
    lock = threading.Lock()

    def first(name: str) -> bool:
        with lock:
            runs[name] += 1
            return runs[name] == 1

    @cached
    def f(x: int) -> str:
        if first("f"):
            barrier.wait(DEADLINE)
            return "f" + g(x)
        return "f0"

    @cached
    def g(x: int) -> str:
        if first("g"):
            barrier.wait(DEADLINE)
            return "g" + f(x)
        return "g0"

    results: dict[str, str] = {}
    errors = run_threads(
        lambda fn: results.update({fn.__name__: fn(1)}), [(f,), (g,)], timeout=DEADLINE
    )
    assert errors == []
    assert set(results.values()) in ({"fgf0", "gf0"}, {"fg0", "gfg0"})


# -- 6. invalidation wins over a computation in flight ---------------------------------------


@pytest.mark.parametrize("how", ["invalidate", "cache_clear"])
def test_invalidation_while_computing_drops_the_old_result(how: str) -> None:
    """A value computed before ``invalidate()`` (or ``cache_clear()``) is returned to its
    callers but never stored, and a caller arriving after it computes afresh instead of
    joining the old computation."""
    version = [1]
    started = threading.Event()
    release = threading.Event()

    @cached
    def f(x: int) -> int:
        v = version[0]
        started.set()
        release.wait(DEADLINE)
        return v

    first: list[int] = []
    leader = threading.Thread(target=lambda: first.append(f(1)), daemon=True)
    leader.start()
    assert started.wait(DEADLINE)
    version[0] = 2
    if how == "invalidate":
        assert f.invalidate(1) is False  # nothing stored yet; the flight is dropped all the same
    else:
        f.cache_clear()
    late: list[int] = []
    follower = threading.Thread(target=lambda: late.append(f(1)), daemon=True)
    follower.start()
    release.set()
    leader.join(DEADLINE)
    follower.join(DEADLINE)
    assert first == [1]
    assert late == [2]
    assert f(1) == 2


def test_async_invalidate_while_computing_drops_the_old_result() -> None:
    """The asyncio flight obeys invalidate() the same way."""
    version = [1]

    @cached
    async def f(x: int) -> int:
        v = version[0]
        await asyncio.sleep(0.05)
        return v

    async def main() -> tuple[int, int, int]:
        first = asyncio.ensure_future(f(1))
        await asyncio.sleep(0.01)
        version[0] = 2
        f.invalidate(1)
        late = asyncio.ensure_future(f(1))
        return await first, await late, await f(1)

    assert asyncio.run(main()) == (1, 2, 2)


# -- 7, 8. keys -------------------------------------------------------------------------------


def test_typed_keys_include_the_types_of_keyword_values() -> None:
    """typed=True: f(x=1) and f(x=1.0) are different entries, also through **kwargs."""

    @cached(typed=True)
    def f(a: int, **kw: Any) -> str:
        return repr((a, kw))

    assert f(1, x=1) == "(1, {'x': 1})"
    assert f(1, x=1.0) == "(1, {'x': 1.0})"
    assert f(1.0, x=1) == "(1.0, {'x': 1})"  # type: ignore[arg-type]
    assert f.cache_info().misses == 3


@pytest.mark.parametrize("name", ["sorted", "tuple", "len", "hash", "isinstance"])
def test_parameters_named_like_builtins(name: str) -> None:
    """A parameter called ``sorted`` (or any builtin) does not break calls with **kwargs."""
    namespace: dict[str, Any] = {}
    exec(f"def f({name}, *args, **kw):\n    return ({name}, args, kw)\n", namespace)
    f = cached(namespace["f"])
    assert f(1, 2, x=3) == (1, (2,), {"x": 3})
    assert f(1, 2, x=3) == (1, (2,), {"x": 3})
    typed = cached(typed=True)(namespace["f"])
    assert typed(1, y=2.0) == (1, (), {"y": 2.0})
    assert f.cache_info().hits == 1


# -- 9. callables of every kind ---------------------------------------------------------------


class _Adder:
    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, x: int) -> int:
        self.calls += 1
        return x + 1


class _AsyncAdder:
    async def __call__(self, x: int) -> int:
        return x + 2


def test_callables_without_a_qualname_are_cached() -> None:
    """functools.partial, callable instances, operator.itemgetter and mocks, as lru_cache does."""
    power = cached(functools.partial(pow, 2))
    assert power(10) == 1024
    assert power(10) == 1024
    assert power.cache_info().hits == 1

    adder = _Adder()
    add = cached(maxsize=4)(adder)
    assert add(1) == add(1) == 2
    assert adder.calls == 1

    second = cached(operator.itemgetter(1))
    assert second((5, 6)) == 6
    assert second([5, 6]) == 6  # an unhashable argument: the slow path
    assert second.cache_info().misses == 2

    m = mock.Mock(return_value=5)
    cm = cached(m)
    assert cm(1) == cm(1) == 5
    assert m.call_count == 1
    assert "Mock" in repr(cm.cache_parameters()) or cm.cache_parameters()["maxsize"] == 128


def test_an_async_callable_instance_is_cached_as_a_coroutine_function() -> None:
    """An object whose __call__ is ``async def`` gets the asyncio wrapper."""
    f = cached(_AsyncAdder())

    async def main() -> list[int]:
        return [await f(1), await f(1)]

    assert asyncio.run(main()) == [3, 3]
    assert f.cache_info().hits == 1


# -- 10. no key in the traceback ----------------------------------------------------------------


def test_the_functions_exception_does_not_chain_a_key_error() -> None:
    """bpo-13177: the miss path runs outside the lookup's ``except KeyError``."""

    @cached(maxsize=8)
    def f(x: Any) -> None:
        raise ValueError("no such row")

    with pytest.raises(ValueError, match="no such row") as hashable:
        f("secret-key")
    assert hashable.value.__context__ is None
    with pytest.raises(ValueError, match="no such row") as unhashable:
        f(["secret-key"])
    assert unhashable.value.__context__ is None


def test_the_async_functions_exception_does_not_chain_a_key_error() -> None:
    """The coroutine path neither."""

    @cached(ttl=60)
    async def f(x: Any) -> None:
        raise ValueError("no such row")

    async def main() -> BaseException:
        try:
            await f("secret-key")
        except ValueError as exc:
            return exc
        raise AssertionError("not raised")

    assert asyncio.run(main()).__context__ is None


# -- 11. stale_ttl on the slow path ------------------------------------------------------------


def test_stale_ttl_serves_stale_for_unhashable_arguments() -> None:
    """Lists and dicts as arguments get stale-while-revalidate like hashable ones."""
    now = [0.0]
    done = threading.Event()
    version = [1]

    @cached(ttl=10, stale_ttl=60, timer=lambda: now[0])
    def f(ids: list[int]) -> int:
        v = version[0]
        if v > 1:
            done.set()
        return v

    assert f([1, 2]) == 1
    now[0] = 15.0
    version[0] = 2
    assert f([1, 2]) == 1  # stale, at once
    assert done.wait(DEADLINE)  # refreshed in the background
    assert f.cache_info().stale_hits == 1


# -- 12. pickling and copying -------------------------------------------------------------------


class Repository:
    """Module level, so pickle can find it."""

    @cached(maxsize=16)
    def find(self, name: str) -> str:
        return name.upper()

    @staticmethod
    @cached
    def parse(text: str) -> int:
        return len(text)

    @cached
    @staticmethod
    def parse2(text: str) -> int:
        return len(text)

    def __reduce__(self) -> tuple[type[Repository], tuple[()]]:
        return (Repository, ())


@cached(maxsize=3)
def module_level(x: int) -> int:
    return x


@pytest.mark.parametrize(
    "obj",
    [module_level, Repository.find, Repository.parse, Repository.parse2],
    ids=["function", "method", "staticmethod-over-cached", "cached-over-staticmethod"],
)
def test_cached_callables_pickle_and_copy_by_reference(obj: Any) -> None:
    """Like lru_cache wrappers: pickle, copy and deepcopy return the same object."""
    assert pickle.loads(pickle.dumps(obj))  # noqa: S301 - our own bytes is obj
    assert copy.copy(obj) is obj
    assert copy.deepcopy(obj) is obj


def test_a_bound_cached_method_pickles_with_its_instance() -> None:
    """``obj.method`` pickles as (instance, name), as a bound method does."""
    bound = pickle.loads(pickle.dumps(Repository().find))  # noqa: S301
    assert bound("x") == "X"


def test_class_level_cached_method_has_cache_parameters() -> None:
    """cache_parameters() exists on ``Class.method`` too."""
    assert Repository.find.cache_parameters()["maxsize"] == 16


# -- 13. counting -------------------------------------------------------------------------------


class _Counted:
    hashes = 0

    def __init__(self, n: int) -> None:
        self.n = n

    def __hash__(self) -> int:
        _Counted.hashes += 1
        return hash(self.n)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Counted) and other.n == self.n


@pytest.mark.parametrize(
    "options",
    [{}, {"policy": "fifo"}, {"maxsize": None}, {"policy": "lfu"}, {"ttl": 60}],
    ids=["lru", "fifo", "unbounded", "lfu", "ttl"],
)
def test_hash_runs_once_per_hit_and_four_times_per_miss(options: dict[str, Any]) -> None:
    """A hit hashes the key once, as lru_cache does (OrderedDict.move_to_end does not hash
    again); a miss four times (lookup, re-check, the in-flight table, the insert), not five."""
    f = cached(**options)(lambda k: k.n)
    key = _Counted(1)
    _Counted.hashes = 0
    f(key)
    assert _Counted.hashes == 4
    _Counted.hashes = 0
    f(key)
    assert _Counted.hashes == 1


class Point(NamedTuple):
    x: int
    y: int

    @cached(maxsize=8)
    def norm2(self) -> int:
        Point.calls += 1  # type: ignore[attr-defined]
        return self.x * self.x + self.y * self.y


Point.calls = 0  # type: ignore[attr-defined]


def test_methods_of_tuple_subclasses_share_a_cache_keyed_by_value() -> None:
    """NamedTuple instances cannot be weakly referenced: they are keyed by value instead."""
    assert Point(3, 4).norm2() == 25
    assert Point(3, 4).norm2() == 25
    assert Point(1, 1).norm2() == 2
    assert Point.calls == 2  # type: ignore[attr-defined]
    assert Point.norm2.cache_info().hits == 1


class _Id(int):
    @cached
    def double(self) -> int:
        return int(self) * 2


def test_methods_of_int_subclasses_work() -> None:
    """An int subclass has no __weakref__ either."""
    assert _Id(4).double() == 8
    assert _Id(4).double() == 8


def test_cold_recursion_reaches_lru_caches_depth() -> None:
    """Two frames a level on a cold cache, like lru_cache (three before)."""

    def deepest(make: Callable[[Callable[[int], int]], Callable[[int], int]]) -> int:
        def walk(n: int) -> int:
            return 0 if n == 0 else fn(n - 1) + 1

        fn = make(walk)
        lo, hi = 1, 5000
        while lo < hi:  # the deepest n that does not raise RecursionError
            mid = (lo + hi + 1) // 2
            fn = make(walk)
            try:
                fn(mid)
            except RecursionError:
                hi = mid - 1
            else:
                lo = mid
        return lo

    ours = deepest(lambda f: cached(maxsize=None)(f))
    theirs = deepest(lambda f: functools.lru_cache(maxsize=None)(f))
    assert ours >= theirs * 0.9, (ours, theirs)


@pytest.mark.usefixtures("fast_switching")
@pytest.mark.parametrize(
    "options",
    [{}, {"policy": "lfu"}, {"policy": "fifo"}, {"ttl": 600}, {"maxsize": None}],
    ids=["lru", "lfu", "fifo", "ttl", "unbounded"],
)
def test_counters_are_exact_under_threads(options: dict[str, Any]) -> None:
    """hits + misses equals calls with 16 threads on 40 keys through an 8-entry cache."""
    f = cached(maxsize=8, **options) if "maxsize" not in options else cached(**options)
    wrapped = f(_identity)
    per_thread = 1500

    def work(seed: int) -> None:
        for i in range(per_thread):
            k = (seed * 7 + i * 13) % 40
            assert wrapped(k) == k

    assert run_threads(work, [(s,) for s in range(16)], timeout=40) == []
    info = wrapped.cache_info()
    assert info.hits + info.misses + info.stale_hits == 16 * per_thread
