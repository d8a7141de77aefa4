"""Caching: the ``@cached`` decorator and its stores.

The Redis stores and the codec load on first use (they import ``redis``/``msgpack``), so
``import backendperf`` stays cheap:

>>> from backendperf.cache import cached, MemoryBackend, NullBackend, RedisBackend
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from backendperf.cache.backends.base import MISSING, AsyncBackend, Backend
from backendperf.cache.backends.memory import MemoryBackend
from backendperf.cache.backends.null import NullBackend
from backendperf.cache.decorator import CachedFunction, CacheInfo, cached
from backendperf.cache.keys import freeze

if TYPE_CHECKING:
    from backendperf.cache.backends.redis import AsyncRedisBackend, RedisBackend
    from backendperf.cache.backends.tiered import TieredBackend
    from backendperf.cache.codec import Codec, default_codec

__all__ = [
    "AsyncBackend",
    "AsyncRedisBackend",
    "Backend",
    "CacheInfo",
    "CachedFunction",
    "Codec",
    "MISSING",
    "MemoryBackend",
    "NullBackend",
    "RedisBackend",
    "TieredBackend",
    "cached",
    "default_codec",
    "freeze",
]

_LAZY = {
    "AsyncRedisBackend": "backendperf.cache.backends.redis",
    "RedisBackend": "backendperf.cache.backends.redis",
    "TieredBackend": "backendperf.cache.backends.tiered",
    "Codec": "backendperf.cache.codec",
    "default_codec": "backendperf.cache.codec",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
