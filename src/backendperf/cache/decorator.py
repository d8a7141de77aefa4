"""``@cached``: memoization for functions, coroutine functions and methods.

Structure (each module has one job; the concurrency model is in ``_flight``'s docstring and
in docs/architecture.md):

* ``decorator``: :func:`cached`, its options, :class:`CachedFunction`, and :class:`Builder`,
  which decides once per decorated function how its wrappers are built;
* ``_codegen``: the generated wrappers, whose hit path is a dictionary lookup and nothing else;
* ``_local``: the in-process core (store, flights, counters) behind those wrappers;
* ``_remote``: the core for ``backend=`` (the Backend protocol, cross-process flight locks);
* ``_flight``: single flight for threads and asyncio tasks;
* ``_methods``: per-instance caches for methods, held weakly.
"""

from __future__ import annotations

import functools
import inspect
import time
from datetime import timedelta
from typing import TYPE_CHECKING, Any, ParamSpec, Protocol, TypeVar, overload

from backendperf.cache import _codegen
from backendperf.cache._local import Core
from backendperf.cache._methods import CachedMethod
from backendperf.cache._options import TTL, CacheInfo, Options, TTLArg, to_seconds
from backendperf.cache._remote import BackendCore
from backendperf.cache.backends.base import (
    AsyncBackend,
    AsyncTagging,
    Backend,
    Bindable,
    Tagging,
)
from backendperf.cache.backends.memory import POLICIES, Policy
from backendperf.exceptions import ConfigurationError

if TYPE_CHECKING:
    from collections.abc import Callable, Hashable, Iterable
    from typing import Concatenate

    from typing_extensions import Self

__all__ = ["CacheInfo", "CachedFunction", "cached"]

P = ParamSpec("P")
P2 = ParamSpec("P2")
R = TypeVar("R")
S = TypeVar("S")


class CachedFunction(Protocol[P, R]):
    """What :func:`cached` returns: the function, plus cache controls.

    Type checkers see the decorated function's own signature, for calls and for
    :meth:`invalidate`; on a method, ``obj.method`` is bound as usual.
    """

    __wrapped__: Callable[P, R]

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R: ...

    def cache_info(self) -> CacheInfo:
        """Hits, misses, evictions, size."""
        ...

    def cache_clear(self) -> None:
        """Remove every entry and reset the counters."""
        ...

    def invalidate(self, *args: P.args, **kwargs: P.kwargs) -> bool:
        """Remove the entry that this call would use; return whether there was one."""
        ...

    def refresh(self, *args: P.args, **kwargs: P.kwargs) -> R:
        """Call the function now, bypassing the cache read, and store the result."""
        ...

    def uncached(self, *args: P.args, **kwargs: P.kwargs) -> R:
        """Call the function without reading or writing the cache."""
        ...

    def cache_parameters(self) -> dict[str, Any]:
        """The options, like ``functools.lru_cache``'s ``cache_parameters()``."""
        ...

    async def ainvalidate(self, *args: P.args, **kwargs: P.kwargs) -> bool:
        """:meth:`invalidate` for an ``async def`` function on an async backend."""
        ...

    async def acache_clear(self) -> None:
        """:meth:`cache_clear` for an ``async def`` function on an async backend."""
        ...

    @overload
    def __get__(self, instance: None, owner: type[Any] | None = None) -> Self: ...
    @overload
    def __get__(
        self: CachedFunction[Concatenate[S, P2], R],
        instance: S,
        owner: type[Any] | None = None,
    ) -> CachedFunction[P2, R]: ...


AnyCore = Core | BackendCore


