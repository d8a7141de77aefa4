"""backendperf: make database-backed Python services fast.

The root import is cheap on purpose (the pytest plugin is loaded by every pytest run of every
project that installs us): it pulls in only the standard library, cachetools and the cache
package. Heavy dependencies (sqlglot, SQLAlchemy, redis, rich) load when a submodule that needs
them is imported.

>>> import backendperf
>>> backendperf.__version__ == backendperf._version.__version__
True
"""

from __future__ import annotations

from backendperf._version import __version__
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
