"""The quantile sketch behind every per-statement percentile (digest, pytest report, profiler).

A DDSketch-like log-bucket histogram: each positive value lands in bucket
``ceil(log(value) / log(gamma))``, so a quantile is known within ``ALPHA`` relative error, and
two sketches merge by adding their bucket counts (files, processes, pytest-xdist workers).
"""

from __future__ import annotations

import math
from typing import Any, Final

__all__ = ["BUCKET_OF", "Sketch"]

BUCKET_OF: dict[float, int] = {}
"""Value -> bucket, for values seen before: logged durations repeat (three decimals), and the
workload's hot loops look their buckets up here instead of taking a logarithm."""


class Sketch:
    """A mergeable quantile sketch: counts per logarithmic bucket (relative error ``alpha``).

    >>> s = Sketch()
    >>> for x in range(1, 1001):
    ...     s.add(float(x))
    >>> abs(s.quantile(0.99) - 990) / 990 < 0.02
    True
    """

    __slots__ = ("buckets", "count", "zeros")

    ALPHA: Final = 0.01
    _GAMMA: Final = (1 + ALPHA) / (1 - ALPHA)
    _LOG_GAMMA: Final = math.log(_GAMMA)

    def __init__(self) -> None:
        self.buckets: dict[int, int] = {}
        self.zeros = 0
        self.count = 0

    def add(self, value: float, n: int = 1) -> None:
        self.count += n
        if value <= 1e-9:
            self.zeros += n
            return
        key = BUCKET_OF.get(value)
        if key is None:  # logged times repeat (three decimals): remember their buckets
            key = math.ceil(math.log(value) / self._LOG_GAMMA)
            if len(BUCKET_OF) > 200_000:
                BUCKET_OF.clear()
            BUCKET_OF[value] = key
        self.buckets[key] = self.buckets.get(key, 0) + n

    def merge(self, other: Sketch) -> None:
        self.count += other.count
        self.zeros += other.zeros
        for key, n in other.buckets.items():
            self.buckets[key] = self.buckets.get(key, 0) + n

    def quantile(self, q: float) -> float:
        """The value below which a share ``q`` of the added values lie (0.0 when empty)."""
        if not self.count:
            return 0.0
        rank = q * (self.count - 1)
        seen = self.zeros
        if rank < seen:
            return 0.0
        for key in sorted(self.buckets):
            seen += self.buckets[key]
            if seen > rank:
                return 2 * self._GAMMA**key / (self._GAMMA + 1)
        return 2 * self._GAMMA ** max(self.buckets) / (self._GAMMA + 1)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe form (object keys are text: the buckets go as ``[key, count]`` pairs).

        >>> s = Sketch(); s.add(0.0); s.add(2.5, 3)
        >>> Sketch.from_dict(s.to_dict()).quantile(0.9) == s.quantile(0.9)
        True
        """
        return {"zeros": self.zeros, "buckets": list(self.buckets.items())}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Sketch:
        """The sketch :meth:`to_dict` wrote."""
        sketch = cls()
        sketch.zeros = int(data["zeros"])
        sketch.buckets = {int(k): int(n) for k, n in data["buckets"]}
        sketch.count = sketch.zeros + sum(sketch.buckets.values())
        return sketch

    def histogram(self) -> list[tuple[float, int]]:
        """``(bucket upper bound, count)`` in increasing order (zeros first, bound 0)."""
        out = [(0.0, self.zeros)] if self.zeros else []
        return out + [(self._GAMMA**k, self.buckets[k]) for k in sorted(self.buckets)]
