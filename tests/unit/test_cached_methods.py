"""@cached on methods, classmethods and staticmethods: per-instance caches that never leak."""

from __future__ import annotations

import asyncio
import copy
import gc
import inspect
import weakref
from typing import Any

import pytest

from backendperf import cached


class Repo:
    def __init__(self, factor: int) -> None:
        self.factor = factor
        self.calls = 0

    @cached(maxsize=16)
    def scaled(self, x: int, *, plus: int = 0) -> int:
        """Scale x."""
        self.calls += 1
        return x * self.factor + plus


def test_each_instance_has_its_own_cache() -> None:
    """Two instances never see each other's results."""
    a, b = Repo(2), Repo(3)
    assert (a.scaled(5), a.scaled(5), b.scaled(5)) == (10, 10, 15)
    assert (a.calls, b.calls) == (1, 1)
    assert a.scaled.cache_info().hits == 1
    assert b.scaled.cache_info().hits == 0
    assert Repo.scaled.cache_info().misses >= 2  # summed over live instances


def test_cache_does_not_keep_instances_alive() -> None:
    """Dropping the last reference frees the instance and its cache entries."""
    obj = Repo(2)
    obj.scaled(1)
    ref = weakref.ref(obj)
    del obj
    gc.collect()
    assert ref() is None
    # the per-instance table forgets the dead instance too
    assert all(r() is not None for r, *_ in Repo.scaled._bound.values())


def test_copied_instance_does_not_share_cache() -> None:
    """copy.copy of an instance starts with an empty cache (nothing lives in __dict__)."""
    a = Repo(2)
    a.scaled(1)
    b = copy.copy(a)
    b.factor = 10
    assert b.scaled(1) == 10
    assert "scaled" not in vars(a)


def test_method_controls_and_signature() -> None:
    """invalidate, cache_clear and the bound signature work per instance."""
    import inspect

    a = Repo(2)
    a.scaled(1, plus=1)
    assert a.scaled.invalidate(1, plus=1) is True
    assert Repo.scaled.invalidate(a, 1, plus=1) is False
    assert list(inspect.signature(a.scaled).parameters) == ["x", "plus"]
    assert a.scaled.__doc__ == "Scale x."
    a.scaled(2)
    Repo.scaled.cache_clear()
    assert a.scaled.cache_info().currsize == 0


def test_unbound_call_through_the_class() -> None:
    """Class.method(obj, x) works like obj.method(x)."""
    a = Repo(4)
    assert Repo.scaled(a, 2) == 8


def test_slots_without_weakref_get_a_clear_error() -> None:
    """An instance that cannot be weakly referenced gets an error saying what to add."""

    class Slotted:
        __slots__ = ("v",)

        @cached
        def get(self) -> int:
            return 1

    with pytest.raises(TypeError, match="__weakref__"):
        Slotted().get()


def test_unhashable_instances_work() -> None:
    """Instances need not be hashable (the cache is found by identity)."""

    class Unhashable:
        __hash__ = None  # type: ignore[assignment]

        @cached
        def value(self, x: int) -> int:
            return x + 1

    u = Unhashable()
    assert u.value(1) == u.value(1) == 2
    assert u.value.cache_info().hits == 1


@pytest.mark.parametrize("order", ["cached_outer", "cached_inner"])
def test_staticmethod_in_either_order(order: str) -> None:
    """@staticmethod and @cached stack in either order."""
    calls: list[int] = []

    def body(x: int) -> int:
        calls.append(x)
        return x * 2

    if order == "cached_outer":

        class A:
            f = cached(staticmethod(body))

    else:

        class A:  # type: ignore[no-redef]
            f = staticmethod(cached(body))

    assert A.f(2) == A().f(2) == 4
    assert calls == [2]


@pytest.mark.parametrize("order", ["cached_outer", "cached_inner"])
def test_classmethod_in_either_order(order: str) -> None:
    """@classmethod and @cached stack in either order; subclasses get their own entries."""
    calls: list[Any] = []

    if order == "cached_outer":

        class Base:
            @cached
            @classmethod
            def make(cls, x: int) -> str:
                calls.append((cls.__name__, x))
                return f"{cls.__name__}:{x}"

    else:

        class Base:  # type: ignore[no-redef]
            @classmethod
            @cached
            def make(cls, x: int) -> str:
                calls.append((cls.__name__, x))
                return f"{cls.__name__}:{x}"

    class Child(Base):
        pass

    assert Base.make(1) == Base.make(1) == "Base:1"
    assert Child.make(1) == "Child:1"
    assert Base().make(1) == "Base:1"
    assert calls == [("Base", 1), ("Child", 1)]


def test_a_temporary_instance_lives_through_its_call() -> None:
    """``Model().method()`` works: the bound method holds the instance during the call,
    although the cache itself holds it only weakly."""

    class Model:
        def __init__(self, n: int) -> None:
            self.n = n

        @cached(maxsize=8)
        def double(self) -> int:
            return self.n * 2

        @cached(maxsize=8)
        async def triple(self) -> int:
            await asyncio.sleep(0)
            return self.n * 3

    assert Model(2).double() == 4
    assert asyncio.run(Model(3).triple()) == 9
    assert list(inspect.signature(Model(1).double).parameters) == []
