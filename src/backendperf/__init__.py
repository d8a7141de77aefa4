"""backendperf: make database-backed Python services fast.

The root import is cheap on purpose (the pytest plugin is loaded by every pytest run of every
project that installs us, and ``backendperf digest`` should start at once): it pulls in only
the standard library. The cache API (and asyncio with it) loads on first use of one of its
names here; heavy dependencies (sqlglot, SQLAlchemy, redis, rich) load when a submodule that
needs them is imported.

>>> import backendperf
>>> backendperf.__version__ == backendperf._version.__version__
True
"""

from __future__ import annotations

import importlib as _importlib
import typing as _typing

from backendperf._version import __version__
from backendperf.exceptions import (
    BackendperfError,
    ConfigurationError,
    LogFormatError,
    MissingDependencyError,
    SerializationError,
    UnhashableArgumentError,
)

__all__ = [
    "AsyncBackend",
    "Backend",
    "BackendperfError",
    "CacheInfo",
    "CachedFunction",
    "ConfigurationError",
    "LogFormatError",
    "MISSING",
    "MemoryBackend",
    "MissingDependencyError",
    "NullBackend",
    "SerializationError",
    "UnhashableArgumentError",
    "__version__",
    "cached",
]

if _typing.TYPE_CHECKING:
    from backendperf.cache import (
        MISSING,
        AsyncBackend,
        Backend,
        CachedFunction,
        CacheInfo,
        MemoryBackend,
        NullBackend,
        cached,
    )

_LAZY = frozenset(
    (
        "MISSING",
        "AsyncBackend",
        "Backend",
        "CachedFunction",
        "CacheInfo",
        "MemoryBackend",
        "NullBackend",
        "cached",
    )
)


def __getattr__(name: str) -> _typing.Any:
    """The cache API, imported on first use (PEP 562)."""
    if name not in _LAZY:
        raise AttributeError(f"module 'backendperf' has no attribute {name!r}")
    value = getattr(_importlib.import_module("backendperf.cache"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
