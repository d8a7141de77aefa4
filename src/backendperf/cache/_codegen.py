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

import functools
import inspect
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from backendperf.cache.keys import KWARGS_MARK
from backendperf.exceptions import ConfigurationError

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["Plan", "make_factory", "make_key_function", "make_pin", "name_of", "plan"]

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

    A callable without a signature (``operator.itemgetter``, some builtins) gets
    ``(*args, **kwargs)``:

    >>> import operator
    >>> plan(operator.itemgetter(1), skip_first=False, typed=False, custom_key=False).params
    '*args, **kwargs'
    """
    try:
        params = list(inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):
        params = [_P("args", _P.VAR_POSITIONAL), _P("kwargs", _P.VAR_KEYWORD)]
    if skip_first:
        if not params or params[0].kind not in (_P.POSITIONAL_ONLY, _P.POSITIONAL_OR_KEYWORD):
            raise ConfigurationError(
                f"{name_of(fn)} is cached as a method but takes no 'self' parameter"
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
    # Only names of ours (``_bp_``-prefixed, which no parameter may use) appear in the key
    # expressions, so a parameter called ``sorted`` or ``tuple`` cannot shadow what they call.
    if custom_key:
        key = f"{_PREFIX}keyfn({', '.join(call)})"
    elif len(fixed) == 1 and varpos is None and varkw is None:
        key = f"({fixed[0]}, {fixed[0]}.__class__)" if typed else fixed[0]
    else:
        pos = f"({', '.join(fixed)}{',' if len(fixed) == 1 else ''})"
        if varpos is not None:
            pos += f" + {varpos}"
        if typed:
            key = f"{_PREFIX}typed({pos}, {varkw or 'None'})"
        elif varkw is not None:
            key = f"{pos} + {_PREFIX}kw({varkw})"
        else:
            key = pos
    return Plan(
        params=", ".join(parts),
        key=key,
        call=", ".join(call),
        defaults=defaults,
        names=tuple(p.name for p in params),
    )


def name_of(fn: Any) -> str:
    """A readable name for any callable (partials, instances and mocks have no ``__qualname__``).

    >>> import functools
    >>> name_of(functools.partial(int, base=2))
    'partial(int)'
    """
    name = getattr(fn, "__qualname__", None) or getattr(fn, "__name__", None)
    if isinstance(name, str):
        return name
    if isinstance(fn, functools.partial):
        return f"partial({name_of(fn.func)})"
    return f"<{type(fn).__qualname__} object>"


def _kw(kwargs: dict[str, Any]) -> tuple[Any, ...]:
    """The ``**kwargs`` part of a key: empty, or a mark then the items sorted by name."""
    return (KWARGS_MARK, *sorted(kwargs.items())) if kwargs else ()


def _typed(pos: tuple[Any, ...], kwargs: dict[str, Any] | None) -> tuple[Any, ...]:
    """A ``typed=True`` key: the values, then the type of every one (keyword values too)."""
    if not kwargs:
        return (*pos, *(v.__class__ for v in pos))
    items = sorted(kwargs.items())
    return (
        *pos,
        KWARGS_MARK,
        *items,
        *tuple(v.__class__ for v in pos),
        *tuple(v.__class__ for _, v in items),
    )


def _namespace(keyfn: Callable[..., Any] | None) -> dict[str, Any]:
    return {f"{_PREFIX}kw": _kw, f"{_PREFIX}typed": _typed, f"{_PREFIX}keyfn": keyfn}


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


FACTORY_ARGS = ("data", "move", "timer", "core", "Raised", "call")
"""What a factory takes. Only what the hit path reads is a separate closure variable (each one
costs a copy on every call); the miss paths are methods of ``core``."""


def make_factory(
    p: Plan,
    *,
    is_async: bool,
    entries: bool,
    move: bool,
    lfu: bool,
    negative: bool,
    keyfn: Callable[..., Any] | None,
) -> Callable[..., tuple[Callable[..., Any], Callable[[], int], Callable[[], None]]]:
    """Compile a factory that returns ``(wrapper, get_hits, reset_hits)`` for one store.

    The factory takes the store's pieces (:data:`FACTORY_ARGS`, as keywords) and the default
    values; calling it is cheap, so methods build one wrapper per instance from one compile.

    The wrapper of the commonest case, ``@cached(maxsize=...)`` on ``def f(a)``::

        try:
            _bp_v = _bp_data[a]
            _bp_move(a)
        except KeyError:
            _bp_s = 0
        except TypeError:
            _bp_s = 1
        else:
            _bp_hits += 1
            return _bp_v
        if _bp_s:
            return _bp_core.slow(a)
        _bp_f = None
        try:
            _bp_f = _bp_core.enter(a)
            if _bp_f.done:
                return _bp_f.result()
            return _bp_core.finished(a, _bp_f, _bp_call(a))
        except BaseException as _bp_x:
            if _bp_f is not None and not _bp_f.done:
                _bp_core.failed(a, _bp_f, _bp_x)
            raise

    The miss path runs after the first ``try`` statement, not in its ``except KeyError``
    clause, so an exception of the function carries no ``KeyError(<key>)`` as its
    ``__context__``. The second ``try`` owns the flight from the moment ``enter`` registers it:
    ``finished`` releases it on its own paths (it settles the flight in a ``finally``), and
    anything raised before (the function's error, a ``KeyboardInterrupt`` between two steps)
    reaches ``failed``, which releases it. The function is called from the wrapper's own frame,
    so a cold recursive function costs two frames a level, as under ``functools.lru_cache``.
    """
    x = _PREFIX
    aw = "await " if is_async else ""
    a = "a" if is_async else ""  # the core's coroutine variants are amiss, aslow, aexpired
    # A one-parameter key is the parameter itself: no assignment needed.
    k = p.key if p.key.isidentifier() else f"{x}k"
    target = f"{x}v, {x}e" if entries else f"{x}v"
    if lfu:
        lookup = [f"{x}n = {x}data[{k}]", f"{x}n.uses += 1", f"{target} = {x}n.item"]
    else:
        lookup = [f"{target} = {x}data[{k}]"]
    if move:
        lookup.append(f"{x}move({k})")
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
        f"            {x}s = 0",
        "        except TypeError:",
        f"            {x}s = 1",
        "        else:",
    ]
    if entries:
        lines += [
            f"            {x}t = {x}timer()",
            f"            if {x}t < {x}e:",
            f"                {x}hits += 1",
            *(
                [
                    f"                if {x}v.__class__ is {x}Raised:",
                    f"                    raise {x}v.error()",
                ]
                if negative
                else []
            ),
            f"                return {x}v",
            f"            return {aw}{x}core.{a}expired({k}, {x}v, {x}e, {x}t{call})",
        ]
    else:
        lines += [f"            {x}hits += 1", f"            return {x}v"]
    lines += [
        f"        if {x}s:",
        f"            return {aw}{x}core.{a}slow({p.call})",
    ]
    if is_async:
        lines += [f"        return await {x}core.amiss({k}{call})"]
    else:
        lines += [
            f"        {x}f = None",
            "        try:",
            f"            {x}f = {x}core.enter({k})",
            f"            if {x}f.done:",
            f"                return {x}f.result()",
            f"            return {x}core.finished({k}, {x}f, {x}call({p.call}))",
            f"        except BaseException as {x}x:",
            f"            if {x}f is not None and not {x}f.done:",
            f"                {x}core.failed({k}, {x}f, {x}x)",
            "            raise",
        ]
    lines += [
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