class Builder:
    """Everything decided once per decorated function; builds one wrapper per core."""

    def __init__(self, fn: Callable[..., Any], opts: Options, *, method: bool) -> None:
        self.fn = fn
        self.opts = opts
        self.method = method
        self.is_async = _is_async(fn)
        self.name = _codegen.name_of(fn)
        self.qualified = f"{getattr(fn, '__module__', None) or '?'}.{self.name}"
        p = _codegen.plan(fn, skip_first=method, typed=opts.typed, custom_key=opts.key is not None)
        self.plan = p
        self.keyfn = _codegen.make_key_function(p, opts.key)
        self.factory = None
        if opts.backend is None:
            self.factory = _codegen.make_factory(
                p,
                is_async=self.is_async,
                entries=opts.entries,
                move=opts.policy == "lru" and opts.maxsize is not None,
                lfu=opts.policy == "lfu" and opts.maxsize is not None,
                negative=opts.negative_ttl is not None,
                keyfn=opts.key,
            )

    def build(
        self, call: Callable[..., Any], scope: str | None = None
    ) -> tuple[Callable[..., Any], AnyCore]:
        """A wrapper calling ``call`` on a miss, with its core; cache controls attached.

        ``scope`` names the instance a method's wrapper is bound to (remote stores only).
        """
        core: AnyCore
        if self.factory is None:
            qualified = self.qualified if scope is None else f"{self.qualified}[{scope}]"
            core = BackendCore(
                self.opts, call, self.name, self.plan.names, self.keyfn, self.is_async, qualified
            )
            wrapper = core.wrapper()
        else:
            core = Core(self.opts, call, self.name, self.plan.names, self.keyfn, self.is_async)
            wrapper = core.build(self.factory, self.plan.defaults)
        functools.update_wrapper(wrapper, self.fn)
        if self.method:
            # inspect.signature follows __wrapped__; a bound wrapper has no ``self``.
            wrapper.__signature__ = _bound_signature(self.fn)  # type: ignore[attr-defined]
        elif not inspect.isfunction(self.fn) and not isinstance(self.fn, functools.partial):
            # A callable object: ``__wrapped__`` would make inspect describe the object
            # (its ``__call__``); give the wrapper the signature it was generated with.
            wrapper.__signature__ = _signature_or_none(self.fn)  # type: ignore[attr-defined]
        wrapper.cache_info = core.info  # type: ignore[attr-defined]
        wrapper.cache_clear = core.clear  # type: ignore[attr-defined]
        wrapper.invalidate = lambda *a, **k: core.invalidate(a, k)  # type: ignore[attr-defined]
        if self.is_async:
            wrapper.refresh = lambda *a, **k: core.arefresh(a, k)  # type: ignore[attr-defined]
        else:
            wrapper.refresh = lambda *a, **k: core.refresh(a, k)  # type: ignore[attr-defined]
        # On every wrapper (CachedFunction promises them): awaitable from async code either way.
        wrapper.ainvalidate = lambda *a, **k: _ainvalidate(core, a, k)  # type: ignore[attr-defined]
        wrapper.acache_clear = lambda: _aclear(core)  # type: ignore[attr-defined]
        wrapper.uncached = call  # type: ignore[attr-defined]
        wrapper.cache_parameters = self.parameters  # type: ignore[attr-defined]
        return wrapper, core

    def parameters(self) -> dict[str, Any]:
        """The options, like ``functools.lru_cache``'s ``cache_parameters()``."""
        o = self.opts
        return {
            "maxsize": o.maxsize,
            "policy": o.policy,
            "ttl": o.ttl_fn or o.ttl,
            "stale_ttl": o.stale_ttl,
            "jitter": o.jitter,
            "negative_ttl": o.negative_ttl,
            "typed": o.typed,
        }


async def _ainvalidate(core: AnyCore, args: tuple[Any, ...], kwargs: dict[str, Any]) -> bool:
    if isinstance(core, BackendCore):
        return await core.ainvalidate(args, kwargs)
    return core.invalidate(args, kwargs)


async def _aclear(core: AnyCore) -> None:
    if isinstance(core, BackendCore):
        await core.aclear()
    else:
        core.clear()


def _bound_signature(fn: Callable[..., Any]) -> inspect.Signature:
    sig = inspect.signature(fn)
    return sig.replace(parameters=list(sig.parameters.values())[1:])


def _signature_or_none(fn: Callable[..., Any]) -> inspect.Signature | None:
    try:
        return inspect.signature(fn)
    except (TypeError, ValueError):
        return None


