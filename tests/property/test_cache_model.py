"""The in-process cache against a simple model, driven by Hypothesis with a fake clock."""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

from backendperf import cached
from backendperf.cache import freeze
from tests.strategies import argument_values

KEYS = st.integers(min_value=0, max_value=7)


class CacheMachine(RuleBasedStateMachine):
    """@cached(maxsize, ttl, policy) behaves like an ideal LRU/FIFO cache with expiry."""

    @initialize(
        maxsize=st.integers(min_value=1, max_value=5),
        ttl=st.one_of(st.none(), st.sampled_from([1.0, 2.5, 10.0])),
        policy=st.sampled_from(["lru", "fifo"]),
    )
    def setup(self, maxsize: int, ttl: float | None, policy: str) -> None:
        self.now = 0.0
        self.counter = 0
        self.maxsize, self.ttl, self.policy = maxsize, ttl, policy
        # model: key -> (value, expires_at), in eviction order
        self.model: OrderedDict[int, tuple[int, float]] = OrderedDict()
        self.hits = self.misses = self.evictions = 0

        def compute(key: int) -> int:
            self.counter += 1
            return self.counter

        self.f = cached(maxsize=maxsize, ttl=ttl, policy=policy, timer=lambda: self.now)(  # type: ignore[call-overload]
            compute
        )

    def _expired(self, key: int) -> bool:
        return self.now >= self.model[key][1]

    @rule(key=KEYS)
    def call(self, key: int) -> None:
        got = self.f(key)
        if key in self.model and not self._expired(key):
            assert got == self.model[key][0], "a hit must return the stored value"
            self.hits += 1
            if self.policy == "lru":
                self.model.move_to_end(key)
            return
        # a miss: the function ran; expired entries go first, then the oldest if still full
        assert got == self.counter, "a miss must call the function"
        self.misses += 1
        for k in [k for k in self.model if self._expired(k)]:
            del self.model[k]
        expires = float("inf") if self.ttl is None else self.now + self.ttl
        self.model[key] = (got, expires)
        self.model.move_to_end(key)
        while len(self.model) > self.maxsize:
            self.model.popitem(last=False)
            self.evictions += 1

    @rule(seconds=st.sampled_from([0.5, 1.0, 3.0]))
    def tick(self, seconds: float) -> None:
        self.now += seconds

    @rule(key=KEYS)
    def invalidate(self, key: int) -> None:
        present = self.f.invalidate(key)
        assert present == (key in self.model and not self._expired(key))
        self.model.pop(key, None)

    @precondition(lambda self: self.counter > 0)
    @rule()
    def clear(self) -> None:
        self.f.cache_clear()
        self.model.clear()
        self.hits = self.misses = self.evictions = 0

    @invariant()
    def counters_match(self) -> None:
        info = self.f.cache_info()
        live = [k for k in self.model if not self._expired(k)]
        assert (info.hits, info.misses, info.evictions) == (
            self.hits,
            self.misses,
            self.evictions,
        )
        assert info.currsize == len(live)
        assert info.currsize <= self.maxsize


TestCacheMachine = CacheMachine.TestCase
TestCacheMachine.settings = settings(max_examples=150, stateful_step_count=40, deadline=None)


@given(args=st.lists(argument_values, max_size=3))
@settings(max_examples=300, deadline=None)
def test_any_arguments_cached_correctly(args: list[Any]) -> None:
    """Whatever the arguments, the cached answer equals the uncached one and repeats hit."""
    calls = []

    @cached(maxsize=None)
    def f(*a: Any) -> str:
        calls.append(a)
        return repr(a)

    assert f(*args) == repr(tuple(args))
    assert f(*args) == repr(tuple(args))
    assert len(calls) == 1


@given(a=argument_values, b=argument_values)
@settings(max_examples=300, deadline=None)
def test_freeze_agrees_with_equality(a: Any, b: Any) -> None:
    """freeze(a) == freeze(b) exactly when a == b and they are the same kind of container."""
    if freeze(a) == freeze(b):
        assert a == b
    if a == b and type(a) is type(b):
        assert freeze(a) == freeze(b)
        assert hash(freeze(a)) == hash(freeze(b))
