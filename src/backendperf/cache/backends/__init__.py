"""Cache stores behind ``@cached``: in-process memory, null, and (with extras) remote ones."""

from __future__ import annotations

from backendperf.cache.backends.base import MISSING, AsyncBackend, Backend
from backendperf.cache.backends.memory import MemoryBackend
from backendperf.cache.backends.null import NullBackend

__all__ = [
    "AsyncBackend",
    "Backend",
    "MISSING",
    "MemoryBackend",
    "NullBackend",
]