def _is_async(fn: Any) -> bool:
    """``async def`` functions, and partials of them, and objects whose ``__call__`` is one."""
    if inspect.iscoroutinefunction(fn):
        return True
    if inspect.isroutine(fn):
        return False
    call = next(
        (k.__dict__["__call__"] for k in type(fn).__mro__ if "__call__" in k.__dict__), None
    )
    return inspect.iscoroutinefunction(call)


def _defined_in_class(fn: Callable[..., Any]) -> bool:
    """True for a function written in a class body (``Class.name``, not ``f.<locals>.g``)."""
    if not inspect.isfunction(fn):
        return False
    parts = getattr(fn, "__qualname__", "").split(".")
    if len(parts) < 2 or parts[-2] == "<locals>":
        return False
    params = list(inspect.signature(fn).parameters.values())
    return bool(params) and params[0].kind in (
        inspect.Parameter.POSITIONAL_ONLY,
        inspect.Parameter.POSITIONAL_OR_KEYWORD,
    )


def _decorate(fn: Any, opts: Options) -> Any:
    if isinstance(fn, staticmethod):
        return staticmethod(_decorate_function(fn.__func__, opts, method=False))
    if isinstance(fn, classmethod):
        return classmethod(_decorate_function(fn.__func__, opts, method=True))
    if not callable(fn):
        raise TypeError(f"@cached needs a function, got {type(fn).__qualname__}")
    return _decorate_function(fn, opts, method=_defined_in_class(fn))


def _decorate_function(fn: Callable[..., Any], opts: Options, *, method: bool) -> Any:
    if inspect.isgeneratorfunction(fn) or inspect.isasyncgenfunction(fn):
        raise ConfigurationError(
            f"{_codegen.name_of(fn)} is a generator function: caching would hand every caller the "
            f"same, soon exhausted, generator; cache a function that returns a list instead"
        )
    if method:
        return CachedMethod(fn, opts, Builder)
    wrapper, _ = Builder(fn, opts, method=False).build(fn)
    return wrapper


# -- the decorator ---------------------------------------------------------------------------


@overload
def cached(fn: Callable[P, R], /) -> CachedFunction[P, R]: ...
@overload
def cached(
    *,
    maxsize: int | None = 128,
    ttl: TTLArg = None,
    policy: Policy = "lru",
    stale_ttl: TTL | None = None,
    jitter: float = 0.0,
    negative_ttl: TTL | None = None,
    unless: Callable[[Any], bool] | None = None,
    typed: bool = False,
    key: Callable[..., Hashable] | None = None,
    backend: Backend | AsyncBackend | Bindable | None = None,
    tags: Callable[..., Iterable[str]] | None = None,
    timer: Callable[[], float] | None = None,
) -> Callable[[Callable[P, R]], CachedFunction[P, R]]: ...


