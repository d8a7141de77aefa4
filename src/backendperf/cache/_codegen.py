"""Source generation for the specialised cache wrappers.

``functools.lru_cache`` is fast because its hit path is one C function. A generic Python wrapper
(``def wrapper(*args, **kwargs)``) pays for packing arguments, building a key tuple and branching on
every option on every call. Instead, at decoration time we write the source of one wrapper that has
the decorated function's own parameter list and only the code its options need, and compile it
once (the approach of ``dataclasses`` and ``attrs``). The template is fixed; user input only ever
reaches it as parameter *names* taken from ``inspect.signature`` (identifiers by construction) and
default *values*, which are passed in as objects, never as source text.

Because the wrapper has the same parameters as the function, ``f(1)``, ``f(a=1)`` and ``f()`` with
``a=1`` as its default build the same key.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from backendperf.cache.keys import KWARGS_MARK
from backendperf.exceptions import ConfigurationError

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["Plan", "make_factory", "make_key_function", "plan"]

_PREFIX = "_bp_"
_P = inspect.Parameter


@dataclass(frozen=True, slots=True)
class Plan:
    """How to write a wrapper for one signature."""

    params: str
    """The wrapper's parameter list, defaults as placeholders (``a, b=_bp_d0, *args``)."""
    key: str
    """An expression that builds the key from the parameters."""
    call: str
    """Arguments that pass the parameters on to the wrapped function (``a, b, *args``)."""
    defaults: dict[str, Any]
    """Placeholder name -> default value."""
    names: tuple[str, ...]
    """Every parameter name, in order (for error messages)."""


def plan(fn: Callable[..., Any], *, skip_first: bool, typed: bool, custom_key: bool) -> Plan:
    """Describe the wrapper for ``fn``; ``skip_first`` drops ``self``/``cls``.

    >>> def f(a, b=2, *rest, c, **kw): ...
    >>> p = plan(f, skip_first=False, typed=False, custom_key=False)
    >>> p.params, p.call
    ('a, b=_bp_d0, *rest, c, **kw', 'a, b, *rest, c=c, **kw')
    >>> plan(lambda x: x, skip_first=False, typed=False, custom_key=False).key
    'x'
    """
    params = list(inspect.signature(fn).parameters.values())
    if skip_first:
        if not params or params[0].kind not in (_P.POSITIONAL_ONLY, _P.POSITIONAL_OR_KEYWORD):
            raise ConfigurationError(
                f"{fn.__qualname__} is cached as a method but takes no 'self' parameter"
            )
        params = params[1:]
    parts: list[str] = []
    call: list[str] = []
    fixed: list[str] = []
    defaults: dict[str, Any] = {}
    varpos = varkw = None
    star_written = False
    for i, p in enumerate(params):
        if p.name.startswith(_PREFIX):
            raise ConfigurationError(f"parameter names starting with {_PREFIX!r} are reserved")
        text = p.name
        if p.default is not _P.empty:
            placeholder = f"{_PREFIX}d{len(defaults)}"
            defaults[placeholder] = p.default
            text = f"{p.name}={placeholder}"
        if p.kind is _P.KEYWORD_ONLY and not star_written:
            parts.append("*")
            star_written = True
        if p.kind is _P.VAR_POSITIONAL:
            parts.append(f"*{p.name}")
            call.append(f"*{p.name}")
            varpos = p.name
            star_written = True
        elif p.kind is _P.VAR_KEYWORD:
            parts.append(f"**{p.name}")
            call.append(f"**{p.name}")
            varkw = p.name
        else:
            parts.append(text)
            fixed.append(p.name)
            call.append(f"{p.name}={p.name}" if p.kind is _P.KEYWORD_ONLY else p.name)
        nxt = params[i + 1] if i + 1 < len(params) else None
        if p.kind is _P.POSITIONAL_ONLY and (nxt is None or nxt.kind is not _P.POSITIONAL_ONLY):
            parts.append("/")
    if custom_key:
        key = f"{_PREFIX}keyfn({', '.join(call)})"
    elif len(fixed) == 1 and varpos is None and varkw is None:
        key = f"({fixed[0]}, {fixed[0]}.__class__)" if typed else fixed[0]
    else:
        key = f"({', '.join(fixed)}{',' if len(fixed) == 1 else ''})"
        if varpos is not None:
            key += f" + {varpos}"
        if varkw is not None:
            key += f" + (({_PREFIX}KW, *sorted({varkw}.items())) if {varkw} else ())"
        if typed:
            key = f"{_PREFIX}typed({key})"
    return Plan(
        params=", ".join(parts),
        key=key,
        call=", ".join(call),
        defaults=defaults,
        names=tuple(p.name for p in params),
    )


def _typed(key: tuple[Any, ...]) -> tuple[Any, ...]:
    return key + tuple(v.__class__ for v in key)


def _namespace(keyfn: Callable[..., Any] | None) -> dict[str, Any]:
    return {f"{_PREFIX}KW": KWARGS_MARK, f"{_PREFIX}typed": _typed, f"{_PREFIX}keyfn": keyfn}


