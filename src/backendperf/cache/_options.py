"""Options of one ``@cached`` function, and the counters it reports (shared by every core)."""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from backendperf.cache.backends.memory import INF, Policy
from backendperf.exceptions import ConfigurationError

__all__ = ["TTL", "CacheInfo", "Options", "Raised", "TTLArg", "to_seconds"]

TTL = float | int | timedelta
TTLArg = TTL | Callable[[Any], TTL | None] | None


@dataclass(frozen=True, slots=True)
class CacheInfo:
    """Counters of one cache (for a method accessed on the class: of all its instances).

    >>> CacheInfo(hits=3, misses=1, evictions=0, currsize=1, maxsize=128).hit_ratio
    0.75
    """

    hits: int
    misses: int
    evictions: int
    currsize: int
    maxsize: int | None
    stale_hits: int = 0
    """Calls answered with an expired value while it was refreshed (``stale_ttl=``)."""
    errors: int = 0
    """Remote store failures (and undecodable values); each such call ran uncached."""
    bypasses: int = 0
    """Calls that skipped the remote store while its circuit breaker was open."""

    @property
    def hit_ratio(self) -> float:
        """Share of calls answered from the cache (stale answers count as hits)."""
        total = self.hits + self.stale_hits + self.misses
        return (self.hits + self.stale_hits) / total if total else 0.0

    def __add__(self, other: CacheInfo) -> CacheInfo:
        return CacheInfo(
            self.hits + other.hits,
            self.misses + other.misses,
            self.evictions + other.evictions,
            self.currsize + other.currsize,
            None if self.maxsize is None or other.maxsize is None else self.maxsize + other.maxsize,
            self.stale_hits + other.stale_hits,
            self.errors + other.errors,
            self.bypasses + other.bypasses,
        )


def to_seconds(name: str, value: object) -> float | None:
    if value is None:
        return None
    if isinstance(value, timedelta):
        value = value.total_seconds()
    if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value):
        raise ConfigurationError(f"{name}={value!r}: use seconds (int or float) or a timedelta")
    if value < 0:
        raise ConfigurationError(f"{name}={value!r}: must not be negative")
    return float(value)


@dataclass(frozen=True, slots=True)
class Options:
    maxsize: int | None
    policy: Policy
    ttl: float | None
    ttl_fn: Callable[[Any], Any] | None
    stale_ttl: float
    jitter: float
    negative_ttl: float | None
    unless: Callable[[Any], bool] | None
    typed: bool
    key: Callable[..., Hashable] | None
    timer: Callable[[], float]
    clock: Callable[[], float]
    backend: Any
    tags: Callable[..., Any] | None

    @property
    def entries(self) -> bool:
        return self.ttl is not None or self.ttl_fn is not None or self.negative_ttl is not None

    def lifetime(self, value: Any) -> float:
        """Seconds ``value`` stays fresh (``inf``: until evicted), jitter applied."""
        if self.ttl_fn is not None:
            seconds = to_seconds("ttl() result", self.ttl_fn(value))
            if seconds is None:
                return INF
        elif self.ttl is None:
            return INF
        else:
            seconds = self.ttl
        if self.jitter:
            seconds *= 1.0 - self.jitter * random.random()
        return seconds


class Raised:
    """A cached exception (``negative_ttl=``)."""

    __slots__ = ("exc", "tb")

    def __init__(self, exc: BaseException) -> None:
        self.exc = exc
        self.tb = exc.__traceback__

    def error(self) -> BaseException:
        return self.exc.with_traceback(self.tb)