def cached(
    fn: Any = None,
    /,
    *,
    maxsize: int | None = 128,
    ttl: TTLArg = None,
    policy: Policy = "lru",
    stale_ttl: TTL | None = None,
    jitter: float = 0.0,
    negative_ttl: TTL | None = None,
    unless: Callable[[Any], bool] | None = None,
    typed: bool = False,
    key: Callable[..., Hashable] | None = None,
    backend: Backend | AsyncBackend | Bindable | None = None,
    tags: Callable[..., Iterable[str]] | None = None,
    timer: Callable[[], float] | None = None,
) -> Any:
    """Cache a function's results, in process (or in any :class:`Backend`).

    Works on plain functions, ``async def`` functions, methods (one cache per instance, which
    never keeps the instance alive), ``classmethod`` and ``staticmethod`` (stacked in either
    order). Concurrent calls that miss on the same key run the function once (threads and asyncio
    tasks alike); the others get its result or its exception.

    Args:
        maxsize: most entries kept (``None``: unbounded; ``0``: nothing is kept).
        ttl: seconds (or a ``timedelta``) each result stays fresh, or a function of the result
            that returns them (``None`` from it: no expiry). Default: no expiry.
        policy: which entry to evict when full: ``"lru"``, ``"fifo"`` or ``"lfu"``.
        stale_ttl: after ``ttl``, keep serving the old value for this long while one background
            refresh (a thread, or an asyncio task) computes the new one.
        jitter: shorten each entry's ``ttl`` by a random share up to this fraction (``0.1``:
            up to 10%), so entries written together do not all expire together.
        negative_ttl: also cache exceptions (subclasses of ``Exception``) for this long;
            by default exceptions are never cached.
        unless: a predicate on the result; when it returns true the result is not cached
            (e.g. ``unless=lambda r: r is None``).
        typed: cache arguments of different types separately (``1`` and ``1.0``).
        key: build the key yourself from the call's arguments (after ``self`` for methods).
        backend: store entries in this :class:`Backend` instead of in process (e.g. a
            :class:`~backendperf.cache.RedisBackend` or ``TieredBackend``).
        tags: with a tagging backend (Redis), a function of the call's arguments (after
            ``self``) returning tags for the entry; ``backend.invalidate_tags(tag)`` then
            removes every entry with that tag.
        timer: the clock for ``ttl`` (default: ``time.monotonic`` in process; the wall clock
            ``time.time`` for ``stale_ttl`` in a shared backend); inject a fake one in tests.

    Example:

    >>> @cached(maxsize=2)
    ... def square(x: int) -> int:
    ...     return x * x
    >>> square(3), square(3), square(x=3)
    (9, 9, 9)
    >>> square.cache_info()  # doctest: +NORMALIZE_WHITESPACE
    CacheInfo(hits=2, misses=1, evictions=0, currsize=1, maxsize=2, stale_hits=0,
              errors=0, bypasses=0)
    >>> square.invalidate(3)
    True

    The wrapper exposes ``cache_info()``, ``cache_clear()``, ``invalidate(*args, **kwargs)``,
    ``refresh(*args, **kwargs)`` (bypass the read, store the new value), ``uncached(...)``
    (bypass the cache entirely) and ``__wrapped__``.
    """
    if policy not in POLICIES:
        raise ConfigurationError(f"policy={policy!r}: choose one of {', '.join(POLICIES)}")
    if maxsize is not None and (
        isinstance(maxsize, bool) or not isinstance(maxsize, int) or maxsize < 0
    ):
        raise ConfigurationError(f"maxsize={maxsize!r}: use a non-negative int, or None")
    ttl_fn = ttl if callable(ttl) and not isinstance(ttl, timedelta) else None
    ttl_s = None if ttl_fn is not None else to_seconds("ttl", ttl)
    stale = to_seconds("stale_ttl", stale_ttl)
    if stale and ttl_s is None and ttl_fn is None:
        raise ConfigurationError(
            f"stale_ttl={stale_ttl!r} needs ttl= as well: values are served stale after they "
            f"expire, and without ttl they never do"
        )
    if isinstance(jitter, bool) or not isinstance(jitter, int | float) or not 0 <= jitter < 1:
        raise ConfigurationError(f"jitter={jitter!r}: use a fraction of the ttl in [0, 1)")
    if backend is not None and negative_ttl is not None:
        raise ConfigurationError(
            "negative_ttl= works with the in-process store only: exceptions are not stored in "
            "a backend= (they cannot be encoded safely)"
        )
    if tags is not None and not isinstance(backend, Tagging | AsyncTagging):
        raise ConfigurationError(
            "tags= needs a backend that stores tags (RedisBackend, AsyncRedisBackend or "
            "TieredBackend)"
        )
    opts = Options(
        maxsize=maxsize,
        policy=policy,
        ttl=ttl_s,
        ttl_fn=ttl_fn,
        stale_ttl=stale or 0.0,
        jitter=float(jitter),
        negative_ttl=to_seconds("negative_ttl", negative_ttl),
        unless=unless,
        typed=typed,
        key=key,
        timer=timer or time.monotonic,
        clock=timer or time.time,
        backend=backend,
        tags=tags,
    )
    if fn is not None:
        return _decorate(fn, opts)
    return functools.partial(_decorate, opts=opts)