def make_key_function(p: Plan, keyfn: Callable[..., Any] | None) -> Callable[..., Any]:
    """A function with the wrapper's parameters that returns the key a call would use."""
    defaults = ", ".join(p.defaults)
    src = (
        f"def {_PREFIX}make({defaults}):\n"
        f"    def {_PREFIX}key({p.params}):\n"
        f"        return {p.key}\n"
        f"    return {_PREFIX}key\n"
    )
    ns = _namespace(keyfn)
    exec(compile(src, "<backendperf key>", "exec"), ns)
    fn: Callable[..., Any] = ns[f"{_PREFIX}make"](**p.defaults)
    return fn


FACTORY_ARGS = ("data", "move", "lock", "timer", "core", "Raised")
"""What a factory takes. Only what the hit path reads is a separate closure variable (each one
costs a copy on every call); the miss paths are methods of ``core``."""


def make_factory(
    p: Plan,
    *,
    is_async: bool,
    entries: bool,
    move: bool,
    locked: bool,
    negative: bool,
    keyfn: Callable[..., Any] | None,
) -> Callable[..., tuple[Callable[..., Any], Callable[[], int], Callable[[], None]]]:
    """Compile a factory that returns ``(wrapper, get_hits, reset_hits)`` for one store.

    The factory takes the store's pieces (:data:`FACTORY_ARGS`, as keywords) and the default
    values; calling it is cheap, so methods build one wrapper per instance from one compile.

    Hit path of the commonest case, ``@cached(maxsize=...)`` on ``def f(a)``::

        try:
            _bp_v = _bp_data[a]
            _bp_move(a)
        except KeyError:
            return _bp_core.miss(a, a)
        except TypeError:
            return _bp_core.slow(a)
        _bp_hits += 1
        return _bp_v
    """
    x = _PREFIX
    aw = "await " if is_async else ""
    a = "a" if is_async else ""  # the core's coroutine variants are amiss, aslow, aexpired
    # A one-parameter key is the parameter itself: no assignment needed.
    k = p.key if p.key.isidentifier() else f"{x}k"
    target = f"{x}v, {x}e" if entries else f"{x}v"
    lookup = [f"{target} = {x}data[{k}]"]
    if move:
        lookup.append(f"{x}move({k})")
    if locked:
        lookup = [f"with {x}lock:", *("    " + line for line in lookup)]
    call = f", {p.call}" if p.call else ""
    lines = [
        f"def {x}make({', '.join(x + a for a in FACTORY_ARGS)}"
        + "".join(f", {d}" for d in p.defaults)
        + "):",
        f"    {x}hits = 0",
        f"    {'async ' if is_async else ''}def {x}wrapper({p.params}):",
        f"        nonlocal {x}hits",
        *([] if p.key.isidentifier() else [f"        {x}k = {p.key}"]),
        "        try:",
        *(f"            {line}" for line in lookup),
        "        except KeyError:",
        f"            return {aw}{x}core.{a}miss({k}{call})",
        "        except TypeError:",
        f"            return {aw}{x}core.{a}slow({p.call})",
    ]
    if entries:
        lines += [
            f"        {x}t = {x}timer()",
            f"        if {x}t >= {x}e:",
            f"            return {aw}{x}core.{a}expired({k}, {x}v, {x}e, {x}t{call})",
        ]
    if negative:
        lines += [
            f"        if {x}v.__class__ is {x}Raised:",
            f"            raise {x}v.error()",
        ]
    lines += [
        f"        {x}hits += 1",
        f"        return {x}v",
        f"    def {x}get_hits():",
        f"        return {x}hits",
        f"    def {x}reset_hits():",
        f"        nonlocal {x}hits",
        f"        {x}hits = 0",
        f"    return {x}wrapper, {x}get_hits, {x}reset_hits",
    ]
    ns = _namespace(keyfn)
    exec(compile("\n".join(lines) + "\n", "<backendperf cached wrapper>", "exec"), ns)
    factory: Callable[..., Any] = ns[f"{x}make"]
    return factory


def make_pin(p: Plan, *, is_async: bool) -> Callable[..., Any]:
    """A factory of ``pin(self, <params>)`` that calls ``inner(<params>)`` while ``self`` stays
    referenced by its frame.

    A cached method's per-instance wrapper holds its instance weakly (the cache must not keep
    it alive), so in ``Model().method()`` nothing else would hold the temporary instance
    during the call. ``obj.method`` returns ``MethodType(pin, obj)``: the bound method owns the
    instance until the call returns.
    """
    x = _PREFIX
    aw = "await " if is_async else ""
    params = f", {p.params}" if p.params else ""
    src = (
        f"def {x}make({x}inner{''.join(', ' + d for d in p.defaults)}):\n"
        f"    {'async ' if is_async else ''}def {x}pin({x}self{params}):\n"
        f"        return {aw}{x}inner({p.call})\n"
        f"    return {x}pin\n"
    )
    ns: dict[str, Any] = {}
    exec(compile(src, "<backendperf method pin>", "exec"), ns)
    factory: Callable[..., Any] = ns[f"{x}make"]
    return factory
