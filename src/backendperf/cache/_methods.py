"""Cached methods: one cache per instance, held weakly (``@cached`` inside a class body)."""

from __future__ import annotations

import functools
import inspect
import threading
import weakref
from types import MethodType
from typing import TYPE_CHECKING, Any

from backendperf.cache import _codegen
from backendperf.cache._options import CacheInfo
from backendperf.cache.backends.base import Bindable
from backendperf.exceptions import ConfigurationError

if TYPE_CHECKING:
    from collections.abc import Callable

    from backendperf.cache._options import Options
    from backendperf.cache.decorator import AnyCore, Builder

__all__ = ["CachedMethod"]


class CachedMethod:
    """Descriptor for a cached method: one cache per instance, held weakly.

    ``obj.method`` returns that instance's wrapper (built on first access). The cache lives in a
    table keyed by ``id(obj)`` whose entry a weakref callback removes when ``obj`` dies, so the
    cache never keeps an instance alive and nothing is added to the instance's ``__dict__``
    (which ``copy.copy`` would share). Called without binding (``staticmethod`` on top, or
    ``Class.method(obj, ...)``) it behaves as a cached plain function.

    Instances that cannot be weakly referenced (subclasses of ``int``, ``str``, ``tuple``:
    every ``NamedTuple``) share the unbound cache instead, keyed by the instance itself, as
    ``functools.lru_cache`` on a method would: equal instances share entries, and up to
    ``maxsize`` of them are kept alive by it.

    The descriptor pickles and copies by reference (like a function): ``Class.method``.
    """

    def __init__(
        self, fn: Callable[..., Any], opts: Options, builder: Callable[..., Builder]
    ) -> None:
        self.fn = fn
        self.opts = opts
        self._make_builder = builder
        self._builder = builder(fn, opts, method=True)
        self._pin_factory = _codegen.make_pin(self._builder.plan, is_async=self._builder.is_async)
        self._plain: Callable[..., Any] | None = None
        self._plain_core: AnyCore | None = None
        self._bound: dict[int, tuple[weakref.ref[Any], Callable[..., Any], AnyCore]] = {}
        self._shared_types: set[type] = set()
        self._lock = threading.Lock()
        self.attrname: str | None = None
        functools.update_wrapper(self, fn)

    def __set_name__(self, owner: type, name: str) -> None:
        self.attrname = name

    def __get__(self, instance: Any, owner: type | None = None) -> Any:
        if instance is None:
            return self
        if instance.__class__ in self._shared_types:
            return MethodType(self._plain_wrapper(), instance)
        try:
            ref, bound, _ = self._bound[id(instance)]
        except KeyError:
            return MethodType(self._bind(instance), instance)
        if ref() is instance:
            return MethodType(bound, instance)
        return MethodType(self._bind(instance), instance)

    def _bind(self, instance: Any) -> Callable[..., Any]:
        ident = id(instance)
        bound_table = self._bound

        def forget(_: object, ident: int = ident) -> None:
            entry = bound_table.get(ident)
            if entry is not None and entry[0]() is None:
                del bound_table[ident]

        try:
            ref = weakref.ref(instance, forget)
        except TypeError:
            if getattr(type(instance), "__hash__", None) in (None, object.__hash__):
                raise TypeError(
                    f"@cached method {self.fn.__qualname__} keeps one cache per instance and "
                    f"needs instances that support weak references (add '__weakref__' to the "
                    f"__slots__ of {type(instance).__qualname__}) or hash by value"
                ) from None
            self._shared_types.add(instance.__class__)
            return self._plain_wrapper()
        fn = self.fn

        if self._builder.is_async:

            async def call_async(*args: Any, **kwargs: Any) -> Any:
                return await fn(_alive(ref, fn), *args, **kwargs)

            call: Callable[..., Any] = call_async
        else:

            def call(*args: Any, **kwargs: Any) -> Any:
                return fn(_alive(ref, fn), *args, **kwargs)

        with self._lock:
            entry = bound_table.get(ident)
            if entry is not None and entry[0]() is instance:
                return entry[1]
            scope = _scope(instance, fn) if isinstance(self.opts.backend, Bindable) else None
            wrapper, core = self._builder.build(call, scope)
            pin = self._pin_factory(wrapper, **self._builder.plan.defaults)
            functools.update_wrapper(pin, wrapper)
            pin.__signature__ = inspect.signature(fn)  # binding drops ``self`` from it
            bound_table[ident] = (ref, pin, core)
        return pin  # type: ignore[no-any-return]

    def _plain_wrapper(self) -> Callable[..., Any]:
        if self._plain is None:
            with self._lock:
                if self._plain is None:
                    self._plain, self._plain_core = self._make_builder(
                        self.fn, self.opts, method=False
                    ).build(self.fn)
        return self._plain

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self._plain_wrapper()(*args, **kwargs)

    def _cores(self) -> list[AnyCore]:
        cores = [core for ref, _, core in list(self._bound.values()) if ref() is not None]
        if self._plain_core is not None:
            cores.append(self._plain_core)
        return cores

    def cache_info(self) -> CacheInfo:
        """Counters summed over every live instance (and unbound calls)."""
        infos = [core.info() for core in self._cores()]
        if not infos:
            return CacheInfo(0, 0, 0, 0, self.opts.maxsize)
        total = infos[0]
        for info in infos[1:]:
            total = total + info
        return total

    def cache_clear(self) -> None:
        """Clear the caches of every instance."""
        for core in self._cores():
            core.clear()

    def invalidate(self, instance: Any, *args: Any, **kwargs: Any) -> bool:
        """``Class.method.invalidate(obj, ...)`` is ``obj.method.invalidate(...)``."""
        return bool(self.__get__(instance).invalidate(*args, **kwargs))

    def refresh(self, instance: Any, *args: Any, **kwargs: Any) -> Any:
        return self.__get__(instance).refresh(*args, **kwargs)

    def uncached(self, *args: Any, **kwargs: Any) -> Any:
        return self.fn(*args, **kwargs)

    def cache_parameters(self) -> dict[str, Any]:
        """The options, like ``functools.lru_cache``'s ``cache_parameters()``."""
        return self._builder.parameters()

    def __reduce__(self) -> str:
        # Pickled and copied by reference, like functions and lru_cache wrappers: the name
        # resolves to this descriptor through its class (``__get__(None, cls)`` is ``self``).
        return str(self.__dict__["__qualname__"])

    def __repr__(self) -> str:
        return f"<cached method {self.fn.__qualname__}>"


def _scope(instance: Any, fn: Callable[..., Any]) -> str:
    """What tells instances apart in a store shared between processes (where ``id()`` means
    nothing): the class for a classmethod, else the instance's ``__cache_key__()``."""
    if isinstance(instance, type):
        return f"{instance.__module__}.{instance.__qualname__}"
    cache_key = getattr(instance, "__cache_key__", None)
    if cache_key is None:
        raise ConfigurationError(
            f"@cached method {fn.__qualname__} stores entries shared between processes, so "
            f"each instance needs a stable identity: define {type(instance).__qualname__}."
            f"__cache_key__(self) returning a str (e.g. the primary key)"
        )
    return str(cache_key())


def _alive(ref: weakref.ref[Any], fn: Callable[..., Any]) -> Any:
    instance = ref()
    if instance is None:  # pragma: no cover - a bound wrapper outliving its instance
        raise ReferenceError(f"the instance of cached method {fn.__qualname__} no longer exists")
    return instance
