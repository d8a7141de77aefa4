"""Cache keys.

In-process keys are hashable Python objects built by the generated wrappers of
:func:`backendperf.cached` (see ``_codegen``): a one-parameter function uses the argument itself,
a function of several parameters a tuple of them in signature order, so ``f(1)``, ``f(a=1)`` and
``f()`` with a default of 1 share one entry.

When an argument is unhashable, :func:`freeze` converts the containers users pass every day into
an equivalent hashable form, tagged by container type so that ``[1, 2]`` and ``(1, 2)`` stay
distinct keys, and ``{"a": 1}`` equals ``{"a": 1}`` whatever its insertion order:

>>> freeze([1, 2]) == freeze([1, 2]), freeze([1, 2]) == (1, 2)
(True, False)
>>> freeze({"b": [1], "a": 2}) == freeze({"a": 2, "b": [1]})
True
>>> freeze({1, 2}) == freeze(frozenset({1, 2}))
True
>>> freeze(3)
3
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any, Final, cast

__all__ = [
    "KWARGS_MARK",
    "freeze",
]


class _Mark:
    """A named sentinel that no user value can equal."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return f"<{self.name}>"


KWARGS_MARK: Final = _Mark("kwargs")
"""Separates fixed parameters from ``**kwargs`` items in a key tuple."""
_LIST: Final = _Mark("list")
_DICT: Final = _Mark("dict")
_SET: Final = _Mark("set")
_BYTEARRAY: Final = _Mark("bytearray")
_TUPLE: Final = _Mark("tuple")


def freeze(value: Any) -> Hashable:
    """Return a hashable key equivalent to ``value``.

    Hashable values are returned as they are. Lists, dicts, sets and bytearrays (at any depth,
    also inside tuples) become tagged tuples and frozensets. Anything else that is unhashable
    raises :class:`TypeError`.
    """
    cls = value.__class__
    if cls is list:
        return (_LIST, *map(freeze, value))
    if cls is dict:
        return (_DICT, frozenset((k, freeze(v)) for k, v in value.items()))
    if cls is set:
        return frozenset(map(freeze, value))
    if cls is bytearray:
        return (_BYTEARRAY, bytes(value))
    if cls is tuple:
        try:
            hash(value)
        except TypeError:
            return (_TUPLE, *map(freeze, value))
        return cast("Hashable", value)
    if isinstance(value, Hashable):
        try:
            hash(value)
        except TypeError:
            pass
        else:
            return value
    if isinstance(value, list | tuple):
        return (_LIST if isinstance(value, list) else _TUPLE, *map(freeze, value))
    if isinstance(value, dict):
        return (_DICT, frozenset((k, freeze(v)) for k, v in value.items()))
    if isinstance(value, set):
        return frozenset(map(freeze, value))
    raise TypeError(f"unhashable type: {cls.__qualname__!r}")
