"""@cached against oracles we did not write: ``functools.lru_cache`` and async-lru's ``alru_cache``.

Where our documented semantics and theirs overlap, arbitrary call sequences must give the same
results and counters. The accepted differences (docs/caching.md, "Compared with lru_cache and
async-lru") are kept out of the generated inputs on purpose, each with its reason:

* ``lru_cache`` keys a lone ``int``/``str`` argument by itself and any other lone argument as a
  1-tuple, so ``f(1)`` and ``f(1.0)`` are two entries there and one here: single-argument
  sequences draw from values that no other type equals;
* ``lru_cache`` keeps ``f(1)`` and ``f(a=1)`` apart; we give them one entry: calls are
  positional here;
* async-lru counts a caller that joins a computation in flight as a hit; we count it as a miss
  (it found no value): the async comparison checks what every caller receives and how often
  the function ran, not the counters.
"""

from __future__ import annotations

import asyncio
import functools
from typing import Any

import pytest
from async_lru import alru_cache
from hypothesis import given, settings
from hypothesis import strategies as st

from backendperf import cached

pytestmark = pytest.mark.timeout(120, method="thread")

LONE = st.sampled_from([0, 1, 2, "a", 3])
"""Single-argument values: ints and strs (no float/bool/tuple equal to them); 3 raises."""
MIXED = st.sampled_from([0, 1, 1.0, True, False, 0.0, "1", (1,), 3])
"""Several-argument values, with equal values of different types (1, 1.0, True); 3 raises."""

Op = tuple[str, tuple[Any, ...]]


def _ops(values: st.SearchStrategy[Any], arity: int) -> st.SearchStrategy[list[Op]]:
    call = st.tuples(st.just("call"), st.tuples(*[values] * arity))
    clear = st.just(("clear", ()))
    return st.lists(
        st.one_of(call, call, call, call, call, call, call, call, clear), min_size=8, max_size=80
    )


def _run(make: Any, ops: list[Op], arity: int) -> list[Any]:
    """Apply ``ops`` to a function wrapped by ``make``; record every observable outcome."""
    runs = [0]

    def target(*args: Any) -> Any:
        runs[0] += 1
        if args and args[0] == 3:  # some calls raise: neither cache stores exceptions
            raise ValueError(args)
        return (runs[0], args)

    fn = make(target if arity != 1 else (lambda a: target(a)))
    seen: list[Any] = []
    for op, args in ops:
        if op == "clear":
            fn.cache_clear()
            seen.append("cleared")
            continue
        try:
            seen.append(("ok", fn(*args)))
        except ValueError as exc:
            seen.append(("raised", exc.args))
        info = fn.cache_info()
        seen.append((info.hits, info.misses, info.currsize, info.maxsize))
    seen.append(("runs", runs[0]))
    return seen


@given(
    ops=st.one_of(
        st.tuples(st.just(1), _ops(LONE, 1)),
        st.tuples(st.just(2), _ops(MIXED, 2)),
    ),
    maxsize=st.sampled_from([None, 0, 1, 2, 3]),
    typed=st.booleans(),
)
@settings(max_examples=600, deadline=None)
def test_cached_agrees_with_lru_cache(
    ops: tuple[int, list[Op]], maxsize: int | None, typed: bool
) -> None:
    """Results, hits, misses, currsize and maxsize after every call equal lru_cache's."""
    arity, sequence = ops
    ours = _run(lambda f: cached(maxsize=maxsize, typed=typed)(f), sequence, arity)
    theirs = _run(lambda f: functools.lru_cache(maxsize=maxsize, typed=typed)(f), sequence, arity)
    assert ours == theirs


