"""The exceptions backendperf raises.

Every error derives from :class:`BackendperfError`; where a builtin exception describes the
problem, the error inherits it too, so ``except ValueError`` keeps working for callers who do not
know about this library::

    BackendperfError
    ├── ConfigurationError (+ ValueError)     bad option or combination of options
    ├── UnhashableArgumentError (+ TypeError)  a cached call got an argument that cannot be a key
    ├── SerializationError (+ TypeError)       a value a remote cache backend cannot store
    ├── MissingDependencyError (+ ImportError) an optional extra is not installed
    ├── LogFormatError (+ ValueError)          a query log cannot be read
    ├── NPlusOneError (+ AssertionError)       a profile found an N+1 pattern (on_nplusone="raise")
    └── QueryBudgetError (+ AssertionError)    a block ran more statements than its budget
                                               (backendperf.testing, the pytest plugin)

    NPlusOneWarning (UserWarning)              the same finding with on_nplusone="warn"
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = [
    "BackendperfError",
    "ConfigurationError",
    "LogFormatError",
    "MissingDependencyError",
    "NPlusOneError",
    "NPlusOneWarning",
    "QueryBudgetError",
    "SerializationError",
    "UnhashableArgumentError",
]


class BackendperfError(Exception):
    """Root of every exception raised by backendperf."""


class ConfigurationError(BackendperfError, ValueError):
    """An option, or a combination of options, that cannot work.

    >>> from backendperf import cached
    >>> cached(stale_ttl=5)
    Traceback (most recent call last):
    ...
    backendperf.exceptions.ConfigurationError: stale_ttl=5 needs ttl= as well: ...
    """


class UnhashableArgumentError(BackendperfError, TypeError):
    """A cached function was called with an argument that cannot be turned into a key.

    Lists, dicts, sets and bytearrays are converted to keys automatically; other unhashable
    objects raise this error, which names the argument. Pass ``key=`` to build keys yourself.
    """

    def __init__(self, function: str, argument: str, value: object) -> None:
        self.function = function
        self.argument = argument
        self.value_type = type(value).__qualname__
        super().__init__(
            f"{function}(): argument {argument!r} of type {self.value_type} is unhashable and "
            f"cannot be part of a cache key; make it hashable or pass key= to @cached"
        )


class SerializationError(BackendperfError, TypeError):
    """A value that a remote cache backend cannot encode."""


class MissingDependencyError(BackendperfError, ImportError):
    """An optional dependency is needed for this feature: the message names the extra."""

    def __init__(self, module: str, extra: str, feature: str) -> None:
        self.module = module
        self.extra = extra
        super().__init__(
            f"{feature} needs the {module!r} package: pip install 'backendperf[{extra}]'",
            name=module,
        )


class LogFormatError(BackendperfError, ValueError):
    """A query log that cannot be read (unknown format, or a bad line at error level RAISE)."""


class NPlusOneError(BackendperfError, AssertionError):
    """A profile with ``on_nplusone="raise"`` saw one statement shape repeated N times.

    ``findings`` holds the :class:`~backendperf.profiling.NPlusOne` records.
    """

    def __init__(self, message: str, findings: Sequence[object] = ()) -> None:
        super().__init__(message)
        self.findings = list(findings)


class QueryBudgetError(BackendperfError, AssertionError):
    """A block ran another number of statements than its budget (``assert_num_queries``,
    ``assert_max_queries``, the ``backendperf`` marker).

    ``recorder`` is the :class:`~backendperf.testing.QueryRecorder` that counted them.
    """

    def __init__(self, message: str, recorder: object = None) -> None:
        super().__init__(message)
        self.recorder = recorder


class NPlusOneWarning(UserWarning):
    """A profile with ``on_nplusone="warn"`` saw one statement shape repeated N times."""
