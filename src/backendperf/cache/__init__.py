"""Caching: the ``@cached`` decorator and its stores.

>>> from backendperf.cache import cached, MemoryBackend, NullBackend
"""

from __future__ import annotations

from backendperf.cache.backends.base import MISSING, AsyncBackend, Backend
from backendperf.cache.backends.memory import MemoryBackend
from backendperf.cache.backends.null import NullBackend
from backendperf.cache.decorator import CachedFunction, CacheInfo, cached
from backendperf.cache.keys import freeze

__all__ = [
    "AsyncBackend",
    "Backend",
    "CacheInfo",
    "CachedFunction",
    "MISSING",
    "MemoryBackend",
    "NullBackend",
    "cached",
    "freeze",
]