@given(ops=_ops(LONE, 1), maxsize=st.sampled_from([1, 2, 4]))
@settings(max_examples=200, deadline=None)
def test_evictions_are_lru_caches(ops: list[Op], maxsize: int) -> None:
    """Which entries survive is lru_cache's: the same calls hit after any sequence."""
    ours = cached(maxsize=maxsize)(lambda a: a)
    theirs = functools.lru_cache(maxsize=maxsize)(lambda a: a)
    for op, args in ops:
        if op == "call":
            ours(*args)
            theirs(*args)
    evicted = ours.cache_info().misses - ours.cache_info().currsize
    assert ours.cache_info().evictions == max(0, evicted)
    probes = [0, 1, 2, "a"]
    for probe in probes:  # a hit changes nothing in the other entries' order: probe all
        before_ours, before_theirs = ours.cache_info().hits, theirs.cache_info().hits
        ours_hit = _peek_hit(ours, probe, before_ours)
        theirs_hit = _peek_hit(theirs, probe, before_theirs)
        assert ours_hit == theirs_hit, probe


def _peek_hit(fn: Any, probe: Any, before: int) -> bool:
    fn(probe)
    return bool(fn.cache_info().hits > before)


# -- asyncio: async-lru as the oracle for cancellation and invalidation ------------------------

AsyncOp = tuple[str, int]
_CALL = st.tuples(st.just("call"), st.just(0))
_CANCEL = st.tuples(st.just("cancel"), st.integers(0, 5))
_FINISH = st.tuples(st.just("finish"), st.just(0))
_INVALIDATE = st.tuples(st.just("invalidate"), st.just(0))
ASYNC_OPS = st.one_of(
    st.lists(st.one_of(_CALL, _CALL, _CANCEL, _FINISH), max_size=14),
    st.lists(st.one_of(_CALL, _CALL, _FINISH, _INVALIDATE), max_size=14),
)
"""Cancellation and invalidation in separate sequences: where they meet, async-lru's last
cancelled caller of an invalidated computation removes the *new* computation's entry (it pops
by key), which we do not copy (see test_cancelling_an_invalidated_computation_keeps_the_new_one).
"""


async def _scenario(kind: str, ops: list[AsyncOp]) -> tuple[list[str], int]:
    gates: list[asyncio.Event] = []

    async def compute(x: int) -> str:
        gate = asyncio.Event()
        gates.append(gate)
        n = len(gates)
        await gate.wait()
        return f"run{n}"

    if kind == "ours":
        fn: Any = cached(compute)
        invalidate = fn.invalidate
    else:
        fn = alru_cache(compute)
        invalidate = fn.cache_invalidate
    callers: list[asyncio.Task[str]] = []

    async def settle() -> None:
        for _ in range(5):
            await asyncio.sleep(0)

    for op, i in ops:
        if op == "call":
            callers.append(asyncio.ensure_future(fn(1)))
        elif op == "cancel" and callers:
            callers[i % len(callers)].cancel()
        elif op == "finish":
            for gate in gates:
                gate.set()
        elif op == "invalidate":
            invalidate(1)
        await settle()
    for _ in range(20):  # let every computation still running finish
        for gate in gates:
            gate.set()
        await settle()
    outcomes = []
    for task in callers:
        try:
            outcomes.append(await asyncio.wait_for(task, 5))
        except asyncio.CancelledError:
            outcomes.append("cancelled")
    return outcomes, len(gates)


@given(ops=ASYNC_OPS)
@settings(max_examples=300, deadline=None)
def test_async_cancellation_and_invalidation_agree_with_async_lru(ops: list[AsyncOp]) -> None:
    """A cancelled caller never cancels the others; when the last caller of a computation is
    cancelled it stops, and the next caller starts afresh; invalidation drops the computation in
    flight for later callers. Each caller gets what it would get from alru_cache."""
    ours = asyncio.run(_scenario("ours", ops))
    theirs = asyncio.run(_scenario("async-lru", ops))
    assert ours == theirs


def test_cancelling_an_invalidated_computation_keeps_the_new_one() -> None:
    """The accepted difference with async-lru: when the last caller of a computation dropped by
    invalidate() is cancelled, the computation started since stays shared (async-lru forgets
    it, so a later caller starts a third one)."""
    ops = [("call", 0), ("invalidate", 0), ("call", 0), ("cancel", 0), ("call", 0)]
    ours, runs = asyncio.run(_scenario("ours", ops))
    assert ours == ["cancelled", "run2", "run2"]
    assert runs == 2
